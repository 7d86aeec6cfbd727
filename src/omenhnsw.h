/*
 * omenhnsw.h
 *		The omenhnsw access method: callbacks and what they share.
 */
#ifndef OMEN_OMENHNSW_H
#define OMEN_OMENHNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/genam.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"

#include "elem.h"
#include "page.h"
#include "vector.h"

/* Operator class strategies */
#define OMEN_DISTANCE_STRATEGY	1	/* ordering: vector <op> vector -> float8 */
#define OMEN_BOUND_STRATEGY		2	/* search: distance bound, a stop hint */

/* Build sub-phases shown in pg_stat_progress_create_index */
#define OMEN_PHASE_LOAD		2
#define OMEN_PHASE_WRITE	3
#define OMEN_PHASE_WAL		4

/* omenhnsw.iterative_scan */
typedef enum OmenIterativeScan
{
	OMEN_ITERATIVE_OFF,
	OMEN_ITERATIVE_RELAXED,
	OMEN_ITERATIVE_STRICT
} OmenIterativeScan;

/* GUCs */
extern int	omen_ef_search;
extern int	omen_iterative_scan;
extern int	omen_max_scan_tuples;
extern double omen_scan_mem_multiplier;
extern int	omen_insert_pause;
extern bool omen_enable_shard_scan;

/*
 * The scan settings in effect: the omenhnsw. ones, where one was not set
 * pgvector's hnsw. namesake if that was (omendb.c).  With warn, a WARNING
 * for each hnsw. value that omenhnsw cannot take (and ignores).
 */
typedef struct OmenScanSettings
{
	int			ef_search;
	int			iterative_scan;
	int			max_scan_tuples;
	double		scan_mem_multiplier;
} OmenScanSettings;

extern void omen_scan_settings(OmenScanSettings *out, bool warn);

/* The omenhnsw.iterative_scan value that names mode. */
extern const char *omen_iterative_scan_name(int mode);

/* omenhnsw.c */
extern void omen_index_elem(Relation index, OmenElem *e);
/* The element kind and metric of an omenhnsw operator class, dims 0. */
extern void omen_opclass_elem(Oid opclass, OmenElem *e);
extern int	omen_index_metric(Relation index);
extern int	omen_index_dims_typmod(Relation index);

/* ERROR if an index of element kind elem cannot hold dims elements. */
extern void omen_check_dims(int elem, int dims);

/*
 * ERROR (index corrupted) unless the metapage's element kind is elem, that
 * of the index's operator class.
 */
extern void omen_check_meta_elem(Relation index,
								 const OmenMetaPageData *meta, int elem);

/* build.c */
extern IndexBuildResult *omen_ambuild(Relation heap, Relation index,
									  IndexInfo *indexInfo);
extern void omen_ambuildempty(Relation index);
extern char *omen_ambuildphasename(int64 phasenum);

/* insert.c */
extern bool omen_aminsert(Relation index, Datum *values, bool *isnull,
						  ItemPointer heap_tid, Relation heap,
						  IndexUniqueCheck checkUnique, bool indexUnchanged,
						  IndexInfo *indexInfo);

/* planner.c */
extern void omen_planner_init(void);

/* shard.c */
extern void omen_shard_init(void);

/* shard_exec.c */
extern void omen_shard_exec_init(void);

/* scan.c */
extern IndexScanDesc omen_ambeginscan(Relation index, int nkeys, int norderbys);
extern void omen_amrescan(IndexScanDesc scan, ScanKey keys, int nkeys,
						  ScanKey orderbys, int norderbys);
extern bool omen_amgettuple(IndexScanDesc scan, ScanDirection dir);
extern void omen_amendscan(IndexScanDesc scan);

/* vacuum.c */
extern IndexBulkDeleteResult *omen_ambulkdelete(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats,
												IndexBulkDeleteCallback callback,
												void *callback_state);
extern IndexBulkDeleteResult *omen_amvacuumcleanup(IndexVacuumInfo *info,
												   IndexBulkDeleteResult *stats);

#endif							/* OMEN_OMENHNSW_H */
