/*
 * shard.h
 *		What shard.c (the planner's side of sharded k-NN queries) and
 *		shard_exec.c (the shard scan) share.
 */
#ifndef OMEN_SHARD_H
#define OMEN_SHARD_H

#include "nodes/pathnodes.h"

/* postgres_fdw's ForeignScan fdw_private: remote SQL, retrieved columns */
#define PGFDW_SCAN_SQL 0
#define PGFDW_SCAN_RETRIEVED_ATTRS 1

/* shard_exec.c */
extern Path *omen_shard_scan_path(PlannerInfo *root, RelOptInfo *rel,
								  List *subpaths, Cost max_total);

#endif							/* OMEN_SHARD_H */
