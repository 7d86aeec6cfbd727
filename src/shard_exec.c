/*
 * shard_exec.c
 *		A scan that sends every shard its limited k-NN query at once.
 *
 * shard.c gives each postgres_fdw partition of a k-NN query a path that
 * sends "ORDER BY distance LIMIT k"; core runs such a foreign scan as a
 * cursor (DECLARE, FETCH, CLOSE), and declares the cursors of all
 * partitions one after another even when it fetches from them
 * asynchronously.  The shard scan of this file stands in for the Append
 * of those scans under the query's Sort: when it starts, it sends every
 * shard the remote query of its partition's scan (with the parameters of
 * that scan) as one plain query, without a cursor, on postgres_fdw's own
 * connection, then collects the answers, which the shards compute at the
 * same time, and returns the rows of every shard for the Sort above to
 * order.  Each shard sends at most LIMIT + OFFSET rows, held as the
 * result of its query and as tuples until the scan ends: an execution
 * whose limit is NULL, or whose shards' rows would take more than
 * work_mem by the children's row width, runs every child as itself
 * instead (postgres_fdw's cursors, fetched in batches).
 *
 * The partitions' foreign scans are the scan's children: they are
 * initialized, so that postgres_fdw opens each connection and its remote
 * transaction as it does for its own scans (and ends them at the end of
 * the local transaction), that EXPLAIN shows each remote query, and that
 * the scan can take each row through the child's projection; a child that
 * is not a plain postgres_fdw scan of its remote query (a gating Result,
 * a remote query of other columns) simply runs as itself.  The rows of a
 * direct child are made as postgres_fdw makes them: the input function of
 * each retrieved column only (a column the query does not fetch stays
 * NULL without one), and xmin, xmax and cmin 0.  EXPLAIN ANALYZE
 * counts a direct child's rows, and its time from its query's sending to
 * the storing of its rows, in the child's own node.  postgres_fdw's
 * connection functions are looked up in its library when a path is made;
 * without them there is no shard scan and the plans stay core's.
 *
 * The children must use distinct connections (shard.c offers the scan
 * only for partitions on distinct servers).  A scan elsewhere in the query
 * (an initplan's, say) may use one of them too: the parameters, which may
 * run it, are all computed before any query is sent, and postgres_fdw's
 * GetConnection() completes an asynchronous request still pending on the
 * connection it returns, so the scan needs no connection state of its own.
 *
 * The path and plan functions run inside the planner and the others inside
 * the executor, which hold their locks on the query's relations; none
 * takes a lock of its own.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/pathnode.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "omenhnsw.h"
#include "shard.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "shard_exec.c relies on postgres_fdw's connection functions of PostgreSQL 15"
#endif

#define SHARD_SCAN_NAME "OmenShardScan"

/*
 * postgres_fdw's exported connection functions (connection.c); the shard
 * scan passes NULL for GetConnection()'s per-connection state, whose type
 * is postgres_fdw's own.
 */
typedef PGconn *(*get_connection_type) (UserMapping *user, bool will_prep_stmt,
										void **state);
typedef void (*release_connection_type) (PGconn *conn);
typedef PGresult *(*get_result_type) (PGconn *conn, const char *query);
typedef void (*report_error_type) (int elevel, PGresult *res, PGconn *conn,
								   bool clear, const char *sql);
typedef int (*set_modes_type) (void);
typedef void (*reset_modes_type) (int nestlevel);

static get_connection_type pgfdw_get_connection;
static release_connection_type pgfdw_release_connection;
static get_result_type pgfdw_get_result;
static report_error_type pgfdw_report_error;
static set_modes_type pgfdw_set_transmission_modes;
static reset_modes_type pgfdw_reset_transmission_modes;

/* One child of the shard scan. */
typedef struct Shard
{
	ForeignScanState *scan;		/* the partition's foreign scan */
	bool		direct;			/* whether the shard scan can send its query */
	/* the rest is set for a direct child only */
	const char *server;			/* the foreign server's name */
	UserMapping *user;
	char	   *sql;			/* the remote query */
	List	   *retrieved;		/* scan tuple column of each result column */
	List	   *params;			/* ExprStates of the query's parameters */
	FmgrInfo   *param_out;		/* their output functions */
	AttInMetadata *attinmeta;	/* of the scan tuple */
	Oid			tableoid;		/* of the scan's rows, or InvalidOid */
	const char **values;		/* parameter values of this execution */
	PGconn	   *conn;			/* the connection while a query runs */
	HeapTuple  *rows;			/* the shard's rows */
	int			nrows;
	int			next;			/* the next row to return */
} Shard;

typedef struct ShardScanState
{
	CustomScanState css;
	int			nshards;
	Shard	   *shards;
	ExprState  *limit;			/* the rows each shard sends, or NULL */
	MemoryContext rows_cxt;		/* rows and parameters of an execution */
	bool		sent;			/* whether this execution sent its queries */
	bool		run_direct;		/* whether it sent those of direct children */
	int			current;		/* the child being returned */
} ShardScanState;

static Plan *plan_shard_scan(PlannerInfo *root, RelOptInfo *rel,
							 CustomPath *best_path, List *tlist,
							 List *clauses, List *custom_plans);
static Node *create_shard_scan_state(CustomScan *cscan);
static void begin_shard_scan(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *exec_shard_scan(CustomScanState *node);
static void end_shard_scan(CustomScanState *node);
static void rescan_shard_scan(CustomScanState *node);

static const CustomPathMethods shard_path_methods = {
	.CustomName = SHARD_SCAN_NAME,
	.PlanCustomPath = plan_shard_scan,
};

static const CustomScanMethods shard_scan_methods = {
	.CustomName = SHARD_SCAN_NAME,
	.CreateCustomScanState = create_shard_scan_state,
};

static const CustomExecMethods shard_exec_methods = {
	.CustomName = SHARD_SCAN_NAME,
	.BeginCustomScan = begin_shard_scan,
	.ExecCustomScan = exec_shard_scan,
	.EndCustomScan = end_shard_scan,
	.ReScanCustomScan = rescan_shard_scan,
};

/*
 * Whether postgres_fdw's loaded library exports the connection functions
 * the shard scan uses; looks them up once.
 */
static bool
have_pgfdw_functions(void)
{
	static bool looked_up = false;

	if (!looked_up)
	{
		const char *lib = "$libdir/postgres_fdw";

		pgfdw_get_connection = (get_connection_type)
			load_external_function(lib, "GetConnection", false, NULL);
		pgfdw_release_connection = (release_connection_type)
			load_external_function(lib, "ReleaseConnection", false, NULL);
		pgfdw_get_result = (get_result_type)
			load_external_function(lib, "pgfdw_get_result", false, NULL);
		pgfdw_report_error = (report_error_type)
			load_external_function(lib, "pgfdw_report_error", false, NULL);
		pgfdw_set_transmission_modes = (set_modes_type)
			load_external_function(lib, "set_transmission_modes", false, NULL);
		pgfdw_reset_transmission_modes = (reset_modes_type)
			load_external_function(lib, "reset_transmission_modes", false, NULL);
		looked_up = true;
	}
	return pgfdw_get_connection != NULL && pgfdw_release_connection != NULL &&
		pgfdw_get_result != NULL && pgfdw_report_error != NULL &&
		pgfdw_set_transmission_modes != NULL &&
		pgfdw_reset_transmission_modes != NULL;
}

/*
 * A shard scan path of rel (the partitioned table) over subpaths (each
 * partition's limited foreign path, on distinct servers, none gated), the
 * dearest of which costs max_total; NULL when postgres_fdw lacks the
 * functions it needs.  The shards work at the same time, and no row comes
 * out before the slowest has answered: the path costs what its dearest
 * child does.
 */
Path *
omen_shard_scan_path(PlannerInfo *root, RelOptInfo *rel, List *subpaths,
					 Cost max_total)
{
	CustomPath *path;
	double		rows = 0;
	ListCell   *lc;

	if (!have_pgfdw_functions())
		return NULL;
	foreach(lc, subpaths)
		rows += ((Path *) lfirst(lc))->rows;
	path = makeNode(CustomPath);
	path->path.pathtype = T_CustomScan;
	path->path.parent = rel;
	path->path.pathtarget = rel->reltarget;
	path->path.rows = rows;
	path->path.startup_cost = max_total;
	path->path.total_cost = max_total;
	path->flags = CUSTOMPATH_SUPPORT_PROJECTION;
	path->custom_paths = subpaths;
	path->methods = &shard_path_methods;
	return (Path *) path;
}

/*
 * PlanCustomPath: the shard scan's plan, whose scan tuple is a row of a
 * child (each child computes the path's target); the quals all run on the
 * shards.  Its one expression is the query's limit, which every child
 * sends as it stands once the query's final paths are made.
 */
static Plan *
plan_shard_scan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	List	   *scan_tlist = NIL;
	ListCell   *lc;

	foreach(lc, best_path->path.pathtarget->exprs)
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry(copyObject(lfirst(lc)),
											 list_length(scan_tlist) + 1,
											 NULL, false));
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.scanrelid = 0;
	cscan->custom_scan_tlist = scan_tlist;
	if (root->parse->limitCount != NULL)
		cscan->custom_exprs = list_make1(copyObject(root->parse->limitCount));
	cscan->custom_plans = custom_plans;
	cscan->custom_relids = rel->relids;
	cscan->methods = &shard_scan_methods;
	return (Plan *) cscan;
}

/*
 * CreateCustomScanState: an empty state of the shard scan; runs inside the
 * executor, which holds its locks on the query's relations.
 */
static Node *
create_shard_scan_state(CustomScan *cscan)
{
	ShardScanState *state = palloc0(sizeof(ShardScanState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &shard_exec_methods;
	return (Node *) state;
}

/*
 * Whether a child's plan is a postgres_fdw scan the shard scan can run
 * itself: a foreign scan with no local qual and no outer plan, whose
 * remote query returns columns of its scan tuple only.
 */
static bool
is_direct_child(Plan *plan)
{
	ForeignScan *fscan = (ForeignScan *) plan;
	List	   *retrieved;
	ListCell   *lc;

	if (!IsA(plan, ForeignScan) || plan->qual != NIL || outerPlan(plan) != NULL ||
		fscan->operation != CMD_SELECT ||
		list_length(fscan->fdw_private) <= PGFDW_SCAN_RETRIEVED_ATTRS ||
		!IsA(list_nth(fscan->fdw_private, PGFDW_SCAN_SQL), String))
		return false;
	retrieved = list_nth(fscan->fdw_private, PGFDW_SCAN_RETRIEVED_ATTRS);
	if (retrieved != NIL && !IsA(retrieved, IntList))
		return false;
	foreach(lc, retrieved)
	{
		if (lfirst_int(lc) <= 0)
			return false;
	}
	return true;
}

/*
 * Sets up a direct child: its remote query, parameters, user mapping (as
 * postgres_fdw chooses it) and the input functions of its scan tuple.
 */
static void
init_direct_shard(Shard *shard, EState *estate)
{
	ForeignScan *fscan = (ForeignScan *) shard->scan->ss.ps.plan;
	Index		rtindex;
	RangeTblEntry *rte;
	ForeignTable *table;
	TupleDesc	tupdesc = shard->scan->ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	ListCell   *lc;
	int			i;

	rtindex = fscan->scan.scanrelid > 0 ? fscan->scan.scanrelid :
		bms_next_member(fscan->fs_relids, -1);
	rte = exec_rt_fetch(rtindex, estate);
	table = GetForeignTable(rte->relid);
	shard->user = GetUserMapping(OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId(),
								 table->serverid);
	shard->server = GetForeignServer(table->serverid)->servername;
	shard->sql = strVal(list_nth(fscan->fdw_private, PGFDW_SCAN_SQL));
	shard->retrieved = list_nth(fscan->fdw_private, PGFDW_SCAN_RETRIEVED_ATTRS);
	shard->params = ExecInitExprList(fscan->fdw_exprs, &shard->scan->ss.ps);
	shard->param_out = palloc0(sizeof(FmgrInfo) * Max(list_length(fscan->fdw_exprs), 1));
	i = 0;
	foreach(lc, fscan->fdw_exprs)
	{
		Oid			typoutput;
		bool		typisvarlena;

		getTypeOutputInfo(exprType(lfirst(lc)), &typoutput, &typisvarlena);
		fmgr_info(typoutput, &shard->param_out[i++]);
	}
	shard->attinmeta = TupleDescGetAttInMetadata(tupdesc);
	shard->tableoid = shard->scan->ss.ss_currentRelation != NULL ?
		RelationGetRelid(shard->scan->ss.ss_currentRelation) : InvalidOid;
}

/*
 * BeginCustomScan: initializes the children (postgres_fdw connects to each
 * shard and opens its remote transaction), the limit and, unless only
 * explaining, the queries of those the scan can run itself.
 */
static void
begin_shard_scan(CustomScanState *node, EState *estate, int eflags)
{
	ShardScanState *state = (ShardScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	ListCell   *lc;

	state->nshards = list_length(cscan->custom_plans);
	if (cscan->custom_exprs != NIL)
		state->limit = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	state->shards = palloc0(sizeof(Shard) * state->nshards);
	state->rows_cxt = AllocSetContextCreate(estate->es_query_cxt,
											"omendb shard rows",
											ALLOCSET_SMALL_SIZES);
	foreach(lc, cscan->custom_plans)
	{
		Plan	   *plan = lfirst(lc);
		Shard	   *shard = &state->shards[foreach_current_index(lc)];
		PlanState  *child = ExecInitNode(plan, estate, eflags);

		node->custom_ps = lappend(node->custom_ps, child);
		shard->direct = is_direct_child(plan);
		if (!shard->direct)
			continue;
		shard->scan = (ForeignScanState *) child;
		if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
			init_direct_shard(shard, estate);
	}
}

/* Error context: the shard whose query is under way. */
static void
shard_error_context(void *arg)
{
	errcontext("k-NN query of foreign server \"%s\"", ((Shard *) arg)->server);
}

/*
 * The text of each parameter of a direct child's query, in rows_cxt, in
 * the output formats postgres_fdw sends.  Computing them may run initplans
 * (and their own foreign scans).
 */
static void
compute_params(ShardScanState *state, Shard *shard)
{
	ExprContext *econtext = shard->scan->ss.ps.ps_ExprContext;
	MemoryContext old;
	int			nestlevel;
	ListCell   *lc;

	shard->values = MemoryContextAllocZero(state->rows_cxt,
										   sizeof(char *) * Max(list_length(shard->params), 1));
	ResetExprContext(econtext);
	old = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	nestlevel = pgfdw_set_transmission_modes();
	foreach(lc, shard->params)
	{
		int			i = foreach_current_index(lc);
		bool		isnull;
		Datum		value = ExecEvalExpr(lfirst(lc), econtext, &isnull);

		if (!isnull)
			shard->values[i] = MemoryContextStrdup(state->rows_cxt,
												   OutputFunctionCall(&shard->param_out[i], value));
	}
	pgfdw_reset_transmission_modes(nestlevel);
	MemoryContextSwitchTo(old);
	ResetExprContext(econtext);
}

/* Sends a direct child's query on its postgres_fdw connection. */
static void
send_query(Shard *shard)
{
	shard->conn = pgfdw_get_connection(shard->user, false, NULL);
	if (!PQsendQueryParams(shard->conn, shard->sql, list_length(shard->params),
						   NULL, shard->values, NULL, NULL, 0))
		pgfdw_report_error(ERROR, NULL, shard->conn, false, shard->sql);
}

/*
 * Makes the rows of a direct child's answer res scan tuples of the child,
 * in rows_cxt: each retrieved column through its input function, the
 * others NULL, and xmin, xmax and cmin 0.
 */
static void
store_rows(ShardScanState *state, Shard *shard, PGresult *res)
{
	AttInMetadata *meta = shard->attinmeta;
	int			ncols = list_length(shard->retrieved);
	int			natts = meta->tupdesc->natts;
	MemoryContext row_cxt;
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		pgfdw_report_error(ERROR, res, shard->conn, false, shard->sql);
	if (PQnfields(res) != ncols)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_COLUMN_NUMBER),
				 errmsg_plural("remote query returned %d column where %d were expected",
							   "remote query returned %d columns where %d were expected",
							   PQnfields(res), PQnfields(res), ncols)));

	shard->nrows = PQntuples(res);
	shard->rows = MemoryContextAlloc(state->rows_cxt,
									 sizeof(HeapTuple) * Max(shard->nrows, 1));
	values = palloc(sizeof(Datum) * Max(natts, 1));
	nulls = palloc(sizeof(bool) * Max(natts, 1));
	row_cxt = AllocSetContextCreate(CurrentMemoryContext, "omendb shard row",
									ALLOCSET_DEFAULT_SIZES);
	for (int row = 0; row < shard->nrows; row++)
	{
		HeapTuple	tuple;
		ListCell   *lc;

		memset(nulls, true, sizeof(bool) * natts);
		old = MemoryContextSwitchTo(row_cxt);
		foreach(lc, shard->retrieved)
		{
			int			col = foreach_current_index(lc);
			int			att = lfirst_int(lc) - 1;
			char	   *text = PQgetisnull(res, row, col) ? NULL :
				PQgetvalue(res, row, col);

			values[att] = InputFunctionCall(&meta->attinfuncs[att], text,
											meta->attioparams[att],
											meta->atttypmods[att]);
			nulls[att] = text == NULL;
		}
		MemoryContextSwitchTo(state->rows_cxt);
		tuple = heap_form_tuple(meta->tupdesc, values, nulls);
		MemoryContextSwitchTo(old);
		/*
		 * heap_form_tuple fills the header as a composite datum's (length,
		 * type, typmod), which share their place with xmin, xmax and cmin:
		 * these become 0, as in postgres_fdw's rows
		 */
		HeapTupleHeaderSetXmin(tuple->t_data, InvalidTransactionId);
		HeapTupleHeaderSetXmax(tuple->t_data, InvalidTransactionId);
		HeapTupleHeaderSetCmin(tuple->t_data, 0);
		tuple->t_tableOid = shard->tableoid;
		shard->rows[row] = tuple;
		MemoryContextReset(row_cxt);
	}
	MemoryContextDelete(row_cxt);
	pfree(values);
	pfree(nulls);
}

/* Waits for a direct child's answer and stores its rows. */
static void
receive_rows(ShardScanState *state, Shard *shard)
{
	PGresult   *res = pgfdw_get_result(shard->conn, shard->sql);

	PG_TRY();
	{
		store_rows(state, shard, res);
	}
	PG_FINALLY();
	{
		PQclear(res);
	}
	PG_END_TRY();
	pgfdw_release_connection(shard->conn);
	shard->conn = NULL;
}

/*
 * Whether this execution's shards may send their rows at once: its limit
 * is not NULL, and the rows of all direct children at the children's row
 * width, held both as query results and as tuples, fit in work_mem.
 */
static bool
rows_fit(ShardScanState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	bool		isnull;
	Datum		limit;
	double		bytes = 0;

	if (state->limit == NULL)
		return false;
	ResetExprContext(econtext);
	limit = ExecEvalExprSwitchContext(state->limit, econtext, &isnull);
	if (isnull)
		return false;
	for (int i = 0; i < state->nshards; i++)
	{
		Shard	   *shard = &state->shards[i];

		if (shard->direct)
			bytes += (double) DatumGetInt64(limit) *
				(2.0 * shard->scan->ss.ps.plan->plan_width +
				 MAXALIGN(SizeofHeapTupleHeader) + HEAPTUPLESIZE + sizeof(HeapTuple));
	}
	return bytes <= (double) work_mem * 1024.0;
}

/*
 * Runs the queries of the direct children: all parameters first, then
 * every query sent, then every answer collected.  Since every shard works
 * from the moment its query is sent, collecting the answers in turn takes
 * as long as the slowest shard.  On an error, postgres_fdw cancels what is
 * still running when it aborts the remote transactions.
 */
static void
run_queries(ShardScanState *state)
{
	ErrorContextCallback callback;
	int			i;

	for (i = 0; i < state->nshards; i++)
	{
		if (state->shards[i].direct)
			compute_params(state, &state->shards[i]);
	}
	callback.callback = shard_error_context;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	for (i = 0; i < state->nshards; i++)
	{
		Shard	   *shard = &state->shards[i];

		if (!shard->direct)
			continue;
		callback.arg = shard;
		if (shard->scan->ss.ps.instrument)
			InstrStartNode(shard->scan->ss.ps.instrument);
		send_query(shard);
	}
	for (i = 0; i < state->nshards; i++)
	{
		Shard	   *shard = &state->shards[i];

		if (!shard->direct)
			continue;
		callback.arg = shard;
		receive_rows(state, shard);
		if (shard->scan->ss.ps.instrument)
			InstrStopNode(shard->scan->ss.ps.instrument, 0);
	}
	error_context_stack = callback.previous;
}

/*
 * The next row of a direct child, through the child's projection, or NULL
 * when it has none left.
 */
static TupleTableSlot *
next_direct_row(Shard *shard)
{
	ScanState  *scan = &shard->scan->ss;
	ExprContext *econtext = scan->ps.ps_ExprContext;
	TupleTableSlot *slot = NULL;

	if (scan->ps.instrument)
		InstrStartNode(scan->ps.instrument);
	if (shard->next < shard->nrows)
	{
		ResetExprContext(econtext);
		slot = ExecStoreHeapTuple(shard->rows[shard->next++],
								  scan->ss_ScanTupleSlot, false);
		if (scan->ps.ps_ProjInfo != NULL)
		{
			econtext->ecxt_scantuple = slot;
			slot = ExecProject(scan->ps.ps_ProjInfo);
		}
	}
	if (scan->ps.instrument)
		InstrStopNode(scan->ps.instrument, slot != NULL ? 1 : 0);
	return slot;
}

/*
 * ExecScan's access method: the next row of any child.  The first call of
 * an execution sends the queries of the direct children when their rows
 * fit; otherwise every child runs as itself.
 */
static TupleTableSlot *
shard_scan_next(ScanState *ss)
{
	ShardScanState *state = (ShardScanState *) ss;

	if (!state->sent)
	{
		state->run_direct = rows_fit(state);
		if (state->run_direct)
			run_queries(state);
		state->sent = true;
	}
	while (state->current < state->nshards)
	{
		Shard	   *shard = &state->shards[state->current];
		TupleTableSlot *slot;

		if (shard->direct && state->run_direct)
			slot = next_direct_row(shard);
		else
		{
			slot = ExecProcNode(list_nth(state->css.custom_ps, state->current));
			if (TupIsNull(slot))
				slot = NULL;
		}
		if (slot != NULL)
			return ExecCopySlot(ss->ss_ScanTupleSlot, slot);
		state->current++;
	}
	return ExecClearTuple(ss->ss_ScanTupleSlot);
}

/* ExecScan's recheck method: never called, the scan has no EPQ rows. */
static bool
shard_scan_recheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

/*
 * ExecCustomScan: the next row of the scan; runs inside the executor,
 * which holds its locks on the query's relations.
 */
static TupleTableSlot *
exec_shard_scan(CustomScanState *node)
{
	return ExecScan(&node->ss, shard_scan_next, shard_scan_recheck);
}

/*
 * EndCustomScan: ends the children (postgres_fdw closes any cursor of
 * theirs); the rows go with the executor's query context.
 */
static void
end_shard_scan(CustomScanState *node)
{
	ListCell   *lc;

	foreach(lc, node->custom_ps)
		ExecEndNode(lfirst(lc));
}

/* ReScanCustomScan: the next execution sends the queries again. */
static void
rescan_shard_scan(CustomScanState *node)
{
	ShardScanState *state = (ShardScanState *) node;
	ListCell   *lc;

	MemoryContextReset(state->rows_cxt);
	for (int i = 0; i < state->nshards; i++)
	{
		state->shards[i].rows = NULL;
		state->shards[i].nrows = 0;
		state->shards[i].next = 0;
	}
	state->sent = false;
	state->current = 0;
	foreach(lc, node->custom_ps)
	{
		PlanState  *child = lfirst(lc);

		if (node->ss.ps.chgParam != NULL)
			UpdateChangedParamSet(child, node->ss.ps.chgParam);
		if (child->chgParam == NULL)
			ExecReScan(child);
	}
}

/*
 * Registers the shard scan's plan methods, so that a plan made by
 * another backend (a parallel worker's copy, say) finds them by name;
 * called from _PG_init, which takes no lock.
 */
void
omen_shard_exec_init(void)
{
	RegisterCustomScanMethods(&shard_scan_methods);
}
