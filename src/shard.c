/*
 * shard.c
 *		k-NN over partitions that are postgres_fdw foreign tables.
 *
 * Limits.  In "SELECT ... FROM parent [WHERE ...] ORDER BY v <-> q LIMIT k
 * [OFFSET n]", with parent a partitioned table (or an inheritance parent)
 * whose partitions are postgres_fdw foreign tables, postgres_fdw ships
 * "ORDER BY v <-> q" to each shard but no LIMIT: it ships LIMIT only for a
 * query whose whole FROM is one foreign table.  Each shard then fills whole
 * fetch_size batches, and its scan keeps searching to fill them.  No
 * partition can contribute more than k + n rows to the answer, so when
 * every qual on a partition runs on its shard, this module adds to that
 * partition a path that asks postgres_fdw for "ORDER BY ... LIMIT k + n":
 * postgres_fdw's own ordered path, flagged with the has-limit flag of
 * postgres_fdw's path private data, which postgres_fdw reads to append the
 * query's LIMIT to the remote query.  Core then builds Merge Append or
 * Append + Sort over those paths by cost.  Anything that a per-partition
 * limit could change (aggregates, grouping, DISTINCT, window functions,
 * set-returning functions in the target list, row locks, WITH TIES, joins,
 * quals run on the coordinator) keeps the plans it had.
 *
 * Since postgres_fdw deparses the query's own LIMIT and OFFSET, a query
 * with an OFFSET has its LIMIT replaced by "k + n" and its OFFSET dropped
 * once the final paths (which keep their own copies of both) are built.
 *
 * Concurrency.  A Merge Append waits for each shard in turn.  When the
 * partitions are on distinct servers and none has a pseudoconstant qual
 * (which would put a gating Result over its scan), a Sort over omendb's
 * shard scan (shard_exec.c), which sends every shard its limited query at
 * once without postgres_fdw's cursors, is offered next to it; failing that
 * (omenhnsw.enable_shard_scan off, or a postgres_fdw without the functions
 * the shard scan needs), a Sort over an Append of the limited paths when
 * postgres_fdw runs every partition asynchronously (async_capable).  Both
 * are costed as shards that work at the same time.
 *
 * Distances.  postgres_fdw fetches a partition's columns, and the
 * coordinator computes the ORDER BY distance from the vector to merge or
 * sort the shards' rows, so every row would carry its vector.  When the
 * query needs the vector for nothing else (core then computes the query's
 * target list, distance included, in each partition's scan), the limited
 * path's plan is made by omen_get_foreign_plan(): postgres_fdw's remote
 * query, wrapped in one that sends the remote ORDER BY distance and NULL
 * for the vector, and a scan that returns the distance as a column of its
 * tuple (fdw_scan_tlist with scanrelid 0, as postgres_fdw's own joins do).
 *
 * Settings.  postgres_fdw sends no custom setting to the shards, so the
 * coordinator's omenhnsw.ef_search, iterative_scan, max_scan_tuples and
 * scan_mem_multiplier travel inside the shipped ORDER BY: the query vector
 * of the partition's ORDER BY is wrapped in omenhnsw_search(q, ef_search,
 * iterative_scan, max_scan_tuples, scan_mem_multiplier), an identity on q.
 * The settings are parameters that an initplan sets from
 * omenhnsw_scan_settings() when the query runs, so a cached plan sends the
 * values of each execution; postgres_fdw sends parameters' values along
 * with the remote query.  omendb's planner on the shard finds the call and
 * sets those values for the rest of the transaction, as SET LOCAL would;
 * without that planner the shard returns the same rows with its own
 * settings.
 *
 * All of this leans on postgres_fdw's private path and plan data of
 * PostgreSQL 15 and on its exported is_foreign_expr() and
 * deparseSelectStmtForRel(): it applies only to foreign tables whose
 * wrapper's handler is postgres_fdw's, and a remote query that is not of
 * the expected form keeps postgres_fdw's plan.  Every function here runs
 * inside the planner, which holds its locks on the query's relations; none
 * takes a lock of its own.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_class.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/int.h"
#include "fmgr.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planner.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/subselect.h"
#include "parser/parse_func.h"
#include "parser/parse_oper.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/catcache.h"
#include "utils/syscache.h"

#include "omenhnsw.h"
#include "shard.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "shard.c relies on postgres_fdw's path private data of PostgreSQL 15"
#endif

/* postgres_fdw's ForeignPath fdw_private: has-final-sort, has-limit */
#define PGFDW_PATH_PRIVATE(has_final_sort, has_limit) \
	list_make2(makeBoolean(has_final_sort), makeBoolean(has_limit))

/* postgres_fdw's deparse.c: whether an expression can run on the shard */
typedef bool (*is_foreign_expr_type) (PlannerInfo *root, RelOptInfo *baserel,
									  Expr *expr);

/* postgres_fdw's deparse.c: the remote SELECT of a relation */
typedef void (*deparse_select_type) (StringInfo buf, PlannerInfo *root,
									 RelOptInfo *rel, List *tlist,
									 List *remote_conds, List *pathkeys,
									 bool has_final_sort, bool has_limit,
									 bool is_subquery, List **retrieved_attrs,
									 List **params_list);

#define WRAPPER_NAME "omenhnsw_search"	/* its SQL and C names */
#define WRAPPER_NARGS 5
#define SETTINGS_NAME "omenhnsw_scan_settings"	/* its SQL name */
#define NSETTINGS (WRAPPER_NARGS - 1)

/* The settings' types: omenhnsw_search()'s arguments after q. */
static const Oid setting_types[NSETTINGS] = {INT4OID, TEXTOID, INT4OID, FLOAT8OID};

bool		omen_enable_shard_scan = true;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;
static create_upper_paths_hook_type prev_create_upper_paths_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;

PG_FUNCTION_INFO_V1(omenhnsw_search);
PG_FUNCTION_INFO_V1(omenhnsw_scan_settings);

/*
 * omenhnsw_search(q, ef_search, iterative_scan, max_scan_tuples,
 * scan_mem_multiplier): returns q.  The settings are read from the call by
 * the planner, never here.
 */
Datum
omenhnsw_search(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/*
 * omenhnsw_scan_settings(): the row (ef_search, iterative_scan,
 * max_scan_tuples, scan_mem_multiplier) of the settings an omenhnsw scan
 * would use now.
 */
Datum
omenhnsw_scan_settings(PG_FUNCTION_ARGS)
{
	OmenScanSettings settings;
	TupleDesc	tupdesc;
	Datum		values[NSETTINGS];
	bool		nulls[NSETTINGS] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE ||
		tupdesc->natts != NSETTINGS)
		elog(ERROR, "return type of %s must be a row of %d columns",
			 SETTINGS_NAME, NSETTINGS);
	omen_scan_settings(&settings, false);
	values[0] = Int32GetDatum(settings.ef_search);
	values[1] = CStringGetTextDatum(omen_iterative_scan_name(settings.iterative_scan));
	values[2] = Int32GetDatum(settings.max_scan_tuples);
	values[3] = Float8GetDatum(settings.scan_mem_multiplier);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/* Whether opno orders an omenhnsw operator class (a k-NN distance). */
static bool
is_knn_operator(Oid opno)
{
	Oid			amoid = get_am_oid("omenhnsw", true);
	CatCList   *catlist;
	bool		result = false;
	int			i;

	if (!OidIsValid(amoid))
		return false;
	catlist = SearchSysCacheList1(AMOPOPID, ObjectIdGetDatum(opno));
	for (i = 0; i < catlist->n_members; i++)
	{
		Form_pg_amop amop = (Form_pg_amop) GETSTRUCT(&catlist->members[i]->tuple);

		if (amop->amopmethod == amoid && amop->amoppurpose == AMOP_ORDER)
		{
			result = true;
			break;
		}
	}
	ReleaseSysCacheList(catlist);
	return result;
}

/* Whether the query's first sort key is a k-NN distance. */
static bool
orders_by_distance(Query *parse)
{
	SortGroupClause *sortcl;
	Node	   *expr;

	if (parse->sortClause == NIL)
		return false;
	sortcl = linitial(parse->sortClause);
	expr = get_sortgroupclause_expr(sortcl, parse->targetList);
	return IsA(expr, OpExpr) && is_knn_operator(((OpExpr *) expr)->opno);
}

/*
 * Whether funcid is the C function symbol of library (as pg_proc names
 * them: "$libdir/name").
 */
static bool
is_c_function(Oid funcid, const char *library, const char *symbol)
{
	HeapTuple	tuple;
	bool		result = false;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return false;
	if (((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId)
	{
		bool		srcnull;
		bool		binnull;
		Datum		src = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc,
										  &srcnull);
		Datum		bin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin,
										  &binnull);

		result = !srcnull && !binnull &&
			strcmp(TextDatumGetCString(src), symbol) == 0 &&
			strcmp(TextDatumGetCString(bin), library) == 0;
	}
	ReleaseSysCache(tuple);
	return result;
}

/* Whether a foreign table's wrapper is postgres_fdw (by its handler). */
static bool
is_postgres_fdw(RelOptInfo *rel)
{
	ForeignDataWrapper *fdw;

	if (rel->fdwroutine == NULL || !OidIsValid(rel->serverid))
		return false;
	fdw = GetForeignDataWrapper(GetForeignServer(rel->serverid)->fdwid);
	return OidIsValid(fdw->fdwhandler) &&
		is_c_function(fdw->fdwhandler, "$libdir/postgres_fdw",
					  "postgres_fdw_handler");
}

/*
 * Whether root plans a k-NN query of one appendrel (a partitioned table or
 * an inheritance parent, joined with nothing) whose answer is the first
 * rows of that ordering and nothing else: then no partition contributes
 * more than LIMIT + OFFSET rows.  Valid from the base relations' paths on.
 */
static bool
is_knn_over_appendrel(PlannerInfo *root)
{
	Query	   *parse = root->parse;
	int			relid;
	RangeTblEntry *rte;

	if (parse->commandType != CMD_SELECT ||
		parse->rowMarks != NIL ||
		parse->hasAggs || parse->groupClause != NIL ||
		parse->groupingSets != NIL || parse->havingQual != NULL ||
		parse->hasWindowFuncs || parse->distinctClause != NIL ||
		parse->hasTargetSRFs || parse->setOperations != NULL ||
		parse->limitCount == NULL ||
		parse->limitOption != LIMIT_OPTION_COUNT)
		return false;
	if (!bms_get_singleton_member(root->all_baserels, &relid))
		return false;
	rte = root->simple_rte_array[relid];
	if (rte->rtekind != RTE_RELATION || !rte->inh)
		return false;
	/* the query's order is exactly the ORDER BY */
	return root->query_pathkeys != NIL &&
		compare_pathkeys(root->query_pathkeys, root->sort_pathkeys) == PATHKEYS_EQUAL &&
		orders_by_distance(parse);
}

/* left opname right, for pg_catalog's int8 operator opname */
static Expr *
int8_opclause(const char *opname, Expr *left, Expr *right)
{
	Oid			opno = LookupOperName(NULL, list_make2(makeString("pg_catalog"),
													   makeString(unconstify(char *, opname))),
									  INT8OID, INT8OID, false, -1);
	OpExpr	   *expr = (OpExpr *) make_opclause(opno, get_op_rettype(opno), false,
												left, right, InvalidOid, InvalidOid);

	set_opfuncid(expr);
	return (Expr *) expr;
}

/*
 * The number of rows each partition must send: LIMIT plus OFFSET, as an
 * int8 expression the shard can compute, or NULL if there is none to send
 * (a NULL or negative constant, an overflow, or an expression that is
 * neither a constant nor a parameter).  Constants are added here; a
 * parameter's sum is NULL (no limit) where it would overflow.
 */
static Expr *
per_partition_limit(Query *parse)
{
	Node	   *count = parse->limitCount;
	Node	   *offset = parse->limitOffset;
	Expr	   *sum_expr;
	CaseWhen   *when;
	CaseExpr   *capped;

	if (!(IsA(count, Const) || IsA(count, Param)) ||
		(offset != NULL && !(IsA(offset, Const) || IsA(offset, Param))) ||
		exprType(count) != INT8OID ||
		(offset != NULL && exprType(offset) != INT8OID))
		return NULL;
	if (IsA(count, Const) &&
		(((Const *) count)->constisnull || DatumGetInt64(((Const *) count)->constvalue) < 0))
		return NULL;
	/* a NULL or absent OFFSET is no offset */
	if (offset == NULL || (IsA(offset, Const) && ((Const *) offset)->constisnull))
		return (Expr *) count;
	if (IsA(offset, Const) && DatumGetInt64(((Const *) offset)->constvalue) < 0)
		return NULL;

	if (IsA(count, Const) && IsA(offset, Const))
	{
		int64		sum;

		if (pg_add_s64_overflow(DatumGetInt64(((Const *) count)->constvalue),
								DatumGetInt64(((Const *) offset)->constvalue),
								&sum))
			return NULL;
		return (Expr *) makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
								  Int64GetDatum(sum), false, FLOAT8PASSBYVAL);
	}
	/*
	 * CASE WHEN count > INT64_MAX - offset THEN NULL ELSE count + offset END:
	 * a sum past the int8 range asks for every row (LIMIT NULL) instead of
	 * failing on the shard.  The coordinator's Limit rejects a negative
	 * LIMIT or OFFSET before any partition runs its remote query.
	 */
	sum_expr = int8_opclause("+", (Expr *) copyObject(count),
							 (Expr *) copyObject(offset));
	when = makeNode(CaseWhen);
	when->expr = int8_opclause(">", (Expr *) copyObject(count),
							   int8_opclause("-",
											 (Expr *) makeConst(INT8OID, -1, InvalidOid,
																sizeof(int64),
																Int64GetDatum(PG_INT64_MAX),
																false, FLOAT8PASSBYVAL),
											 (Expr *) copyObject(offset)));
	when->result = (Expr *) makeNullConst(INT8OID, -1, InvalidOid);
	when->location = -1;
	capped = makeNode(CaseExpr);
	capped->casetype = INT8OID;
	capped->casecollid = InvalidOid;
	capped->arg = NULL;
	capped->args = list_make1(when);
	capped->defresult = sum_expr;
	capped->location = -1;
	return (Expr *) capped;
}

/*
 * Whether every qual on a postgres_fdw partition runs on its shard, judged
 * by postgres_fdw itself.  Constant quals gate the whole scan: they change
 * no partition's first rows.
 */
static bool
quals_all_remote(PlannerInfo *root, RelOptInfo *rel)
{
	is_foreign_expr_type is_foreign_expr;
	ListCell   *lc;

	if (rel->baserestrictinfo == NIL)
		return true;
	is_foreign_expr = (is_foreign_expr_type)
		load_external_function("$libdir/postgres_fdw", "is_foreign_expr",
							   false, NULL);
	foreach(lc, rel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (!rinfo->pseudoconstant && !is_foreign_expr(root, rel, rinfo->clause))
			return false;
	}
	return true;
}

/*
 * The function name with these arguments in the schema of the distance
 * operator opno (the extension's), or InvalidOid.
 */
static Oid
extension_function(Oid opno, const char *name, int nargs, const Oid *argtypes)
{
	char	   *schema = get_namespace_name(get_func_namespace(get_opcode(opno)));

	if (schema == NULL)
		return InvalidOid;
	return LookupFuncName(list_make2(makeString(schema), makeString(unconstify(char *, name))),
						  nargs, argtypes, true);
}

/* The wrapper function for a query vector of type vectype, or InvalidOid. */
static Oid
wrapper_function(Oid opno, Oid vectype)
{
	Oid			argtypes[WRAPPER_NARGS] = {vectype};

	memcpy(&argtypes[1], setting_types, sizeof(setting_types));
	return extension_function(opno, WRAPPER_NAME, WRAPPER_NARGS, argtypes);
}

/*
 * The settings arguments of the wrapper call in one of the distances of
 * the equivalence class ec (made for another partition of the query), or
 * NIL.
 */
static List *
shared_settings(EquivalenceClass *ec, Oid wrapper)
{
	ListCell   *lc;

	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		ListCell   *arg;

		if (!IsA(em->em_expr, OpExpr))
			continue;
		foreach(arg, ((OpExpr *) em->em_expr)->args)
		{
			FuncExpr   *call = lfirst(arg);

			if (IsA(call, FuncExpr) && call->funcid == wrapper)
				return list_copy_tail(call->args, 1);
		}
	}
	return NIL;
}

/*
 * Makes an initplan of root that sets, when the query runs, one parameter
 * per setting from omenhnsw_scan_settings() (settings_func), and returns
 * those parameters.  The initplan is a Result of no relation, planned here
 * with a subroot that holds nothing but the global planner state.
 */
static List *
settings_initplan(PlannerInfo *root, Oid settings_func)
{
	PlannerInfo *subroot = makeNode(PlannerInfo);
	Result	   *result = makeNode(Result);
	Expr	   *call = (Expr *) makeFuncExpr(settings_func, RECORDOID, NIL,
											 InvalidOid, InvalidOid,
											 COERCE_EXPLICIT_CALL);
	List	   *params = NIL;
	SubPlan    *initplan;
	StringInfoData name;
	ListCell   *lc;

	for (int i = 0; i < NSETTINGS; i++)
	{
		FieldSelect *field = makeNode(FieldSelect);

		field->arg = call;
		field->fieldnum = i + 1;
		field->resulttype = setting_types[i];
		field->resulttypmod = -1;
		field->resultcollid = InvalidOid;
		result->plan.targetlist = lappend(result->plan.targetlist,
										  makeTargetEntry((Expr *) field, i + 1,
														  NULL, false));
		params = lappend(params, SS_make_initplan_output_param(root, setting_types[i],
															   -1, InvalidOid));
	}
	result->plan.startup_cost = NSETTINGS * cpu_operator_cost;
	result->plan.total_cost = result->plan.startup_cost;
	result->plan.plan_rows = 1;
	result->plan.plan_width = NSETTINGS * sizeof(int64);
	result->plan.parallel_safe = true;

	subroot->parse = makeNode(Query);
	subroot->parse->commandType = CMD_SELECT;
	subroot->glob = root->glob;
	subroot->query_level = root->query_level + 1;
	subroot->parent_root = root;
	SS_make_initplan_from_plan(root, subroot, (Plan *) result, linitial(params));

	/* one initplan sets all the parameters, from its columns in order */
	initplan = llast_node(SubPlan, root->init_plans);
	initplan->setParam = NIL;
	initStringInfo(&name);
	appendStringInfo(&name, "InitPlan %d (returns ", initplan->plan_id);
	foreach(lc, params)
	{
		Param	   *param = lfirst(lc);

		initplan->setParam = lappend_int(initplan->setParam, param->paramid);
		appendStringInfo(&name, "%s$%d", foreach_current_index(lc) > 0 ? "," : "",
						 param->paramid);
	}
	appendStringInfoChar(&name, ')');
	initplan->plan_name = name.data;
	return params;
}

/*
 * Gives the partition's ORDER BY distance (its member of the first sort
 * key's equivalence class) a twin whose query vector is wrapped in
 * omenhnsw_search() with the settings of the query's initplan (made for
 * the first partition, shared by the others), placed just before it.
 * postgres_fdw deparses the first member of the class that belongs to the
 * partition and that it can ship, so the remote ORDER BY carries the
 * settings; the coordinator still finds the original member where it
 * matches a target list entry, and computes the same distances from
 * either.  The text parameter has no collation: postgres_fdw ships no
 * expression whose collation is derived from a parameter's.
 */
static void
carry_settings(PlannerInfo *root, RelOptInfo *rel)
{
	EquivalenceClass *ec = linitial_node(PathKey, root->query_pathkeys)->pk_eclass;
	ListCell   *lc;

	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		EquivalenceMember *twin;
		OpExpr	   *dist;
		int			q;
		Oid			wrapper;
		Oid			settings_func;
		Expr	   *arg;
		List	   *settings;

		if (!em->em_is_child || !bms_equal(em->em_relids, rel->relids) ||
			!IsA(em->em_expr, OpExpr))
			continue;
		dist = (OpExpr *) em->em_expr;
		if (list_length(dist->args) != 2 || !is_knn_operator(dist->opno))
			return;
		/* the query vector is the operand without the partition's columns */
		if (!contain_var_clause(linitial(dist->args)))
			q = 0;
		else if (!contain_var_clause(lsecond(dist->args)))
			q = 1;
		else
			return;
		arg = list_nth(dist->args, q);
		wrapper = wrapper_function(dist->opno, exprType((Node *) arg));
		settings_func = extension_function(dist->opno, SETTINGS_NAME, 0, NULL);
		if (!OidIsValid(wrapper) || !OidIsValid(settings_func))
			return;
		settings = shared_settings(ec, wrapper);
		if (settings == NIL)
			settings = settings_initplan(root, settings_func);

		dist = copyObject(dist);
		list_nth_cell(dist->args, q)->ptr_value =
			makeFuncExpr(wrapper, exprType((Node *) arg), lcons(arg, settings),
						 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

		twin = makeNode(EquivalenceMember);
		memcpy(twin, em, sizeof(EquivalenceMember));
		twin->em_expr = (Expr *) dist;
		ec->ec_members = list_insert_nth(ec->ec_members,
										 foreach_current_index(lc), twin);
		return;
	}
}

/*
 * The cost of reading the first rows of path, rows of its path->rows.
 */
static Cost
first_rows_cost(Path *path, double rows)
{
	Cost		run_cost = path->total_cost - path->startup_cost;

	if (path->rows > rows)
		run_cost *= rows / path->rows;
	return path->startup_cost + run_cost;
}

/* Context of vector_used_walker. */
typedef struct VectorUse
{
	Index		relid;			/* the partitioned table */
	AttrNumber	attno;			/* its vector column */
	Node	   *distance;		/* the ORDER BY distance */
} VectorUse;

/*
 * Whether node reads the vector column (or the whole row) of the
 * partitioned table other than inside the ORDER BY distance.
 */
static bool
vector_used_walker(Node *node, VectorUse *use)
{
	if (node == NULL || equal(node, use->distance))
		return false;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;

		return var->varno == use->relid && var->varlevelsup == 0 &&
			(var->varattno == use->attno || var->varattno == InvalidAttrNumber);
	}
	return expression_tree_walker(node, vector_used_walker, use);
}

/*
 * The vector column of a postgres_fdw partition, in a k-NN query of its
 * partitioned table, when the query needs its values for nothing but the
 * ORDER BY distance: then core computes the query's target list (which
 * holds the distance) in each partition's scan, and the shard can send
 * the distance in place of the vector.  InvalidAttrNumber otherwise.
 * The caller has checked that every qual runs on the shard.
 */
static AttrNumber
unneeded_vector_column(PlannerInfo *root, RelOptInfo *rel)
{
	EquivalenceClass *ec = linitial_node(PathKey, root->query_pathkeys)->pk_eclass;
	VectorUse	use;
	int			relid;
	Node	   *vector;
	ListCell   *lc;

	if (!bms_get_singleton_member(root->all_baserels, &relid) ||
		root->simple_rte_array[relid]->relkind != RELKIND_PARTITIONED_TABLE ||
		list_length(root->query_pathkeys) != 1)
		return InvalidAttrNumber;
	use.relid = relid;
	use.distance = get_sortgroupclause_expr(linitial(root->parse->sortClause),
											root->processed_tlist);
	vector = linitial(((OpExpr *) use.distance)->args);
	if (!IsA(vector, Var))
		vector = lsecond(((OpExpr *) use.distance)->args);
	if (!IsA(vector, Var) || ((Var *) vector)->varno != use.relid)
		return InvalidAttrNumber;
	use.attno = ((Var *) vector)->varattno;
	if (vector_used_walker((Node *) root->processed_tlist, &use))
		return InvalidAttrNumber;

	/* the same column of the partition, from its member of the class */
	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);
		ListCell   *arg;

		if (!bms_equal(em->em_relids, rel->relids) || !IsA(em->em_expr, OpExpr))
			continue;
		foreach(arg, ((OpExpr *) em->em_expr)->args)
		{
			Var		   *var = lfirst(arg);

			if (IsA(var, Var) && var->varno == rel->relid && var->varattno > 0)
				return var->varattno;
		}
	}
	return InvalidAttrNumber;
}

/* postgres_fdw's GetForeignPlan, for a partition rel on its server. */
static GetForeignPlan_function
postgres_fdw_plan(RelOptInfo *rel)
{
	return GetFdwRoutineByServerId(rel->serverid)->GetForeignPlan;
}

/*
 * The remote text of the partition's ORDER BY distance in postgres_fdw's
 * remote query sql of the partition (whose quals all run on the shard),
 * found by deparsing the partition's query with and without its ORDER BY;
 * NULL unless sql starts as expected.
 */
static char *
remote_distance(PlannerInfo *root, RelOptInfo *rel, List *pathkeys, const char *sql)
{
	deparse_select_type deparse = (deparse_select_type)
		load_external_function("$libdir/postgres_fdw", "deparseSelectStmtForRel",
							   false, NULL);
	const char *order_by = " ORDER BY ";
	const char *ascending = " ASC NULLS LAST";
	List	   *remote_conds = NIL;
	List	   *retrieved_attrs;
	List	   *params;
	StringInfoData unordered;
	StringInfoData ordered;
	size_t		start;
	ListCell   *lc;

	foreach(lc, rel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (!rinfo->pseudoconstant)
			remote_conds = lappend(remote_conds, rinfo->clause);
	}
	initStringInfo(&unordered);
	params = NIL;
	deparse(&unordered, root, rel, NIL, remote_conds, NIL, false, false, false,
			&retrieved_attrs, &params);
	initStringInfo(&ordered);
	params = NIL;
	deparse(&ordered, root, rel, NIL, remote_conds, pathkeys, false, false, false,
			&retrieved_attrs, &params);

	start = unordered.len + strlen(order_by);
	if (strncmp(sql, ordered.data, ordered.len) != 0 ||
		strncmp(ordered.data, unordered.data, unordered.len) != 0 ||
		strncmp(ordered.data + unordered.len, order_by, strlen(order_by)) != 0 ||
		ordered.len <= start + strlen(ascending) ||
		strcmp(ordered.data + ordered.len - strlen(ascending), ascending) != 0)
		return NULL;
	return pnstrdup(ordered.data + start, ordered.len - start - strlen(ascending));
}

/*
 * Whether the partition's scan returns a system column (tableoid, say),
 * which postgres_fdw fills in itself but a scan tuple of fdw_scan_tlist
 * would not hold.
 */
static bool
reads_system_column(RelOptInfo *rel)
{
	Bitmapset  *attrs = NULL;
	int			first;

	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &attrs);
	first = bms_next_member(attrs, -1);
	return first >= 0 && first + FirstLowInvalidHeapAttributeNumber < 0;
}

/*
 * GetForeignPlan of a partition with a limited path whose shard may send
 * the distance in place of the vector: postgres_fdw's plan, whose remote
 * query, for that path, becomes
 *
 *		SELECT c1, ..., NULL, ..., cn, d, ... FROM (sql) s ORDER BY n + 1
 *
 * with sql postgres_fdw's query, the vector's column NULL and one column d
 * (the remote ORDER BY distance) per member of the sort key's equivalence
 * class that belongs to the partition.  The scan then returns a tuple of
 * its fdw_scan_tlist (the columns, then those distances), from which
 * setrefs.c takes the distance of the scan's target list as a column
 * instead of computing it from the vector.  Any other remote query stays
 * as postgres_fdw made it.
 */
static ForeignScan *
omen_get_foreign_plan(PlannerInfo *root, RelOptInfo *rel, Oid relid,
					  ForeignPath *best_path, List *tlist, List *scan_clauses,
					  Plan *outer_plan)
{
	ForeignScan *scan = postgres_fdw_plan(rel) (root, rel, relid, best_path, tlist,
												scan_clauses, outer_plan);
	EquivalenceClass *ec;
	const char *sql = strVal(list_nth(scan->fdw_private, PGFDW_SCAN_SQL));
	List	   *retrieved = list_nth(scan->fdw_private, PGFDW_SCAN_RETRIEVED_ATTRS);
	AttrNumber	vector;
	char	   *distance;
	List	   *scan_tlist = NIL;
	List	   *columns = NIL;
	StringInfoData remote;
	ListCell   *lc;

	if (list_length(best_path->fdw_private) != 3 || outer_plan != NULL ||
		reads_system_column(rel))
		return scan;
	vector = intVal(lthird(best_path->fdw_private));
	distance = remote_distance(root, rel, best_path->path.pathkeys, sql);
	if (distance == NULL || !list_member_int(retrieved, vector))
		return scan;

	initStringInfo(&remote);
	appendStringInfoString(&remote, "SELECT ");
	foreach(lc, retrieved)
	{
		AttrNumber	attno = lfirst_int(lc);
		char	   *name;
		Oid			type;
		int32		typmod;
		Oid			collation;
		ListCell   *opt;

		if (attno <= 0)
			return scan;
		/* the remote name, as postgres_fdw deparses it */
		name = get_attname(relid, attno, false);
		foreach(opt, GetForeignColumnOptions(relid, attno))
		{
			DefElem    *def = lfirst_node(DefElem, opt);

			if (strcmp(def->defname, "column_name") == 0)
				name = defGetString(def);
		}
		appendStringInfo(&remote, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 attno == vector ? "NULL" : quote_identifier(name));
		get_atttypetypmodcoll(relid, attno, &type, &typmod, &collation);
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) makeVar(rel->relid, attno, type,
															  typmod, collation, 0),
											 list_length(scan_tlist) + 1, NULL, false));
	}
	ec = linitial_node(PathKey, best_path->path.pathkeys)->pk_eclass;
	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = lfirst(lc);

		if (!bms_equal(em->em_relids, rel->relids))
			continue;
		appendStringInfo(&remote, ", %s", distance);
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry(em->em_expr, list_length(scan_tlist) + 1,
											 NULL, false));
	}
	appendStringInfo(&remote, " FROM (%s) s ORDER BY %d", sql, list_length(retrieved) + 1);
	for (int i = 1; i <= list_length(scan_tlist); i++)
		columns = lappend_int(columns, i);

	scan->scan.scanrelid = 0;
	scan->fdw_scan_tlist = scan_tlist;
	list_nth_cell(scan->fdw_private, PGFDW_SCAN_SQL)->ptr_value = makeString(remote.data);
	list_nth_cell(scan->fdw_private, PGFDW_SCAN_RETRIEVED_ATTRS)->ptr_value = columns;
	return scan;
}

/*
 * Adds to a postgres_fdw partition a copy of postgres_fdw's path ordered
 * by the query's whole ORDER BY that also sends the LIMIT.  It returns
 * LIMIT + OFFSET rows; for a parameter limit, omenhnsw.ef_search rows, the
 * most that a k-NN scan without iterative search returns.  (Core's guess
 * for a parameter Limit, a tenth of the rows, would make a generic plan of
 * "LIMIT $n" cost far more than the custom plan of any usual k, so that a
 * prepared statement would be planned again at every execution, and with
 * use_remote_estimate ask every shard for estimates each time.)  Its cost
 * is the lesser of reading that many rows from the ordered path and from
 * the cheapest unordered one: the ordered path's cost, when the shard
 * estimated it, is that of ordering the whole partition, with no LIMIT to
 * let the shard choose its k-NN index, with which the first rows cost what
 * any rows do.
 */
static void
add_limited_path(PlannerInfo *root, RelOptInfo *rel)
{
	Expr	   *limit = per_partition_limit(root->parse);
	ForeignPath *ordered = NULL;
	Path	   *unordered = NULL;
	double		rows;
	Cost		total_cost;
	List	   *private = PGFDW_PATH_PRIVATE(false, true);
	AttrNumber	vector;
	ListCell   *lc;

	if (limit == NULL || !quals_all_remote(root, rel))
		return;

	foreach(lc, rel->pathlist)
	{
		Path	   *path = lfirst(lc);

		if (!IsA(path, ForeignPath) || path->param_info != NULL)
			continue;
		if (path->pathkeys == NIL &&
			(unordered == NULL || path->total_cost < unordered->total_cost))
			unordered = path;
		else if (((ForeignPath *) path)->fdw_private == NIL &&
				 compare_pathkeys(path->pathkeys, root->query_pathkeys) == PATHKEYS_EQUAL)
			ordered = (ForeignPath *) path;
	}
	if (ordered == NULL)
		return;

	if (IsA(limit, Const))
		rows = Min(ordered->path.rows, (double) DatumGetInt64(((Const *) limit)->constvalue));
	else
	{
		OmenScanSettings settings;

		omen_scan_settings(&settings, false);
		rows = Min(ordered->path.rows, (double) settings.ef_search);
	}
	rows = Max(rows, 1.0);
	total_cost = first_rows_cost(&ordered->path, rows);
	if (unordered != NULL)
		total_cost = Min(total_cost, first_rows_cost(unordered, rows));

	/*
	 * When the shard may send the distance in place of the vector, the
	 * path's private data (which postgres_fdw reads no further than its own
	 * two flags) ends with the vector's column, and the partition's plan is
	 * made by omen_get_foreign_plan().
	 */
	vector = unneeded_vector_column(root, rel);
	if (vector != InvalidAttrNumber)
	{
		FdwRoutine *routine = palloc(sizeof(FdwRoutine));

		private = lappend(private, makeInteger(vector));
		memcpy(routine, rel->fdwroutine, sizeof(FdwRoutine));
		routine->GetForeignPlan = omen_get_foreign_plan;
		rel->fdwroutine = routine;
	}

	add_path(rel, (Path *)
			 create_foreignscan_path(root, rel, ordered->path.pathtarget, rows,
									 Min(ordered->path.startup_cost, total_cost),
									 total_cost, ordered->path.pathkeys, NULL,
									 ordered->fdw_outerpath, private));
}

/* Whether path is a limited path of add_limited_path. */
static bool
is_limited_path(Path *path)
{
	ForeignPath *fpath = (ForeignPath *) path;

	return IsA(path, ForeignPath) && list_length(fpath->fdw_private) >= 2 &&
		boolVal(lsecond(fpath->fdw_private)) &&
		is_postgres_fdw(path->parent);
}

/*
 * The path of each partition of input_rel when every partition's
 * cheapest path is a limited path, or NIL; *async tells whether
 * postgres_fdw can run them all asynchronously, *distinct whether they
 * are on distinct servers, *gated whether a partition has a pseudoconstant
 * qual (its plan is then a gating Result over its scan), and *max_total
 * the total cost of the dearest.  Valid once the partitions' paths compute
 * the query's sort key (for a partitioned table, core rebuilds the
 * parent's Append paths then).
 */
static List *
limited_subpaths(PlannerInfo *root, RelOptInfo *input_rel, bool *async,
				 bool *distinct, bool *gated, Cost *max_total)
{
	List	   *subpaths = NIL;
	List	   *servers = NIL;
	ListCell   *lc;

	*async = true;
	*distinct = true;
	*gated = false;
	*max_total = 0;
	foreach(lc, root->append_rel_list)
	{
		AppendRelInfo *appinfo = lfirst(lc);
		RelOptInfo *child;
		Path	   *sub;
		Path	   *scan;
		ListCell   *rc;

		if (appinfo->parent_relid != input_rel->relid)
			continue;
		child = find_base_rel(root, appinfo->child_relid);
		if (IS_DUMMY_REL(child))
			continue;
		sub = child->cheapest_total_path;
		scan = sub != NULL && IsA(sub, ProjectionPath) ?
			((ProjectionPath *) sub)->subpath : sub;
		if (scan == NULL || !is_limited_path(scan))
			return NIL;
		if (child->fdwroutine->IsForeignPathAsyncCapable == NULL ||
			!child->fdwroutine->IsForeignPathAsyncCapable((ForeignPath *) scan))
			*async = false;
		if (list_member_oid(servers, child->serverid))
			*distinct = false;
		foreach(rc, child->baserestrictinfo)
		{
			if (lfirst_node(RestrictInfo, rc)->pseudoconstant)
				*gated = true;
		}
		*max_total = Max(*max_total, sub->total_cost);
		servers = lappend_oid(servers, child->serverid);
		subpaths = lappend(subpaths, sub);
	}
	return subpaths;
}

/*
 * Adds to the ordered relation a Sort over a path of the partitions'
 * limited paths whose shards work at the same time: omendb's shard scan
 * (shard_exec.c), which sends every shard its query at once, when the
 * partitions are on distinct servers and none is gated by a pseudoconstant
 * qual (a gating Result over a foreign scan runs as postgres_fdw's cursor,
 * one shard after another); otherwise an Append, when postgres_fdw runs
 * them all asynchronously, costed as the shards work.  Core costs an
 * Append as the sum of its children, so a Merge Append, which waits for
 * each shard in turn to start, would always look cheaper than a Sort over
 * an async Append, which waits only for the slowest shard; with this cost
 * the Sort of LIMIT rows per shard wins whenever there are two shards or
 * more.
 */
static void
add_concurrent_sort(PlannerInfo *root, RelOptInfo *input_rel,
					RelOptInfo *ordered_rel)
{
	PathTarget *target = root->upper_targets[UPPERREL_ORDERED];
	bool		async;
	bool		distinct;
	bool		gated;
	Cost		max_total;
	List	   *subpaths = limited_subpaths(root, input_rel, &async, &distinct,
											&gated, &max_total);
	Path	   *path = NULL;

	if (list_length(subpaths) < 2)
		return;
	if (omen_enable_shard_scan && distinct && !gated)
		path = omen_shard_scan_path(root, input_rel, subpaths, max_total);
	if (path == NULL && async && enable_async_append)
	{
		Cost		sum_total = 0;
		AppendPath *append;
		ListCell   *lc;

		foreach(lc, subpaths)
			sum_total += ((Path *) lfirst(lc))->total_cost;
		append = create_append_path(root, input_rel, subpaths, NIL, NIL, NULL, 0,
									false, -1);
		append->path.total_cost += max_total - sum_total;
		path = (Path *) append;
	}
	if (path == NULL)
		return;
	path = (Path *) create_sort_path(root, ordered_rel, path,
									 root->sort_pathkeys, root->limit_tuples);
	if (path->pathtarget != target)
		path = apply_projection_to_path(root, ordered_rel, path, target);
	add_path(ordered_rel, path);
}

/*
 * set_rel_pathlist_hook: for a postgres_fdw partition in a query ordered
 * by a k-NN distance, carries the search settings; in a k-NN query of its
 * parent alone, also sends the limit.
 */
static void
omen_shard_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						RangeTblEntry *rte)
{
	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	if (rel->reloptkind != RELOPT_OTHER_MEMBER_REL ||
		rte->relkind != RELKIND_FOREIGN_TABLE ||
		root->query_pathkeys == NIL ||
		!orders_by_distance(root->parse) ||
		!is_postgres_fdw(rel))
		return;

	carry_settings(root, rel);
	if (bms_equal(rel->top_parent_relids, root->all_baserels) &&
		is_knn_over_appendrel(root))
		add_limited_path(root, rel);
}

/*
 * create_upper_paths_hook: once the final paths hold their own LIMIT and
 * OFFSET, the query's become what each partition must send, which is
 * what postgres_fdw deparses for the limited paths.
 */
static void
omen_shard_upper_paths(PlannerInfo *root, UpperRelationKind stage,
					   RelOptInfo *input_rel, RelOptInfo *output_rel,
					   void *extra)
{
	if (prev_create_upper_paths_hook)
		prev_create_upper_paths_hook(root, stage, input_rel, output_rel, extra);

	if (stage == UPPERREL_ORDERED && is_knn_over_appendrel(root))
		add_concurrent_sort(root, input_rel, output_rel);
	else if (stage == UPPERREL_FINAL && root->parse->limitOffset != NULL &&
			 is_knn_over_appendrel(root))
	{
		Expr	   *limit = per_partition_limit(root->parse);

		if (limit != NULL)
		{
			root->parse->limitCount = (Node *) limit;
			root->parse->limitOffset = NULL;
		}
	}
}

static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
}

/*
 * The value of arg known before the query runs: a constant's, or a bound
 * parameter's that the planner may take as a constant (as a shard's query
 * from a coordinator has them).  False if there is none.
 */
static bool
known_value(Node *arg, ParamListInfo params, Datum *value, bool *isnull)
{
	if (IsA(arg, Const))
	{
		*value = ((Const *) arg)->constvalue;
		*isnull = ((Const *) arg)->constisnull;
		return true;
	}
	if (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN &&
		params != NULL && ((Param *) arg)->paramid > 0 &&
		((Param *) arg)->paramid <= params->numParams)
	{
		Param	   *param = (Param *) arg;
		ParamExternData prmdata;
		ParamExternData *prm;

		if (params->paramFetch != NULL)
			prm = params->paramFetch(params, param->paramid, false, &prmdata);
		else
			prm = &params->params[param->paramid - 1];
		if (OidIsValid(prm->ptype) && prm->ptype == param->paramtype &&
			(prm->pflags & PARAM_FLAG_CONST))
		{
			*value = prm->value;
			*isnull = prm->isnull;
			return true;
		}
	}
	return false;
}

/*
 * Applies the settings of every omenhnsw_search() call in a query, its
 * subqueries included, whose settings are all known (context is the
 * query's bound parameters); a NULL setting is left as it is, and so is
 * scan_mem_multiplier when the call leaves it to its default (the planner
 * has not inserted defaults yet).
 */
static bool
apply_settings_walker(Node *node, void *context)
{
	static const char *const names[NSETTINGS] = {
		"omenhnsw.ef_search", "omenhnsw.iterative_scan",
		"omenhnsw.max_scan_tuples", "omenhnsw.scan_mem_multiplier"
	};

	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, apply_settings_walker, context, 0);
	if (IsA(node, FuncExpr) &&
		list_length(((FuncExpr *) node)->args) >= WRAPPER_NARGS - 1 &&
		is_c_function(((FuncExpr *) node)->funcid, "$libdir/omendb", WRAPPER_NAME))
	{
		List	   *args = ((FuncExpr *) node)->args;
		Datum		values[NSETTINGS];
		bool		isnull[NSETTINGS];
		int			known;

		for (known = 0; known < NSETTINGS; known++)
		{
			if (known + 1 >= list_length(args))
				isnull[known] = true;
			else if (!known_value(list_nth(args, known + 1), (ParamListInfo) context,
								  &values[known], &isnull[known]))
				break;
		}
		for (int i = 0; known == NSETTINGS && i < NSETTINGS; i++)
		{
			Oid			typoutput;
			bool		typisvarlena;

			if (isnull[i])
				continue;
			getTypeOutputInfo(setting_types[i], &typoutput, &typisvarlena);
			set_local(names[i], OidOutputFunctionCall(typoutput, values[i]));
		}
	}
	return expression_tree_walker(node, apply_settings_walker, context);
}

/*
 * planner_hook: a query that carries search settings (as a shard's query
 * from a coordinator does) gets them before it is planned.
 */
static PlannedStmt *
omen_shard_planner(Query *parse, const char *query_string, int cursorOptions,
				   ParamListInfo boundParams)
{
	apply_settings_walker((Node *) parse, boundParams);

	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

void
omen_shard_init(void)
{
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = omen_shard_rel_pathlist;
	prev_create_upper_paths_hook = create_upper_paths_hook;
	create_upper_paths_hook = omen_shard_upper_paths;
	prev_planner_hook = planner_hook;
	planner_hook = omen_shard_planner;
}
