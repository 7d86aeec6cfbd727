/*
 * pagestore.c
 *		A node store over an index's pages for the graph algorithms.
 *
 * The store keeps one buffer pinned between accesses and share-locks a page
 * only while reading it, so a search never holds two buffer locks and
 * cannot deadlock against inserts or VACUUM.  Links read while another
 * backend changes the index may be stale: anything that is not the tuple it
 * should be counts as a node that is gone.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "access/rmgr.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "distance.h"
#include "pagestore.h"

/* Visited set of packed TIDs */
typedef struct OmenVisitEntry
{
	uint64		key;
	char		status;
	uint8		flags;			/* omen_store_orphans' marks */
} OmenVisitEntry;

static inline uint32
omen_tid_hash(uint64 key)
{
	key ^= key >> 33;
	key *= UINT64CONST(0xff51afd7ed558ccd);
	key ^= key >> 33;
	return (uint32) key;
}

#define SH_PREFIX		omenvis
#define SH_ELEMENT_TYPE	OmenVisitEntry
#define SH_KEY_TYPE		uint64
#define SH_KEY			key
#define SH_HASH_KEY(tb, key)	omen_tid_hash(key)
#define SH_EQUAL(tb, a, b)		((a) == (b))
#define SH_SCOPE		static inline
#define SH_DEFINE
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * The buffer that last held each block of the few indexes this backend
 * searched most recently.  Pinning a block through ReadRecentBuffer skips
 * the buffer mapping table, which took a fifth of a query's time; the
 * buffer's tag is checked under its header lock, so a stale entry only
 * costs a normal ReadBuffer.
 */
#define OMEN_RECENT_INDEXES 4

typedef struct OmenRecentBuffers
{
	RelFileNode node;
	BlockNumber nblocks;		/* length of bufs */
	Buffer	   *bufs;
} OmenRecentBuffers;

static OmenRecentBuffers recent_buffers[OMEN_RECENT_INDEXES];
static int	recent_next;

/*
 * The recent-buffer map of index, created or grown to cover nblocks.  It
 * grows by half its length at least, so that an index that inserts extend
 * by a page at a time does not copy its whole map (and have glibc map and
 * unmap that memory) once for each page.
 */
static OmenRecentBuffers *
recent_map(Relation index, BlockNumber nblocks)
{
	OmenRecentBuffers *r = NULL;

	for (int i = 0; i < OMEN_RECENT_INDEXES && r == NULL; i++)
		if (recent_buffers[i].bufs != NULL &&
			RelFileNodeEquals(recent_buffers[i].node, index->rd_node))
			r = &recent_buffers[i];
	if (r == NULL)
	{
		r = &recent_buffers[recent_next];
		recent_next = (recent_next + 1) % OMEN_RECENT_INDEXES;
		if (r->bufs != NULL)
			pfree(r->bufs);
		r->node = index->rd_node;
		r->nblocks = 0;
		r->bufs = NULL;
	}
	if (nblocks > r->nblocks)
	{
		BlockNumber len = Max(nblocks, r->nblocks + r->nblocks / 2);

		/* InvalidBuffer is 0: a zeroed entry knows no buffer */
		if (r->bufs == NULL)
			r->bufs = MemoryContextAllocExtended(TopMemoryContext,
												 sizeof(Buffer) * (Size) len,
												 MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		else
		{
			r->bufs = repalloc_huge(r->bufs, sizeof(Buffer) * (Size) len);
			memset(r->bufs + r->nblocks, 0,
				   sizeof(Buffer) * (Size) (len - r->nblocks));
		}
		r->nblocks = len;
	}
	return r;
}

/*
 * The visited set of a store that is gone, kept for the next store of the
 * backend to reuse: a set made and freed for every query or insert made
 * glibc hand its memory back to the kernel and fault it in again each
 * time.  Sets live in TopMemoryContext; a store gives its set back here
 * when the memory context it was made in is reset or deleted (the spare
 * one then stays only if it is not far larger than a store needs).
 */
static omenvis_hash *spare_visited;

/* The memory context callback that gives a store's visited set back. */
static void
give_back_visited(void *arg)
{
	omenvis_hash *visited = (omenvis_hash *) arg;

	if (spare_visited == NULL)
		spare_visited = visited;
	else
		omenvis_destroy(visited);
}

/* A visited set for about n nodes, freed with CurrentMemoryContext. */
static omenvis_hash *
take_visited(int n)
{
	omenvis_hash *visited = spare_visited;
	MemoryContextCallback *cb;

	spare_visited = NULL;
	if (visited != NULL && visited->size > (uint64) 4 * n)
	{
		omenvis_destroy(visited);
		visited = NULL;
	}
	if (visited == NULL)
		visited = omenvis_create(TopMemoryContext, n, NULL);
	omenvis_reset(visited);
	cb = palloc(sizeof(MemoryContextCallback));
	cb->func = give_back_visited;
	cb->arg = visited;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return visited;
}

void
omen_store_init(OmenPageStore *s, Relation index, const OmenMetaPageData *meta,
				int expected_nodes)
{
	s->index = index;
	omen_elem_init(&s->elem, meta->elem, meta->metric, meta->elem_dims,
				   meta->code_bits);
	s->metric = s->elem.graph_metric;
	s->dims = meta->dims;
	s->m = meta->m;
	s->code_bits = meta->code_bits;
	s->code_bytes = meta->code_bytes;
	s->code_pairs = (meta->code_bits == 8 || meta->code_bits == 4) &&
		s->metric != OMEN_METRIC_L1;
	s->code_limit = omen_code_pair_limit(Max(meta->dims, 1));
	s->link_bits = omen_link_bits(meta->m, meta->code_bytes);
	s->nblocks = RelationGetNumberOfBlocks(index);
	s->recent = recent_map(index, s->nblocks);
	s->buf = InvalidBuffer;
	s->visited = take_visited(Max(expected_nodes, 64));
	s->scratch = palloc(sizeof(float) * Max(meta->dims, 1));
	s->scratch_id = OMEN_NO_NODE;
	s->ncached = 0;
	s->keep_codes = false;
	s->cached_cap = 0;
	s->cached = NULL;
	s->cached_codes = NULL;
	s->cached_hash = NULL;
	s->cached_mask = 0;
	s->exact = NULL;
	s->unpacked = omen_kernel_bits(meta->code_bits) != meta->code_bits ?
		palloc(Max(meta->dims, 1)) : NULL;
	s->bits_query = NULL;
	s->bits_code = NULL;
	s->quant_query = NULL;
	s->quant_u = NULL;
	s->pinned = NULL;
	s->npinned = 0;
	s->pin_level = -1;
	s->pending_id = OMEN_NO_NODE;
	s->pending = NULL;
	s->pending_out = false;
	s->deferred = NULL;
	s->descending = false;
	s->nplans = 0;
	s->plans_cap = 0;
	s->plans = NULL;
	s->plan_as = OMEN_NO_NODE;
}

void
omen_store_release(OmenPageStore *s)
{
	if (BufferIsValid(s->buf))
		ReleaseBuffer(s->buf);
	s->buf = InvalidBuffer;
}

bool
omen_store_visit(OmenPageStore *s, OmenNodeId id)
{
	bool		found;

	omenvis_insert(s->visited, id, &found);
	return !found;
}

uint64
omen_store_nvisited(OmenPageStore *s)
{
	return s->visited->members;
}

Size
omen_store_visited_bytes(OmenPageStore *s)
{
	return sizeof(OmenVisitEntry) * s->visited->size;
}

/* Whether blk can be a data page of this index. */
static bool
block_in_index(OmenPageStore *s, BlockNumber blk)
{
	if (blk == OMEN_METAPAGE_BLKNO)
		return false;
	if (blk >= s->nblocks)
	{
		s->nblocks = RelationGetNumberOfBlocks(s->index);
		s->recent = recent_map(s->index, s->nblocks);
	}
	return blk < s->nblocks;
}

/* Whether tid can name a data tuple of this index. */
static bool
tid_in_index(OmenPageStore *s, ItemPointer tid)
{
	return ItemPointerIsValid(tid) &&
		block_in_index(s, ItemPointerGetBlockNumber(tid));
}

/*
 * Whether a locked page is a page of the given kind of the segment being
 * searched.  On a standby, replay takes no locks, so a search can follow
 * links into pages that a retired segment left and another one reused.
 */
static inline bool
on_segment(OmenPageStore *s, Page page, uint16 kind)
{
	return omen_page_is(page, kind) &&
		OmenPageGetOpaque(page)->segno == s->segno;
}

/* Share-locks blk, keeping the pin when it is the block already pinned. */
static Page
lock_page(OmenPageStore *s, BlockNumber blk)
{
	if (!BufferIsValid(s->buf) || BufferGetBlockNumber(s->buf) != blk)
	{
		/* the map may have been grown or handed to another index since */
		OmenRecentBuffers *r = s->recent;
		Buffer		recent = blk < r->nblocks ? r->bufs[blk] : InvalidBuffer;

		if (BufferIsValid(s->buf))
			ReleaseBuffer(s->buf);
		if (BufferIsValid(recent) &&
			ReadRecentBuffer(s->index->rd_node, MAIN_FORKNUM, blk, recent))
			s->buf = recent;
		else
		{
			s->buf = ReadBuffer(s->index, blk);
			if (blk < r->nblocks)
				r->bufs[blk] = s->buf;
		}
	}
	LockBuffer(s->buf, BUFFER_LOCK_SHARE);
	return BufferGetPage(s->buf);
}

void
omen_store_unlock(OmenPageStore *s)
{
	if (s->pending_out)
		s->pending_out = false;
	else
		LockBuffer(s->buf, BUFFER_LOCK_UNLOCK);
}

void
omen_store_set_pending(OmenPageStore *s, ItemPointer tid, OmenNodeTuple row)
{
	s->pending = row;
	s->pending_id = row != NULL ? omen_tid_pack(tid) : OMEN_NO_NODE;
	s->scratch_id = OMEN_NO_NODE;
}

OmenNodeTuple
omen_store_node(OmenPageStore *s, ItemPointer tid)
{
	Page		page;
	OmenNodeTuple nt = NULL;

	if (s->pending != NULL && omen_tid_pack(tid) == s->pending_id)
	{
		s->pending_out = true;
		return s->pending;
	}
	if (!tid_in_index(s, tid))
		return NULL;
	page = lock_page(s, ItemPointerGetBlockNumber(tid));
	if (on_segment(s, page, OMEN_PAGE_DATA))
		nt = omen_page_get_node(page, ItemPointerGetOffsetNumber(tid), s->m,
								s->code_bytes);
	if (nt == NULL)
		omen_store_unlock(s);
	return nt;
}

/*
 * The exact vector of the node whose row is at tid, in an index whose
 * codes are exact: the row's code, into out (elem.words words, the unused
 * bytes 0).  Locks the row's page while it copies it.
 */
static bool
row_exact(OmenPageStore *s, ItemPointer tid, void *out)
{
	OmenNodeTuple nt = omen_store_node(s, tid);

	if (nt == NULL)
		return false;
	memset(out, 0, sizeof(uint32) * s->elem.words);
	memcpy(out, omen_node_code(nt), s->code_bytes);
	omen_store_unlock(s);
	return true;
}

bool
omen_store_exact(OmenPageStore *s, ItemPointer vectid, void *out)
{
	ItemPointerData tid = *vectid;
	int			words = 0;
	int			got = 0;

	if (s->elem.codes_exact)
		return row_exact(s, vectid, out);

	/* the first chunk's first word tells how long a sparsevec's vector is */
	while (got == 0 || got < words)
	{
		Page		page;
		OmenVectorTuple vt = NULL;

		if (!tid_in_index(s, &tid))
			return false;
		page = lock_page(s, ItemPointerGetBlockNumber(&tid));
		if (on_segment(s, page, OMEN_PAGE_VECTOR))
			vt = omen_page_get_chunk(page, ItemPointerGetOffsetNumber(&tid));
		if (vt != NULL && got == 0)
			words = omen_elem_vector_words(s->elem.kind, s->elem.words,
										   *(uint32 *) vt->x);
		if (vt == NULL || vt->nfloats > words - got)
		{
			omen_store_unlock(s);
			return false;
		}
		memcpy((char *) out + sizeof(float) * got, vt->x,
			   sizeof(float) * vt->nfloats);
		got += vt->nfloats;
		tid = vt->next;
		omen_store_unlock(s);
	}
	return true;
}

/* Room for one exact vector, allocated when first needed. */
static void *
exact_buffer(OmenPageStore *s)
{
	if (s->exact == NULL)
		s->exact = MemoryContextAlloc(GetMemoryChunkContext(s->scratch),
									  sizeof(float) * Max(s->elem.words, 1));
	return s->exact;
}

bool
omen_store_vector(OmenPageStore *s, ItemPointer vectid, float *out)
{
	void	   *exact = exact_buffer(s);

	if (!omen_store_exact(s, vectid, exact))
		return false;
	omen_elem_floats(&s->elem, exact, out);
	return true;
}

bool
omen_store_exact_distance(OmenPageStore *s, const void *query,
						  ItemPointer vectid, float *dist, double *opdist)
{
	Page		page;
	OmenVectorTuple vt = NULL;

	/* scans take the distances of exact codes from the rows */
	Assert(!s->elem.codes_exact);

	/* a vector in one chunk is scored where it lies */
	if (!tid_in_index(s, vectid))
		return false;
	page = lock_page(s, ItemPointerGetBlockNumber(vectid));
	if (on_segment(s, page, OMEN_PAGE_VECTOR))
		vt = omen_page_get_chunk(page, ItemPointerGetOffsetNumber(vectid));
	if (vt != NULL && vt->nfloats == omen_elem_vector_words(s->elem.kind,
															s->elem.words,
															*(uint32 *) vt->x))
	{
		*dist = omen_elem_distance(&s->elem, query, vt->x, opdist);
		omen_store_unlock(s);
		return true;
	}
	omen_store_unlock(s);
	if (vt == NULL || !omen_store_exact(s, vectid, exact_buffer(s)))
		return false;
	*dist = omen_elem_distance(&s->elem, query, s->exact, opdist);
	return true;
}

/*
 * A code as rows keep it (code_bits an element) as the coded kernels take
 * it, of kernel_bits(s) bits: itself at 8 and 4 bits and of halves, one
 * element a byte below (distance.h: omen_kernel_bits).
 */
static inline const uint8 *
unpacked_code(OmenPageStore *s, const uint8 *code)
{
	if (omen_kernel_bits(s->code_bits) == s->code_bits)
		return code;
	omen_code_unpack(code, s->dims, s->code_bits, s->unpacked);
	return s->unpacked;
}

static inline int
kernel_bits(OmenPageStore *s)
{
	return omen_kernel_bits(s->code_bits);
}

/* nt's list on level */
static inline OmenLink *
level_links(OmenPageStore *s, OmenNodeTuple nt, int level)
{
	return omen_node_links(nt, s->code_bytes) + omen_level_offset(level, s->m);
}

/* The code of nt as the kernels take it. */
static inline const uint8 *
node_code(OmenPageStore *s, OmenNodeTuple nt)
{
	return unpacked_code(s, omen_node_code(nt));
}

/*
 * Lets omen_store_code_distance measure query without decoding codes to
 * float, where the graph metric is not L1: against 1-bit codes by counting
 * bits (omen_bits_code_distance) where query's elements are 0 or one value
 * (a bit string's are), against 4-bit codes in integers
 * (omen_query_code_distance) where its elements are finite and not too
 * large.  The caller keeps query as it is while it searches with s.  Takes
 * no locks.
 */
void
omen_store_set_query(OmenPageStore *s, const float *query)
{
	s->bits_query = NULL;
	s->quant_query = NULL;
	if (s->metric == OMEN_METRIC_L1)
		return;
	if (s->code_bits == 1)
	{
		if (s->bits_code == NULL)
			s->bits_code = palloc(OMEN_CODE_BYTES(s->dims, 1));
		if (omen_bits_query(query, s->dims, s->bits_code, &s->bits_value))
			s->bits_query = query;
	}
	else if (s->code_bits == 4)
	{
		if (s->quant_u == NULL)
			s->quant_u = palloc(OMEN_QUERY_CODE_BYTES(s->dims));
		if (omen_query_quantize(query, s->dims, s->quant_u, &s->quant))
			s->quant_query = query;
	}
}

/*
 * Distance from query to the vector that nt's code stands for; from the
 * query's quantization where omen_store_set_query made one and nt's code
 * fits it.
 */
float
omen_store_code_distance(OmenPageStore *s, const float *query, OmenNodeTuple nt)
{
	if (query == s->bits_query)
		return omen_bits_code_distance(s->metric, s->bits_code, s->bits_value,
									   omen_node_code(nt), nt->offset,
									   nt->scale, s->dims);
	if (query == s->quant_query)
	{
		float		d = omen_query_code_distance(s->metric, &s->quant,
												 omen_node_code(nt), nt->offset,
												 nt->scale);

		if (!isnan(d))
			return d;
	}
	return omen_code_distance(s->metric, kernel_bits(s), query,
							  node_code(s, nt), nt->offset, nt->scale, s->dims);
}

/*
 * The bounds (scan.c: lower_bound) allow for the float kernels' rounding,
 * not for a quantized query's error: where the search measured query in
 * integers, nt's code is measured again in float; otherwise searched, what
 * the search measured, serves.
 */
float
omen_store_bound_distance(OmenPageStore *s, const float *query,
						  OmenNodeTuple nt, float searched)
{
	if (query != s->quant_query)
		return searched;
	return omen_code_distance(s->metric, kernel_bits(s), query,
							  node_code(s, nt), nt->offset, nt->scale, s->dims);
}

/*
 * A node's code, copied out of its row by omen_store_select, with its offset
 * and scale, and its sums once a pair distance needs them.
 */
typedef struct OmenCachedCode
{
	OmenNodeId	id;
	OmenCodeSums sums;
	bool		summed;			/* sums.sum and sums.sumsq are set */
	int			slot;			/* its code in cached_codes */
} OmenCachedCode;

/* Where a lookup of id starts in the copies' hash table */
static inline int
cached_home(OmenPageStore *s, OmenNodeId id)
{
	return (int) ((id * UINT64CONST(0x9E3779B97F4A7C15)) >> 40) & s->cached_mask;
}

/* The copy of id's code, or NULL when it was not copied. */
static inline OmenCachedCode *
cached_code(OmenPageStore *s, OmenNodeId id)
{
	int			h;
	int			k;

	if (s->ncached == 0)
		return NULL;
	for (h = cached_home(s, id); (k = s->cached_hash[h]) != 0;
		 h = (h + 1) & s->cached_mask)
		if (s->cached[k - 1].id == id)
			return &s->cached[k - 1];
	return NULL;
}

static inline const uint8 *
cached_bytes(OmenPageStore *s, const OmenCachedCode *c)
{
	return s->cached_codes + (Size) c->slot * s->code_bytes;
}

/* The sums of the copied 8-bit code c, computed on first use. */
static inline const OmenCodeSums *
cached_sums(OmenPageStore *s, OmenCachedCode *c)
{
	if (!c->summed)
	{
		omen_code_sums(cached_bytes(s, c), s->dims, kernel_bits(s), &c->sums);
		c->summed = true;
	}
	return &c->sums;
}

/* Distance from query to the vector that the copied code c stands for. */
static float
cached_distance(OmenPageStore *s, const float *query, const OmenCachedCode *c)
{
	return omen_code_distance(s->metric, kernel_bits(s), query,
							  unpacked_code(s, cached_bytes(s, c)),
							  c->sums.offset, c->sums.scale, s->dims);
}

/*
 * Room for need copies of codes, keeping those made: the arrays grow and
 * the hash table is built again for their new size.
 */
static void
reserve_cached(OmenPageStore *s, int need)
{
	MemoryContext ctx = GetMemoryChunkContext(s->scratch);
	int			cap = Max(need, 2 * s->cached_cap);
	OmenCachedCode *cached;
	uint8	   *codes;

	if (need <= s->cached_cap)
		return;
	cached = MemoryContextAlloc(ctx, sizeof(OmenCachedCode) * cap);
	codes = MemoryContextAlloc(ctx, (Size) s->code_bytes * cap);
	if (s->cached != NULL)
	{
		memcpy(cached, s->cached, sizeof(OmenCachedCode) * s->ncached);
		memcpy(codes, s->cached_codes, (Size) s->code_bytes * s->ncached);
		pfree(s->cached);
		pfree(s->cached_codes);
		pfree(s->cached_hash);
	}
	s->cached = cached;
	s->cached_codes = codes;
	s->cached_cap = cap;
	/* at most half full */
	s->cached_mask = pg_nextpower2_32(2 * cap) - 1;
	s->cached_hash = MemoryContextAllocZero(ctx, sizeof(int) * (s->cached_mask + 1));
	for (int k = 0; k < s->ncached; k++)
	{
		int			h = cached_home(s, s->cached[k].id);

		while (s->cached_hash[h] != 0)
			h = (h + 1) & s->cached_mask;
		s->cached_hash[h] = k + 1;
	}
}

/*
 * Forgets the copies of codes that the last selection made, unless they are
 * kept for the next.
 */
static void
forget_codes(OmenPageStore *s)
{
	if (!s->keep_codes && s->ncached > 0)
	{
		s->ncached = 0;
		memset(s->cached_hash, 0, sizeof(int) * (s->cached_mask + 1));
	}
}

/*
 * Copies the codes of ids[0..n-1] out of their rows; nodes that have gone
 * get none.  The copies made before are replaced, or kept between
 * omen_store_keep_codes(s, true) and (s, false), and not made again.
 * Locks one row at a time.
 */
static void
cache_codes(OmenPageStore *s, const OmenNodeId *ids, int n)
{
	forget_codes(s);
	reserve_cached(s, s->ncached + n);
	for (int i = 0; i < n; i++)
	{
		ItemPointerData tid;
		OmenNodeTuple nt;
		OmenCachedCode *c = &s->cached[s->ncached];
		int			h;

		if (cached_code(s, ids[i]) != NULL)
			continue;
		omen_tid_unpack(ids[i], &tid);
		nt = omen_store_node(s, &tid);
		if (nt == NULL)
			continue;
		c->id = ids[i];
		c->sums.offset = nt->offset;
		c->sums.scale = nt->scale;
		c->slot = s->ncached;
		memcpy(s->cached_codes + (Size) c->slot * s->code_bytes,
			   omen_node_code(nt), s->code_bytes);
		omen_store_unlock(s);
		c->summed = false;
		h = cached_home(s, c->id);
		while (s->cached_hash[h] != 0)
			h = (h + 1) & s->cached_mask;
		s->cached_hash[h] = ++s->ncached;
	}
}

void
omen_store_keep_codes(OmenPageStore *s, bool keep)
{
	s->keep_codes = keep;
	forget_codes(s);
}

/*
 * The vector node id's code decodes to, into out, and its distance to its
 * own code into *self: a node with the same code, a copy, is at that
 * distance from it.  False if the node has gone.
 */
static bool
node_decode(OmenPageStore *s, OmenNodeId id, float *out, float *self)
{
	ItemPointerData tid;
	OmenNodeTuple nt;
	const uint8 *code;

	omen_tid_unpack(id, &tid);
	nt = omen_store_node(s, &tid);
	if (nt == NULL)
		return false;
	code = node_code(s, nt);
	omen_code_decode(code, s->dims, kernel_bits(s), nt->offset, nt->scale,
					 out);
	if (self)
		*self = omen_store_code_distance(s, out, nt);
	omen_store_unlock(s);
	return true;
}

/*
 * Distance to node id into *dist, and whether it is deleted into *deleted;
 * false, with *dist NaN, if it is gone.
 */
static bool
node_distance(OmenPageStore *s, const float *query, OmenNodeId id,
			  float *dist, bool *deleted)
{
	ItemPointerData tid;
	OmenNodeTuple nt;

	*dist = NAN;
	omen_tid_unpack(id, &tid);
	nt = omen_store_node(s, &tid);
	if (nt == NULL)
		return false;
	*dist = omen_store_code_distance(s, query, nt);
	*deleted = nt->deleted;
	omen_store_unlock(s);
	return true;
}

float
omen_store_distance(OmenPageStore *s, const float *query, OmenNodeId id)
{
	float		d;
	bool		deleted;

	node_distance(s, query, id, &d, &deleted);
	return d;
}

static int
store_neighbors(void *arg, OmenNodeId id, int level, OmenNodeId *out, int max)
{
	OmenPageStore *s = (OmenPageStore *) arg;
	ItemPointerData tid;
	OmenNodeTuple nt;
	const OmenLink *slots;
	int			nslots;
	int			n = 0;

	omen_tid_unpack(id, &tid);
	nt = omen_store_node(s, &tid);
	if (nt == NULL)
		return -1;
	if (nt->level < level)
	{
		omen_store_unlock(s);
		return -1;
	}
	slots = level_links(s, nt, level);
	nslots = omen_level_slots(level, s->m);
	for (int i = 0; i < nslots && n < max; i++)
		if (slots[i] != OMEN_NO_LINK)
			out[n++] = omen_link_to_id(slots[i], s->link_bits);
	omen_store_unlock(s);
	return n;
}

/*
 * The page that id's block last occupied in shared buffers, or NULL: for
 * cache hints only, as nothing pins it.
 */
static inline char *
recent_page(OmenPageStore *s, OmenNodeId id)
{
	ItemPointerData tid;
	BlockNumber blk;
	Buffer		buf;

	omen_tid_unpack(id, &tid);
	blk = ItemPointerGetBlockNumber(&tid);
	if (blk >= s->recent->nblocks)
		return NULL;
	buf = s->recent->bufs[blk];
	if (!BufferIsValid(buf) || BufferIsLocal(buf))
		return NULL;
	return (char *) BufferGetPage(buf);
}

/*
 * Asks the cache for the whole row at off of page, a recent_page: a hint
 * only, as nothing pins that page; a stale line pointer misdirects the
 * hint, which it keeps inside the page.  Always inlined: a call to a
 * function that only prefetches has no effect the compiler must keep, and
 * GCC drops it.
 */
static pg_attribute_always_inline void
prefetch_row(char *page, OffsetNumber off)
{
	ItemId		lp;
	int			start;
	int			lines;

	if (page == NULL || off < FirstOffsetNumber ||
		off > PageGetMaxOffsetNumber((Page) page))
		return;
	lp = PageGetItemId((Page) page, off);
	start = ItemIdGetOffset(lp);
	lines = (Min(start + ItemIdGetLength(lp), BLCKSZ) - start + 63) / 64;
	for (int k = 0; k < lines; k++)
		__builtin_prefetch(page + start + 64 * k);
}

/*
 * Deleted nodes still route searches but are never their results.  Nodes
 * are scored page by page, each page locked once.  The cache is asked for
 * all the pages' headers first, then for all the nodes' search rows, so
 * that their misses overlap rather than each node waiting for its own.
 */
static void
store_distances(void *arg, const float *query, const OmenNodeId *ids, int n,
				float *out, bool *routing)
{
	OmenPageStore *s = (OmenPageStore *) arg;
	int			order[OMEN_MAX_LINKS];
	char	   *pages[OMEN_MAX_LINKS];

	Assert(n <= OMEN_MAX_LINKS);
	for (int i = 0; i < n; i++)
	{
		char	   *page = recent_page(s, ids[i]);
		int			j = i;

		pages[i] = page;
		if (page != NULL)
		{
			__builtin_prefetch(page);
			__builtin_prefetch(page + BLCKSZ - sizeof(OmenPageOpaqueData));
		}
		/* in block order: ids are packed TIDs, the block in the high bits */
		while (j > 0 && (ids[order[j - 1]] >> 16) > (ids[i] >> 16))
		{
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (int i = 0; i < n; i++)
		prefetch_row(pages[i], (OffsetNumber) (ids[i] & 0xFFFF));
	for (int i = 0; i < n;)
	{
		BlockNumber blk = (BlockNumber) (ids[order[i]] >> 16);
		int			end = i;
		ItemPointerData tid;
		Page		page = NULL;

		while (end < n && (BlockNumber) (ids[order[end]] >> 16) == blk)
			end++;
		omen_tid_unpack(ids[order[i]], &tid);
		if (tid_in_index(s, &tid))
		{
			page = lock_page(s, blk);
			if (!on_segment(s, page, OMEN_PAGE_DATA))
			{
				omen_store_unlock(s);
				page = NULL;
			}
		}
		for (; i < end; i++)
		{
			int			k = order[i];
			OmenNodeTuple nt = NULL;

			if (page != NULL)
				nt = omen_page_get_node(page, (OffsetNumber) (ids[k] & 0xFFFF),
										s->m, s->code_bytes);
			/* a node that has gone is never a result */
			if (nt == NULL)
			{
				out[k] = NAN;
				routing[k] = true;
			}
			else
			{
				out[k] = omen_store_code_distance(s, query, nt);
				routing[k] = nt->deleted && !s->descending;
			}
		}
		if (page != NULL)
			omen_store_unlock(s);
	}
}

/*
 * Neighbour selection asks for a's distance to one candidate after another.
 * Between two codes that omen_store_select copied it is computed from the
 * copies in integers where the store has code_pairs; otherwise a's decoded
 * code stays in scratch for the next call, and is measured against b's
 * code.  The copies last for one selection: a node's code never changes
 * while its segment is live, and a page a retired segment left holds other
 * codes only once it is reused, which on_segment tells.
 */
static float
store_pair_distance(void *arg, OmenNodeId a, OmenNodeId b)
{
	OmenPageStore *s = (OmenPageStore *) arg;
	OmenCachedCode *cb = cached_code(s, b);
	OmenCachedCode *ca = NULL;

	/* a's copy is needed for the integer path, or to fill scratch */
	if (s->code_pairs || s->scratch_id != a)
		ca = cached_code(s, a);
	if (ca != NULL && cb != NULL && s->code_pairs &&
		omen_code_pair_fits(&ca->sums, s->code_limit) &&
		omen_code_pair_fits(&cb->sums, s->code_limit))
		return omen_code_pair_distance(s->metric, s->dims, kernel_bits(s),
									   cached_sums(s, ca), cached_bytes(s, ca),
									   cached_sums(s, cb), cached_bytes(s, cb));
	if (s->scratch_id != a)
	{
		s->scratch_id = OMEN_NO_NODE;
		if (ca != NULL)
			omen_code_decode(unpacked_code(s, cached_bytes(s, ca)), s->dims,
							 kernel_bits(s), ca->sums.offset, ca->sums.scale,
							 s->scratch);
		else if (!node_decode(s, a, s->scratch, NULL))
			return NAN;
		s->scratch_id = a;
	}
	if (cb != NULL)
		return cached_distance(s, s->scratch, cb);
	return omen_store_distance(s, s->scratch, b);
}

int
omen_store_select(OmenPageStore *s, const OmenCand *cands, int ncands, int m,
				  OmenSelectMode mode, float self, OmenCand *out)
{
	OmenNodeId *ids = palloc(sizeof(OmenNodeId) * Max(ncands, 1));
	int			n;

	for (int i = 0; i < ncands; i++)
		ids[i] = cands[i].id;
	cache_codes(s, ids, ncands);
	n = omen_select_neighbors(&omen_page_store_ops, s, cands, ncands, m, mode,
							  self, out);
	forget_codes(s);
	pfree(ids);
	return n;
}

static bool
store_visit(void *arg, OmenNodeId id)
{
	return omen_store_visit((OmenPageStore *) arg, id);
}

const OmenStoreOps omen_page_store_ops = {
	store_neighbors, store_distances, store_pair_distance, store_visit
};

/* Width of the beam of a descent through the upper levels. */
#define OMEN_DESCENT_EF 4

OmenCand
omen_store_descend(OmenPageStore *s, const float *query, ItemPointer entry,
				   int entry_level, int to_level)
{
	OmenCand	ep;
	OmenCand	eps[OMEN_DESCENT_EF];
	OmenCand	best[OMEN_DESCENT_EF];
	int			n = 1;
	bool		deleted;

	ep.id = omen_tid_pack(entry);
	if (!node_distance(s, query, ep.id, &ep.dist, &deleted))
	{
		ep.id = OMEN_NO_NODE;
		return ep;
	}
	eps[0] = ep;

	/*
	 * The closest nodes count, deleted ones included: those keep their
	 * links and route, and after many deletes the closest live nodes a
	 * level shows can lie in another cluster of the data, from which the
	 * levels below do not come back.  A beam of a few nodes, each level's
	 * seeding the next, keeps the descent out of local minima where a
	 * greedy step would stop.  As a greedy step does, the descent moves to
	 * a node only if it is strictly closer: where distances tie (all
	 * infinite, say) it stays at the entry.
	 */
	s->descending = true;
	for (int l = entry_level; l > to_level; l--)
	{
		int			nbest = omen_store_search_level(s, query, eps, n, l, NULL,
													OMEN_DESCENT_EF, best);

		if (nbest > 0)
		{
			if (omen_dist_lt(best[0].dist, ep.dist))
				ep = best[0];
			memcpy(eps, best, sizeof(OmenCand) * nbest);
			n = nbest;
		}
	}
	s->descending = false;
	return ep;
}

/* Whether node id only routes searches: it is deleted, or has gone. */
static bool
node_routes(OmenPageStore *s, OmenNodeId id)
{
	ItemPointerData tid;
	OmenNodeTuple nt;
	bool		routes;

	omen_tid_unpack(id, &tid);
	nt = omen_store_node(s, &tid);
	if (nt == NULL)
		return true;
	routes = nt->deleted;
	omen_store_unlock(s);
	return routes;
}

/*
 * The seeds of a level-0 search, into seeds and routing (room for nentries
 * + 1), marked visited: entries[0..nentries-1], and root, the segment's
 * entry point, unless it is among them, has gone or is NULL.  A descent may end on a
 * deleted node, which only routes, and whose level-0 links may lead to no
 * live node: after many deletes, deleted nodes can form a component of
 * their own that live nodes no longer link into.  Every live node is
 * reachable from root.  Returns the count.
 */
static int
level0_seeds(OmenPageStore *s, const float *query, const OmenCand *entries,
			 int nentries, ItemPointer root, OmenCand *seeds, bool *routing)
{
	int			n = nentries;

	omenvis_reset(s->visited);
	memcpy(seeds, entries, sizeof(OmenCand) * nentries);
	for (int i = 0; i < nentries; i++)
	{
		omen_store_visit(s, entries[i].id);
		routing[i] = node_routes(s, entries[i].id);
	}
	if (root != NULL)
	{
		seeds[n].id = omen_tid_pack(root);
		if (omen_store_visit(s, seeds[n].id) &&
			node_distance(s, query, seeds[n].id, &seeds[n].dist, &routing[n]))
			n++;
	}
	return n;
}

int
omen_store_search_level(OmenPageStore *s, const float *query,
						const OmenCand *entries, int nentries, int level,
						ItemPointer root, int ef, OmenCand *result)
{
	OmenCand   *seeds;
	bool	   *routing;
	int			nseeds;

	if (level > 0)
	{
		omenvis_reset(s->visited);
		for (int i = 0; i < nentries; i++)
			omen_store_visit(s, entries[i].id);
		return omen_search_layer(&omen_page_store_ops, s, query, entries,
								 nentries, ef, level, result);
	}
	seeds = palloc(sizeof(OmenCand) * (nentries + 1));
	routing = palloc(sizeof(bool) * (nentries + 1));
	nseeds = level0_seeds(s, query, entries, nentries, root, seeds, routing);
	return omen_search_next(omen_search_begin(&omen_page_store_ops, s, query,
											  seeds, routing, nseeds, ef,
											  false),
							result);
}

/*
 * The live rows after row `after` of page blk, one of the segment's data
 * pages, scored into out[*n..max-1] (*n counts them); returns the next page
 * of the chain.  Share-locks blk while it reads it.
 */
static BlockNumber
page_rows_after(OmenPageStore *s, const float *query, BlockNumber blk,
				OffsetNumber after, BlockNumber *hops, OmenCand *out, int *n,
				int max)
{
	Page		page = lock_page(s, blk);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	BlockNumber next = omen_chain_next(s->index, s->segno, blk, page, hops);

	for (OffsetNumber off = after + 1; off <= maxoff && *n < max; off++)
	{
		OmenNodeTuple nt = omen_page_is(page, OMEN_PAGE_DATA) ?
			omen_page_get_node(page, off, s->m, s->code_bytes) : NULL;
		ItemPointerData tid;

		if (nt == NULL || nt->deleted)
			continue;
		ItemPointerSet(&tid, blk, off);
		out[*n].id = omen_tid_pack(&tid);
		out[*n].dist = omen_store_code_distance(s, query, nt);
		(*n)++;
	}
	omen_store_unlock(s);
	return next;
}

int
omen_store_rows_after(OmenPageStore *s, const float *query, BlockNumber blk,
					  OffsetNumber after, BlockNumber last_blk, OmenCand *out,
					  int max)
{
	BlockNumber hops = 0;
	BlockNumber next;
	int			n = 0;

	next = page_rows_after(s, query, blk, after, &hops, out, &n, max);
	if (blk != last_blk)
		next = page_rows_after(s, query, last_blk, MaxOffsetNumber, &hops,
							   out, &n, max);
	while (BlockNumberIsValid(next) && n < max)
	{
		CHECK_FOR_INTERRUPTS();
		next = page_rows_after(s, query, next, InvalidOffsetNumber, &hops,
							   out, &n, max);
	}
	return n;
}

OmenSearch *
omen_store_search_begin(OmenPageStore *s, const float *query, OmenCand entry,
						ItemPointer root, int ef, bool resumable)
{
	OmenCand	seeds[2];
	bool		routing[2];
	int			n = level0_seeds(s, query, &entry, 1, root, seeds, routing);

	return omen_search_begin(&omen_page_store_ops, s, query, seeds, routing,
							 n, ef, resumable);
}

/*
 * The heap TIDs of the live nodes on page blk of the segment being
 * searched, in storage order, into tids[] (OMEN_PAGE_MAX_HEAPTIDS of room);
 * returns their count.  *next is the page after blk in the segment's chain,
 * or Invalid at its end or when blk is not the segment's (any more: VACUUM
 * retired the segment and an insert reused the page).  blk is
 * share-locked only while it is read.
 */
int
omen_store_page_heaptids(OmenPageStore *s, BlockNumber blk, ItemPointer tids,
						 BlockNumber *next)
{
	Page		page;
	OffsetNumber maxoff;
	int			n = 0;

	*next = InvalidBlockNumber;
	if (!block_in_index(s, blk))
		return 0;
	page = lock_page(s, blk);
	if (on_segment(s, page, OMEN_PAGE_DATA) ||
		on_segment(s, page, OMEN_PAGE_VECTOR))
	{
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			OmenNodeTuple nt = omen_page_get_node(page, off, s->m,
												  s->code_bytes);

			if (nt == NULL || nt->deleted)
				continue;
			for (int j = 0; j < OMEN_HEAPTIDS; j++)
				if (ItemPointerIsValid(&nt->heaptids[j]))
				{
					Assert(n < OMEN_PAGE_MAX_HEAPTIDS);
					tids[n++] = nt->heaptids[j];
				}
		}
		*next = OmenPageGetOpaque(page)->next;
	}
	omen_store_unlock(s);
	return n;
}

/* Sets a list of level's slots to ids[0..n-1], the other slots empty. */
static void
fill_links(OmenPageStore *s, OmenLink *slots, int level, const OmenNodeId *ids,
		   int n)
{
	for (int i = 0; i < omen_level_slots(level, s->m); i++)
		slots[i] = i < n ? omen_link_from_id(ids[i], s->link_bits) : OMEN_NO_LINK;
}

/* Sets nt's links on level to ids[0..n-1], the other slots empty. */
static void
set_links(OmenPageStore *s, OmenNodeTuple nt, int level, const OmenNodeId *ids,
		  int n)
{
	fill_links(s, level_links(s, nt, level), level, ids, n);
}

/*
 * The row at tid on page, a locked data page, if it is one of the segment's
 * with a list on level; else NULL.
 */
static OmenNodeTuple
row_to_link(OmenPageStore *s, Page page, ItemPointer tid, int level)
{
	OmenNodeTuple nt = on_segment(s, page, OMEN_PAGE_DATA) ?
		omen_page_get_node(page, ItemPointerGetOffsetNumber(tid), s->m,
						   s->code_bytes) : NULL;

	return nt != NULL && nt->level >= level ? nt : NULL;
}

/*
 * Writes len bytes from data over the page of buf at ptr and logs them as
 * a Generic WAL record of one fragment: its delta is the offset, the length
 * (both uint16) and the bytes, as GenericXLogFinish writes a delta, which
 * generic_redo applies.  GenericXLogFinish would find the same fragment by
 * comparing a copy of the whole page with the page; the caller knows it.
 * The page's hole stays as it is, zero as every Generic WAL record leaves
 * it and as replay makes it.  For an index that needs no WAL, the bytes are
 * written and no record.  The caller holds buf exclusively locked.
 */
static void
write_logged(Relation index, Buffer buf, char *ptr, const void *data,
			 uint16 len)
{
	Page		page = BufferGetPage(buf);
	uint16		fragment[2];

	Assert(ptr >= (char *) page && ptr + len <= (char *) page + BLCKSZ);
	fragment[0] = (uint16) (ptr - (char *) page);
	fragment[1] = len;
	START_CRIT_SECTION();
	memcpy(ptr, data, len);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	lsn;

		XLogBeginInsert();
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, (char *) fragment, sizeof(fragment));
		XLogRegisterBufData(0, (char *) data, len);
		lsn = XLogInsert(RM_GENERIC_ID, 0);
		PageSetLSN(page, lsn);
	}
	END_CRIT_SECTION();
}

/*
 * Rewrites node's links on level as ids[0..n-1]: in one WAL record
 * (write_logged), in the pending row, or, the first time while
 * omen_store_link_deferred runs, into its OmenLinkWrite.
 */
bool
omen_store_write_links(OmenPageStore *s, OmenNodeId node, int level,
			const OmenNodeId *ids, int n)
{
	ItemPointerData tid;
	OmenNodeTuple nt;
	Buffer		buf;
	int			nslots = omen_level_slots(level, s->m);
	OmenLink	slots[OMEN_MAX_LINKS];

	if (s->pending != NULL && node == s->pending_id)
	{
		set_links(s, s->pending, level, ids, n);
		return true;
	}
	omen_tid_unpack(node, &tid);
	if (!tid_in_index(s, &tid))
		return false;
	if (s->deferred != NULL && !ItemPointerIsValid(&s->deferred->node))
	{
		s->deferred->node = tid;
		s->deferred->level = level;
		s->deferred->n = n;
		memcpy(s->deferred->ids, ids, sizeof(OmenNodeId) * n);
		return true;
	}
	buf = ReadBuffer(s->index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	nt = row_to_link(s, BufferGetPage(buf), &tid, level);
	if (nt == NULL)
	{
		UnlockReleaseBuffer(buf);
		return false;
	}
	Assert(nslots <= OMEN_MAX_LINKS);
	fill_links(s, slots, level, ids, n);
	write_logged(s->index, buf, (char *) level_links(s, nt, level), slots,
				 sizeof(OmenLink) * nslots);
	UnlockReleaseBuffer(buf);
	return true;
}

bool
omen_store_apply_link(OmenPageStore *s, Page page, const OmenLinkWrite *w)
{
	OmenNodeTuple nt = row_to_link(s, page, (ItemPointer) &w->node, w->level);

	if (nt == NULL)
		return false;
	set_links(s, nt, w->level, w->ids, w->n);
	return true;
}

/*
 * The links of node `to` on level that omen_store_link must not remove
 * while linking `to` in: each is the way into its node that replaced a link
 * pruning removed.  Forgotten when another node or level is linked.
 */
static void
pins_for(OmenPageStore *s, OmenNodeId to, int level)
{
	if (s->pinned == NULL)
		s->pinned = MemoryContextAlloc(GetMemoryChunkContext(s->scratch),
									   sizeof(OmenNodeId) * OMEN_MAX_LINKS);
	if (s->pin_node != to || s->pin_level != level)
	{
		s->pin_node = to;
		s->pin_level = level;
		s->npinned = 0;
	}
}

void
omen_store_pin_link(OmenPageStore *s, ItemPointer to, int level,
					OmenNodeId id)
{
	pins_for(s, omen_tid_pack(to), level);
	if (s->npinned < OMEN_MAX_LINKS)
		s->pinned[s->npinned++] = id;
}

/* Whether id is pinned, or among the npins pins about to be made. */
static bool
is_pinned(OmenPageStore *s, OmenNodeId id, const OmenNodeId *pins, int npins)
{
	for (int i = 0; i < s->npinned; i++)
		if (s->pinned[i] == id)
			return true;
	for (int i = 0; i < npins; i++)
		if (pins[i] == id)
			return true;
	return false;
}

/*
 * Gives the nodes in dropped[] a link from node `to`, in to's list
 * tolinks[0..*ntolinks-1] of at most max: pruning `from`'s list for `to`
 * dropped them, and as `from` reaches `to`, through it they keep a way in
 * even if that was their only one.  A full list makes room by giving up a
 * link to a node in kept[], which `from` still links to, or with anyslot
 * to any other node, unless the link is pinned: `to` is new, so no node's
 * way in runs through a link of its that is not pinned (a new entry point's
 * link to the old one is, by omen_store_pin_link).  The links to adopted
 * nodes are appended to pins[] (*npins).
 * Moves those that found no room to the front of dropped[] and returns
 * their count; sets *changed when tolinks changed.
 */
static int
adopt_dropped(OmenPageStore *s, OmenNodeId *tolinks, int *ntolinks, int max,
			  OmenNodeId *dropped, int ndropped, const OmenNodeId *kept,
			  int nkept, bool anyslot, OmenNodeId *pins, int *npins,
			  bool *changed)
{
	int			n = *ntolinks;
	int			nleft = 0;

	for (int i = 0; i < ndropped; i++)
	{
		bool		present = false;
		int			slot = -1;

		for (int j = 0; j < n; j++)
			present |= tolinks[j] == dropped[i];
		if (!present && n < max)
			slot = n++;
		for (int j = 0; j < n && slot < 0 && !present; j++)
			for (int k = 0; k < nkept && slot < 0; k++)
				if (tolinks[j] == kept[k] &&
					!is_pinned(s, tolinks[j], pins, *npins))
					slot = j;
		for (int j = n - 1; j >= 0 && slot < 0 && !present && anyslot; j--)
			if (!is_pinned(s, tolinks[j], pins, *npins))
				slot = j;
		if (slot >= 0)
		{
			tolinks[slot] = dropped[i];
			*changed = true;
		}
		if (present || slot >= 0)
			pins[(*npins)++] = dropped[i];
		else
			dropped[nleft++] = dropped[i];
	}
	*ntolinks = n;
	return nleft;
}

/*
 * A neighbour selection for a full list, made ahead of time: from's list
 * as it was read and the new node last (n ids, n one more than the level's
 * slots), the candidates scored from from's code, ascending, and the ids
 * selection kept.
 */
typedef struct OmenLinkPlan
{
	OmenNodeId	from;
	int			level;
	OmenNodeId *ids;			/* [n] */
	OmenCand   *cands;			/* [n] */
	int			nkeep;
	OmenNodeId *keep;			/* [n - 1] */
	float		self;
} OmenLinkPlan;

/*
 * Scores from's full list ids[0..n-1] (the node to link last) from from's
 * code, ascending into cands, and selects among them: the kept ids into
 * keep, their count returned; from's distance to its own code into *self.
 * -1 if from has gone.  Reads the rows under share locks one at a time.
 */
static int
prune_list(OmenPageStore *s, OmenNodeId from, const OmenNodeId *ids, int n,
		   OmenCand *cands, OmenNodeId *keep, float *self)
{
	int			max = n - 1;
	float	   *nbvec = palloc(sizeof(float) * s->dims);
	OmenCand   *sel;
	int			nkeep;

	/* copies of from are at from's distance to itself */
	if (!node_decode(s, from, nbvec, self))
	{
		pfree(nbvec);
		return -1;
	}
	sel = palloc(sizeof(OmenCand) * max);
	cache_codes(s, ids, n);
	for (int i = 0; i < n; i++)
	{
		OmenCachedCode *c = cached_code(s, ids[i]);

		cands[i].id = ids[i];
		cands[i].dist = c != NULL ? cached_distance(s, nbvec, c) : NAN;
	}
	/* ascending by distance, as selection expects */
	for (int i = 1; i < n; i++)
	{
		OmenCand	c = cands[i];
		int			j = i - 1;

		while (j >= 0 && omen_dist_lt(c.dist, cands[j].dist))
		{
			cands[j + 1] = cands[j];
			j--;
		}
		cands[j + 1] = c;
	}
	nkeep = omen_select_neighbors(&omen_page_store_ops, s, cands, n, max,
								  OMEN_SELECT_MODE(s->metric), *self, sel);
	forget_codes(s);
	for (int i = 0; i < nkeep; i++)
		keep[i] = sel[i].id;
	pfree(sel);
	pfree(nbvec);
	return nkeep;
}

void
omen_store_plan_link(OmenPageStore *s, OmenNodeId from, int level,
					 ItemPointer to)
{
	int			max = omen_level_slots(level, s->m);
	MemoryContext ctx = GetMemoryChunkContext(s->scratch);
	OmenNodeId *ids = MemoryContextAlloc(ctx, sizeof(OmenNodeId) * (max + 1));
	OmenLinkPlan *p;
	int			n;

	n = omen_page_store_ops.neighbors(s, from, level, ids, max);
	if (n < max)
	{
		/* an append needs no selection */
		pfree(ids);
		return;
	}
	ids[n++] = omen_tid_pack(to);
	if (s->nplans == s->plans_cap)
	{
		s->plans_cap = Max(16, 2 * s->plans_cap);
		s->plans = s->plans == NULL ?
			MemoryContextAlloc(ctx, sizeof(OmenLinkPlan) * s->plans_cap) :
			repalloc(s->plans, sizeof(OmenLinkPlan) * s->plans_cap);
	}
	p = &s->plans[s->nplans];
	p->from = from;
	p->level = level;
	p->ids = ids;
	p->cands = MemoryContextAlloc(ctx, sizeof(OmenCand) * n);
	p->keep = MemoryContextAlloc(ctx, sizeof(OmenNodeId) * max);
	p->nkeep = prune_list(s, from, ids, n, p->cands, p->keep, &p->self);
	if (p->nkeep < 0)
	{
		pfree(ids);
		pfree(p->cands);
		pfree(p->keep);
		return;
	}
	s->nplans++;
}

void
omen_store_row_placed(OmenPageStore *s, ItemPointer standin, ItemPointer tid)
{
	s->plan_as = omen_tid_pack(tid);
	if (s->pin_node == omen_tid_pack(standin))
		s->pin_node = s->plan_as;
}

/*
 * The selection a plan made for from's full list ids[0..n-1] (the node to
 * link last) on level, as prune_list would make it now, with the node's id
 * now (its own, or omen_store_row_placed's for it) in place of the one it
 * had; -1 when no plan was made for this list.  Reads no page.
 */
static int
planned_prune(OmenPageStore *s, OmenNodeId from, int level,
			  const OmenNodeId *ids, int n, OmenCand *cands, OmenNodeId *keep,
			  float *self)
{
	OmenNodeId	newid = ids[n - 1];

	for (int i = 0; i < s->nplans; i++)
	{
		OmenLinkPlan *p = &s->plans[i];
		OmenNodeId	was;

		/* full lists of one level are as long as each other */
		if (p->from != from || p->level != level)
			continue;
		was = p->ids[n - 1];
		if ((newid != was && newid != s->plan_as) ||
			memcmp(p->ids, ids, sizeof(OmenNodeId) * (n - 1)) != 0)
			continue;
		for (int j = 0; j < n; j++)
		{
			cands[j] = p->cands[j];
			if (cands[j].id == was)
				cands[j].id = newid;
		}
		for (int j = 0; j < p->nkeep; j++)
			keep[j] = p->keep[j] == was ? newid : p->keep[j];
		*self = p->self;
		return p->nkeep;
	}
	return -1;
}

/*
 * Adds a link to node `to` from node `from` on `level`, pruning from's list
 * when it is full, as mode says.
 *
 * No node loses its way in: every link that pruning removes from from's
 * list moves to `to`'s list (from reaches it through `to`), or, where `to`
 * has no room, stays in from's list, in a place pruning freed or in place
 * of a node that `to` links to.  Such links of `to` are pinned: while `to`
 * is linked in, they are never given up for room.  When no place is left
 * the link to `to` is not added, unless mode is OMEN_LINK_FORCE: then the
 * nodes left over get a link from one of their own neighbours that has
 * room.  Returns whether the link was added.  The caller holds the insert
 * lock, so no list changes between reading and rewriting; the selection
 * comes from a plan (omen_store_plan_link) where one was made for the list
 * read.
 */
bool
omen_store_link(OmenPageStore *s, OmenNodeId from, int level, ItemPointer to,
				OmenLinkMode mode)
{
	int			max = omen_level_slots(level, s->m);
	OmenNodeId	newid = omen_tid_pack(to);
	OmenNodeId *ids = palloc(sizeof(OmenNodeId) * (max + 1));
	OmenNodeId *keep = palloc(sizeof(OmenNodeId) * max);
	OmenNodeId *dropped = palloc(sizeof(OmenNodeId) * (max + 1));
	int			n;
	int			nkeep;
	int			ndropped = 0;

	n = omen_page_store_ops.neighbors(s, from, level, ids, max);
	if (n < 0)
		return false;
	ids[n++] = newid;

	if (n <= max)
	{
		/* room left: append */
		memcpy(keep, ids, sizeof(OmenNodeId) * n);
		nkeep = n;
	}
	else if (mode == OMEN_LINK_IF_ROOM)
		return false;
	else
	{
		OmenCand   *cands = palloc(sizeof(OmenCand) * n);
		bool		kept = false;
		bool		tocopy = false;
		float		self;

		nkeep = planned_prune(s, from, level, ids, n, cands, keep, &self);
		if (nkeep < 0)
			nkeep = prune_list(s, from, ids, n, cands, keep, &self);
		if (nkeep < 0)
			return false;
		for (int i = 0; i < nkeep; i++)
			kept |= keep[i] == newid;
		for (int i = 0; i < n; i++)
			if (cands[i].id == newid)
				tocopy = cands[i].dist == self;
		if (!kept)
		{
			if (mode == OMEN_LINK_IF_KEPT)
				return false;
			keep[nkeep < max ? nkeep++ : nkeep - 1] = newid;
		}

		/*
		 * Copies of from that pruning rejects stay in the places it freed,
		 * unless `to` is a copy too and takes them over: copies of a vector
		 * keep links among themselves, not only from other vectors.
		 */
		for (int i = 0; i < n; i++)
		{
			bool		present = cands[i].id == newid;

			for (int j = 0; j < nkeep && !present; j++)
				present = keep[j] == cands[i].id;
			if (present)
				continue;
			if (cands[i].dist == self && !tocopy && nkeep < max)
				keep[nkeep++] = cands[i].id;
			else
				dropped[ndropped++] = cands[i].id;
		}
	}

	if (ndropped > 0)
	{
		OmenNodeId *tolinks = palloc(sizeof(OmenNodeId) * max);
		OmenNodeId *pins = palloc(sizeof(OmenNodeId) * (2 * max + 1));
		int			npins = 0;
		int			ntolinks;
		bool		changed = false;
		int			nunplaced = 0;

		pins_for(s, newid, level);
		ntolinks = omen_page_store_ops.neighbors(s, newid, level, tolinks, max);
		/* `to` may have no list on this level: then it adopts none */
		if (ntolinks < 0)
			ntolinks = 0;
		else
			ndropped = adopt_dropped(s, tolinks, &ntolinks, max, dropped,
									 ndropped, keep, nkeep,
									 mode != OMEN_LINK_IF_KEPT, pins, &npins,
									 &changed);
		for (int i = 0; i < ndropped; i++)
		{
			int			slot = -1;

			if (nkeep < max)
			{
				keep[nkeep++] = dropped[i];
				continue;
			}
			for (int j = 0; j < nkeep && slot < 0; j++)
				for (int k = 0; k < ntolinks && slot < 0; k++)
					if (keep[j] != newid && keep[j] == tolinks[k])
						slot = j;
			if (slot >= 0)
			{
				/* from reaches keep[slot] through `to` from now on */
				pins[npins++] = keep[slot];
				keep[slot] = dropped[i];
			}
			else if (mode != OMEN_LINK_FORCE)
				return false;
			else
				dropped[nunplaced++] = dropped[i];
		}
		if (changed)
			omen_store_write_links(s, newid, level, tolinks, ntolinks);
		if (!omen_store_write_links(s, from, level, keep, nkeep))
			return false;
		for (int i = 0; i < npins && s->npinned < OMEN_MAX_LINKS; i++)
			s->pinned[s->npinned++] = pins[i];

		/*
		 * Nodes that lost their link from `from` to `to` and found no
		 * other place get one from a neighbour of their own with room.
		 */
		for (int i = 0; i < nunplaced; i++)
		{
			int			nx = omen_page_store_ops.neighbors(s, dropped[i], level,
														   tolinks, max);
			ItemPointerData xtid;

			omen_tid_unpack(dropped[i], &xtid);
			for (int j = 0; j < nx; j++)
				if (tolinks[j] != from &&
					omen_store_link(s, tolinks[j], level, &xtid,
									OMEN_LINK_IF_ROOM))
					break;
		}
		return true;
	}
	return omen_store_write_links(s, from, level, keep, nkeep);
}

bool
omen_store_link_deferred(OmenPageStore *s, OmenNodeId from, int level,
						 ItemPointer to, OmenLinkMode mode, OmenLinkWrite *w)
{
	bool		linked;

	Assert(s->pending != NULL && omen_tid_pack(to) == s->pending_id);
	ItemPointerSetInvalid(&w->node);
	s->deferred = w;
	linked = omen_store_link(s, from, level, to, mode);
	s->deferred = NULL;
	return linked;
}

#define ORPHAN_LIVE		1
#define ORPHAN_REACHED	2

/*
 * The live nodes of a segment that level-0 links from its entry point do
 * not reach, into a palloc'd array; returns their count.  Reads the whole
 * segment, every node through the store, so it needs no lock of its own.
 */
int
omen_store_orphans(OmenPageStore *s, const OmenSegmentDesc *seg,
				   ItemPointerData **orphans)
{
	omenvis_hash *elems = omenvis_create(CurrentMemoryContext,
										 Max(seg->nelements, 64), NULL);
	uint64	   *queue;
	OmenNodeId	links[OMEN_MAX_LINKS];
	int			qtail = 0;
	int			norphans = 0;
	OmenVisitEntry *e;
	omenvis_iterator it;
	bool		found;

	s->segno = seg->segno;
	/* a chain longer than the index has pages has a cycle: stop there */
	for (BlockNumber blk = seg->first_blk, hops = 0;
		 BlockNumberIsValid(blk) && block_in_index(s, blk) && hops <= s->nblocks;
		 hops++)
	{
		Page		page;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		page = lock_page(s, blk);
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			OmenNodeTuple nt = omen_page_get_node(page, off, s->m,
												  s->code_bytes);
			ItemPointerData tid;

			if (nt == NULL)
				continue;
			ItemPointerSet(&tid, blk, off);
			e = omenvis_insert(elems, omen_tid_pack(&tid), &found);
			e->flags = nt->deleted ? 0 : ORPHAN_LIVE;
		}
		blk = on_segment(s, page, OMEN_PAGE_DATA) ||
			on_segment(s, page, OMEN_PAGE_VECTOR) ?
			OmenPageGetOpaque(page)->next : InvalidBlockNumber;
		omen_store_unlock(s);
	}

	/* breadth-first from the entry point */
	queue = palloc(sizeof(uint64) * Max(elems->members, 1));
	e = omenvis_lookup(elems, omen_tid_pack((ItemPointer) &seg->entry));
	if (e != NULL)
	{
		e->flags |= ORPHAN_REACHED;
		queue[qtail++] = e->key;
	}
	for (int qhead = 0; qhead < qtail; qhead++)
	{
		int			n = store_neighbors(s, queue[qhead], 0, links, OMEN_MAX_LINKS);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			e = omenvis_lookup(elems, links[i]);
			if (e != NULL && !(e->flags & ORPHAN_REACHED))
			{
				e->flags |= ORPHAN_REACHED;
				queue[qtail++] = e->key;
			}
		}
	}

	*orphans = palloc(sizeof(ItemPointerData) * Max(elems->members, 1));
	omenvis_start_iterate(elems, &it);
	while ((e = omenvis_iterate(elems, &it)) != NULL)
		if (e->flags == ORPHAN_LIVE)
			omen_tid_unpack(e->key, &(*orphans)[norphans++]);
	omenvis_destroy(elems);
	pfree(queue);
	return norphans;
}
