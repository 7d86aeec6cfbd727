/*
 * scan.c
 *		Ordered index scans: every segment is searched and the results are
 *		merged by distance.
 *
 * The graph search runs over the index's pages through pagestore.c; this
 * file runs it per segment, collects the heap TIDs of what it finds and
 * hands them out nearest first.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/relscan.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "distance.h"
#include "omenhnsw.h"
#include "pagestore.h"

int			omen_ef_search = 40;
int			omen_iterative_scan = OMEN_ITERATIVE_STRICT;
int			omen_max_scan_tuples = 20000;
double		omen_scan_mem_multiplier = 1;

/*
 * One node found by the search, with the heap rows it stands for: its
 * distance by code, a bound its exact distance cannot be below, and its
 * exact distance once ranked.
 */
typedef struct OmenScanResult
{
	float		dist;			/* exact, as code distances are, once ranked */
	double		opdist;			/* exact, as the ordering operator returns it */
	float		code;
	float		lower;
	uint8		ntids;
	ItemPointerData vectid;
	ItemPointerData heaptids[OMEN_HEAPTIDS];
} OmenScanResult;

/*
 * The search of one segment and the nodes it found that were not handed
 * out: ranked[pos .. nranked - 1], ascending by exact distance, and
 * unranked[upos .. nunranked - 1], ascending by lower bound, whose exact
 * distances have not been read.  A node is ranked only when its lower
 * bound is below every ranked one's exact distance, so what is handed out
 * is in exact order while most of a batch is never read; see seg_head.
 */
typedef struct OmenSegmentScan
{
	OmenPageStore store;
	OmenSearch *search;			/* NULL once the search is over */
	OmenScanResult *ranked;
	int			nranked;
	int			pos;
	int			rcap;
	OmenScanResult *unranked;
	int			nunranked;
	int			upos;
	int			ucap;
	float		farthest;		/* the last batch's farthest code distance */
	float		gap;			/* largest |exact - code| ranked since */
	bool		fresh;			/* nothing handed out since the last batch */
	int			handed;			/* results handed out */
} OmenSegmentScan;

typedef struct OmenScanOpaqueData
{
	MemoryContext ctx;			/* reset on every rescan */
	bool		started;
	bool		done;			/* gettuple returned false */
	OmenScanSettings settings;
	int			mode;			/* settings.iterative_scan */
	int			ef;
	int			beam;			/* what each search keeps: search_beam(ef) */
	double		bound;			/* smallest OMEN_BOUND_STRATEGY key, or NaN */
	bool		nullbound;		/* a NULL key: no row is within the bound */
	float	   *query;			/* the floats of the query's code */
	float		query_l1;		/* sum of |query[i]| */
	double		query_l2;		/* sqrt(sum query[i]^2) */
	void	   *qexact;			/* the query's exact vector */
	OmenCand   *work;			/* [beam] */
	OmenSegmentScan *segs;
	int			nsegs;
	OmenScanResult *cur;		/* the result being handed out */
	int			tidpos;			/* its next heap TID */
	double		last;			/* opdist of the last result handed out */

	/*
	 * A query with no distances (NULL, or zero under cosine) walks every
	 * segment's pages in storage order instead, a page of rows at a time.
	 */
	bool		walk;
	bool		walknull;		/* the distances are NULL, else NaN */
	OmenDirectory dir;
	OmenPageStore walkstore;
	int			walkseg;		/* index in dir of the segment being walked */
	BlockNumber walkblk;		/* its next page, Invalid at its end */
	BlockNumber walkhops;		/* pages of it walked */
	BlockNumber walknblocks;	/* the index's size when last read */
	ItemPointerData *walktids;	/* [OMEN_PAGE_MAX_HEAPTIDS] */
	int			nwalktids;
	int			walkpos;
} OmenScanOpaqueData;

typedef OmenScanOpaqueData *OmenScanOpaque;

/*
 * Whether an iterative scan may search further, past the nodes it scored
 * already: until it has scored omenhnsw.max_scan_tuples nodes (over all
 * segments, as pgvector counts the elements it visits) or its memory
 * reaches omenhnsw.scan_mem_multiplier times work_mem.  Past that it hands
 * out what it scored and stops.
 */
static bool
may_expand(OmenScanOpaque so)
{
	uint64		scored = 0;
	Size		mem = MemoryContextMemAllocated(so->ctx, true);

	if (so->mode == OMEN_ITERATIVE_OFF)
		return false;
	for (int i = 0; i < so->nsegs; i++)
	{
		scored += omen_store_nvisited(&so->segs[i].store);
		mem += omen_store_visited_bytes(&so->segs[i].store);
	}
	return scored < (uint64) so->settings.max_scan_tuples &&
		(double) mem <=
		(double) work_mem * 1024.0 * so->settings.scan_mem_multiplier;
}

/*
 * The beam of each segment's search for ef_search: wider than ef at small
 * ef, as codes misrank some nodes near the boundary of the beam that exact
 * re-ranking then puts right.  Without iterative scans a segment still
 * hands out ef results, the nearest by exact distance.
 */
static int
search_beam(int ef)
{
	return ef + Min(ef, 16);
}

/* Orders results by lower bound, for qsort. */
static int
lower_cmp(const void *a, const void *b)
{
	float		la = ((const OmenScanResult *) a)->lower;
	float		lb = ((const OmenScanResult *) b)->lower;

	return omen_dist_lt(la, lb) ? -1 : omen_dist_lt(lb, la) ? 1 : 0;
}

/*
 * A bound that the exact distance of the node whose code nt holds, at
 * distance code from the query, cannot be below.  Each element a code
 * decodes to is within scale / 2 of the vector's, and within a few units
 * of float rounding of the largest magnitude an element can have (top).
 * The row's tightness narrows the first part for the vector as a whole: in
 * L2 the vector is within sqrt(dims) times (1 - tight / OMEN_TIGHT_MAX) *
 * scale / 2 plus the rounding of what its code stands for (norm below),
 * and so within sqrt(dims) times that in L1 (Cauchy-Schwarz).  Under inner
 * product and cosine the error of the product with the query is within the
 * smaller of the query's L1 norm times an element's error and its L2 norm
 * times norm.  The slack covers the
 * float rounding of both distances: dims * FLT_EPSILON of the largest sum
 * either can have, twice over; under cosine, whose exact distance the
 * kernel takes from the raw vectors' dot product and norms, as much again
 * for those three sums; and for float4 vectors and sparsevecs, never above 0
 * (orthogonal): where a sum of squares overflows float4, <=> gives 1
 * whatever the direction (or NaN, which sorts last anyway).  Where a bound
 * cannot be had (a distance that is not finite, or a code made from a sample
 * of a bit string's bits or from a sparsevec's sketch), the bound is
 * -Infinity: such a node is ranked first.
 */
static float
lower_bound(OmenScanOpaque so, OmenPageStore *store, float code,
			OmenNodeTuple nt)
{
	double		dims = store->dims;
	double		scale = nt->scale;
	double		top = fabs((double) nt->offset) +
		scale * ((1 << store->code_bits) - 1) + scale / 2;
	double		decoding = 2 * FLT_EPSILON * top;
	double		elem = scale / 2 + decoding;
	double		norm = sqrt(dims) *
		((1 - nt->tight / (double) OMEN_TIGHT_MAX) * scale / 2 + decoding);
	double		rounding = 2 * dims * FLT_EPSILON;
	double		lb;

	if (!isfinite(code) || store->elem.code_dims != store->elem.dims)
		return -INFINITY;
	switch (store->metric)
	{
		case OMEN_METRIC_L2:
			{
				double		a = sqrt(Max(code, 0.0));
				double		lo = Max(a - norm, 0.0);

				lb = lo * lo - rounding * (a + norm) * (a + norm);
				break;
			}
		case OMEN_METRIC_L1:
			{
				double		err = norm * sqrt(dims);

				lb = code - err - rounding * (code + 2 * err);
				break;
			}
		case OMEN_METRIC_COSINE:
			lb = code - Min(elem * so->query_l1, norm * so->query_l2) -
				rounding * so->query_l1 * top - 3 * rounding;
			if (store->elem.kind == OMEN_ELEM_FLOAT4 ||
				store->elem.kind == OMEN_ELEM_SPARSE)
				lb = Min(lb, 0.0);
			break;
		default:
			lb = code - Min(elem * so->query_l1, norm * so->query_l2) -
				rounding * so->query_l1 * top;
			break;
	}
	if (!isfinite(lb))
		return -INFINITY;
	return (float) lb;
}

/*
 * Takes the search's next batch into the segment's unranked nodes: those
 * with live heap rows, each with its code distance and lower bound.
 * Searches further when expand, else takes nodes scored already.  Takes
 * and releases buffer locks only (pagestore.c).
 */
static void
next_batch(OmenScanOpaque so, OmenSegmentScan *seg, bool expand)
{
	int			found;
	int			n;

	if (expand)
		found = omen_search_next(seg->search, so->work);
	else
		found = omen_search_drain(seg->search, so->work);
	if (found == 0 || so->mode == OMEN_ITERATIVE_OFF)
		seg->search = NULL;

	/* keep what is left, at the front */
	seg->nranked -= seg->pos;
	memmove(seg->ranked, seg->ranked + seg->pos,
			sizeof(OmenScanResult) * seg->nranked);
	seg->pos = 0;
	n = seg->nunranked - seg->upos;
	memmove(seg->unranked, seg->unranked + seg->upos,
			sizeof(OmenScanResult) * n);
	seg->upos = 0;
	if (n + found > seg->ucap)
	{
		seg->ucap = Max(seg->ucap * 2, n + found);
		seg->unranked = repalloc(seg->unranked,
								 sizeof(OmenScanResult) * seg->ucap);
	}
	seg->farthest = -INFINITY;
	seg->gap = 0;
	for (int i = 0; i < found; i++)
	{
		OmenScanResult *r = &seg->unranked[n];
		ItemPointerData tid;
		OmenNodeTuple nt;

		omen_tid_unpack(so->work[i].id, &tid);
		nt = omen_store_node(&seg->store, &tid);
		if (nt == NULL)
			continue;
		r->ntids = 0;
		if (!nt->deleted)
		{
			for (int j = 0; j < OMEN_HEAPTIDS; j++)
				if (ItemPointerIsValid(&nt->heaptids[j]))
					r->heaptids[r->ntids++] = nt->heaptids[j];
		}
		r->vectid = nt->vectid;
		r->code = omen_store_bound_distance(&seg->store, so->query, nt,
											so->work[i].dist);
		if (!seg->store.elem.codes_exact)
			r->lower = lower_bound(so, &seg->store, r->code, nt);
		else if (r->ntids > 0)
		{
			/* the code is the exact vector: its distance is known now */
			r->dist = omen_elem_distance(&seg->store.elem, so->qexact,
										 omen_node_code(nt), &r->opdist);
			r->lower = r->dist;
		}
		omen_store_unlock(&seg->store);
		if (r->ntids == 0)
			continue;
		if (omen_dist_lt(seg->farthest, r->code))
			seg->farthest = r->code;
		n++;
	}
	seg->nunranked = n;
	qsort(seg->unranked, n, sizeof(OmenScanResult), lower_cmp);
	seg->fresh = true;
}

/*
 * Reads the exact distance of the segment's unranked node with the lowest
 * bound (known already where codes are exact) and moves it among the
 * ranked ones, or drops it if its vector is not there.  Takes and releases
 * buffer locks only.
 */
static void
rank_next(OmenScanOpaque so, OmenSegmentScan *seg)
{
	OmenScanResult r = seg->unranked[seg->upos++];
	int			i;

	if (!seg->store.elem.codes_exact &&
		!omen_store_exact_distance(&seg->store, so->qexact, &r.vectid,
								   &r.dist, &r.opdist))
		return;
	if (isfinite(r.code) && isfinite(r.dist))
		seg->gap = Max(seg->gap, fabsf(r.dist - r.code));
	if (seg->nranked == seg->rcap)
	{
		seg->rcap *= 2;
		seg->ranked = repalloc(seg->ranked, sizeof(OmenScanResult) * seg->rcap);
	}
	/*
	 * by the operator's distance (NaN, its result for no distance, last as
	 * float8 orders it), after the ranked ones at the same distance, as a
	 * stable sort puts it
	 */
	for (i = seg->nranked; i > seg->pos &&
		 float8_lt(r.opdist, seg->ranked[i - 1].opdist); i--)
		seg->ranked[i] = seg->ranked[i - 1];
	seg->ranked[i] = r;
	seg->nranked++;
}

/*
 * The segment's next result, ranking unranked nodes as far as it takes to
 * know it; NULL when the segment needs its next batch first, or is done.
 * While the search goes on, a later batch may find a node nearer by exact
 * distance than one found already, as it ranks by codes: results past the
 * last batch's farthest code distance less twice the largest gap between a
 * node's code and exact distance ranked since are held back until the next
 * batch.  Without iterative scans a segment hands out ef results.  Takes
 * and releases buffer locks only.
 */
static OmenScanResult *
seg_head(IndexScanDesc scan, OmenSegmentScan *seg)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	if (so->mode == OMEN_ITERATIVE_OFF && seg->handed >= so->ef)
		return NULL;
	for (;;)
	{
		OmenScanResult *r = seg->pos < seg->nranked ? &seg->ranked[seg->pos] : NULL;
		OmenScanResult *u = seg->upos < seg->nunranked ? &seg->unranked[seg->upos] : NULL;
		float		safe = seg->farthest - 2 * seg->gap;
		bool		over = seg->search == NULL;

		if (u != NULL && (r == NULL || omen_dist_lt(u->lower, r->dist)) &&
			(over || omen_dist_le(u->lower, safe)))
		{
			rank_next(so, seg);
			continue;
		}
		if (r != NULL && (over || omen_dist_le(r->dist, safe)))
			return r;
		return NULL;
	}
}

/*
 * Starts the search of every segment in so->dir and fetches its first
 * batch.  Takes and releases buffer locks only.
 */
static void
start_search(OmenScanOpaque so, Relation index, OmenMetaPageData *meta)
{
	OmenDirectory *dir = &so->dir;

	so->query_l1 = 0;
	so->query_l2 = 0;
	for (int i = 0; i < meta->dims; i++)
	{
		so->query_l1 += fabsf(so->query[i]);
		so->query_l2 += (double) so->query[i] * so->query[i];
	}
	so->query_l2 = sqrt(so->query_l2);
	so->work = palloc(sizeof(OmenCand) * so->beam);
	so->segs = palloc0(sizeof(OmenSegmentScan) * Max(dir->nsegs, 1));
	for (int i = 0; i < dir->nsegs; i++)
	{
		OmenSegmentScan *seg = &so->segs[i];
		OmenCand	ep;

		CHECK_FOR_INTERRUPTS();
		omen_store_init(&seg->store, index, meta, so->beam * meta->m * 4);
		omen_store_set_query(&seg->store, so->query);
		so->nsegs = i + 1;
		seg->store.segno = dir->segs[i].segno;
		seg->rcap = so->beam;
		seg->ranked = palloc(sizeof(OmenScanResult) * seg->rcap);
		seg->ucap = so->beam;
		seg->unranked = palloc(sizeof(OmenScanResult) * seg->ucap);
		ep = omen_store_descend(&seg->store, so->query, &dir->segs[i].entry,
								dir->segs[i].entry_level, 0);
		if (ep.id == OMEN_NO_NODE)
		{
			omen_store_release(&seg->store);
			continue;
		}
		seg->search = omen_store_search_begin(&seg->store, so->query, ep,
											  &dir->segs[i].entry, so->beam,
											  so->mode != OMEN_ITERATIVE_OFF);
		next_batch(so, seg, true);
		omen_store_release(&seg->store);
	}
}

/*
 * ERROR unless the query's dims match the index's, with the message of the
 * type's own distance functions.
 */
static void
check_query_dims(int elem, int dims, int index_dims)
{
	if (dims == index_dims)
		return;
	if (elem == OMEN_ELEM_BIT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different bit lengths %u and %u", dims, index_dims)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("different %s dimensions %d and %d",
					omen_elem_type_name(elem), dims, index_dims)));
}

/* Whether any segment of dir has an entry point, i.e. any element. */
static bool
has_entry(const OmenDirectory *dir)
{
	for (int i = 0; i < dir->nsegs; i++)
		if (ItemPointerIsValid(&dir->segs[i].entry))
			return true;
	return false;
}

/*
 * Starts the search of every segment and fetches its first batch, or
 * prepares the walk of a query with no distances.  The segments are fixed
 * here; a later batch may reach nodes inserted since, whose rows the scan's
 * MVCC snapshot does not see.
 */
static void
start_scan(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	OmenMetaPageData meta;
	OmenElem	kind;
	void	   *v = NULL;

	omen_scan_settings(&so->settings, true);
	so->mode = so->settings.iterative_scan;
	so->ef = so->settings.ef_search;
	so->beam = search_beam(so->ef);
	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an omenhnsw index can only be scanned in distance order")));
	if (so->nullbound)
		return;

	so->walknull = (scan->orderByData[0].sk_flags & SK_ISNULL) != 0;
	if (!so->walknull)
		v = PG_DETOAST_DATUM(scan->orderByData[0].sk_argument);
	omen_index_elem(index, &kind);

	/*
	 * No lock keeps VACUUM from retiring a segment this scan searches and
	 * inserts from reusing its pages: the store checks every page it reads
	 * (src/README, retirement of segments).
	 */
	omen_meta_read(index, &meta);
	omen_check_meta_elem(index, &meta, kind.kind);
	omen_elem_init(&kind, kind.kind, meta.metric, meta.elem_dims,
				   meta.code_bits);
	so->query = palloc(sizeof(float) * Max(meta.dims, 1));
	so->qexact = palloc(sizeof(float) *
						Max(v != NULL ? omen_elem_value_words(&kind, v) : 1,
							kind.words));

	/* no dimension yet: nothing was ever indexed */
	if (meta.dims > 0)
		omen_directory_read(index, &meta, &so->dir);

	/* an empty index returns no rows, whatever the query */
	if (has_entry(&so->dir))
	{
		if (v != NULL)
			check_query_dims(kind.kind, omen_elem_value_dims(kind.kind, v),
							 meta.elem_dims);
		/* zero under cosine: no direction, so no distances either */
		so->walk = v == NULL || !omen_elem_exact(&kind, v, so->qexact);
		if (!so->walk)
			omen_elem_floats(&kind, so->qexact, so->query);
		if (so->walk)
		{
			omen_store_init(&so->walkstore, index, &meta, 0);
			so->walktids = palloc(sizeof(ItemPointerData) * OMEN_PAGE_MAX_HEAPTIDS);
			so->walkseg = -1;
			so->walkblk = InvalidBlockNumber;
		}
		else
			start_search(so, index, &meta);
	}
}

/*
 * The next heap TID of a walk, false at its end.  Reads a page at a time
 * under its buffer lock and holds no lock or pin while the executor works.
 */
static bool
walk_next(IndexScanDesc scan, ItemPointer tid)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	while (so->walkpos == so->nwalktids)
	{
		OmenSegmentDesc *seg;

		if (!BlockNumberIsValid(so->walkblk))
		{
			if (++so->walkseg >= so->dir.nsegs)
				return false;
			seg = &so->dir.segs[so->walkseg];
			so->walkstore.segno = seg->segno;
			so->walkblk = seg->first_blk;
			so->walkhops = 0;
			so->walknblocks = RelationGetNumberOfBlocks(scan->indexRelation);
			continue;
		}
		CHECK_FOR_INTERRUPTS();

		/*
		 * A chain with more pages than the index has a cycle.  The size is
		 * read once per segment, and again before calling it damage, as
		 * inserts may have added pages since.
		 */
		if (++so->walkhops > so->walknblocks &&
			so->walkhops > (so->walknblocks =
							RelationGetNumberOfBlocks(scan->indexRelation)))
			omen_chain_damaged(scan->indexRelation, so->walkstore.segno,
							   so->walkblk);
		so->nwalktids = omen_store_page_heaptids(&so->walkstore, so->walkblk,
												 so->walktids, &so->walkblk);
		omen_store_release(&so->walkstore);
		so->walkpos = 0;
	}
	*tid = so->walktids[so->walkpos++];
	return true;
}

/*
 * The nearest result at the head of any segment, after taking the next
 * batches of the segments that need them (any of them may hold the next
 * nearest).  Under strict_order, results nearer than one handed out
 * already are dropped.  NULL when no result within the distance bound is
 * left.  Holds no lock or pin when it returns.
 */
static OmenScanResult *
next_result(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	OmenScanResult *r = NULL;

	for (;;)
	{
		OmenSegmentScan *best = NULL;

		r = NULL;
		for (int i = 0; i < so->nsegs; i++)
		{
			OmenSegmentScan *seg = &so->segs[i];
			OmenScanResult *head = seg_head(scan, seg);

			while (head == NULL && seg->search != NULL)
			{
				next_batch(so, seg, may_expand(so));
				head = seg_head(scan, seg);
			}
			if (head != NULL && (r == NULL || float8_lt(head->opdist, r->opdist)))
			{
				best = seg;
				r = head;
			}
		}
		if (best == NULL)
			break;
		best->pos++;
		best->handed++;

		/*
		 * Past the bound, strict order has nothing left to return.  Relaxed
		 * order may still find nearer rows in the segment's next batches,
		 * unless a whole batch lies past the bound (its first result does:
		 * results come in ascending order); what the segment found so far
		 * lies past it.
		 */
		if (float8_gt(r->opdist, so->bound))
		{
			if (so->mode == OMEN_ITERATIVE_STRICT)
			{
				r = NULL;
				break;
			}
			if (best->fresh)
				best->search = NULL;
			best->pos = best->nranked;
			best->upos = best->nunranked;
			continue;
		}
		best->fresh = false;
		if (so->mode == OMEN_ITERATIVE_STRICT && float8_lt(r->opdist, so->last))
			continue;
		so->last = r->opdist;
		break;
	}
	/* hold no pin while the executor works on the rows */
	for (int i = 0; i < so->nsegs; i++)
		omen_store_release(&so->segs[i].store);
	return r;
}

IndexScanDesc
omen_ambeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	OmenScanOpaque so = palloc0(sizeof(OmenScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext,
									"omenhnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	return scan;
}

void
omen_amrescan(IndexScanDesc scan, ScanKey keys, int nkeys,
			  ScanKey orderbys, int norderbys)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	MemoryContextReset(so->ctx);
	so->started = false;
	so->done = false;
	so->bound = get_float8_nan();
	so->nullbound = false;
	so->nsegs = 0;
	so->dir.nsegs = 0;
	so->cur = NULL;
	so->tidpos = 0;
	so->last = -get_float8_infinity();
	so->walk = false;
	so->nwalktids = 0;
	so->walkpos = 0;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys,
				scan->numberOfOrderBys * sizeof(ScanKeyData));

	/*
	 * The smallest bound, in float8 order (NaN, above every number, bounds
	 * nothing).  A NULL one matches no row.  The executor's filter compares
	 * the operator's distance, which ours is (the same kernels); the slack
	 * keeps the cut conservative, since a row passed on past the bound only
	 * costs the executor a comparison, while a row cut off is lost.
	 */
	for (int i = 0; i < scan->numberOfKeys; i++)
	{
		ScanKey		key = &scan->keyData[i];
		double		r;

		if (key->sk_strategy != OMEN_BOUND_STRATEGY)
			continue;
		if (key->sk_flags & SK_ISNULL)
		{
			so->nullbound = true;
			continue;
		}
		r = DatumGetFloat8(key->sk_argument);
		if (isfinite(r))
			r += 1e-6 * Max(1.0, fabs(r));
		if (float8_lt(r, so->bound))
			so->bound = r;
	}
}

bool
omen_amgettuple(IndexScanDesc scan, ScanDirection dir)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	MemoryContext old;

	old = MemoryContextSwitchTo(so->ctx);
	if (!so->started)
	{
		/* returned TIDs are not pinned, so only MVCC snapshots are safe */
		if (!IsMVCCSnapshot(scan->xs_snapshot))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("omenhnsw scans need an MVCC snapshot")));

		pgstat_count_index_scan(scan->indexRelation);
		start_scan(scan);
		so->started = true;
	}

	while (so->walk && !so->done)
	{
		if (!walk_next(scan, &scan->xs_heaptid))
			break;
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		scan->xs_orderbyvals[0] = Float8GetDatum(get_float8_nan());
		scan->xs_orderbynulls[0] = so->walknull;
		MemoryContextSwitchTo(old);
		return true;
	}
	while (!so->walk && !so->done)
	{
		if (so->cur != NULL && so->tidpos < so->cur->ntids)
		{
			scan->xs_heaptid = so->cur->heaptids[so->tidpos++];
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			scan->xs_orderbyvals[0] = Float8GetDatum(so->cur->opdist);
			scan->xs_orderbynulls[0] = false;
			MemoryContextSwitchTo(old);
			return true;
		}
		so->cur = next_result(scan);
		so->tidpos = 0;
		if (so->cur == NULL)
			break;
	}
	so->done = true;
	MemoryContextSwitchTo(old);
	return false;
}

void
omen_amendscan(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
