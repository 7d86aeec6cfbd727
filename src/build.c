/*
 * build.c
 *		Segmented bulk build of an omenhnsw index.
 *
 * Every participant (the leader and each parallel worker) scans its share
 * of the heap into an in-memory HNSW graph sized from its part of
 * maintenance_work_mem.  When the graph is full, or the scan ends, the
 * participant seals it: lays the nodes out on pages, reserves a contiguous
 * run of blocks and writes them through shared buffers.  Participants with
 * graphs of their own share only the relation extension lock (to reserve
 * blocks), a segment number counter and a list of segment descriptors.  The
 * leader finally writes the segment directory and metapage and WAL-logs the
 * relation once.
 *
 * A table that fits maintenance_work_mem is built as one segment: with
 * parallel workers, every participant inserts into one graph in dynamic
 * shared memory, which the leader seals when all are done.  If that graph
 * fills up after all (the row estimate was low), participants go on with
 * segments of their own in what is left of the budget.
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_am_d.h"
#include "commands/progress.h"
#include "executor/instrument.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "distance.h"
#include "hnsw_graph.h"
#include "omenhnsw.h"
#include "options.h"
#include "page.h"

#define OMEN_KEY_SHARED			UINT64CONST(0xA0E1D0B000000001)
#define OMEN_KEY_SCAN			UINT64CONST(0xA0E1D0B000000002)
#define OMEN_KEY_BUFFER_USAGE	UINT64CONST(0xA0E1D0B000000003)
#define OMEN_KEY_WAL_USAGE		UINT64CONST(0xA0E1D0B000000004)
#define OMEN_KEY_GRAPH			UINT64CONST(0xA0E1D0B000000005)

/* What the leader and its workers share in dynamic shared memory. */
typedef struct OmenBuildShared
{
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;
	int			metric;
	int			m;
	int			ef_construction;
	Size		budget;			/* bytes of graph per participant */
	int			capacity_hint;	/* expected rows, caps the graph size */
	int			shared_capacity;	/* nodes of the shared graph, or 0 */

	/* dims of the first vector seen when the column has no typmod */
	pg_atomic_uint32 dims;
	pg_atomic_uint64 tuples_done;

	slock_t		mutex;			/* protects the fields below */
	double		reltuples;
	double		indtuples;
	int			nparticipants_done;
	uint32		next_segno;
	int			nsegs;
	int			maxsegs;
	OmenSegmentDesc segs[FLEXIBLE_ARRAY_MEMBER];
} OmenBuildShared;

/* One participant's state. */
typedef struct OmenBuilder
{
	Relation	heap;
	Relation	index;
	OmenBuildShared *shared;	/* NULL in a serial build */
	bool		is_leader;

	int			metric;
	int			dims;			/* 0 until known */
	int			m;
	int			ef_construction;
	int			max_level;
	int			capacity;
	Size		budget;
	int			capacity_hint;
	uint64		seed;

	OmenGraph  *graph;
	ItemPointerData *tids;		/* OMEN_HEAPTIDS per node */
	uint8	   *ntids;
	bool		graph_is_shared;	/* graph is the parallel build's shared one */
	bool		estimate_low;	/* the shared graph, sized by it, filled up */
	float	   *vec;			/* prepared value of the current row */
	ItemPointerData tid;		/* its heap TID */

	/* serial build: segments kept here */
	uint32		next_segno;
	OmenSegmentDesc *segs;
	int			nsegs;
	int			maxsegs;

	double		indtuples;
	MemoryContext mainctx;		/* lives as long as the builder */
	MemoryContext tmpctx;		/* per-row detoasting */
	MemoryContext graphctx;		/* the graph of the open segment */
} OmenBuilder;

/*
 * Where the layout put a node's search row and the first chunk of its
 * vector, relative to the segment start.
 */
typedef struct OmenNodePos
{
	uint32		row_blk;
	uint32		vec_blk;
	OffsetNumber row_off;
	OffsetNumber vec_off;
} OmenNodePos;

/* The page being filled while laying out tuples, relative to the segment. */
typedef struct OmenLayoutCursor
{
	uint32		blk;
	Size		used;
	OffsetNumber off;
} OmenLayoutCursor;

PGDLLEXPORT void omen_build_worker_main(dsm_segment *seg, shm_toc *toc);

static Size
builder_node_bytes(int dims, int metric, int m)
{
	return omen_graph_node_bytes(dims, metric, m) +
		sizeof(ItemPointerData) * OMEN_HEAPTIDS + sizeof(uint8);
}

/*
 * Creates the graph of a new segment once the dimension is known.
 */
static void
builder_open_segment(OmenBuilder *b)
{
	MemoryContext old;
	Size		per = builder_node_bytes(b->dims, b->metric, b->m);
	Size		cap = b->budget / per;

	cap = Min(cap, (Size) b->capacity_hint);
	cap = Max(cap, 2);
	cap = Min(cap, (Size) (PG_INT32_MAX / OMEN_HEAPTIDS));
	b->capacity = (int) cap;

	old = MemoryContextSwitchTo(b->graphctx);
	b->graph = omen_graph_create(b->dims, b->metric, b->m, b->ef_construction,
								 b->max_level, b->capacity,
								 b->seed);
	b->tids = MemoryContextAllocHuge(b->graphctx,
									 sizeof(ItemPointerData) * OMEN_HEAPTIDS * cap);
	b->ntids = MemoryContextAllocHuge(b->graphctx, cap);
	memset(b->ntids, 0, cap);
	MemoryContextSwitchTo(old);
}

/* Places a tuple of cost bytes at the cursor, on a new page if need be. */
static void
layout_place(OmenLayoutCursor *c, Size cost, uint32 *blk, OffsetNumber *off)
{
	if (c->used > 0 && c->used + cost > OMEN_PAGE_CAPACITY)
	{
		c->blk++;
		c->used = 0;
		c->off = 0;
	}
	*blk = c->blk;
	*off = ++c->off;
	c->used += cost;
}

/*
 * Places the next chunk of a vector with remaining floats left: densely,
 * a vector continuing on the next page where this one is full.  Returns
 * the chunk's floats.
 */
static int
layout_chunk(OmenLayoutCursor *c, int remaining, uint32 *blk,
			 OffsetNumber *off)
{
	int			nf = omen_chunk_floats(OMEN_PAGE_CAPACITY - c->used, remaining);

	if (nf == 0)
		nf = omen_chunk_floats(OMEN_PAGE_CAPACITY, remaining);
	layout_place(c, OMEN_ITEM_COST(OMEN_CHUNK_SIZE(nf)), blk, off);
	return nf;
}

/*
 * Assigns every node's search row a place on the data pages, in id order,
 * then its vector's chunks places on the vector pages that follow.  Sets
 * *ndata to the number of data pages and returns the number of pages.
 */
static uint32
layout_segment(OmenBuilder *b, const OmenMetaPageData *meta, OmenNodePos *pos,
			   uint32 *ndata)
{
	int			n = omen_graph_count(b->graph);
	OmenLayoutCursor c = {0, 0, 0};

	for (int i = 0; i < n; i++)
		layout_place(&c, OMEN_ITEM_COST(OMEN_NODE_SIZE(omen_graph_level(b->graph, i),
													   b->m, meta->code_bytes)),
					 &pos[i].row_blk, &pos[i].row_off);
	*ndata = c.blk + 1;
	c.blk = *ndata;
	c.used = 0;
	c.off = 0;
	for (int i = 0; i < n; i++)
	{
		uint32		blk;
		OffsetNumber off;
		int			left = b->dims - layout_chunk(&c, b->dims, &pos[i].vec_blk,
												  &pos[i].vec_off);

		while (left > 0)
			left -= layout_chunk(&c, left, &blk, &off);
	}
	return c.blk + 1;
}

/*
 * Reserves npages contiguous blocks at the end of the index.
 */
static BlockNumber
reserve_blocks(Relation index, uint32 npages)
{
	BlockNumber first = InvalidBlockNumber;

	/* parallel participants extend the index concurrently */
	LockRelationForExtension(index, ExclusiveLock);
	for (uint32 i = 0; i < npages; i++)
	{
		Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, P_NEW,
											 RBM_NORMAL, NULL);

		if (i == 0)
			first = BufferGetBlockNumber(buf);
		Assert(BufferGetBlockNumber(buf) == first + i);
		ReleaseBuffer(buf);
	}
	UnlockRelationForExtension(index, ExclusiveLock);
	return first;
}

static void
add_tuple(Page page, void *tup, Size size, OffsetNumber expected, Relation index)
{
	if (PageAddItem(page, (Item) tup, size, InvalidOffsetNumber,
					false, false) != expected)
		elog(ERROR, "failed to add tuple to index \"%s\"",
			 RelationGetRelationName(index));
}

/*
 * Locks and initializes page p of a segment starting at first, chained to
 * the next one unless it is the last of npages.
 */
static Buffer
seal_page(OmenBuilder *b, BlockNumber first, uint32 p, uint32 npages,
		  uint16 kind, uint32 segno)
{
	Buffer		buf;
	Page		page;

	CHECK_FOR_INTERRUPTS();
	buf = ReadBufferExtended(b->index, MAIN_FORKNUM, first + p,
							 RBM_ZERO_AND_LOCK, NULL);
	page = BufferGetPage(buf);
	omen_page_init(page, kind, segno);
	if (p + 1 < npages)
		OmenPageGetOpaque(page)->next = first + p + 1;
	return buf;
}

static void
seal_page_done(Buffer buf)
{
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/*
 * Writes the search rows of the open segment's graph to data pages first
 * .. first + ndata - 1, as the layout placed them.
 */
static void
write_rows(OmenBuilder *b, const OmenMetaPageData *meta, const OmenNodePos *pos,
		   BlockNumber first, uint32 ndata, uint32 npages, uint32 segno)
{
	int			n = omen_graph_count(b->graph);
	OmenNodeTuple nt = palloc(OMEN_NODE_SIZE(b->max_level, b->m, meta->code_bytes));
	int			i = 0;

	for (uint32 p = 0; p < ndata; p++)
	{
		Buffer		buf = seal_page(b, first, p, npages, OMEN_PAGE_DATA, segno);
		Page		page = BufferGetPage(buf);

		for (; i < n && pos[i].row_blk == p; i++)
		{
			int			level = omen_graph_level(b->graph, i);
			ItemPointer links = omen_node_links(nt, meta->code_bytes);
			ItemPointerData vectid;

			ItemPointerSet(&vectid, first + pos[i].vec_blk, pos[i].vec_off);
			omen_node_fill(nt, level, meta, &b->tids[(Size) i * OMEN_HEAPTIDS],
						   b->ntids[i], &vectid);
			omen_node_encode(nt, meta, omen_graph_vector(b->graph, i));
			for (int l = 0; l <= level; l++)
			{
				const uint32 *nbrs;
				int			cnt = omen_graph_neighbors(b->graph, i, l, &nbrs);
				ItemPointer slots = links + omen_level_offset(l, b->m);

				for (int k = 0; k < cnt; k++)
					ItemPointerSet(&slots[k], first + pos[nbrs[k]].row_blk,
								   pos[nbrs[k]].row_off);
			}
			add_tuple(page, nt, OMEN_NODE_SIZE(level, b->m, meta->code_bytes),
					  pos[i].row_off, b->index);
		}
		seal_page_done(buf);
	}
	pfree(nt);
}

/*
 * Writes the exact vectors of the open segment's graph to the vector pages
 * that follow the data pages, chunk by chunk as the layout placed them.
 */
static void
write_vectors(OmenBuilder *b, BlockNumber first, uint32 ndata, uint32 npages,
			  uint32 segno)
{
	int			n = omen_graph_count(b->graph);
	OmenVectorTuple vt = palloc(OMEN_CHUNK_SIZE(b->dims));
	OmenLayoutCursor c = {ndata, 0, 0};
	Buffer		buf = InvalidBuffer;
	uint32		bufblk = 0;

	for (int i = 0; i < n; i++)
	{
		const float *x = omen_graph_vector(b->graph, i);
		int			done = 0;

		while (done < b->dims)
		{
			uint32		blk;
			OffsetNumber off;
			int			nf = layout_chunk(&c, b->dims - done, &blk, &off);

			if (!BufferIsValid(buf) || blk != bufblk)
			{
				if (BufferIsValid(buf))
					seal_page_done(buf);
				buf = seal_page(b, first, blk, npages, OMEN_PAGE_VECTOR, segno);
				bufblk = blk;
			}
			memset(vt, 0, offsetof(OmenVectorTupleData, x));
			vt->type = OMEN_TUPLE_VECTOR;
			vt->nfloats = nf;
			/* a vector goes on at the start of the next page */
			if (done + nf < b->dims)
				ItemPointerSet(&vt->next, first + blk + 1, FirstOffsetNumber);
			else
				ItemPointerSetInvalid(&vt->next);
			memcpy(vt->x, x + done, sizeof(float) * nf);
			add_tuple(BufferGetPage(buf), vt, OMEN_CHUNK_SIZE(nf), off, b->index);
			done += nf;
		}
	}
	if (BufferIsValid(buf))
		seal_page_done(buf);
	pfree(vt);
}

/*
 * Writes the open segment's graph to pages and records its descriptor.
 */
static void
builder_seal_segment(OmenBuilder *b)
{
	int			n = b->graph ? omen_graph_count(b->graph) : 0;
	OmenMetaPageData meta;
	OmenNodePos *pos;
	uint32		npages;
	uint32		ndata;
	BlockNumber first;
	OmenSegmentDesc desc;
	int			entry;

	if (n == 0)
		return;

	if (b->is_leader)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMEN_PHASE_WRITE);

	memset(&meta, 0, sizeof(meta));
	meta.m = b->m;
	omen_meta_set_dims(&meta, b->dims);

	omen_graph_connect_all(b->graph);
	pos = MemoryContextAllocHuge(b->graphctx, sizeof(OmenNodePos) * n);
	npages = layout_segment(b, &meta, pos, &ndata);
	first = reserve_blocks(b->index, npages);

	memset(&desc, 0, sizeof(desc));
	if (b->shared)
	{
		SpinLockAcquire(&b->shared->mutex);
		desc.segno = b->shared->next_segno++;
		SpinLockRelease(&b->shared->mutex);
	}
	else
		desc.segno = b->next_segno++;

	write_rows(b, &meta, pos, first, ndata, npages, desc.segno);
	write_vectors(b, first, ndata, npages, desc.segno);

	entry = omen_graph_entry(b->graph);
	desc.first_blk = first;
	desc.last_blk = first + npages - 1;
	desc.row_blk = first + ndata - 1;
	desc.vec_blk = desc.last_blk;
	desc.nblocks = npages;
	ItemPointerSet(&desc.entry, first + pos[entry].row_blk, pos[entry].row_off);
	desc.entry_level = omen_graph_level(b->graph, entry);
	desc.nelements = n;

	if (b->shared)
	{
		SpinLockAcquire(&b->shared->mutex);
		if (b->shared->nsegs >= b->shared->maxsegs)
		{
			SpinLockRelease(&b->shared->mutex);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("parallel build of index \"%s\" made more segments than planned",
							RelationGetRelationName(b->index)),
					 errhint("Build with max_parallel_maintenance_workers = 0.")));
		}
		b->shared->segs[b->shared->nsegs++] = desc;
		SpinLockRelease(&b->shared->mutex);
	}
	else
	{
		if (b->nsegs == b->maxsegs)
		{
			b->maxsegs *= 2;
			b->segs = repalloc(b->segs, sizeof(OmenSegmentDesc) * b->maxsegs);
		}
		b->segs[b->nsegs++] = desc;
	}

	MemoryContextReset(b->graphctx);
	b->graph = NULL;
	b->seed++;					/* the next graph draws other levels */

	if (b->is_leader)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMEN_PHASE_LOAD);
}

/*
 * Learns the dimension from the first vector when the column has no typmod;
 * in a parallel build all participants must agree on it.
 */
static void
builder_set_dims(OmenBuilder *b, int dims)
{
	if (b->shared)
	{
		uint32		expected = 0;

		if (!pg_atomic_compare_exchange_u32(&b->shared->dims, &expected, dims))
			dims = expected;
	}
	b->dims = dims;
}

/*
 * Records a heap TID for node id; false if its slots are full.  Nodes of a
 * shared graph may get TIDs from several participants.
 */
static bool
builder_add_tid(OmenBuilder *b, int id, ItemPointer tid)
{
	bool		added = false;

	omen_graph_lock(b->graph, id);
	if (b->ntids[id] < OMEN_HEAPTIDS)
	{
		b->tids[(Size) id * OMEN_HEAPTIDS + b->ntids[id]++] = *tid;
		added = true;
	}
	omen_graph_unlock(b->graph, id);
	return added;
}

/* Adds the current row to node id, a copy of it (an OmenMergeFn). */
static bool
builder_merge(void *arg, int id)
{
	OmenBuilder *b = (OmenBuilder *) arg;

	return builder_add_tid(b, id, &b->tid);
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	OmenBuilder *b = (OmenBuilder *) state;
	MemoryContext old;
	Vector	   *v;
	bool		usable;
	bool		merged;
	int			id;

	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(b->tmpctx);
	v = DatumGetVector(values[0]);
	if (b->dims == 0)
		builder_set_dims(b, v->dim);
	if (b->vec == NULL)
		b->vec = MemoryContextAlloc(b->mainctx, sizeof(float) * b->dims);
	usable = omen_prepare_vector(v, b->metric, b->dims, b->vec);
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->tmpctx);
	if (!usable)
		return;

	for (;;)
	{
		if (b->graph == NULL)
			builder_open_segment(b);

		/* exact duplicates share elements while they have free TID slots */
		b->tid = *tid;
		id = omen_graph_insert(b->graph, b->vec, builder_merge, b, &merged);
		if (id >= 0 && !merged)
			builder_add_tid(b, id, tid);
		if (id >= 0)
			break;

		/* the shared graph is full: go on in graphs of our own */
		Assert(b->graph_is_shared);
		b->graph = NULL;
		b->graph_is_shared = false;
	}
	b->indtuples++;

	if (b->shared)
	{
		uint64		done = pg_atomic_add_fetch_u64(&b->shared->tuples_done, 1);

		if (b->is_leader && done % 1000 == 0)
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, done);
	}
	else if ((int64) b->indtuples % 1000 == 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) b->indtuples);

	if (!b->graph_is_shared && omen_graph_full(b->graph))
		builder_seal_segment(b);
}

static void
builder_init(OmenBuilder *b, Relation heap, Relation index,
			 OmenBuildShared *shared, bool is_leader)
{
	memset(b, 0, sizeof(OmenBuilder));
	b->heap = heap;
	b->index = index;
	b->shared = shared;
	b->is_leader = is_leader;
	b->mainctx = CurrentMemoryContext;
	b->tmpctx = AllocSetContextCreate(CurrentMemoryContext,
									  "omenhnsw build tuple",
									  ALLOCSET_DEFAULT_SIZES);
	b->graphctx = AllocSetContextCreate(CurrentMemoryContext,
										"omenhnsw build graph",
										ALLOCSET_DEFAULT_SIZES);
	b->seed = 0x6f6d656e + (is_leader ? 0 : (uint64) (ParallelWorkerNumber + 1) << 32);
}

static void
builder_finish(OmenBuilder *b)
{
	builder_seal_segment(b);
	MemoryContextDelete(b->tmpctx);
	MemoryContextDelete(b->graphctx);
}

/*
 * Bytes of the shared graph's memory: the graph, then every node's heap
 * TIDs and their count.  *tids_off is where the TIDs start.
 */
static Size
shared_graph_size(int dims, int metric, int m, Size cap, Size *tids_off)
{
	*tids_off = TYPEALIGN(64, omen_graph_size(dims, metric, m,
											 omen_max_level(m), cap));
	return *tids_off + cap * (sizeof(ItemPointerData) * OMEN_HEAPTIDS + 1);
}

/* Makes the graph at mem, g being this process's handle, b's graph. */
static void
builder_use_shared_graph(OmenBuilder *b, OmenGraph *g, char *mem)
{
	Size		tids_off;

	shared_graph_size(pg_atomic_read_u32(&b->shared->dims), b->shared->metric,
					  b->shared->m, b->shared->shared_capacity, &tids_off);
	b->graph = g;
	b->graph_is_shared = true;
	b->tids = (ItemPointerData *) (mem + tids_off);
	b->ntids = (uint8 *) (b->tids + (Size) b->shared->shared_capacity * OMEN_HEAPTIDS);
}

/*
 * One participant's share of a parallel build.
 */
static void
participate(OmenBuilder *b, ParallelTableScanDesc pscan, Size budget,
			bool progress)
{
	OmenBuildShared *shared = b->shared;
	IndexInfo  *indexInfo = BuildIndexInfo(b->index);
	TableScanDesc scan;
	double		reltuples;

	b->metric = shared->metric;
	b->m = shared->m;
	b->ef_construction = shared->ef_construction;
	b->max_level = omen_max_level(b->m);
	b->budget = budget;
	b->capacity_hint = shared->capacity_hint;
	b->dims = pg_atomic_read_u32(&shared->dims);

	indexInfo->ii_Concurrent = shared->isconcurrent;
	scan = table_beginscan_parallel(b->heap, pscan);
	reltuples = table_index_build_scan(b->heap, b->index, indexInfo, true,
									   progress, build_callback, b, scan);
	ereport(DEBUG1,
			(errmsg("%s processed %.0f tuples", b->is_leader ? "leader" : "worker",
					b->indtuples)));
	if (b->graph_is_shared)
		b->graph = NULL;		/* the leader seals it once all are done */
	builder_seal_segment(b);
	if (b->is_leader)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 pg_atomic_read_u64(&shared->tuples_done));

	SpinLockAcquire(&shared->mutex);
	shared->reltuples += reltuples;
	shared->indtuples += b->indtuples;
	shared->nparticipants_done++;
	SpinLockRelease(&shared->mutex);
}

void
omen_build_worker_main(dsm_segment *seg, shm_toc *toc)
{
	OmenBuildShared *shared = shm_toc_lookup(toc, OMEN_KEY_SHARED, false);
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, OMEN_KEY_SCAN, false);
	BufferUsage *bufusage = shm_toc_lookup(toc, OMEN_KEY_BUFFER_USAGE, false);
	WalUsage   *walusage = shm_toc_lookup(toc, OMEN_KEY_WAL_USAGE, false);
	LOCKMODE	heapLockmode = shared->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	LOCKMODE	indexLockmode = shared->isconcurrent ? RowExclusiveLock : AccessExclusiveLock;
	Relation	heap;
	Relation	index;
	OmenBuilder b;

	heap = table_open(shared->heaprelid, heapLockmode);
	index = index_open(shared->indexrelid, indexLockmode);

	InstrStartParallelQuery();
	builder_init(&b, heap, index, shared, false);
	if (shared->shared_capacity > 0)
	{
		char	   *mem = (char *) TYPEALIGN(64, shm_toc_lookup(toc, OMEN_KEY_GRAPH, false));

		builder_use_shared_graph(&b, omen_graph_attach(mem, b.seed), mem);
	}
	participate(&b, pscan, shared->budget, false);
	builder_finish(&b);
	InstrEndParallelQuery(&bufusage[ParallelWorkerNumber],
						  &walusage[ParallelWorkerNumber]);

	index_close(index, indexLockmode);
	table_close(heap, heapLockmode);
}

/*
 * The part of the budget a parallel build's shared graph may take.  The
 * rest is kept for overflow segments, so that rows a low estimate left out
 * never get segments of a few rows each.
 */
static Size
shared_budget(Size budget)
{
	return budget - budget / 8;
}

/*
 * An upper bound on the rows the scan can return, so small tables do not
 * get graphs sized for the whole memory budget.
 */
static int
capacity_hint(Relation heap)
{
	double		est = (double) RelationGetNumberOfBlocks(heap) * MaxHeapTuplesPerPage + 1;

	return (int) Min(est, (double) (PG_INT32_MAX / OMEN_HEAPTIDS));
}

/*
 * Runs the heap scan with parallel workers, into one shared graph of room
 * for graph_rows rows if that is not 0; returns false (having done nothing)
 * when no parallel context could be set up.
 */
static bool
build_parallel(OmenBuilder *leader, IndexInfo *indexInfo, int nworkers,
			   double graph_rows, double *reltuples)
{
	Relation	heap = leader->heap;
	Relation	index = leader->index;
	ParallelContext *pcxt;
	Snapshot	snapshot;
	Size		estshared;
	Size		estscan;
	Size		mincap;
	int			maxsegs;
	int			participants = nworkers + 1;
	OmenBuildShared *shared;
	ParallelTableScanDesc pscan;
	BufferUsage *bufusage;
	WalUsage   *walusage;
	Size		private_budget = leader->budget / participants;
	Size		graph_cap = 0;
	Size		graph_bytes = 0;
	Size		tids_off;
	char	   *graph_mem = NULL;
	OmenGraph  *one = NULL;

	EnterParallelMode();
	pcxt = CreateParallelContext("omendb", "omen_build_worker_main", nworkers);

	snapshot = indexInfo->ii_Concurrent ?
		RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	if (graph_rows > 0)
	{
		/* the other participants' visited arrays count too */
		Size		per = builder_node_bytes(leader->dims, leader->metric, leader->m) +
			nworkers * sizeof(uint32);

		graph_cap = Min(shared_budget(leader->budget) / per,
						(Size) leader->capacity_hint);
		/* room for a low estimate, the rest left for overflow segments */
		graph_cap = Min(graph_cap, (Size) (graph_rows * 1.2) + 1000);
		graph_cap = Max(graph_cap, 2);
		graph_bytes = shared_graph_size(leader->dims, leader->metric,
										leader->m, graph_cap, &tids_off);
		private_budget = (leader->budget - Min(leader->budget, graph_cap * per)) /
			participants;
		shm_toc_estimate_chunk(&pcxt->estimator, graph_bytes + 64);
		shm_toc_estimate_keys(&pcxt->estimator, 1);
	}

	/*
	 * A participant's segments hold at least mincap rows, but the last; twice
	 * that many, as a graph also seals when its upper-level arena fills.
	 */
	mincap = private_budget /
		builder_node_bytes(leader->dims > 0 ? leader->dims : OMEN_MAX_DIMS,
						   leader->metric, leader->m);
	mincap = Max(2, Min(mincap, (Size) leader->capacity_hint));
	maxsegs = 2 * (leader->capacity_hint / mincap) + participants + 16;
	estshared = add_size(offsetof(OmenBuildShared, segs),
						 mul_size(sizeof(OmenSegmentDesc), maxsegs));
	estscan = table_parallelscan_estimate(heap, snapshot);
	shm_toc_estimate_chunk(&pcxt->estimator, estshared);
	shm_toc_estimate_chunk(&pcxt->estimator, estscan);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(BufferUsage), nworkers));
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(WalUsage), nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 4);

	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		if (IsMVCCSnapshot(snapshot))
			UnregisterSnapshot(snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		ereport(NOTICE,
				(errmsg("omenhnsw builds serially: no dynamic shared memory for parallel workers")));
		return false;
	}

	shared = shm_toc_allocate(pcxt->toc, estshared);
	memset(shared, 0, offsetof(OmenBuildShared, segs));
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(index);
	shared->isconcurrent = indexInfo->ii_Concurrent;
	shared->metric = leader->metric;
	shared->m = leader->m;
	shared->ef_construction = leader->ef_construction;
	shared->budget = private_budget;
	shared->capacity_hint = leader->capacity_hint;
	shared->shared_capacity = graph_cap;
	pg_atomic_init_u32(&shared->dims, leader->dims);
	pg_atomic_init_u64(&shared->tuples_done, 0);
	SpinLockInit(&shared->mutex);
	shared->maxsegs = maxsegs;

	pscan = shm_toc_allocate(pcxt->toc, estscan);
	table_parallelscan_initialize(heap, pscan, snapshot);
	bufusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(BufferUsage), nworkers));
	walusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(WalUsage), nworkers));
	memset(bufusage, 0, mul_size(sizeof(BufferUsage), nworkers));
	memset(walusage, 0, mul_size(sizeof(WalUsage), nworkers));

	shm_toc_insert(pcxt->toc, OMEN_KEY_SHARED, shared);
	shm_toc_insert(pcxt->toc, OMEN_KEY_SCAN, pscan);
	shm_toc_insert(pcxt->toc, OMEN_KEY_BUFFER_USAGE, bufusage);
	shm_toc_insert(pcxt->toc, OMEN_KEY_WAL_USAGE, walusage);
	if (graph_cap > 0)
	{
		void	   *chunk = shm_toc_allocate(pcxt->toc, graph_bytes + 64);

		shm_toc_insert(pcxt->toc, OMEN_KEY_GRAPH, chunk);
		graph_mem = (char *) TYPEALIGN(64, chunk);
		memset(graph_mem + tids_off, 0, graph_bytes - tids_off);
		one = omen_graph_create_in(graph_mem, true, leader->dims,
								   leader->metric, leader->m,
								   leader->ef_construction,
								   omen_max_level(leader->m), graph_cap,
								   leader->seed);
	}

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
		ereport(NOTICE,
				(errmsg("omenhnsw could launch no parallel workers; the leader builds alone")));
	ereport(DEBUG1,
			(errmsg("using %d parallel workers", pcxt->nworkers_launched)));
	if (graph_cap > 0)
		ereport(DEBUG1,
				(errmsg("omenhnsw shares one graph of room for %zu rows, %zu bytes",
						graph_cap, graph_bytes)));

	/* the leader takes part like any worker, with what workers left over */
	leader->shared = shared;
	if (one)
		builder_use_shared_graph(leader, one, graph_mem);
	participate(leader, pscan,
				private_budget * (participants - pcxt->nworkers_launched), true);

	WaitForParallelWorkersToFinish(pcxt);
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		InstrAccumParallelQuery(&bufusage[i], &walusage[i]);
	if (one)
	{
		leader->estimate_low = omen_graph_full(one);
		builder_use_shared_graph(leader, one, graph_mem);
		leader->graph_is_shared = false;
		builder_seal_segment(leader);
	}
	builder_finish(leader);

	*reltuples = shared->reltuples;
	leader->indtuples = shared->indtuples;
	leader->dims = pg_atomic_read_u32(&shared->dims);
	leader->segs = palloc(sizeof(OmenSegmentDesc) * Max(shared->nsegs, 1));
	memcpy(leader->segs, shared->segs, sizeof(OmenSegmentDesc) * shared->nsegs);
	leader->nsegs = shared->nsegs;
	leader->shared = NULL;

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return true;
}

static int
segdesc_cmp(const void *a, const void *b)
{
	uint32		sa = ((const OmenSegmentDesc *) a)->segno;
	uint32		sb = ((const OmenSegmentDesc *) b)->segno;

	return (sa > sb) - (sa < sb);
}

/*
 * Writes the metapage of an index whose segments are all written.
 */
static void
write_meta(Relation index, OmenBuilder *b, BlockNumber dir_head)
{
	Buffer		buf = ReadBuffer(index, OMEN_METAPAGE_BLKNO);
	Page		page;
	OmenMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	omen_meta_init(page, b->dims, b->m, b->ef_construction, b->metric);
	meta = OmenPageGetMeta(page);
	meta->nsegments = b->nsegs;
	meta->next_segno = b->nsegs;
	meta->dir_head = dir_head;
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* Heap pages whose tuples are counted when the table has no statistics. */
#define OMEN_SAMPLE_PAGES 64

/*
 * The rows of a heap table that has never been vacuumed or analyzed: its
 * size times the tuples on up to OMEN_SAMPLE_PAGES pages spread over it.
 * The planner's guess for such a table takes a vector for 32 bytes, which
 * makes it many times too large, and the shared graph is sized by it.
 * Takes and releases a share lock on each sampled page.
 */
static double
sample_heap_rows(Relation heap, BlockNumber nblocks)
{
	BufferAccessStrategy bstrategy = GetAccessStrategy(BAS_BULKREAD);
	BlockNumber nsample = Min(nblocks, OMEN_SAMPLE_PAGES);
	double		tuples = 0;

	for (BlockNumber i = 0; i < nsample; i++)
	{
		BlockNumber blk = (BlockNumber) (((uint64) i * nblocks) / nsample);
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(heap, MAIN_FORKNUM, blk, RBM_NORMAL,
								 bstrategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
			if (ItemIdIsNormal(PageGetItemId(page, off)))
				tuples++;
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(bstrategy);
	return nsample > 0 ? tuples * nblocks / nsample : 0;
}

/*
 * The heap's estimated rows: from its statistics, or, for a heap table that
 * has none, by sampling its pages.
 */
static double
heap_rows_estimate(Relation heap)
{
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	if ((heap->rd_rel->reltuples < 0 || heap->rd_rel->relpages == 0) &&
		heap->rd_rel->relam == HEAP_TABLE_AM_OID)
		return sample_heap_rows(heap, RelationGetNumberOfBlocks(heap));
	estimate_rel_size(heap, NULL, &pages, &tuples, &allvisfrac);
	return tuples;
}

/*
 * The heap's estimated rows if they fit one shared graph, else 0.
 */
static double
rows_if_one_budget(OmenBuilder *b)
{
	double		tuples;

	if (b->dims == 0)
		return 0;				/* no typmod: the size is unknown */
	tuples = heap_rows_estimate(b->heap);
	if (tuples * builder_node_bytes(b->dims, b->metric, b->m) >
		(double) shared_budget(b->budget))
		return 0;
	return Max(tuples, 1);
}

IndexBuildResult *
omen_ambuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	OmenBuilder b;
	double		reltuples = 0;
	int			nworkers = 0;
	Buffer		metabuf;
	BlockNumber dir_head;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));

	builder_init(&b, heap, index, NULL, true);
	b.metric = omen_index_metric(index);
	b.m = omen_option_m(index);
	b.ef_construction = omen_option_ef_construction(index);
	b.max_level = omen_max_level(b.m);
	b.dims = omen_index_dims_typmod(index);
	omen_check_build_options(index);
	b.budget = (Size) maintenance_work_mem * 1024;
	b.capacity_hint = capacity_hint(heap);
	b.maxsegs = 8;
	b.segs = palloc(sizeof(OmenSegmentDesc) * b.maxsegs);

	/* the metapage comes first so block 0 is always the metapage */
	metabuf = omen_new_buffer(index, MAIN_FORKNUM);
	Assert(BufferGetBlockNumber(metabuf) == OMEN_METAPAGE_BLKNO);
	omen_meta_init(BufferGetPage(metabuf), b.dims, b.m, b.ef_construction,
				   b.metric);
	MarkBufferDirty(metabuf);
	UnlockReleaseBuffer(metabuf);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMEN_PHASE_LOAD);
	if (heap->rd_rel->reltuples > 0)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
									 (int64) heap->rd_rel->reltuples);

	/*
	 * PostgreSQL 15 plans workers only for btree, so ask ourselves.  A table
	 * that fits one budget gets one graph that all participants share: each
	 * segment costs every query a search.
	 */
	nworkers = plan_create_index_workers(RelationGetRelid(heap),
										 RelationGetRelid(index));

	if (nworkers == 0 ||
		!build_parallel(&b, indexInfo, nworkers, rows_if_one_budget(&b),
						&reltuples))
	{
		reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
										   build_callback, &b, NULL);
		builder_finish(&b);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
									 (int64) b.indtuples);
	}

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMEN_PHASE_WAL);
	qsort(b.segs, b.nsegs, sizeof(OmenSegmentDesc), segdesc_cmp);
	dir_head = omen_directory_write(index, b.segs, b.nsegs);
	write_meta(index, &b, dir_head);

	if (b.nsegs > 1)
		ereport(NOTICE,
				(errmsg("omenhnsw index \"%s\" was built as %d segments",
						RelationGetRelationName(index), b.nsegs),
				 errdetail("Each query searches every segment."),
				 b.estimate_low ?
				 errhint("The table had more rows than its statistics said: ANALYZE it and rebuild the index for fewer segments.") :
				 errhint("Increase maintenance_work_mem for fewer, larger segments.")));

	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(index), true);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = b.indtuples;
	return result;
}

/*
 * The init fork of an unlogged index: just the metapage, WAL-logged so a
 * standby can reset the index too.
 */
void
omen_ambuildempty(Relation index)
{
	int			metric = omen_index_metric(index);
	Buffer		buf = omen_new_buffer(index, INIT_FORKNUM);

	START_CRIT_SECTION();
	omen_meta_init(BufferGetPage(buf), omen_index_dims_typmod(index),
				   omen_option_m(index), omen_option_ef_construction(index),
				   metric);
	MarkBufferDirty(buf);
	log_newpage_buffer(buf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(buf);
}

char *
omen_ambuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case OMEN_PHASE_LOAD:
			return "loading tuples into segments";
		case OMEN_PHASE_WRITE:
			return "writing segment pages";
		case OMEN_PHASE_WAL:
			return "writing directory and WAL-logging";
		default:
			return NULL;
	}
}
