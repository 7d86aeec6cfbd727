/*
 * omendb.c
 *		Module entry: kernel dispatch, reloptions, GUCs and the planner hook.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "distance.h"
#include "omenhnsw.h"
#include "options.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	omen_kernels_init();
	omen_options_init();
	omen_planner_init();

	DefineCustomIntVariable("omenhnsw.ef_search",
							"Sets the size of the candidate list searched in each segment.",
							"Larger values give better recall and slower queries.",
							&omen_ef_search, 40, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("omenhnsw");
}
