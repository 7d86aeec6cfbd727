/*
 * planner.c
 *		A planner hook that finishes ordered omenhnsw scans' plans.
 *
 * Distance bounds.  In "WHERE v <-> q < r ORDER BY v <-> q" the executor
 * filters the rows the index returns, so the index never learns that no row
 * past r is wanted and would search all of itself.  After standard planning,
 * this hook finds such filters on omenhnsw index scans and adds "v <@ r"
 * (the operator class's OMEN_BOUND_STRATEGY operator) to the scan's index
 * conditions: the scan receives r as a scan key and may stop once its
 * distances pass it.  The filter stays where it was and does the exact
 * filtering, so the bound is only a hint, and <@ itself is true for every
 * row: a recheck of the index conditions (EvalPlanQual) changes nothing.
 *
 * Junk distances.  In "SELECT id ... ORDER BY v <-> q LIMIT k" the distance
 * is a junk column that nothing reads once the index has ordered the rows,
 * yet the scan would fetch each row's vector (often from TOAST) to compute
 * it.  At the root of a SELECT's plan such a column is dropped.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "omenhnsw.h"

static planner_hook_type prev_planner_hook = NULL;

/*
 * Whether index is an omenhnsw index.  The access method is looked up by
 * name every time (the syscache keeps that cheap), as the extension may
 * have been dropped and recreated.
 */
static bool
index_is_omenhnsw(Relation index)
{
	Oid			amoid = get_am_oid("omenhnsw", true);

	return OidIsValid(amoid) && index->rd_rel->relam == amoid;
}

/* The planner still holds its lock on the index. */
static bool
is_omenhnsw(Oid indexid)
{
	Relation	index = index_open(indexid, NoLock);
	bool		result = index_is_omenhnsw(index);

	index_close(index, NoLock);
	return result;
}

/* The bound operator of an omenhnsw index, or InvalidOid for any other. */
static Oid
bound_operator(Oid indexid)
{
	Relation	index = index_open(indexid, NoLock);
	Oid			opno = InvalidOid;

	if (index_is_omenhnsw(index))
		opno = get_opfamily_member(index->rd_opfamily[0],
								   index->rd_opcintype[0], FLOAT8OID,
								   OMEN_BOUND_STRATEGY);
	index_close(index, NoLock);
	return opno;
}

/* Whether dist computes the same distance as the scan's ORDER BY. */
static bool
same_distance(Node *dist, OpExpr *orderby)
{
	OpExpr	   *op;

	if (equal(dist, orderby))
		return true;
	/* the planner turned "q <-> v" into "v <-> q" for the ORDER BY only */
	if (!IsA(dist, OpExpr))
		return false;
	op = (OpExpr *) dist;
	return list_length(op->args) == 2 &&
		op->opno == get_commutator(orderby->opno) &&
		equal(linitial(op->args), lsecond(orderby->args)) &&
		equal(lsecond(op->args), linitial(orderby->args));
}

/*
 * If the filter clause is "dist < r", "dist <= r", "r > dist" or
 * "r >= dist", with dist the ORDER BY's distance and r a float8 the
 * executor can compute once per scan, returns r; otherwise NULL.
 */
static Expr *
distance_bound(Node *clause, OpExpr *orderby)
{
	OpExpr	   *op;
	Oid			float8_opf;
	Node	   *dist;
	Node	   *bound;

	if (!IsA(clause, OpExpr))
		return NULL;
	op = (OpExpr *) clause;
	if (list_length(op->args) != 2)
		return NULL;

	float8_opf = lookup_type_cache(FLOAT8OID, TYPECACHE_BTREE_OPFAMILY)->btree_opf;
	switch (get_op_opfamily_strategy(op->opno, float8_opf))
	{
		case BTLessStrategyNumber:
		case BTLessEqualStrategyNumber:
			dist = linitial(op->args);
			bound = lsecond(op->args);
			break;
		case BTGreaterStrategyNumber:
		case BTGreaterEqualStrategyNumber:
			dist = lsecond(op->args);
			bound = linitial(op->args);
			break;
		default:
			return NULL;
	}

	if (exprType(bound) != FLOAT8OID ||
		!same_distance(dist, orderby) ||
		contain_var_clause(bound) ||
		contain_volatile_functions(bound) ||
		contain_subplans(bound))
		return NULL;
	return (Expr *) bound;
}

static Expr *
make_bound_clause(Oid opno, Expr *left, Expr *bound)
{
	OpExpr	   *op = (OpExpr *) make_opclause(opno, BOOLOID, false,
											  copyObject(left),
											  copyObject(bound),
											  InvalidOid, InvalidOid);

	/* set_plan_references, which fills it in, has run */
	set_opfuncid(op);
	return (Expr *) op;
}

/*
 * Adds a bound to an ordered omenhnsw index scan for each distance filter
 * on it.  indexqual refers to the index column as the executor expects
 * (INDEX_VAR, column 1): its form is taken from the scan's indexorderby.
 */
static void
add_bounds(IndexScan *scan)
{
	OpExpr	   *orderby;
	Expr	   *indexkey;
	Oid			opno;
	ListCell   *lc;

	if (scan->scan.plan.qual == NIL || list_length(scan->indexorderbyorig) != 1)
		return;
	orderby = linitial(scan->indexorderbyorig);
	if (!IsA(orderby, OpExpr) || list_length(orderby->args) != 2)
		return;
	indexkey = linitial(castNode(OpExpr, linitial(scan->indexorderby))->args);
	if (!IsA(indexkey, Var) || ((Var *) indexkey)->varno != INDEX_VAR)
		return;

	opno = bound_operator(scan->indexid);
	if (!OidIsValid(opno))
		return;

	foreach(lc, scan->scan.plan.qual)
	{
		Expr	   *bound = distance_bound(lfirst(lc), orderby);

		if (bound == NULL)
			continue;
		scan->indexqual = lappend(scan->indexqual,
								  make_bound_clause(opno, indexkey, bound));
		scan->indexqualorig = lappend(scan->indexqualorig,
									  make_bound_clause(opno, linitial(orderby->args),
														bound));
	}
}

/* Finds the highest column number any Var reads. */
static bool
max_attno_walker(Node *node, AttrNumber *max)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		*max = Max(*max, ((Var *) node)->varattno);
		return false;
	}
	return expression_tree_walker(node, max_attno_walker, max);
}

/*
 * Drops trailing junk columns that recompute the ORDER BY distance of an
 * ordered omenhnsw scan at the root of a plan, or under a Limit there,
 * unless a column number up to `read` is read above.  A Limit WITH TIES
 * compares the distances.  The Limit describes its output with the scan's
 * columns, so it loses them too.
 */
static void
drop_junk_distance(Plan *top, AttrNumber read)
{
	Plan	   *plan = IsA(top, Limit) ? top->lefttree : top;
	IndexScan  *scan;
	Node	   *orderby;

	if (IsA(top, Limit) &&
		((Limit *) top)->limitOption == LIMIT_OPTION_WITH_TIES)
		return;
	if (plan == NULL || !IsA(plan, IndexScan))
		return;
	scan = (IndexScan *) plan;
	if (list_length(scan->indexorderbyorig) != 1)
		return;
	orderby = linitial(scan->indexorderbyorig);
	if (!IsA(orderby, OpExpr) || !is_omenhnsw(scan->indexid))
		return;

	/* only the root's columns are labelled junk */
	while (top->targetlist != NIL && plan->targetlist != NIL)
	{
		TargetEntry *junk = llast(top->targetlist);
		TargetEntry *tle = llast(plan->targetlist);

		if (!junk->resjunk || junk->resno <= read)
			break;
		if (top != plan &&
			!(IsA(junk->expr, Var) && ((Var *) junk->expr)->varno == OUTER_VAR &&
			  ((Var *) junk->expr)->varattno == tle->resno))
			break;
		if (!same_distance((Node *) tle->expr, (OpExpr *) orderby))
			break;
		if (top != plan)
			top->targetlist = list_delete_last(top->targetlist);
		plan->targetlist = list_delete_last(plan->targetlist);
	}
}

static void finish_list(List *plans);

/*
 * Walks a plan tree; bitmap trees hold no IndexScan.
 */
static void
finish_tree(Plan *plan)
{
	if (plan == NULL)
		return;
	check_stack_depth();

	if (IsA(plan, IndexScan))
		add_bounds((IndexScan *) plan);
	if (IsA(plan, SubqueryScan))
	{
		/* a physical target list may read the subquery's junk columns */
		AttrNumber	read = 0;

		max_attno_walker((Node *) plan->targetlist, &read);
		max_attno_walker((Node *) plan->qual, &read);
		drop_junk_distance(((SubqueryScan *) plan)->subplan, read);
	}

	finish_tree(plan->lefttree);
	finish_tree(plan->righttree);
	switch (nodeTag(plan))
	{
		case T_Append:
			finish_list(((Append *) plan)->appendplans);
			break;
		case T_MergeAppend:
			finish_list(((MergeAppend *) plan)->mergeplans);
			break;
		case T_SubqueryScan:
			finish_tree(((SubqueryScan *) plan)->subplan);
			break;
		case T_CustomScan:
			finish_list(((CustomScan *) plan)->custom_plans);
			break;
		default:
			break;
	}
}

static void
finish_list(List *plans)
{
	ListCell   *lc;

	foreach(lc, plans)
		finish_tree(lfirst(lc));
}

static PlannedStmt *
omen_planner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	PlannedStmt *stmt;

	if (prev_planner_hook)
		stmt = prev_planner_hook(parse, query_string, cursorOptions,
								 boundParams);
	else
		stmt = standard_planner(parse, query_string, cursorOptions,
								boundParams);

	finish_tree(stmt->planTree);
	/* the plans of SubPlans and InitPlans */
	finish_list(stmt->subplans);
	/* row locks read junk columns above the root */
	if (stmt->commandType == CMD_SELECT && stmt->rowMarks == NIL)
		drop_junk_distance(stmt->planTree, 0);
	return stmt;
}

void
omen_planner_init(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = omen_planner;
}
