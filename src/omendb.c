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

static const struct config_enum_entry iterative_scan_options[] = {
	{"off", OMEN_ITERATIVE_OFF, false},
	{"relaxed_order", OMEN_ITERATIVE_RELAXED, false},
	{"strict_order", OMEN_ITERATIVE_STRICT, false},
	{NULL, 0, false}
};

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
	DefineCustomEnumVariable("omenhnsw.iterative_scan",
							 "Sets whether scans go on past ef_search results when more rows are asked for.",
							 "strict_order never returns a row nearer than one returned before; "
							 "relaxed_order may, and finds a few more rows.",
							 &omen_iterative_scan, OMEN_ITERATIVE_STRICT,
							 iterative_scan_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("omenhnsw.max_scan_tuples",
							"Sets the most nodes an iterative scan visits.",
							"Past it, or past work_mem, the scan returns the rows it has scored and searches no further.",
							&omen_max_scan_tuples, 20000, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("omenhnsw.scan_mem_multiplier",
							"Sets the multiple of work_mem an iterative scan may use.",
							NULL,
							&omen_scan_mem_multiplier, 1, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("omenhnsw");
}
