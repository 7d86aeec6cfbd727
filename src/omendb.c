/*
 * omendb.c
 *		Module entry: kernel dispatch, reloptions, GUCs and the planner hooks.
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"

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

/*
 * The setting named name as PostgreSQL keeps it, or NULL.  The table of
 * settings is sorted by name, ASCII letters folded to lower case.
 * Placeholders come and go (loading pgvector's library replaces its), so
 * nothing is kept between calls.
 */
static struct config_generic *
find_setting(const char *name)
{
	struct config_generic **vars = get_guc_variables();
	int			lo = 0;
	int			hi = GetNumConfigOptions() - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = pg_strcasecmp(name, vars[mid]->name);

		if (c == 0)
			return vars[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * The value of pgvector's setting hnsw.<name>, if it was set (in a
 * configuration file, for the database or role, or in the session) and
 * omenhnsw.<name> was not; else NULL.  Without pgvector's library the
 * former is a placeholder; with it, pgvector's own setting: read either
 * way, never defined here, so that loading both libraries works.
 */
static const char *
pgvector_setting(const char *name)
{
	char		omen[64];
	char		hnsw[64];
	struct config_generic *rec;

	snprintf(omen, sizeof(omen), "omenhnsw.%s", name);
	snprintf(hnsw, sizeof(hnsw), "hnsw.%s", name);
	rec = find_setting(omen);
	if (rec == NULL || rec->source != PGC_S_DEFAULT)
		return NULL;
	rec = find_setting(hnsw);
	if (rec == NULL || rec->source == PGC_S_DEFAULT)
		return NULL;
	return GetConfigOption(hnsw, true, false);
}

/* Warns that pgvector's hnsw.<name> holds a value omenhnsw cannot take. */
static void
warn_pgvector_setting(const char *name, const char *value, bool warn)
{
	if (warn)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for parameter \"hnsw.%s\": \"%s\"", name, value),
				 errdetail("omenhnsw scans use omenhnsw.%s instead.", name)));
}

/* pgvector's integer setting hnsw.<name> into *out, if it applies. */
static void
pgvector_int(const char *name, int min, int max, int *out, bool warn)
{
	const char *value = pgvector_setting(name);
	int			i;

	if (value == NULL)
		return;
	if (parse_int(value, &i, 0, NULL) && i >= min && i <= max)
		*out = i;
	else
		warn_pgvector_setting(name, value, warn);
}

const char *
omen_iterative_scan_name(int mode)
{
	for (const struct config_enum_entry *e = iterative_scan_options; e->name != NULL; e++)
		if (e->val == mode)
			return e->name;
	elog(ERROR, "unknown iterative scan mode %d", mode);
	return NULL;				/* keep compiler quiet */
}

void
omen_scan_settings(OmenScanSettings *out, bool warn)
{
	const char *value;
	double		d;

	out->ef_search = omen_ef_search;
	out->iterative_scan = omen_iterative_scan;
	out->max_scan_tuples = omen_max_scan_tuples;
	out->scan_mem_multiplier = omen_scan_mem_multiplier;

	pgvector_int("ef_search", 1, 1000, &out->ef_search, warn);
	pgvector_int("max_scan_tuples", 1, INT_MAX, &out->max_scan_tuples, warn);
	value = pgvector_setting("scan_mem_multiplier");
	if (value != NULL)
	{
		if (parse_real(value, &d, 0, NULL) && d >= 1 && d <= 1000)
			out->scan_mem_multiplier = d;
		else
			warn_pgvector_setting("scan_mem_multiplier", value, warn);
	}
	value = pgvector_setting("iterative_scan");
	if (value != NULL)
	{
		const struct config_enum_entry *e = iterative_scan_options;

		while (e->name != NULL && pg_strcasecmp(e->name, value) != 0)
			e++;
		if (e->name != NULL)
			out->iterative_scan = e->val;
		else
			warn_pgvector_setting("iterative_scan", value, warn);
	}
}

void
_PG_init(void)
{
#ifdef __GLIBC__

	/*
	 * Each GenericXLog record allocates and frees a buffer larger than
	 * palloc's chunks, which glibc maps from the heap's top; with its
	 * default thresholds the heap shrinks after each and grows again for
	 * the next, paying page faults and TLB flushes every time.
	 */
	mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
#endif
	omen_kernels_init();
	omen_options_init();
	omen_planner_init();
	omen_shard_init();
	omen_shard_exec_init();

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
	DefineCustomRealVariable("omenhnsw.scan_mem_multiplier",
							 "Sets the multiple of work_mem an iterative scan may use.",
							 NULL,
							 &omen_scan_mem_multiplier, 1, 1, 1000,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("omenhnsw.insert_pause",
							"Makes inserts wait between their search and their writes while the advisory lock of this key is held.",
							"For tests that interleave other work there; 0 never waits.",
							&omen_insert_pause, 0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	DefineCustomBoolVariable("omenhnsw.enable_shard_scan",
							 "Enables the planner's use of omendb's shard scan.",
							 "The shard scan sends each postgres_fdw partition of a k-NN query "
							 "its limited query at once, without cursors.",
							 &omen_enable_shard_scan, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("omenhnsw");
}
