/*
 * build.c
 *		Segmented bulk build of an omenhnsw index.
 *
 * Every participant (the leader and each parallel worker) scans its share
 * of the heap into an in-memory HNSW graph sized from its part of
 * maintenance_work_mem.  The graph keeps each node's code and links only:
 * the participant writes each new node's exact vector to vector pages of
 * the segment as the row arrives, pages of its own that it extends the
 * index by one at a time and chains.  When the graph is full, or the scan
 * ends, the participant seals it: lays the search rows out on pages,
 * reserves a contiguous run of blocks for them, writes them through shared
 * buffers and chains them before the vector pages.  Participants with
 * graphs of their own share only the relation extension lock, a segment
 * number counter and a list of segment descriptors.  The leader finally
 * writes the segment directory and metapage and WAL-logs every page the
 * participants have not logged as they filled it.
 *
 * A table that fits maintenance_work_mem is built as one segment: with
 * parallel workers, every participant inserts into one graph in dynamic
 * shared memory, which the leader seals when all are done.  If that graph
 * fills up after all (the row estimate was low), participants go on with
 * segments of their own in what is left of the budget.  Each participant
 * chains the vector pages it wrote for the shared graph to those of the
 * participants that finished before it.
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
#include "catalog/pg_control.h"
#include "catalog/pg_class_d.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "executor/instrument.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "distance.h"
#include "hnsw_graph.h"
#include "omenhnsw.h"
#include "options.h"
#include "page.h"
#include "pagestore.h"
#include "vector.h"

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
	int			elem;			/* OmenElemKind */
	int			metric;
	int			m;
	int			ef_construction;
	int			codes;			/* OmenCodesOption */
	Size		budget;			/* bytes of graph per participant */
	int			capacity_hint;	/* expected rows, caps the graph size */
	int			shared_capacity;	/* nodes of the shared graph, or 0 */
	uint32		shared_segno;	/* its segment number */

	/* elements of the first value seen when the column has no typmod */
	pg_atomic_uint32 dims;
	pg_atomic_uint64 tuples_done;

	slock_t		mutex;			/* protects the fields below */
	double		reltuples;
	double		indtuples;
	int			nparticipants_done;
	uint32		next_segno;
	/* the shared graph's vector pages that participants have chained */
	BlockNumber vec_head;
	BlockNumber vec_tail;
	uint32		vec_npages;
	int			nsegs;
	int			maxsegs;
	OmenSegmentDesc segs[FLEXIBLE_ARRAY_MEMBER];
} OmenBuildShared;

/* The page being filled while laying out tuples, counted from the first. */
typedef struct OmenLayoutCursor
{
	uint32		blk;
	Size		used;
	OffsetNumber off;
} OmenLayoutCursor;

/*
 * A participant's vector pages of one segment, a chain from head to tail
 * that it fills as rows arrive; buf pins tail.  cur places chunks on them,
 * its blk counting the pages.
 */
typedef struct OmenVectorWriter
{
	uint32		segno;
	BlockNumber head;			/* Invalid until the first vector */
	BlockNumber tail;
	uint32		npages;
	Buffer		buf;
	OmenLayoutCursor cur;
} OmenVectorWriter;

/* One participant's state. */
typedef struct OmenBuilder
{
	Relation	heap;
	Relation	index;
	OmenBuildShared *shared;	/* NULL in a serial build */
	bool		is_leader;

	int			elem;			/* OmenElemKind */
	int			metric;
	int			dims;			/* elements of a value; 0 until known */
	OmenElem	kind;			/* elem, metric and dims, once dims is known */
	OmenMetaPageData meta;		/* m, dims and codes of the index's pages */
	int			m;
	int			ef_construction;
	int			codes;			/* OmenCodesOption */
	int			max_level;
	int			capacity;
	Size		budget;
	int			capacity_hint;
	uint64		seed;

	OmenGraph  *graph;
	ItemPointerData *tids;		/* OMEN_HEAPTIDS per node */
	uint8	   *ntids;
	ItemPointerData *vectids;	/* per node: its vector's first chunk (its
								 * own row where codes are exact) */
	OmenVectorWriter vw;		/* vector pages of the open segment */
	OmenPageStore *store;		/* reads vectors back; NULL until needed */
	void	   *other;			/* an exact vector read back */
	bool		graph_is_shared;	/* graph is the parallel build's shared one */
	bool		estimate_low;	/* the shared graph, sized by it, filled up */
	float	   *vec;			/* the current row's floats for its code */
	void	   *exact;			/* its exact vector */
	OmenVectorTuple chunk;		/* room for one chunk of it */
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

/* Where the layout put a node's search row, relative to the segment start. */
typedef struct OmenNodePos
{
	uint32		row_blk;
	OffsetNumber row_off;
} OmenNodePos;

PGDLLEXPORT void omen_build_worker_main(dsm_segment *seg, shm_toc *toc);

/*
 * Bytes a build keeps per node of values of dims elements of kind elem: its
 * graph's, its heap TIDs and where its vector is.
 */
static Size
builder_node_bytes(int elem, int dims, int m, int codes)
{
	int			code_dims = omen_elem_code_dims(elem, dims);

	return omen_graph_node_bytes(code_dims,
								 omen_code_bits(elem, code_dims, m, codes), m) +
		sizeof(ItemPointerData) * (OMEN_HEAPTIDS + 1) + sizeof(uint8);
}

/* Nodes of a graph that fits budget at per bytes a node, at most hint. */
static Size
builder_capacity(Size budget, Size per, Size hint)
{
	Size		cap = budget / per;

	cap = Min(cap, hint);
	cap = Max(cap, 2);
	return Min(cap, (Size) (PG_INT32_MAX / OMEN_HEAPTIDS));
}

/* The parameters of the index's pages, once m and the dimension are known. */
static void
builder_set_meta(OmenBuilder *b)
{
	memset(&b->meta, 0, sizeof(b->meta));
	b->meta.m = b->m;
	b->meta.metric = b->metric;
	b->meta.elem = b->elem;
	b->meta.codes = b->codes;
	omen_meta_set_dims(&b->meta, b->dims);
	omen_elem_init(&b->kind, b->elem, b->metric, b->dims, b->meta.code_bits);
}

/* A segment number for a new segment. */
static uint32
builder_next_segno(OmenBuilder *b)
{
	uint32		segno;

	if (b->shared == NULL)
		return b->next_segno++;
	SpinLockAcquire(&b->shared->mutex);
	segno = b->shared->next_segno++;
	SpinLockRelease(&b->shared->mutex);
	return segno;
}

/* Starts w on segment segno, with no pages yet. */
static void
writer_open(OmenVectorWriter *w, uint32 segno)
{
	memset(w, 0, sizeof(OmenVectorWriter));
	w->segno = segno;
	w->head = InvalidBlockNumber;
	w->tail = InvalidBlockNumber;
	w->buf = InvalidBuffer;
}

/* Drops w's pin; its chain stays as it is. */
static void
writer_close(OmenVectorWriter *w)
{
	if (BufferIsValid(w->buf))
		ReleaseBuffer(w->buf);
	w->buf = InvalidBuffer;
}

/*
 * Reserves npages contiguous blocks at the end of the index.
 */
static BlockNumber
reserve_blocks(Relation index, uint32 npages)
{
	BlockNumber first = InvalidBlockNumber;

	/*
	 * Parallel participants extend the index concurrently; the leader, which
	 * created the index, must lock too.
	 */
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

/*
 * Extends the index by a vector page that becomes w's tail, chained after
 * the old tail.  cont, if valid, is the chunk on the old tail whose vector
 * goes on at the start of the new page.  The old tail is then final: it is
 * WAL-logged here, so that the participants log their vector pages as they
 * fill them instead of the leader logging them all at the end
 * (log_unlogged_pages).  Expects no buffer lock held and holds none when it
 * returns.
 */
static void
writer_add_page(Relation index, OmenVectorWriter *w, OffsetNumber cont)
{
	BlockNumber blk = reserve_blocks(index, 1);
	Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk,
										 RBM_ZERO_AND_LOCK, NULL);

	omen_page_init(BufferGetPage(buf), OMEN_PAGE_VECTOR, w->segno);
	MarkBufferDirty(buf);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	if (BufferIsValid(w->buf))
	{
		Page		page;

		LockBuffer(w->buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(w->buf);
		START_CRIT_SECTION();
		OmenPageGetOpaque(page)->next = blk;
		if (OffsetNumberIsValid(cont))
			ItemPointerSet(&omen_page_get_chunk(page, cont)->next, blk,
						   FirstOffsetNumber);
		MarkBufferDirty(w->buf);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(w->buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(w->buf);
	}
	else
		w->head = blk;
	w->buf = buf;
	w->tail = blk;
	w->npages++;
}

static void
add_tuple(Page page, void *tup, Size size, OffsetNumber expected, Relation index)
{
	if (PageAddItem(page, (Item) tup, size, InvalidOffsetNumber,
					false, false) != expected)
		elog(ERROR, "failed to add tuple to index \"%s\"",
			 RelationGetRelationName(index));
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

/* What a node's search row costs on a data page. */
static Size
row_cost(const OmenMetaPageData *meta, int level)
{
	return OMEN_ITEM_COST(OMEN_NODE_SIZE(level, meta->m, meta->code_bytes));
}

/*
 * Writes b's current exact vector to w's pages, its chunks placed by
 * layout_chunk, and sets *first to its first chunk.  Expects no buffer
 * lock held.
 */
static void
writer_put(OmenBuilder *b, OmenVectorWriter *w, ItemPointer first)
{
	OmenVectorTuple vt = b->chunk;
	OffsetNumber cont = InvalidOffsetNumber;
	int			words = omen_elem_words(&b->kind, b->exact);
	int			done = 0;

	while (done < words)
	{
		uint32		blk;
		OffsetNumber off;
		int			nf = layout_chunk(&w->cur, words - done, &blk, &off);

		if (blk >= w->npages)
			writer_add_page(b->index, w, cont);
		memset(vt, 0, offsetof(OmenVectorTupleData, x));
		vt->type = OMEN_TUPLE_VECTOR;
		vt->nfloats = nf;
		ItemPointerSetInvalid(&vt->next);	/* set when the next page comes */
		memcpy(vt->x, (float *) b->exact + done, sizeof(float) * nf);
		LockBuffer(w->buf, BUFFER_LOCK_EXCLUSIVE);
		add_tuple(BufferGetPage(w->buf), vt, OMEN_CHUNK_SIZE(nf), off, b->index);
		MarkBufferDirty(w->buf);
		LockBuffer(w->buf, BUFFER_LOCK_UNLOCK);
		if (done == 0)
			ItemPointerSet(first, w->tail, off);
		cont = off;
		done += nf;
	}
}

/*
 * Creates the graph of a new segment once the dimension is known.
 */
static void
builder_open_segment(OmenBuilder *b)
{
	MemoryContext old;
	Size		cap = builder_capacity(b->budget,
									   builder_node_bytes(b->elem, b->dims, b->m,
														  b->codes),
									   (Size) b->capacity_hint);

	b->capacity = (int) cap;
	old = MemoryContextSwitchTo(b->graphctx);
	b->graph = omen_graph_create(b->meta.dims, b->kind.graph_metric,
								 b->meta.code_bits, b->m,
								 b->ef_construction, b->max_level, b->capacity,
								 b->seed);
	b->tids = MemoryContextAllocHuge(b->graphctx,
									 sizeof(ItemPointerData) * OMEN_HEAPTIDS * cap);
	b->vectids = MemoryContextAllocHuge(b->graphctx, sizeof(ItemPointerData) * cap);
	b->ntids = MemoryContextAllocHuge(b->graphctx, cap);
	memset(b->ntids, 0, cap);
	MemoryContextSwitchTo(old);
	writer_open(&b->vw, builder_next_segno(b));
}

/*
 * Assigns every node's search row a place on the data pages, in the order
 * of order[] (omen_graph_order).  Returns the number of data pages.
 */
static uint32
layout_rows(OmenBuilder *b, const uint32 *order, OmenNodePos *pos)
{
	int			n = omen_graph_count(b->graph);
	OmenLayoutCursor c = {0, 0, 0};

	for (int j = 0; j < n; j++)
		layout_place(&c, row_cost(&b->meta, omen_graph_level(b->graph, order[j])),
					 &pos[order[j]].row_blk, &pos[order[j]].row_off);
	return c.blk + 1;
}

/*
 * Writes the search rows of the open segment's graph to data pages first
 * .. first + ndata - 1, as the layout placed them, the last page chained
 * to the segment's vector pages; ERROR if links cannot name the last.
 */
static void
write_rows(OmenBuilder *b, const uint32 *order, const OmenNodePos *pos,
		   BlockNumber first, uint32 ndata)
{
	int			n = omen_graph_count(b->graph);
	int			code_bytes = b->meta.code_bytes;
	int			obits = omen_link_bits(b->m, code_bytes);
	OmenNodeTuple nt = palloc(OMEN_NODE_SIZE(b->max_level, b->m, code_bytes));
	int			j = 0;

	omen_check_link_block(b->index, first + ndata - 1, obits);

	for (uint32 p = 0; p < ndata; p++)
	{
		Buffer		buf;
		Page		page;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(b->index, MAIN_FORKNUM, first + p,
								 RBM_ZERO_AND_LOCK, NULL);
		page = BufferGetPage(buf);
		omen_page_init(page, OMEN_PAGE_DATA, b->vw.segno);
		OmenPageGetOpaque(page)->next = p + 1 < ndata ? first + p + 1 : b->vw.head;

		for (; j < n && pos[order[j]].row_blk == p; j++)
		{
			int			i = (int) order[j];
			int			level = omen_graph_level(b->graph, i);
			OmenLink   *links = omen_node_links(nt, code_bytes);
			const uint8 *code;

			/* a row whose code is its exact vector names itself */
			if (b->kind.codes_exact)
				ItemPointerSet(&b->vectids[i], first + pos[i].row_blk,
							   pos[i].row_off);
			omen_node_fill(nt, level, &b->meta, &b->tids[(Size) i * OMEN_HEAPTIDS],
						   b->ntids[i], &b->vectids[i]);
			/* the graph's code is the row's: same vector, same width */
			code = omen_graph_code(b->graph, i, &nt->offset, &nt->scale,
								   &nt->tight);
			memcpy(omen_node_code(nt), code, code_bytes);
			for (int l = 0; l <= level; l++)
			{
				const uint32 *nbrs;
				int			cnt = omen_graph_neighbors(b->graph, i, l, &nbrs);
				OmenLink   *slots = links + omen_level_offset(l, b->m);

				for (int k = 0; k < cnt; k++)
					slots[k] = omen_link_make(first + pos[nbrs[k]].row_blk,
											  pos[nbrs[k]].row_off, obits);
			}
			add_tuple(page, nt, OMEN_NODE_SIZE(level, b->m, code_bytes),
					  pos[i].row_off, b->index);
		}
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	pfree(nt);
}

/*
 * Writes the open segment's search rows to pages, chained before its
 * vector pages (b->vw), and records its descriptor.
 */
static void
builder_seal_segment(OmenBuilder *b)
{
	int			n = b->graph ? omen_graph_count(b->graph) : 0;
	uint32	   *order;
	OmenNodePos *pos;
	uint32		ndata;
	BlockNumber first;
	OmenSegmentDesc desc;
	int			entry;

	writer_close(&b->vw);
	if (n == 0)
		return;

	if (b->is_leader)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, OMEN_PHASE_WRITE);

	omen_graph_connect_all(b->graph);
	order = MemoryContextAllocHuge(b->graphctx, sizeof(uint32) * n);
	omen_graph_order(b->graph, order);
	pos = MemoryContextAllocHuge(b->graphctx, sizeof(OmenNodePos) * n);
	ndata = layout_rows(b, order, pos);
	first = reserve_blocks(b->index, ndata);
	write_rows(b, order, pos, first, ndata);

	entry = omen_graph_entry(b->graph);
	memset(&desc, 0, sizeof(desc));
	desc.segno = b->vw.segno;
	desc.first_blk = first;
	desc.last_blk = BlockNumberIsValid(b->vw.tail) ? b->vw.tail : first + ndata - 1;
	desc.row_blk = first + ndata - 1;
	desc.vec_blk = b->vw.tail;
	desc.nblocks = ndata + b->vw.npages;
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
	omen_check_dims(b->elem, dims);
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

/*
 * Adds the current row to node id if that has the same vector (an
 * OmenMergeFn: the graph found their codes equal).  Reads node id's vector
 * back from its pages, which may be another participant's.
 */
static bool
builder_merge(void *arg, int id)
{
	OmenBuilder *b = (OmenBuilder *) arg;
	bool		same;

	/* equal codes that are exact vectors are equal vectors */
	if (b->kind.codes_exact)
		return builder_add_tid(b, id, &b->tid);
	if (b->store == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(b->mainctx);

		b->store = palloc(sizeof(OmenPageStore));
		omen_store_init(b->store, b->index, &b->meta, 0);
		b->other = palloc(sizeof(float) * b->kind.words);
		MemoryContextSwitchTo(old);
	}
	b->store->segno = b->vw.segno;
	if (!omen_store_exact(b->store, &b->vectids[id], b->other))
		elog(ERROR, "omenhnsw: the vector of node %d of a segment being built of index \"%s\" is missing",
			 id, RelationGetRelationName(b->index));
	omen_store_release(b->store);
	same = omen_elem_same(&b->kind, b->other, b->exact);
	return same && builder_add_tid(b, id, &b->tid);
}

/*
 * Writes the vector of the current row's new node id to the segment's
 * vector pages, unless its code is its exact vector, and gives the node the
 * row's heap TID (an OmenAddFn).
 */
static void
builder_add(void *arg, int id)
{
	OmenBuilder *b = (OmenBuilder *) arg;

	if (!b->kind.codes_exact)
		writer_put(b, &b->vw, &b->vectids[id]);
	builder_add_tid(b, id, &b->tid);
}

/*
 * Chains the vector pages this participant wrote for the shared graph after
 * those of the participants that left it before, once it leaves it.
 */
static void
builder_leave_shared(OmenBuilder *b)
{
	OmenBuildShared *shared = b->shared;
	BlockNumber prev;

	writer_close(&b->vw);
	b->graph = NULL;
	b->graph_is_shared = false;
	if (!BlockNumberIsValid(b->vw.head))
		return;
	SpinLockAcquire(&shared->mutex);
	prev = shared->vec_tail;
	if (!BlockNumberIsValid(prev))
		shared->vec_head = b->vw.head;
	shared->vec_tail = b->vw.tail;
	shared->vec_npages += b->vw.npages;
	SpinLockRelease(&shared->mutex);

	/* prev's writer has left too: nobody else changes that page */
	if (BlockNumberIsValid(prev))
	{
		Buffer		buf = ReadBuffer(b->index, prev);

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		OmenPageGetOpaque(BufferGetPage(buf))->next = b->vw.head;
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	OmenBuilder *b = (OmenBuilder *) state;
	MemoryContext old;
	void	   *v;
	bool		usable;
	bool		merged;
	int			id;

	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(b->tmpctx);
	v = PG_DETOAST_DATUM(values[0]);
	if (b->dims == 0)
		builder_set_dims(b, omen_elem_value_dims(b->elem, v));
	if (b->vec == NULL)
	{
		builder_set_meta(b);
		b->vec = MemoryContextAlloc(b->mainctx, sizeof(float) * b->meta.dims);
		b->exact = MemoryContextAlloc(b->mainctx, sizeof(float) * b->kind.words);
		b->chunk = MemoryContextAlloc(b->mainctx, OMEN_CHUNK_SIZE(b->kind.words));
	}
	omen_elem_check_value(&b->kind, v);
	usable = omen_elem_exact(&b->kind, v, b->exact);
	if (usable)
		omen_elem_floats(&b->kind, b->exact, b->vec);
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
		id = omen_graph_insert(b->graph, b->vec, builder_merge, builder_add,
							   b, &merged);
		if (id >= 0)
			break;

		/* the shared graph is full: go on in graphs of our own */
		Assert(b->graph_is_shared);
		builder_leave_shared(b);
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
 * TIDs, where its vector is and its TID count.  *tids_off is where the
 * TIDs start.
 */
static Size
shared_graph_size(int elem, int dims, int m, int codes, Size cap,
				  Size *tids_off)
{
	int			code_dims = omen_elem_code_dims(elem, dims);

	*tids_off = TYPEALIGN(64, omen_graph_size(code_dims,
											 omen_code_bits(elem, code_dims, m,
															codes),
											 m, omen_max_level(m), cap));
	return *tids_off + cap * (sizeof(ItemPointerData) * (OMEN_HEAPTIDS + 1) + 1);
}

/* Makes the graph at mem, g being this process's handle, b's graph. */
static void
builder_use_shared_graph(OmenBuilder *b, OmenGraph *g, char *mem)
{
	Size		tids_off;
	Size		cap = b->shared->shared_capacity;

	shared_graph_size(b->shared->elem, pg_atomic_read_u32(&b->shared->dims),
					  b->shared->m, b->shared->codes, cap, &tids_off);
	b->graph = g;
	b->graph_is_shared = true;
	b->tids = (ItemPointerData *) (mem + tids_off);
	b->vectids = b->tids + cap * OMEN_HEAPTIDS;
	b->ntids = (uint8 *) (b->vectids + cap);
	writer_open(&b->vw, b->shared->shared_segno);
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

	b->elem = shared->elem;
	b->metric = shared->metric;
	b->m = shared->m;
	b->ef_construction = shared->ef_construction;
	b->codes = shared->codes;
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
		builder_leave_shared(b);	/* the leader seals it once all are done */
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
	int			code_dims;

	EnterParallelMode();
	pcxt = CreateParallelContext("omendb", "omen_build_worker_main", nworkers);

	snapshot = indexInfo->ii_Concurrent ?
		RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;

	if (graph_rows > 0)
	{
		/* the other participants' visited arrays count too */
		Size		per = builder_node_bytes(leader->elem, leader->dims, leader->m,
											 leader->codes) +
			nworkers * sizeof(uint32);

		graph_cap = Min(shared_budget(leader->budget) / per,
						(Size) leader->capacity_hint);
		/* room for a low estimate, the rest left for overflow segments */
		graph_cap = Min(graph_cap, (Size) (graph_rows * 1.2) + 1000);
		graph_cap = Max(graph_cap, 2);
		graph_bytes = shared_graph_size(leader->elem, leader->dims, leader->m,
										leader->codes, graph_cap, &tids_off);
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
		builder_node_bytes(leader->elem,
						   leader->dims > 0 ? leader->dims :
						   omen_elem_max_dims(leader->elem),
						   leader->m, leader->codes);
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
	shared->elem = leader->elem;
	shared->metric = leader->metric;
	shared->m = leader->m;
	shared->ef_construction = leader->ef_construction;
	shared->codes = leader->codes;
	shared->budget = private_budget;
	shared->capacity_hint = leader->capacity_hint;
	shared->shared_capacity = graph_cap;
	pg_atomic_init_u32(&shared->dims, leader->dims);
	pg_atomic_init_u64(&shared->tuples_done, 0);
	SpinLockInit(&shared->mutex);
	shared->vec_head = InvalidBlockNumber;
	shared->vec_tail = InvalidBlockNumber;
	if (graph_cap > 0)
		shared->shared_segno = shared->next_segno++;
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
		code_dims = omen_elem_code_dims(leader->elem, leader->dims);
		one = omen_graph_create_in(graph_mem, true, code_dims,
								   omen_elem_graph_metric(leader->metric),
								   omen_code_bits(leader->elem, code_dims,
												  leader->m, leader->codes),
								   leader->m, leader->ef_construction,
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
		/* the vector pages all participants chained */
		leader->vw.head = shared->vec_head;
		leader->vw.tail = shared->vec_tail;
		leader->vw.npages = shared->vec_npages;
		builder_set_meta(leader);
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
	omen_meta_init(page, b->elem, b->dims, b->m, b->ef_construction,
				   b->metric, b->codes);
	meta = OmenPageGetMeta(page);
	meta->nsegments = b->nsegs;
	/* segs are sorted; a shared graph that got no row left its number out */
	meta->next_segno = b->nsegs > 0 ? b->segs[b->nsegs - 1].segno + 1 : 0;
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
	if (tuples * builder_node_bytes(b->elem, b->dims, b->m, b->codes) >
		(double) shared_budget(b->budget))
		return 0;
	return Max(tuples, 1);
}

/*
 * WAL-logs the pages of the index that the build has not logged yet: those
 * whose LSN is still invalid (writer_add_page logged the others, and
 * nothing changed them since), each as a full-page image, as many to a
 * record as a record takes.  All-zero pages are skipped, as
 * log_newpage_range skips them.  Expects no buffer lock held.
 */
static void
log_unlogged_pages(Relation index)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blkno = 0;

	XLogEnsureRecordSpace(XLR_MAX_BLOCK_ID - 1, 0);
	while (blkno < nblocks)
	{
		Buffer		bufs[XLR_MAX_BLOCK_ID];
		int			nbufs = 0;
		XLogRecPtr	recptr;

		CHECK_FOR_INTERRUPTS();
		for (; blkno < nblocks && nbufs < XLR_MAX_BLOCK_ID; blkno++)
		{
			Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno,
												 RBM_NORMAL, NULL);
			Page		page = BufferGetPage(buf);

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			if (!PageIsNew(page) && XLogRecPtrIsInvalid(PageGetLSN(page)))
				bufs[nbufs++] = buf;
			else
				UnlockReleaseBuffer(buf);
		}
		if (nbufs == 0)
			continue;

		XLogBeginInsert();
		START_CRIT_SECTION();
		for (int i = 0; i < nbufs; i++)
		{
			MarkBufferDirty(bufs[i]);
			XLogRegisterBuffer(i, bufs[i], REGBUF_FORCE_IMAGE | REGBUF_STANDARD);
		}
		recptr = XLogInsert(RM_XLOG_ID, XLOG_FPI);
		for (int i = 0; i < nbufs; i++)
			PageSetLSN(BufferGetPage(bufs[i]), recptr);
		END_CRIT_SECTION();
		for (int i = 0; i < nbufs; i++)
			UnlockReleaseBuffer(bufs[i]);
	}
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
	omen_index_elem(index, &b.kind);
	b.elem = b.kind.kind;
	b.metric = b.kind.metric;
	b.m = omen_option_m(index);
	b.ef_construction = omen_option_ef_construction(index);
	b.codes = omen_option_codes(index);
	b.max_level = omen_max_level(b.m);
	b.dims = b.kind.dims;
	omen_check_dims(b.elem, b.dims);
	omen_check_build_options(index);
	b.budget = (Size) maintenance_work_mem * 1024;
	b.capacity_hint = capacity_hint(heap);
	b.maxsegs = 8;
	b.segs = palloc(sizeof(OmenSegmentDesc) * b.maxsegs);

	/* the metapage comes first so block 0 is always the metapage */
	metabuf = omen_new_buffer(index, MAIN_FORKNUM);
	Assert(BufferGetBlockNumber(metabuf) == OMEN_METAPAGE_BLKNO);
	omen_meta_init(BufferGetPage(metabuf), b.elem, b.dims, b.m,
				   b.ef_construction, b.metric, b.codes);
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
		log_unlogged_pages(index);

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
	OmenElem	e;
	Buffer		buf;

	omen_index_elem(index, &e);
	omen_check_dims(e.kind, e.dims);
	omen_check_codes(e.kind, omen_elem_code_dims(e.kind, e.dims),
					 omen_option_m(index), omen_option_codes(index));
	buf = omen_new_buffer(index, INIT_FORKNUM);
	START_CRIT_SECTION();
	omen_meta_init(BufferGetPage(buf), e.kind, e.dims, omen_option_m(index),
				   omen_option_ef_construction(index), e.metric,
				   omen_option_codes(index));
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

/* Build estimates */

PG_FUNCTION_INFO_V1(omenhnsw_build_estimate);
PG_FUNCTION_INFO_V1(omenhnsw_build_estimate_table);

/* i's bits mirrored about the binary point: evenly spread draws in [0,1). */
static double
radical_inverse(uint64 i)
{
	double		r = 0;

	for (double f = 0.5; i > 0; i >>= 1, f *= 0.5)
		if (i & 1)
			r += f;
	return r;
}

/*
 * Pages of a segment of n nodes, laid out as the build lays out its rows
 * and vectors of words words (none if 0), with levels drawn evenly from
 * their distribution.
 */
static uint64
estimate_segment_pages(const OmenMetaPageData *meta, int words, uint64 n)
{
	OmenLayoutCursor rows = {0, 0, 0};
	OmenLayoutCursor vecs = {0, 0, 0};
	int			max_level = omen_max_level(meta->m);
	uint32		blk;
	OffsetNumber off;

	for (uint64 i = 0; i < n; i++)
	{
		int			level = omen_random_level(1.0 - radical_inverse(i), meta->m,
											  max_level);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		layout_place(&rows, row_cost(meta, level), &blk, &off);
		for (int done = 0; done < words;)
			done += layout_chunk(&vecs, words - done, &blk, &off);
	}
	if (n == 0)
		return 0;
	return (uint64) rows.blk + 1 + (words > 0 ? vecs.blk + 1 : 0);
}

/*
 * The operator class of omenhnsw named by name (raising an error if there
 * is none): its input type into *type, its element kind and metric into *e.
 */
static void
estimate_opclass(text *name, Oid *type, OmenElem *e)
{
	Oid			opclass = get_opclass_oid(get_am_oid("omenhnsw", false),
										  textToQualifiedNameList(name), false);

	*type = get_opclass_input_type(opclass);
	omen_opclass_elem(opclass, e);
}

/*
 * The figures of a serial build of rows values of dims elements of the
 * operator class's kind e at m, with the current maintenance_work_mem, as a
 * result row: bytes a node takes while building, segments, and the index's
 * bytes.  Every value is taken for distinct: exact duplicates share nodes.
 * A value's exact vector is taken to have words words, or if 0 the most
 * its kind has (a sparsevec's length depends on its non-zeros).  ERROR
 * where links could not name every search row, as the build would raise.
 */
static Datum
estimate_result(FunctionCallInfo fcinfo, const OmenElem *e, double rows,
				int dims, int words, int m)
{
	OmenMetaPageData meta;
	OmenElem	kind;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	Size		per;
	uint64		n;
	uint64		cap;
	uint64		full;
	uint64		last;
	uint64		nsegs;
	uint64		pages;
	BlockNumber reach;
	OmenLayoutCursor dir = {0, 0, 0};
	uint32		blk;
	OffsetNumber off;

	if (rows < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row count must not be negative")));
	CheckDim(omen_elem_type_name(e->kind), dims, omen_elem_max_dims(e->kind));
	if (m < OMEN_MIN_M || m > OMEN_MAX_M)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %d out of bounds for option \"m\"", m),
				 errdetail("Valid values are between \"%d\" and \"%d\".",
						   OMEN_MIN_M, OMEN_MAX_M)));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&meta, 0, sizeof(meta));
	meta.m = m;
	meta.elem = e->kind;
	omen_meta_set_dims(&meta, dims);
	omen_elem_init(&kind, e->kind, e->metric, dims, meta.code_bits);
	if (words == 0)
		words = kind.words;
	/* rows whose codes are exact are their own vectors */
	if (kind.codes_exact)
		words = 0;
	per = builder_node_bytes(e->kind, dims, m, OMEN_CODES_AUTO);
	cap = builder_capacity((Size) maintenance_work_mem * 1024, per,
						   (Size) PG_INT32_MAX);
	n = (uint64) rint(rows);
	full = n / cap;
	last = n % cap;
	nsegs = full + (last > 0 ? 1 : 0);

	/* the metapage, the segments, the directory */
	pages = 1;
	if (full > 0)
		pages += full * estimate_segment_pages(&meta, words, cap);
	pages += estimate_segment_pages(&meta, words, last);
	/* the last segment's data pages, after its vector pages, end them all */
	reach = omen_link_blocks(omen_link_bits(m, meta.code_bytes));
	if (nsegs > 0 && pages - 1 >= reach)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an omenhnsw index of %.0f values of %d dimensions at m = %d would be too large for its links",
						rows, dims, m),
				 errdetail("Its search rows can be on the first %u blocks only.",
						   reach)));
	for (uint64 i = 0; i < nsegs; i++)
		layout_place(&dir, OMEN_ITEM_COST(sizeof(OmenSegmentDesc)), &blk, &off);
	pages += nsegs > 0 ? dir.blk + 1 : 0;

	values[0] = Int64GetDatum((int64) per);
	values[1] = Int64GetDatum((int64) nsegs);
	values[2] = Int64GetDatum((int64) (pages * BLCKSZ));
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/*
 * omenhnsw_build_estimate(rows, dims, m, opclass): a serial build's
 * figures for that many vectors of that dimension.
 */
Datum
omenhnsw_build_estimate(PG_FUNCTION_ARGS)
{
	Oid			type;
	OmenElem	e;

	estimate_opclass(PG_GETARG_TEXT_PP(3), &type, &e);
	return estimate_result(fcinfo, &e, (double) PG_GETARG_INT64(0),
						   PG_GETARG_INT32(1), 0, PG_GETARG_INT32(2));
}

/*
 * The dimension of the first non-NULL value, of e's element kind, of
 * column attnum, or 0; the words of its exact vector into *words (0 if
 * none).
 */
static int
first_value_dims(Relation heap, AttrNumber attnum, const OmenElem *e,
				 int *words)
{
	TableScanDesc scan = table_beginscan(heap, GetActiveSnapshot(), 0, NULL);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	int			dims = 0;

	*words = 0;

	while (dims == 0 && table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attnum, &isnull);

		CHECK_FOR_INTERRUPTS();
		if (!isnull)
		{
			void	   *v = PG_DETOAST_DATUM(value);

			dims = omen_elem_value_dims(e->kind, v);
			*words = omen_elem_value_words(e, v);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	return dims;
}

/*
 * omenhnsw_build_estimate(table, column, m, opclass): a serial build's
 * figures for the table's rows (its statistics, or a sample of its pages
 * if it has none) and the column's dimension (its type modifier, or its
 * first non-NULL value); a sparsevec's vectors as long as that value's.
 */
Datum
omenhnsw_build_estimate_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *column = NameStr(*PG_GETARG_NAME(1));
	Oid			type;
	Relation	heap;
	AttrNumber	attnum;
	Form_pg_attribute att;
	AclResult	aclresult;
	double		rows;
	int			dims;
	int			words;
	OmenElem	e;

	estimate_opclass(PG_GETARG_TEXT_PP(3), &type, &e);
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	heap = table_open(relid, AccessShareLock);
	if (heap->rd_rel->relkind != RELKIND_RELATION &&
		heap->rd_rel->relkind != RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or materialized view",
						RelationGetRelationName(heap))));
	attnum = get_attnum(relid, column);
	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(heap))));
	att = TupleDescAttr(RelationGetDescr(heap), attnum - 1);
	if (att->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("operator class \"%s\" does not accept data type %s",
						text_to_cstring(PG_GETARG_TEXT_PP(3)),
						format_type_be(att->atttypid))));
	dims = att->atttypmod > 0 ? att->atttypmod : 0;
	/* a sparsevec's vectors are as long as its non-zeros: size them by one */
	words = 0;
	if (dims == 0 || e.kind == OMEN_ELEM_SPARSE)
	{
		int			first = first_value_dims(heap, attnum, &e, &words);

		if (dims == 0)
			dims = first;
	}
	if (dims == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" has no dimensions and no non-NULL value",
						column),
				 errhint("Estimate with a row count and a dimension instead.")));
	rows = heap_rows_estimate(heap);
	table_close(heap, AccessShareLock);
	return estimate_result(fcinfo, &e, rows, dims, words, PG_GETARG_INT32(2));
}
