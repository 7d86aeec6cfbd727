/*
 * omenhnsw.c
 *		The omenhnsw handler: capabilities, operator class validation, cost
 *		estimation, and the metric and value checks every callback shares.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "utils/syscache.h"
#include "utils/regproc.h"

#include "distance.h"
#include "elem.h"
#include "omenhnsw.h"
#include "options.h"
#include "page.h"
#include "sparsevec.h"

#define OMEN_DISTANCE_PROC	1

PG_FUNCTION_INFO_V1(omenhnsw_handler);

/*
 * The distance support procedures of the operator classes, and the element
 * kind and metric each one stands for.
 */
static const struct
{
	PGFunction	fn;
	int			elem;
	int			metric;
}			omen_distance_procs[] =
{
	{vector_l2_squared_distance, OMEN_ELEM_FLOAT4, OMEN_METRIC_L2},
	{vector_negative_inner_product, OMEN_ELEM_FLOAT4, OMEN_METRIC_IP},
	{cosine_distance, OMEN_ELEM_FLOAT4, OMEN_METRIC_COSINE},
	{l1_distance, OMEN_ELEM_FLOAT4, OMEN_METRIC_L1},
	{halfvec_l2_squared_distance, OMEN_ELEM_FLOAT2, OMEN_METRIC_L2},
	{halfvec_negative_inner_product, OMEN_ELEM_FLOAT2, OMEN_METRIC_IP},
	{halfvec_cosine_distance, OMEN_ELEM_FLOAT2, OMEN_METRIC_COSINE},
	{halfvec_l1_distance, OMEN_ELEM_FLOAT2, OMEN_METRIC_L1},
	{hamming_distance, OMEN_ELEM_BIT, OMEN_METRIC_HAMMING},
	{jaccard_distance, OMEN_ELEM_BIT, OMEN_METRIC_JACCARD},
	{sparsevec_l2_squared_distance, OMEN_ELEM_SPARSE, OMEN_METRIC_L2},
	{sparsevec_negative_inner_product, OMEN_ELEM_SPARSE, OMEN_METRIC_IP},
	{sparsevec_cosine_distance, OMEN_ELEM_SPARSE, OMEN_METRIC_COSINE},
	{sparsevec_l1_distance, OMEN_ELEM_SPARSE, OMEN_METRIC_L1},
};

/*
 * The element kind and metric of the distance support procedure fn (oid
 * fnoid) into *e, with dimension dims.
 */
static void
distance_proc_elem(PGFunction fn, Oid fnoid, int dims, OmenElem *e)
{
	for (int i = 0; i < lengthof(omen_distance_procs); i++)
	{
		if (fn == omen_distance_procs[i].fn)
		{
			omen_elem_init(e, omen_distance_procs[i].elem,
						   omen_distance_procs[i].metric, dims, 0);
			return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("omenhnsw does not support distance function %s",
					format_procedure(fnoid))));
}

/*
 * The element kind and metric of an index, from the C function behind its
 * operator class's distance support procedure, into *e with the dimension
 * its column's typmod fixes (or 0).
 */
void
omen_index_elem(Relation index, OmenElem *e)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, OMEN_DISTANCE_PROC);

	/* a bit varying column holds strings of any length: pgvector's error */
	if (TupleDescAttr(RelationGetDescr(index), 0)->atttypid == VARBITOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("type not supported for hnsw index")));
	distance_proc_elem(proc->fn_addr, proc->fn_oid,
					   omen_index_dims_typmod(index), e);
}

void
omen_opclass_elem(Oid opclass, OmenElem *e)
{
	Oid			type = get_opclass_input_type(opclass);
	Oid			procoid = get_opfamily_proc(get_opclass_family(opclass), type,
											type, OMEN_DISTANCE_PROC);
	FmgrInfo	finfo;

	if (!OidIsValid(procoid))
		elog(ERROR, "operator class %u has no distance function", opclass);
	fmgr_info(procoid, &finfo);
	distance_proc_elem(finfo.fn_addr, procoid, 0, e);
}

int
omen_index_metric(Relation index)
{
	OmenElem	e;

	omen_index_elem(index, &e);
	return e.metric;
}

/* The dimension fixed by the column's typmod, or 0. */
int
omen_index_dims_typmod(Relation index)
{
	int32		typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	return typmod > 0 ? typmod : 0;
}

void
omen_check_dims(int elem, int dims)
{
	if (dims > omen_elem_max_dims(elem))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column cannot have more than %d dimensions for hnsw index",
						omen_elem_max_dims(elem))));
}

void
omen_check_meta_elem(Relation index, const OmenMetaPageData *meta, int elem)
{
	if (meta->elem != elem)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" holds elements of kind %u, its operator class is for %s",
						RelationGetRelationName(index), meta->elem,
						omen_elem_type_name(elem)),
				 errhint("REINDEX the index.")));
}

/*
 * Checks an operator class: the distance support procedure, the ordering
 * operator and, optionally, the distance bound operator (see planner.c).
 */
static bool
omen_amvalidate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	CatCList   *proclist,
			   *oprlist;
	bool		has_proc = false;
	bool		has_op = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);

	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < proclist->n_members; i++)
	{
		Form_pg_amproc procform = (Form_pg_amproc) GETSTRUCT(&proclist->members[i]->tuple);

		if (procform->amprocnum != OMEN_DISTANCE_PROC)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omenhnsw operator class \"%s\" contains invalid support function number %d",
							opclassname, procform->amprocnum)));
			result = false;
			continue;
		}
		if (!check_amproc_signature(procform->amproc, FLOAT8OID, true,
									2, 2, opcintype, opcintype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omenhnsw operator class \"%s\" contains function %s with wrong signature",
							opclassname, format_procedure(procform->amproc))));
			result = false;
		}
		if (procform->amproclefttype == opcintype &&
			procform->amprocrighttype == opcintype)
			has_proc = true;
	}

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	for (int i = 0; i < oprlist->n_members; i++)
	{
		Form_pg_amop oprform = (Form_pg_amop) GETSTRUCT(&oprlist->members[i]->tuple);
		bool		is_order = oprform->amoppurpose == AMOP_ORDER &&
			oprform->amopstrategy == OMEN_DISTANCE_STRATEGY;
		bool		is_bound = oprform->amoppurpose == AMOP_SEARCH &&
			oprform->amopstrategy == OMEN_BOUND_STRATEGY;

		if (!is_order && !is_bound)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omenhnsw operator class \"%s\" contains operator %s that is neither ordering strategy %d nor search strategy %d",
							opclassname, format_operator(oprform->amopopr),
							OMEN_DISTANCE_STRATEGY, OMEN_BOUND_STRATEGY)));
			result = false;
			continue;
		}
		/* the scan reads the bound as a float8 */
		if (!check_amop_signature(oprform->amopopr,
								  is_order ? FLOAT8OID : BOOLOID,
								  oprform->amoplefttype, oprform->amoprighttype) ||
			(is_bound && oprform->amoprighttype != FLOAT8OID))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("omenhnsw operator class \"%s\" contains operator %s with wrong signature",
							opclassname, format_operator(oprform->amopopr))));
			result = false;
		}
		if (is_order && oprform->amoplefttype == opcintype &&
			oprform->amoprighttype == opcintype)
			has_op = true;
	}

	if (!has_proc || !has_op)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("omenhnsw operator class \"%s\" needs a distance function and an ordering operator",
						opclassname)));
		result = false;
	}

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(classtup);
	return result;
}

/*
 * Cost of an ordered scan.  The search does all its work before the first
 * row: in every segment a short descent through the upper levels, then
 * about ef_search expansions of up to 2m neighbours, each one distance and
 * one index page.  Those pages are few and hot, so they cost like
 * sequential reads, and no more of them are charged than the heap has: a
 * sequential scan's estimate leaves out the TOAST pages holding the vectors
 * it must sort, and charging the index for more would lose to it on every
 * table of large vectors.  The total stays that of reading the whole index,
 * so a query without LIMIT, which would get only the rows the search
 * reaches, does not pick the index.  Without an ORDER BY distance the index is
 * of no use and priced out.
 */
static void
omen_amcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
					Cost *indexStartupCost, Cost *indexTotalCost,
					Selectivity *indexSelectivity, double *indexCorrelation,
					double *indexPages)
{
	GenericCosts costs;
	double		tuples = path->indexinfo->tuples;
	double		visited;
	double		visit_cost;
	double		m;
	double		pages;
	double		spc_seq_page_cost;
	OmenMetaPageData meta;
	OmenScanSettings settings;
	Relation	index;

	/* never chosen without ORDER BY distance, even if all else is off */
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);
	omen_scan_settings(&settings, false);

	index = index_open(path->indexinfo->indexoid, NoLock);
	omen_meta_read(index, &meta);
	index_close(index, NoLock);

	/* a visit locks a search row's page and scores its code */
	visit_cost = cpu_index_tuple_cost +
		cpu_operator_cost * vector_distance_cost_units(meta.dims);
	m = Max(meta.m, 2);

	/* the first batch of every segment: descent plus ef * m scored nodes */
	visited = tuples;
	if (tuples > 1)
	{
		double		segs = Max(meta.nsegments, 1);
		double		per_seg = Max(tuples / segs, 2);

		visited = Min(tuples,
					  segs * (settings.ef_search * m * 1.2 + log(per_seg) / log(m) * m));
	}
	pages = Min(visited, costs.numIndexPages);
	if (path->indexinfo->rel->pages > 0)
		pages = Min(pages, path->indexinfo->rel->pages);
	get_tablespace_page_costs(path->indexinfo->reltablespace, NULL,
							  &spc_seq_page_cost);
	*indexStartupCost = visited * visit_cost + pages * spc_seq_page_cost;

	/*
	 * An iterative scan goes on for as many rows as the filters above it
	 * reject, at about m / 4 further visits per row (buffer counts on
	 * Fashion-MNIST).  The planner charges the fraction of this that a LIMIT
	 * and the filters' selectivity need, so a filter that keeps few rows
	 * makes every returned row cost many visits.  Without iterative scans
	 * the first batches are all the work.
	 *
	 * The total is never below genericcostestimate's, that of reading every
	 * index tuple, as in pgvector: a scan returns only the rows its first
	 * batches (or max_scan_tuples) reach, so a query without LIMIT, or whose
	 * filters keep fewer rows than its LIMIT among those, must not take the
	 * index for cheap.
	 */
	*indexTotalCost = *indexStartupCost;
	if (settings.iterative_scan != OMEN_ITERATIVE_OFF)
		*indexTotalCost += tuples * 0.25 * m * visit_cost;
	*indexTotalCost = Max(*indexTotalCost, costs.indexTotalCost);
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0;
	*indexPages = costs.numIndexPages;
}

Datum
omenhnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;
	amroutine->amsupport = 1;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = omen_ambuild;
	amroutine->ambuildempty = omen_ambuildempty;
	amroutine->aminsert = omen_aminsert;
	amroutine->ambulkdelete = omen_ambulkdelete;
	amroutine->amvacuumcleanup = omen_amvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = omen_amcostestimate;
	amroutine->amoptions = omen_amoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = omen_ambuildphasename;
	amroutine->amvalidate = omen_amvalidate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = omen_ambeginscan;
	amroutine->amrescan = omen_amrescan;
	amroutine->amgettuple = omen_amgettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = omen_amendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}
