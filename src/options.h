/*
 * options.h
 *		Reloptions of omenhnsw indexes.
 */
#ifndef OMEN_OPTIONS_H
#define OMEN_OPTIONS_H

#include "postgres.h"

#include "utils/rel.h"

#include "hnsw_graph.h"

#define OMEN_DEFAULT_M				16
#define OMEN_MIN_M					2
#define OMEN_DEFAULT_EF_CONSTRUCTION	64
#define OMEN_MIN_EF_CONSTRUCTION	4
#define OMEN_MAX_EF_CONSTRUCTION	1000

typedef struct OmenOptions
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int			m;
	int			ef_construction;
	int			codes;			/* OmenCodesOption */
} OmenOptions;

extern void omen_options_init(void);
extern bytea *omen_amoptions(Datum reloptions, bool validate);
extern int	omen_option_m(Relation index);
extern int	omen_option_ef_construction(Relation index);
extern int	omen_option_codes(Relation index);
extern void omen_check_build_options(Relation index);

#endif							/* OMEN_OPTIONS_H */
