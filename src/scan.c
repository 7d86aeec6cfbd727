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

#include <math.h>

#include "access/relscan.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "distance.h"
#include "omenhnsw.h"
#include "pagestore.h"

int			omen_ef_search = 40;

/* One element found by the search, with the heap rows it stands for. */
typedef struct OmenScanResult
{
	float		dist;
	uint8		ntids;
	ItemPointerData heaptids[OMEN_HEAPTIDS];
} OmenScanResult;

typedef struct OmenScanOpaqueData
{
	MemoryContext ctx;			/* reset on every rescan */
	int			metric;
	bool		searched;
	OmenScanResult *results;
	int			nresults;
	int			pos;			/* current result */
	int			tidpos;			/* next heap TID of the current result */
} OmenScanOpaqueData;

typedef OmenScanOpaqueData *OmenScanOpaque;

/* The distance as the ordering operator reports it. */
static double
operator_distance(int metric, float dist)
{
	switch (metric)
	{
		case OMEN_METRIC_L2:
			return sqrt((double) dist);
		case OMEN_METRIC_COSINE:
			return 1.0 + (double) dist;
		default:
			return (double) dist;
	}
}

static int
result_cmp(const void *a, const void *b)
{
	float		da = ((const OmenScanResult *) a)->dist;
	float		db = ((const OmenScanResult *) b)->dist;

	return (da > db) - (da < db);
}

/*
 * Searches one segment and appends what it finds to the scan's results.
 */
static void
search_segment(OmenScanOpaque so, OmenPageStore *s, OmenSegmentDesc *seg,
			   const float *query, int ef, OmenCand *work)
{
	OmenCand	ep;
	int			n;

	s->segno = seg->segno;
	ep = omen_store_descend(s, query, &seg->entry, seg->entry_level, 0);
	if (isinf(ep.dist))
		return;
	n = omen_store_search_level(s, query, &ep, 1, 0, ef, work);

	for (int i = 0; i < n; i++)
	{
		OmenScanResult *r = &so->results[so->nresults];
		ItemPointerData tid;
		OmenElementTuple et;

		omen_tid_unpack(work[i].id, &tid);
		et = omen_store_element(s, &tid);
		if (et == NULL)
			continue;
		r->ntids = 0;
		if (!et->deleted)
		{
			for (int j = 0; j < OMEN_HEAPTIDS; j++)
				if (ItemPointerIsValid(&et->heaptids[j]))
					r->heaptids[r->ntids++] = et->heaptids[j];
		}
		omen_store_unlock(s);
		if (r->ntids > 0)
		{
			r->dist = work[i].dist;
			so->nresults++;
		}
	}
}

/*
 * Runs the search for the scan's query over every segment.
 */
static void
omen_search(IndexScanDesc scan)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;
	Relation	index = scan->indexRelation;
	OmenMetaPageData meta;
	OmenDirectory dir;
	Vector	   *v;
	float	   *query;
	OmenPageStore store;
	OmenCand   *work;
	int			ef = omen_ef_search;

	if (scan->orderByData == NULL ||
		(scan->orderByData[0].sk_flags & SK_ISNULL))
		return;

	/* detoast before the lock is taken */
	v = DatumGetVector(scan->orderByData[0].sk_argument);

	/* VACUUM frees a retired segment's pages only after searches drain */
	LockPage(index, OMEN_SCAN_LOCK, ShareLock);
	omen_meta_read(index, &meta);
	so->metric = meta.metric;
	query = palloc(sizeof(float) * Max(meta.dims, 1));

	/* no dimension yet: nothing was ever indexed; zero under cosine: none */
	if (meta.dims > 0 && omen_prepare_vector(v, meta.metric, meta.dims, query))
	{
		omen_directory_read(index, &meta, &dir);
		omen_store_init(&store, index, &meta, ef * meta.m * 4);
		work = palloc(sizeof(OmenCand) * ef);
		so->results = palloc(sizeof(OmenScanResult) * ef * Max(dir.nsegs, 1));
		for (int i = 0; i < dir.nsegs; i++)
		{
			CHECK_FOR_INTERRUPTS();
			search_segment(so, &store, &dir.segs[i], query, ef, work);
		}
		omen_store_release(&store);
	}
	UnlockPage(index, OMEN_SCAN_LOCK, ShareLock);

	if (so->nresults > 1)
		qsort(so->results, so->nresults, sizeof(OmenScanResult), result_cmp);
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
	so->searched = false;
	so->results = NULL;
	so->nresults = 0;
	so->pos = 0;
	so->tidpos = 0;

	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys,
				scan->numberOfOrderBys * sizeof(ScanKeyData));
}

bool
omen_amgettuple(IndexScanDesc scan, ScanDirection dir)
{
	OmenScanOpaque so = (OmenScanOpaque) scan->opaque;

	if (!so->searched)
	{
		MemoryContext old;

		/* returned TIDs are not pinned, so only MVCC snapshots are safe */
		if (!IsMVCCSnapshot(scan->xs_snapshot))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("omenhnsw scans need an MVCC snapshot")));

		pgstat_count_index_scan(scan->indexRelation);
		old = MemoryContextSwitchTo(so->ctx);
		omen_search(scan);
		MemoryContextSwitchTo(old);
		so->searched = true;
	}

	while (so->pos < so->nresults)
	{
		OmenScanResult *r = &so->results[so->pos];

		if (so->tidpos < r->ntids)
		{
			scan->xs_heaptid = r->heaptids[so->tidpos++];
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			if (scan->numberOfOrderBys > 0)
			{
				scan->xs_orderbyvals[0] =
					Float8GetDatum(operator_distance(so->metric, r->dist));
				scan->xs_orderbynulls[0] = false;
			}
			return true;
		}
		so->pos++;
		so->tidpos = 0;
	}
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
