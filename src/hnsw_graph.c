/*
 * hnsw_graph.c
 *		HNSW search and neighbour selection over a node store, and the
 *		in-memory graph a bulk build fills.
 *
 * The layer search and the selection heuristic are written once, as inline
 * templates over OmenStoreOps.  The exported functions call them through
 * the caller's store; the in-memory graph calls them with a static const
 * ops table, so the compiler inlines its callbacks and the build's hot loop
 * pays no indirection.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <sys/mman.h>

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "distance.h"
#include "hnsw_graph.h"

/* Highest level the in-memory graph assigns. */
#define OMEN_GRAPH_MAX_LEVEL 63

/* Expansions between interrupt checks in a layer search. */
#define OMEN_CFI_EVERY 256

/*
 * Upper-level link slots are allocated for this many times the expected
 * count (capacity / (m - 1)), plus slack for a few maximal nodes.
 */
#define OMEN_UPPER_NUM 5
#define OMEN_UPPER_DEN 4

/*
 * Links a list keeps to copies of its own node's vector.  With more, a
 * group of copies larger than a list links only within itself and the
 * rest of the graph cannot reach it.
 */
#define OMEN_COPY_LINKS 3

/*
 * Decoded codes a handle keeps for the second node of pair distances,
 * direct-mapped by node id: a selection compares each candidate with the
 * same few kept links.
 */
#define OMEN_DECODED 32

/* Flags of a link in the in-memory graph */
#define OMEN_LINK_KEPT	0x01	/* kept by the heuristic, not filled in */
#define OMEN_LINK_COPY	0x02	/* to a copy of the list's node */

/* Growable min-heap of candidates to expand, reused across searches. */
typedef struct OmenHeap
{
	OmenCand   *c;
	int			n;
	int			cap;
} OmenHeap;

/*
 * A node's code (omen_quantize, of the graph's code_bits an element) with
 * its offset, scale and omen_code_tightness: all the graph keeps of its
 * vector.  The sums of its elements and of their squares are set where the
 * graph has code_pairs (omen_code_pair_distance).  Rows are cache-line
 * aligned.
 */
typedef struct OmenCodeRow
{
	OmenCodeSums sums;
	uint16		tight;
	uint8		code[FLEXIBLE_ARRAY_MEMBER];
} OmenCodeRow;

/*
 * The head of a graph's memory, which parallel build participants share:
 * settings, then counters under a spinlock.  The arrays follow (see
 * graph_layout).
 */
typedef struct OmenGraphShared
{
	int			dim;
	int			metric;
	int			code_bits;
	int			m;
	int			ef_construction;
	int			max_level;
	int			capacity;
	bool		concurrent;		/* inserts run in several processes at once */

	slock_t		mutex;			/* protects the fields below */
	int			count;
	int			entry;			/* -1 while empty */
	int			top_level;
	uint32		upper_used;
} OmenGraphShared;

/* One process's handle on a graph; the arrays are the shared ones. */
struct OmenGraph
{
	OmenGraphShared *sh;
	int			dim;
	int			metric;
	int			code_bits;
	Size		code_bytes;		/* of a packed code */
	OmenSelectMode select;		/* for a new node's links */
	bool		code_pairs;		/* pair distances in integers (mem_pair_distance) */
	double		code_limit;		/* omen_code_pair_limit(dim) */
	int			m;				/* links per upper level */
	int			m0;				/* links at level 0 (2m) */
	int			ef_construction;
	int			max_level;
	int			capacity;
	uint32		upper_slots;

	/*
	 * Per node: its lists at every level, and the heap TIDs the caller
	 * keeps, change under the node's lock when inserts are concurrent (locks
	 * is NULL otherwise).  A node's code and level are written before
	 * anything links to it and never change.
	 */
	slock_t    *locks;			/* [capacity] */
	uint8	   *codes;			/* [capacity][code_stride] */
	Size		code_stride;
	uint32	   *count0;			/* [capacity]: links at level 0 */
	uint32	   *links0;			/* [capacity][m0], rows cache-line aligned */
	float	   *dists0;			/* [capacity][m0]: distance of each link */
	uint8	   *flags0;			/* [capacity][m0]: OMEN_LINK_* of each link */
	uint8	   *levels;			/* [capacity] */
	uint32	   *upper_off;		/* [capacity]: first upper slot, level > 0 */
	uint32	   *upper_count;	/* [upper_slots] */
	uint32	   *upper_links;	/* [upper_slots][m] */
	float	   *upper_dists;	/* [upper_slots][m] */
	uint8	   *upper_flags;	/* [upper_slots][m] */

	/* this process's */
	uint32	   *visited;		/* [capacity]: epoch of last visit */
	uint32		epoch;

	pg_prng_state prng;
	OmenHeap	heap;
	OmenCand   *layer_res;		/* [max_level + 1][ef_construction] */
	OmenCand   *prune;			/* [m0 + 1] */
	OmenCodeRow *newcode;		/* code of the vector being inserted */
	uint8	   *unpacked;		/* [dim]: a code one element a byte */
	uint8	   *unpacked2;		/* [dim]: another */
	float	   *decoded;		/* [OMEN_DECODED][dim]: decoded codes */
	uint32		decoded_id[OMEN_DECODED];	/* their nodes, or PG_UINT32_MAX */
};

#define OMEN_CODE_STRIDE(dim, bits) \
	TYPEALIGN(64, offsetof(OmenCodeRow, code) + OMEN_CODE_BYTES(dim, bits))

void
omen_graph_lock(OmenGraph *g, int id)
{
	if (g->locks)
		SpinLockAcquire(&g->locks[id]);
}

void
omen_graph_unlock(OmenGraph *g, int id)
{
	if (g->locks)
		SpinLockRelease(&g->locks[id]);
}

/* Binary heaps on plain arrays */

static inline void
minheap_push(OmenHeap *h, OmenCand c)
{
	int			i;

	if (unlikely(h->n == h->cap))
	{
		h->cap *= 2;
		h->c = repalloc(h->c, sizeof(OmenCand) * h->cap);
	}
	i = h->n++;
	while (i > 0)
	{
		int			p = (i - 1) / 2;

		if (omen_dist_le(h->c[p].dist, c.dist))
			break;
		h->c[i] = h->c[p];
		i = p;
	}
	h->c[i] = c;
}

static inline OmenCand
minheap_pop(OmenHeap *h)
{
	OmenCand	top = h->c[0];
	OmenCand	last = h->c[--h->n];
	int			n = h->n;
	int			i = 0;

	for (;;)
	{
		int			l = 2 * i + 1;

		if (l >= n)
			break;
		if (l + 1 < n && omen_dist_lt(h->c[l + 1].dist, h->c[l].dist))
			l++;
		if (omen_dist_le(last.dist, h->c[l].dist))
			break;
		h->c[i] = h->c[l];
		i = l;
	}
	if (n > 0)
		h->c[i] = last;
	return top;
}

/* Sifts c down from the root of a max-heap of n elements. */
static inline void
maxheap_sift_down(OmenCand *a, int n, OmenCand c)
{
	int			i = 0;

	for (;;)
	{
		int			l = 2 * i + 1;

		if (l >= n)
			break;
		if (l + 1 < n && omen_dist_lt(a[l].dist, a[l + 1].dist))
			l++;
		if (omen_dist_le(a[l].dist, c.dist))
			break;
		a[i] = a[l];
		i = l;
	}
	a[i] = c;
}

/* Adds c to a max-heap holding the best ef, evicting the worst when full. */
static inline void
maxheap_offer(OmenCand *a, int *n, int ef, OmenCand c)
{
	int			i;

	if (*n == ef)
	{
		maxheap_sift_down(a, ef, c);
		return;
	}
	i = (*n)++;
	while (i > 0)
	{
		int			p = (i - 1) / 2;

		if (omen_dist_le(c.dist, a[p].dist))
			break;
		a[i] = a[p];
		i = p;
	}
	a[i] = c;
}

/* Heapsort of a max-heap into ascending order. */
static void
maxheap_sort(OmenCand *a, int n)
{
	while (n > 1)
	{
		OmenCand	top = a[0];

		n--;
		maxheap_sift_down(a, n, a[n]);
		a[n] = top;
	}
}

/* Hint that id's links at level are about to be read; may be NULL. */
typedef void (*omen_prefetch_fn) (void *store, OmenNodeId id, int level);

/*
 * The layer search template.  Expands the nearest unexpanded candidate in
 * heap until it is farther than the ef-th best of the nres results already
 * in result (a max-heap); each expansion filters the node's links through
 * visit() and scores the survivors in one batch.  With pending, nothing
 * scored is forgotten, so the search can resume: nodes the beam passes over
 * stay in heap, and live nodes that leave or never enter result go to
 * pending.  Returns the count, result sorted ascending.
 */
static pg_attribute_always_inline int
expand_impl(const OmenStoreOps *ops, omen_prefetch_fn prefetch,
			void *store, const float *query, int ef, int level,
			OmenCand *result, int nres, OmenHeap *heap, OmenHeap *pending)
{
	OmenNodeId	ids[OMEN_MAX_LINKS];
	float		dists[OMEN_MAX_LINKS];
	bool		routing[OMEN_MAX_LINKS];
	uint32		expansions = 0;

	while (heap->n > 0)
	{
		OmenCand	c = minheap_pop(heap);
		int			n;
		int			k = 0;

		if (nres == ef && omen_dist_lt(result[0].dist, c.dist))
		{
			if (pending)
				minheap_push(heap, c);
			break;
		}
		if (unlikely(++expansions % OMEN_CFI_EVERY == 0))
			CHECK_FOR_INTERRUPTS();
		/* the next candidate is most likely expanded next */
		if (prefetch && heap->n > 0)
			prefetch(store, heap->c[0].id, level);

		n = ops->neighbors(store, c.id, level, ids, OMEN_MAX_LINKS);
		for (int i = 0; i < n; i++)
		{
			if (ops->visit(store, ids[i]))
				ids[k++] = ids[i];
		}
		if (k == 0)
			continue;
		memset(routing, 0, sizeof(bool) * k);
		ops->distances(store, query, ids, k, dists, routing);

		for (int i = 0; i < k; i++)
		{
			OmenCand	nc;

			nc.id = ids[i];
			nc.dist = dists[i];
			if (nres < ef || omen_dist_lt(nc.dist, result[0].dist))
			{
				minheap_push(heap, nc);
				if (!routing[i])
				{
					if (pending && nres == ef)
						minheap_push(pending, result[0]);
					maxheap_offer(result, &nres, ef, nc);
				}
			}
			else if (pending)
			{
				minheap_push(heap, nc);
				if (!routing[i])
					minheap_push(pending, nc);
			}
		}
	}

	maxheap_sort(result, nres);
	return nres;
}

/* A fresh search from the entry candidates, which count as results. */
static pg_attribute_always_inline int
search_layer_impl(const OmenStoreOps *ops, omen_prefetch_fn prefetch,
				  void *store, const float *query,
				  const OmenCand *entry, int nentry, int ef, int level,
				  OmenCand *result, OmenHeap *heap)
{
	int			nres = 0;

	heap->n = 0;
	for (int i = 0; i < nentry; i++)
	{
		minheap_push(heap, entry[i]);
		maxheap_offer(result, &nres, ef, entry[i]);
	}
	return expand_impl(ops, prefetch, store, query, ef, level, result, nres,
					   heap, NULL);
}

/*
 * The selection template.  A candidate is kept when it is closer to the
 * base than to every node kept before it.  Candidates at distance self are
 * copies of the base (or vectors the distances cannot tell from it): a
 * copy is as far from every node as the base is, so it would prune them
 * all; copies prune nothing, and only OMEN_COPY_LINKS of them are kept.
 * With OMEN_SELECT_HEURISTIC_FILL, the nearest rejected candidates fill
 * the remaining places, copies only when nothing else is left.  The output
 * stays ascending.  If flags_out is not NULL, flags_out[i] gets the
 * OMEN_LINK_* flags of out[i], and the heuristic runs even when all
 * candidates fit.
 */
static pg_attribute_always_inline int
select_neighbors_impl(const OmenStoreOps *ops, void *store,
					  const OmenCand *cands, int ncands, int m,
					  OmenSelectMode mode, float self, OmenCand *out,
					  uint8 *flags_out)
{
	int			kept[OMEN_MAX_LINKS];
	int			nkept = 0;
	OmenNodeId	pruners[OMEN_MAX_LINKS];
	int			npruners = 0;
	int			ncopies = 0;
	int			nrejected = 0;
	int			next = 0;
	int			nout = 0;
	int			nfill;
	int			ncopyfill;

	Assert(m <= OMEN_MAX_LINKS);

	if ((ncands <= m && flags_out == NULL) || mode == OMEN_SELECT_NEAREST)
	{
		nout = Min(ncands, m);
		memcpy(out, cands, sizeof(OmenCand) * nout);
		if (flags_out)
			memset(flags_out, OMEN_LINK_KEPT, nout);
		return nout;
	}

	for (int i = 0; i < ncands && nkept < m; i++)
	{
		bool		good = true;

		if (cands[i].dist == self)
		{
			if (ncopies < OMEN_COPY_LINKS)
			{
				kept[nkept++] = i;
				ncopies++;
			}
			continue;
		}
		for (int j = 0; j < npruners; j++)
		{
			if (omen_dist_le(ops->pair_distance(store, cands[i].id, pruners[j]),
							 cands[i].dist))
			{
				good = false;
				break;
			}
		}
		if (good)
		{
			kept[nkept++] = i;
			pruners[npruners++] = cands[i].id;
		}
		else
			nrejected++;
	}

	/* merge the kept ones with the nearest rejected ones, in order */
	nfill = mode == OMEN_SELECT_HEURISTIC_FILL ? m - nkept : 0;
	ncopyfill = Max(nfill - nrejected, 0);
	for (int i = 0; i < ncands && nout < m; i++)
	{
		bool		copy = cands[i].dist == self;
		uint8		flags = copy ? OMEN_LINK_COPY : 0;

		if (next < nkept && kept[next] == i)
		{
			flags |= OMEN_LINK_KEPT;
			next++;
		}
		else if (nfill > 0 && (!copy || ncopyfill > 0))
		{
			nfill--;
			if (copy)
				ncopyfill--;
		}
		else if (next == nkept && nfill == 0)
			break;
		else
			continue;
		if (flags_out)
			flags_out[nout] = flags;
		out[nout++] = cands[i];
	}
	return nout;
}

int
omen_search_layer(const OmenStoreOps *ops, void *store,
				  const float *query, const OmenCand *entry,
				  int nentry, int ef, int level, OmenCand *result)
{
	OmenHeap	heap;
	int			n;

	Assert(ef > 0);
	heap.cap = Max(4 * ef, nentry + OMEN_MAX_LINKS);
	heap.c = palloc(sizeof(OmenCand) * heap.cap);
	n = search_layer_impl(ops, NULL, store, query, entry, nentry, ef, level,
						  result, &heap);
	pfree(heap.c);
	return n;
}

/* A level-0 search that hands out its results batch by batch. */
struct OmenSearch
{
	const OmenStoreOps *ops;
	void	   *store;
	const float *query;
	int			ef;
	bool		resumable;
	OmenHeap	heap;			/* scored, not expanded */
	OmenHeap	pending;		/* live, scored, not handed out */
};

OmenSearch *
omen_search_begin(const OmenStoreOps *ops, void *store, const float *query,
				  const OmenCand *entries, const bool *routing, int nentries,
				  int ef, bool resumable)
{
	OmenSearch *s = palloc(sizeof(OmenSearch));

	Assert(ef > 0);
	s->ops = ops;
	s->store = store;
	s->query = query;
	s->ef = ef;
	s->resumable = resumable;
	s->heap.cap = 4 * ef + OMEN_MAX_LINKS;
	s->heap.c = palloc(sizeof(OmenCand) * s->heap.cap);
	s->heap.n = 0;
	s->pending.cap = resumable ? 4 * ef : 1;
	s->pending.c = palloc(sizeof(OmenCand) * s->pending.cap);
	s->pending.n = 0;
	/* the entries are the first batch's first results, unless they route */
	for (int i = 0; i < nentries; i++)
	{
		minheap_push(&s->heap, entries[i]);
		if (!routing[i])
			minheap_push(&s->pending, entries[i]);
	}
	return s;
}

/*
 * The next batch: the ef nearest nodes not handed out before, seeded with
 * the nearest pending ones and refined by resuming the beam.  The first
 * batch is what omen_search_layer returns; a search that is not resumable
 * has no other.  Later batches may hold nodes nearer than earlier ones.
 */
int
omen_search_next(OmenSearch *s, OmenCand *result)
{
	int			nres = 0;

	while (s->pending.n > 0 && nres < s->ef)
		maxheap_offer(result, &nres, s->ef, minheap_pop(&s->pending));
	if (nres == 0 && s->heap.n == 0)
		return 0;
	nres = expand_impl(s->ops, NULL, s->store, s->query, s->ef, 0, result,
					   nres, &s->heap, s->resumable ? &s->pending : NULL);
	if (!s->resumable)
		s->heap.n = 0;
	return nres;
}

int
omen_search_drain(OmenSearch *s, OmenCand *result)
{
	int			n = 0;

	while (s->pending.n > 0 && n < s->ef)
		result[n++] = minheap_pop(&s->pending);
	return n;
}

int
omen_select_neighbors(const OmenStoreOps *ops, void *store,
					  const OmenCand *cands, int ncands, int m,
					  OmenSelectMode mode, float self, OmenCand *out)
{
	return select_neighbors_impl(ops, store, cands, ncands, m, mode, self,
								 out, NULL);
}

/*
 * Under the heuristic, lists are filled to the brim with the nearest
 * candidates it rejects: the extra links cost build time but buy recall at
 * small ef_search.  Under inner product (the m nearest) a new node takes m
 * links only: the nearest are the same few long vectors for every node, and
 * 2m back-links to them evict so many links that a fifth of the nodes end
 * up with no incoming one.
 */
int
omen_new_node_links(int metric, int m, int level, OmenSelectMode *mode)
{
	if (OMEN_SELECT_MODE(metric) == OMEN_SELECT_NEAREST)
	{
		*mode = OMEN_SELECT_NEAREST;
		return m;
	}
	*mode = OMEN_SELECT_HEURISTIC_FILL;
	return level == 0 ? 2 * m : m;
}

int
omen_random_level(double uniform, int m, int max_level)
{
	double		l = -log(uniform) / log((double) m);

	if (!(l < (double) max_level))
		return max_level;
	return (int) l;
}

/* The in-memory graph */

/*
 * Links of id at level, their count in *count, distances in *dists and
 * OMEN_LINK_* flags in *flags (both optional).
 */
static inline uint32 *
graph_links(const OmenGraph *g, uint32 id, int level, uint32 **count,
			float **dists, uint8 **flags)
{
	Size		slot;

	Assert(level <= g->levels[id]);
	if (level == 0)
	{
		*count = &g->count0[id];
		if (dists)
			*dists = g->dists0 + (Size) id * g->m0;
		if (flags)
			*flags = g->flags0 + (Size) id * g->m0;
		return g->links0 + (Size) id * g->m0;
	}
	slot = g->upper_off[id] + level - 1;
	*count = &g->upper_count[slot];
	if (dists)
		*dists = g->upper_dists + slot * g->m;
	if (flags)
		*flags = g->upper_flags + slot * g->m;
	return g->upper_links + slot * g->m;
}

static inline const OmenCodeRow *
graph_code(const OmenGraph *g, uint32 id)
{
	return (const OmenCodeRow *) (g->codes + (Size) id * g->code_stride);
}

/*
 * The bytes of a code row that say which vector it codes (its code, the
 * numbers that decode it and its tightness): rows equal over them are
 * copies.
 */
static inline Size
graph_row_key_size(const OmenGraph *g)
{
	return offsetof(OmenCodeRow, code) + g->code_bytes;
}

/*
 * row's code as the coded kernels take it, of omen_kernel_bits(code_bits)
 * bits: the code itself at 8 and 4 bits and of halves, one element a byte
 * below (unpacked into buf, of dim bytes)
 */
static inline const uint8 *
graph_row_bytes(const OmenGraph *g, const OmenCodeRow *row, uint8 *buf)
{
	if (omen_kernel_bits(g->code_bits) == g->code_bits)
		return row->code;
	omen_code_unpack(row->code, g->dim, g->code_bits, buf);
	return buf;
}

/* Sets row's sums from its code; for codes of up to 8 bits. */
static void
graph_row_sums(const OmenGraph *g, OmenCodeRow *row)
{
	omen_code_sums(graph_row_bytes(g, row, g->unpacked), g->dim,
				   omen_kernel_bits(g->code_bits), &row->sums);
}

static inline float
graph_row_distance(const OmenGraph *g, const float *query,
				   const OmenCodeRow *row)
{
	return omen_code_distance(g->metric, omen_kernel_bits(g->code_bits), query,
							  graph_row_bytes(g, row, g->unpacked),
							  row->sums.offset, row->sums.scale, g->dim);
}

/*
 * Distance from query to node id as the build sees it, from its code.
 * Every distance the build compares, keeps with a link or uses to find
 * duplicates comes from here, or between two nodes from mem_pair_distance
 * (the distance of their decoded codes), so they are all of one kind.
 */
static inline float
graph_distance(const OmenGraph *g, const float *query, uint32 id)
{
	return graph_row_distance(g, query, graph_code(g, id));
}

/* The vector node id's code stands for, into out (dim floats). */
static void
graph_decode(const OmenGraph *g, uint32 id, float *out)
{
	const OmenCodeRow *row = graph_code(g, id);

	omen_code_decode(graph_row_bytes(g, row, g->unpacked), g->dim,
					 omen_kernel_bits(g->code_bits), row->sums.offset,
					 row->sums.scale, out);
}

/* Node id's decoded code, from the handle's cache of them. */
static inline const float *
graph_decoded(OmenGraph *g, uint32 id)
{
	int			slot = id % OMEN_DECODED;
	float	   *out = g->decoded + (Size) slot * g->dim;

	if (g->decoded_id[slot] != id)
	{
		graph_decode(g, id, out);
		g->decoded_id[slot] = id;
	}
	return out;
}

/* Hint that graph_distance() will read node id's code. */
static inline void
graph_prefetch_node(const OmenGraph *g, uint32 id)
{
	const char *p = (const char *) graph_code(g, id);

	for (Size off = 0; off < g->code_stride; off += 64)
		__builtin_prefetch(p + off, 0, 2);
}

static int
mem_neighbors(void *store, OmenNodeId id, int level, OmenNodeId *out, int max)
{
	OmenGraph  *g = (OmenGraph *) store;
	uint32	   *count;
	const uint32 *l = graph_links(g, (uint32) id, level, &count, NULL, NULL);
	int			n;

	omen_graph_lock(g, (int) id);
	n = *count;
	for (int i = 0; i < n; i++)
	{
		out[i] = l[i];
		__builtin_prefetch(&g->visited[l[i]]);
	}
	omen_graph_unlock(g, (int) id);
	return n;
}

/*
 * The codes are all asked for first, so that their cache misses overlap
 * rather than each distance waiting for its own.
 */
static void
mem_distances(void *store, const float *query, const OmenNodeId *ids, int n,
			  float *out, bool *routing)
{
	OmenGraph  *g = (OmenGraph *) store;

	for (int i = 0; i < n; i++)
		graph_prefetch_node(g, (uint32) ids[i]);
	for (int i = 0; i < n; i++)
		out[i] = graph_distance(g, query, (uint32) ids[i]);
}

/*
 * The distance between the codes of nodes a and b: in integers where the
 * graph has code_pairs and both fit, else a's code against b's decoded
 * code.  (The selection loops over candidates a, each against the few links
 * kept so far, so b's decoded codes stay in the cache of them and a's codes
 * are often still in the CPU's from the search that found a.)
 */
static float
mem_pair_distance(void *store, OmenNodeId a, OmenNodeId b)
{
	OmenGraph  *g = (OmenGraph *) store;
	const OmenCodeRow *ra = graph_code(g, (uint32) a);
	const OmenCodeRow *rb = graph_code(g, (uint32) b);

	if (g->code_pairs && omen_code_pair_fits(&ra->sums, g->code_limit) &&
		omen_code_pair_fits(&rb->sums, g->code_limit))
		return omen_code_pair_distance(g->metric, g->dim,
									   omen_kernel_bits(g->code_bits), &rb->sums,
									   graph_row_bytes(g, rb, g->unpacked2),
									   &ra->sums,
									   graph_row_bytes(g, ra, g->unpacked));
	return graph_distance(g, graph_decoded(g, (uint32) b), (uint32) a);
}

static bool
mem_visit(void *store, OmenNodeId id)
{
	OmenGraph  *g = (OmenGraph *) store;

	if (g->visited[id] == g->epoch)
		return false;
	g->visited[id] = g->epoch;
	return true;
}

static void
mem_prefetch(void *store, OmenNodeId id, int level)
{
	OmenGraph  *g = (OmenGraph *) store;
	uint32	   *count;
	const char *l = (const char *) graph_links(g, (uint32) id, level, &count,
											  NULL, NULL);
	int			bytes = (level == 0 ? g->m0 : g->m) * sizeof(uint32);

	__builtin_prefetch(count);
	for (int off = 0; off < bytes; off += 64)
		__builtin_prefetch(l + off);
}

/*
 * Hint that node id's list at level, with its distances and flags, is about
 * to be changed (graph_add_link).
 */
static inline void
graph_prefetch_list(const OmenGraph *g, uint32 id, int level)
{
	uint32	   *count;
	float	   *dists;
	uint8	   *flags;
	const char *l = (const char *) graph_links(g, id, level, &count, &dists,
											  &flags);
	int			maxlinks = level == 0 ? g->m0 : g->m;

	__builtin_prefetch(count, 1);
	__builtin_prefetch(flags, 1);
	for (int off = 0; off < maxlinks * (int) sizeof(uint32); off += 64)
	{
		__builtin_prefetch(l + off, 1);
		__builtin_prefetch((const char *) dists + off, 1);
	}
}

static const OmenStoreOps mem_ops = {
	mem_neighbors, mem_distances, mem_pair_distance, mem_visit
};

/* Upper-level slots to allocate for a capacity. */
static uint32
graph_upper_slots(int capacity, int m, int max_level)
{
	uint64		s = (uint64) capacity * OMEN_UPPER_NUM /
		((uint64) OMEN_UPPER_DEN * (m - 1));

	return (uint32) (s + 2 * max_level + 16);
}

Size
omen_graph_node_bytes(int dim, int code_bits, int m)
{
	Size		m0 = 2 * (Size) m;
	Size		slot = (1 + m) * sizeof(uint32) + m * (sizeof(float) + sizeof(uint8));
	Size		bytes;

	bytes = OMEN_CODE_STRIDE(dim, code_bits)	/* code */
		+ (1 + m0) * sizeof(uint32)	/* level-0 links */
		+ m0 * sizeof(float)		/* their distances */
		+ m0 * sizeof(uint8)		/* their flags */
		+ sizeof(uint8)				/* level */
		+ sizeof(uint32)			/* upper offset */
		+ sizeof(slock_t)			/* lock */
		+ sizeof(uint32);			/* visited epoch */
	/* share of the upper-level arena, rounded up */
	bytes += (slot * OMEN_UPPER_NUM + OMEN_UPPER_DEN * (m - 1) - 1) /
		(OMEN_UPPER_DEN * (m - 1));
	return bytes;
}

/* Reserves bytes at *off, cache-line aligned; NULL when only sizing. */
static void *
graph_place(char *base, Size *off, Size bytes)
{
	void	   *p;

	*off = TYPEALIGN(64, *off);
	p = base ? base + *off : NULL;
	*off += bytes;
	return p;
}

/*
 * Points g's arrays into the graph memory at base (or, with base NULL,
 * only sizes it) from g's settings; returns the bytes it spans.
 */
static Size
graph_layout(OmenGraph *g, char *base)
{
	Size		cap = g->capacity;
	Size		slots = g->upper_slots;
	Size		off = sizeof(OmenGraphShared);

	g->locks = graph_place(base, &off, cap * sizeof(slock_t));
	g->code_stride = OMEN_CODE_STRIDE(g->dim, g->code_bits);
	g->codes = graph_place(base, &off, cap * g->code_stride);
	g->count0 = graph_place(base, &off, cap * sizeof(uint32));
	g->links0 = graph_place(base, &off, cap * g->m0 * sizeof(uint32));
	g->dists0 = graph_place(base, &off, cap * g->m0 * sizeof(float));
	g->flags0 = graph_place(base, &off, cap * g->m0 * sizeof(uint8));
	g->levels = graph_place(base, &off, cap);
	g->upper_off = graph_place(base, &off, cap * sizeof(uint32));
	g->upper_count = graph_place(base, &off, slots * sizeof(uint32));
	g->upper_links = graph_place(base, &off, slots * g->m * sizeof(uint32));
	g->upper_dists = graph_place(base, &off, slots * g->m * sizeof(float));
	g->upper_flags = graph_place(base, &off, slots * g->m * sizeof(uint8));
	return off;
}

/* A handle with the settings of sh, not yet pointing anywhere. */
static OmenGraph *
graph_handle(OmenGraphShared *sh)
{
	OmenGraph  *g = palloc0(sizeof(OmenGraph));

	g->sh = sh;
	g->dim = sh->dim;
	g->metric = sh->metric;
	g->code_bits = sh->code_bits;
	g->code_bytes = OMEN_CODE_BYTES(sh->dim, sh->code_bits);
	(void) omen_new_node_links(sh->metric, sh->m, 0, &g->select);
	g->code_pairs = sh->code_bits != OMEN_CODE_HALVES &&
		sh->metric != OMEN_METRIC_L1;
	g->code_limit = omen_code_pair_limit(sh->dim);
	g->m = sh->m;
	g->m0 = 2 * sh->m;
	g->ef_construction = sh->ef_construction;
	g->max_level = sh->max_level;
	g->capacity = sh->capacity;
	g->upper_slots = graph_upper_slots(sh->capacity, sh->m, sh->max_level);
	return g;
}

Size
omen_graph_size(int dim, int code_bits, int m, int max_level, int capacity)
{
	OmenGraphShared sh;
	OmenGraph  *g;
	Size		size;

	sh.dim = dim;
	sh.metric = OMEN_METRIC_L2;	/* the layout does not depend on it */
	sh.code_bits = code_bits;
	sh.m = m;
	sh.ef_construction = 1;
	sh.max_level = Min(max_level, OMEN_GRAPH_MAX_LEVEL);
	sh.capacity = capacity;
	g = graph_handle(&sh);
	size = graph_layout(g, NULL);
	pfree(g);
	return size;
}

/* Points a new handle on the graph at mem, with this process's state. */
static OmenGraph *
graph_open(void *mem, uint64 seed)
{
	OmenGraphShared *sh = (OmenGraphShared *) mem;
	OmenGraph  *g = graph_handle(sh);

	graph_layout(g, (char *) mem);
	if (!sh->concurrent)
		g->locks = NULL;
	g->visited = MemoryContextAllocHuge(CurrentMemoryContext,
										sizeof(uint32) * g->capacity);
	memset(g->visited, 0, sizeof(uint32) * g->capacity);
	pg_prng_seed(&g->prng, seed);
	g->heap.cap = 4 * g->ef_construction + OMEN_MAX_LINKS;
	g->heap.c = palloc(sizeof(OmenCand) * g->heap.cap);
	g->layer_res = palloc(sizeof(OmenCand) * (g->max_level + 1) *
						  g->ef_construction);
	g->prune = palloc(sizeof(OmenCand) * (g->m0 + 1));
	g->newcode = palloc0(g->code_stride);
	g->unpacked = palloc(g->dim);
	g->unpacked2 = palloc(g->dim);
	g->decoded = palloc(sizeof(float) * OMEN_DECODED * g->dim);
	for (int i = 0; i < OMEN_DECODED; i++)
		g->decoded_id[i] = PG_UINT32_MAX;
	return g;
}

OmenGraph *
omen_graph_create_in(void *mem, bool concurrent, int dim, int metric,
					 int code_bits, int m, int ef_construction, int max_level,
					 int capacity, uint64 seed)
{
	OmenGraphShared *sh = (OmenGraphShared *) mem;
	OmenGraph  *g;

	Assert(m >= 2 && m <= OMEN_MAX_M);
	Assert(code_bits == OMEN_CODE_HALVES || code_bits == 8 ||
		   code_bits == 4 || code_bits == 2 || code_bits == 1);
	Assert(capacity > 0 && ef_construction > 0 && max_level >= 0);
	Assert(mem == (void *) TYPEALIGN(64, mem));

	memset(sh, 0, sizeof(OmenGraphShared));
	sh->dim = dim;
	sh->metric = metric;
	sh->code_bits = code_bits;
	sh->m = m;
	sh->ef_construction = ef_construction;
	sh->max_level = Min(max_level, OMEN_GRAPH_MAX_LEVEL);
	sh->capacity = capacity;
	sh->concurrent = concurrent;
	SpinLockInit(&sh->mutex);
	sh->entry = -1;
	sh->top_level = -1;
	g = graph_open(mem, seed);
	if (concurrent)
		for (int i = 0; i < capacity; i++)
			SpinLockInit(&g->locks[i]);
	return g;
}

OmenGraph *
omen_graph_attach(void *mem, uint64 seed)
{
	return graph_open(mem, seed);
}

/*
 * A graph in local memory.  The build touches it at random, so with 4 kB
 * pages nearly every vector fetch also misses the TLB; asking for
 * transparent huge pages avoids that where the kernel offers them.
 */
OmenGraph *
omen_graph_create(int dim, int metric, int code_bits, int m,
				  int ef_construction, int max_level, int capacity,
				  uint64 seed)
{
	Size		size = omen_graph_size(dim, code_bits, m, max_level, capacity);
	char	   *p = MemoryContextAllocHuge(CurrentMemoryContext, size + 64);
	char	   *mem = (char *) TYPEALIGN(64, p);

#ifdef MADV_HUGEPAGE
	{
		const Size	huge = 2 * 1024 * 1024;
		uintptr_t	start = TYPEALIGN(huge, (uintptr_t) mem);
		uintptr_t	end = TYPEALIGN_DOWN(huge, (uintptr_t) mem + size);

		if (end > start)
			(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
	}
#endif
	return omen_graph_create_in(mem, false, dim, metric, code_bits, m,
								ef_construction, max_level, capacity, seed);
}

/* Searches one level of the graph with a fresh visited set. */
static int
graph_search_level(OmenGraph *g, const float *query, const OmenCand *entry,
				   int nentry, int ef, int level, OmenCand *result)
{
	if (unlikely(++g->epoch == 0))
	{
		memset(g->visited, 0, sizeof(uint32) * g->capacity);
		g->epoch = 1;
	}
	for (int i = 0; i < nentry; i++)
		g->visited[entry[i].id] = g->epoch;
	return search_layer_impl(&mem_ops, mem_prefetch, g, query, entry, nentry,
							 ef, level, result, &g->heap);
}

/* Greedy descent from entry, at top, down to level stop + 1. */
static OmenCand
graph_descend(OmenGraph *g, const float *query, int entry, int top, int stop)
{
	OmenCand	ep;

	ep.id = entry;
	ep.dist = graph_distance(g, query, entry);
	for (int l = top; l > stop; l--)
	{
		OmenCand	best;

		graph_search_level(g, query, &ep, 1, 1, l, &best);
		ep = best;
	}
	return ep;
}

/*
 * Adds a link from u to v, at distance d, into u's list at level, which is
 * kept ascending.  Like a new node's list, a list keeps the links the
 * heuristic keeps and fills the other places with the nearest links it
 * rejects.  Each link's flags say whether the heuristic keeps it and
 * whether it is a copy of u (as copy says of v), so adding one only checks
 * it against the kept links before it, and the kept ones after it against
 * it, instead of rerunning the selection.  A copy that finds the quota
 * of copies full is rejected, or with replace takes the place of the last
 * kept copy, which leaves the list.  Otherwise a full list drops a rejected
 * copy, else its farthest rejected link, else its farthest link.  Returns
 * the node dropped other than v, or -1.  With force, v is never the one
 * dropped: the farthest other link goes instead.
 */
static int64
graph_add_link(OmenGraph *g, uint32 u, int level, uint32 v, float d,
			   bool copy, bool replace, bool force)
{
	int			maxlinks = level == 0 ? g->m0 : g->m;
	uint32	   *count;
	float	   *dists;
	uint8	   *flags;
	uint32	   *links = graph_links(g, u, level, &count, &dists, &flags);
	int			cnt = *count;
	int			pos = cnt;
	uint32		nl[OMEN_MAX_LINKS + 1];
	float		nd[OMEN_MAX_LINKS + 1];
	uint8		nf[OMEN_MAX_LINKS + 1];
	uint32		added[OMEN_MAX_LINKS + 1];
	int			nadded = 0;
	bool		removed = false;
	int			drop = -1;
	int64		dropped = -1;

	/* concurrent inserts may link each other both ways */
	for (int j = 0; j < cnt; j++)
		if (links[j] == v)
			return -1;
	while (pos > 0 && omen_dist_lt(d, dists[pos - 1]))
		pos--;

	memcpy(nl, links, sizeof(uint32) * pos);
	memcpy(nd, dists, sizeof(float) * pos);
	memcpy(nf, flags, sizeof(uint8) * pos);
	nl[pos] = v;
	nd[pos] = d;
	nf[pos] = OMEN_LINK_KEPT;
	memcpy(nl + pos + 1, links + pos, sizeof(uint32) * (cnt - pos));
	memcpy(nd + pos + 1, dists + pos, sizeof(float) * (cnt - pos));
	memcpy(nf + pos + 1, flags + pos, sizeof(uint8) * (cnt - pos));
	cnt++;

	if (g->select != OMEN_SELECT_NEAREST && copy)
	{
		int			ncopies = 0;
		int			last = -1;

		/* copies prune nothing and are kept up to their quota */
		nf[pos] |= OMEN_LINK_COPY;
		for (int j = 0; j < cnt; j++)
			if (j != pos && nf[j] == (OMEN_LINK_KEPT | OMEN_LINK_COPY))
			{
				ncopies++;
				last = j;
			}
		if (ncopies >= OMEN_COPY_LINKS)
		{
			if (replace)
				drop = last;
			else
				nf[pos] = OMEN_LINK_COPY;
		}
	}
	else if (g->select != OMEN_SELECT_NEAREST)
	{
		/* the kept links before v are compared with it, at random places */
		for (int j = 0; j < pos; j++)
			if (nf[j] == OMEN_LINK_KEPT)
				graph_prefetch_node(g, nl[j]);
		for (int j = 0; j < pos && nf[pos]; j++)
			if (nf[j] == OMEN_LINK_KEPT &&
				omen_dist_le(mem_pair_distance(g, nl[j], v), d))
				nf[pos] = 0;
		if (nf[pos])
			added[nadded++] = v;

		/*
		 * A kept link after v can only lose to links that joined the kept
		 * ones; a rejected one can only win once a kept one has left.
		 */
		for (int j = pos + 1; j < cnt && nadded > 0; j++)
		{
			if (nf[j] == OMEN_LINK_KEPT)
			{
				/* nl[j]'s codes, not its floats: the added ones are hot */
				for (int a = 0; a < nadded; a++)
					if (omen_dist_le(mem_pair_distance(g, nl[j], added[a]), nd[j]))
					{
						nf[j] = 0;
						removed = true;
						break;
					}
			}
			else if (removed && nf[j] == 0)
			{
				nf[j] = OMEN_LINK_KEPT;
				for (int k = 0; k < j && nf[j]; k++)
					if (nf[k] == OMEN_LINK_KEPT &&
						omen_dist_le(mem_pair_distance(g, nl[k], nl[j]), nd[j]))
						nf[j] = 0;
				if (nf[j])
					added[nadded++] = nl[j];
			}
		}
	}

	if (drop >= 0 || cnt > maxlinks)
	{
		for (int j = cnt - 1; j >= 0 && drop < 0; j--)
			if (nf[j] == OMEN_LINK_COPY)
				drop = j;
		for (int j = cnt - 1; j >= 0 && drop < 0; j--)
			if (!(nf[j] & OMEN_LINK_KEPT))
				drop = j;
		if (drop < 0)
			drop = cnt - 1;
		if (force && drop == pos)
			drop = pos == cnt - 1 ? cnt - 2 : cnt - 1;
		if (nl[drop] != v)
			dropped = nl[drop];
		cnt--;
		memmove(nl + drop, nl + drop + 1, sizeof(uint32) * (cnt - drop));
		memmove(nd + drop, nd + drop + 1, sizeof(float) * (cnt - drop));
		memmove(nf + drop, nf + drop + 1, sizeof(uint8) * (cnt - drop));
	}
	memcpy(links, nl, sizeof(uint32) * cnt);
	memcpy(dists, nd, sizeof(float) * cnt);
	memcpy(flags, nf, sizeof(uint8) * cnt);
	*count = cnt;
	return dropped;
}

/*
 * Links the new node id to its selected neighbours at level and adds the
 * back-links; self is the distance at which a node is a copy of id.  The
 * first copy of id it links to links back to id in place of one of its
 * copies, which id takes over: in a group of copies too large for their
 * quota every one keeps an incoming link, along a chain.  The new node's
 * list is picked as omen_new_node_links says.  Under inner product the
 * nearest neighbour always keeps its link back to id, giving up its
 * farthest link instead (which moves to id's list), as an insert's first
 * back-link does (insert.c: first_link): the nearest under inner product
 * are the same few long vectors for most nodes, whose full lists would turn
 * id away, and a node no list keeps is reached only once
 * omen_graph_connect_all gives it a link in place of a useful one.
 */
static void
graph_connect(OmenGraph *g, uint32 id, int level, const OmenCand *cands,
			  int ncands, float self)
{
	OmenCand   *sel = g->prune;
	uint8		selflags[OMEN_MAX_LINKS];
	uint32	   *count;
	float	   *dists;
	uint8	   *flags;
	uint32	   *links = graph_links(g, id, level, &count, &dists, &flags);
	OmenSelectMode mode;
	int			nlinks = omen_new_node_links(g->metric, g->m, level, &mode);
	int			nsel;
	bool		chained = false;

	Assert(mode == g->select);
	nsel = select_neighbors_impl(&mem_ops, g, cands, ncands, nlinks, mode,
								 self, sel, selflags);
	omen_graph_lock(g, id);
	if (*count == 0)
	{
		for (int i = 0; i < nsel; i++)
		{
			links[i] = (uint32) sel[i].id;
			dists[i] = sel[i].dist;
			flags[i] = selflags[i];
		}
		*count = nsel;
	}
	else
	{
		/* a concurrent insert that found id linked to it first */
		for (int i = 0; i < nsel; i++)
			graph_add_link(g, id, level, (uint32) sel[i].id, sel[i].dist,
						   (selflags[i] & OMEN_LINK_COPY) != 0, false, false);
	}
	omen_graph_unlock(g, id);

	for (int i = 0; i < nsel; i++)
		graph_prefetch_list(g, (uint32) sel[i].id, level);
	for (int i = 0; i < nsel; i++)
	{
		uint32		nb = (uint32) sel[i].id;
		bool		copy = (selflags[i] & OMEN_LINK_COPY) != 0;
		bool		chain = copy && !chained;
		int64		dropped;

		omen_graph_lock(g, nb);
		dropped = graph_add_link(g, nb, level, id, sel[i].dist, copy, chain,
								 i == 0 && g->select == OMEN_SELECT_NEAREST);
		omen_graph_unlock(g, nb);
		chained |= copy;

		/*
		 * The link id pushed out of nb's list moves to id's, so that no
		 * node loses its incoming links one insert at a time: searches then
		 * miss nodes that are still reachable (rows not finding themselves
		 * after most of the table is deleted).
		 */
		if (dropped >= 0)
		{
			float		dd = mem_pair_distance(g, dropped, id);

			omen_graph_lock(g, id);
			graph_add_link(g, id, level, (uint32) dropped, dd, dd == self,
						   chain, false);
			omen_graph_unlock(g, id);
		}
	}
}

int
omen_graph_insert(OmenGraph *g, const float *vec, OmenMergeFn merge,
				  OmenAddFn add, void *arg, bool *merged)
{
	OmenGraphShared *sh = g->sh;
	uint32		id;
	uint32		upper;
	int			level;
	int			entry;
	int			top;
	int			lo;
	int			nres[OMEN_GRAPH_MAX_LEVEL + 1];
	OmenCand	ep;
	float		self;

	CHECK_FOR_INTERRUPTS();
	*merged = false;

	/* a copy of vec is at vec's distance to its own code */
	omen_quantize(vec, g->dim, g->code_bits, g->newcode->code,
				  &g->newcode->sums.offset, &g->newcode->sums.scale);
	g->newcode->tight = omen_code_tightness(vec, g->dim, g->code_bits,
											g->newcode->code,
											g->newcode->sums.offset,
											g->newcode->sums.scale);
	if (g->code_pairs)
		graph_row_sums(g, g->newcode);
	self = graph_row_distance(g, vec, g->newcode);

	level = omen_random_level(1.0 - pg_prng_double(&g->prng), g->m,
							  g->max_level);
	SpinLockAcquire(&sh->mutex);
	entry = sh->entry;
	top = sh->top_level;
	SpinLockRelease(&sh->mutex);

	if (entry >= 0)
	{
		/* search every level first, so a duplicate leaves no trace */
		lo = Min(level, top);
		ep = graph_descend(g, vec, entry, top, lo);
		for (int l = lo; l >= 0; l--)
		{
			OmenCand   *res = g->layer_res + (Size) l * g->ef_construction;

			if (l == lo)
				nres[l] = graph_search_level(g, vec, &ep, 1,
											 g->ef_construction, l, res);
			else
				nres[l] = graph_search_level(g, vec,
											 res + g->ef_construction,
											 nres[l + 1],
											 g->ef_construction, l, res);
		}

		if (merge)
		{
			for (int i = 0; i < nres[0]; i++)
			{
				uint32		cand = (uint32) g->layer_res[i].id;

				if (g->layer_res[i].dist == self &&
					memcmp(graph_code(g, cand), g->newcode,
						   graph_row_key_size(g)) == 0 &&
					merge(arg, (int) cand))
				{
					*merged = true;
					return cand;
				}
			}
		}
	}
	else
		lo = -1;

	SpinLockAcquire(&sh->mutex);
	if (sh->count >= g->capacity || sh->upper_used + level > g->upper_slots)
	{
		SpinLockRelease(&sh->mutex);
		return -1;
	}
	id = sh->count++;
	upper = sh->upper_used;
	sh->upper_used += level;
	SpinLockRelease(&sh->mutex);

	memcpy((OmenCodeRow *) graph_code(g, id), g->newcode, g->code_stride);
	g->levels[id] = level;
	g->count0[id] = 0;
	g->upper_off[id] = upper;
	for (int l = 0; l < level; l++)
		g->upper_count[upper + l] = 0;
	if (add)
		add(arg, id);

	/*
	 * Bottom up, so that a concurrent search that reaches id on a level
	 * (through the back-links written after id's own list there) finds id's
	 * lists on the levels below written too.  Linked from the top down, id
	 * could be a descent's entry on a level where its list is still empty,
	 * and that insert would find no neighbour but id.
	 */
	for (int l = 0; l <= lo; l++)
		graph_connect(g, id, l, g->layer_res + (Size) l * g->ef_construction,
					  nres[l], self);

	if (level > top)
	{
		SpinLockAcquire(&sh->mutex);
		if (level > sh->top_level)
		{
			sh->entry = id;
			sh->top_level = level;
		}
		SpinLockRelease(&sh->mutex);
	}
	return id;
}

/*
 * Marks in reached[] everything level-0 links lead to from the nodes in
 * queue, and records in parent[] the node each was first reached from: the
 * links parent[x] -> x form a tree that spans the reached nodes.
 */
static void
graph_flood(const OmenGraph *g, bool *reached, uint32 *parent, uint32 *queue,
			int qtail)
{
	int			qhead = 0;

	while (qhead < qtail)
	{
		uint32		cur = queue[qhead++];
		const uint32 *links = g->links0 + (Size) cur * g->m0;

		for (uint32 i = 0; i < g->count0[cur]; i++)
		{
			if (!reached[links[i]])
			{
				reached[links[i]] = true;
				parent[links[i]] = cur;
				queue[qtail++] = links[i];
			}
		}
	}
}

/*
 * The slot of level-0 list v that a new link may take: its end when the list
 * has room, else with replace its farthest link that is not a tree link of
 * parent[] (so giving it up leaves every reached node reached), else -1.
 */
static int
graph_repair_slot(const OmenGraph *g, const uint32 *parent, uint32 v,
				  bool replace)
{
	const uint32 *links = g->links0 + (Size) v * g->m0;

	if (g->count0[v] < (uint32) g->m0)
		return g->count0[v];
	for (int j = g->count0[v] - 1; j >= 0 && replace; j--)
		if (parent[links[j]] != v)
			return j;
	return -1;
}

/* Adds a level-0 link from u to its copy v, unless u links to v already. */
static void
graph_link_copy(OmenGraph *g, uint32 u, uint32 v)
{
	(void) graph_add_link(g, u, 0, v, mem_pair_distance(g, u, v), true, true,
						  false);
}

/*
 * Links the nodes that share a code into a ring on level 0.  Inserts that
 * run at the same time in a shared graph may each add a node for the same
 * vector without finding the other's, and neighbours that keep one of the
 * two as a copy prune the other, so a node could be reached only through
 * farther vectors: a scan in strict order would then return its rows after
 * farther ones.  With the ring, whichever node of a group a search meets
 * first leads to all of them.  A link added to a full list pushes out
 * another one; omen_graph_connect_all, which runs next, gives back a path
 * to any node that this leaves unreached.  Runs in one process, with no
 * concurrent insert into the graph.
 */
static void
graph_link_copies(OmenGraph *g)
{
	uint32		n = (uint32) g->sh->count;
	Size		rowsize = graph_row_key_size(g);
	uint32		mask;
	uint32	   *first;
	uint32	   *last;

	mask = (uint32) pg_nextpower2_64((uint64) n * 2) - 1;
	first = MemoryContextAllocExtended(CurrentMemoryContext,
									   sizeof(uint32) * ((Size) mask + 1),
									   MCXT_ALLOC_HUGE);
	last = MemoryContextAllocExtended(CurrentMemoryContext,
									  sizeof(uint32) * ((Size) mask + 1),
									  MCXT_ALLOC_HUGE);
	memset(first, 0xFF, sizeof(uint32) * ((Size) mask + 1));

	for (uint32 u = 0; u < n; u++)
	{
		const OmenCodeRow *row = graph_code(g, u);
		uint32		slot = hash_bytes((const unsigned char *) row, rowsize) & mask;

		if ((u & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		while (first[slot] != PG_UINT32_MAX &&
			   memcmp(graph_code(g, first[slot]), row, rowsize) != 0)
			slot = (slot + 1) & mask;
		if (first[slot] == PG_UINT32_MAX)
			first[slot] = u;
		else
			graph_link_copy(g, last[slot], u);
		last[slot] = u;
	}
	for (uint32 slot = 0; slot <= mask; slot++)
		if (first[slot] != PG_UINT32_MAX && last[slot] != first[slot])
			graph_link_copy(g, last[slot], first[slot]);
	pfree(first);
	pfree(last);
}

/*
 * Links every node that level-0 links from the entry point do not reach.
 * Pruning back-links with the heuristic can leave a node with no incoming
 * link, and a search could never return it.  Such a node u gets a link
 * from the nearest reached node a search finds for it that has a slot to
 * spare (graph_repair_slot): a free one, else one holding a link outside the
 * tree of links by which the flood from the entry point reached each node.
 * Tree links are never given up, so a reached node stays reached, and u and
 * all it leads to join the tree.  A reached node with a slot to spare
 * always exists: a tree over R nodes has R - 1 links and the R lists hold
 * R * m0 slots.  So one pass over the nodes leaves every node reached.
 * Runs in one process, with no concurrent insert into the graph.
 */
void
omen_graph_connect_all(OmenGraph *g)
{
	uint32		n = (uint32) g->sh->count;
	bool	   *reached;
	uint32	   *parent;
	uint32	   *queue;
	OmenCand   *res = g->layer_res;
	float	   *query;

	if (n == 0)
		return;
	graph_link_copies(g);
	query = palloc(sizeof(float) * g->dim);
	reached = palloc0(sizeof(bool) * n);
	parent = palloc(sizeof(uint32) * n);
	queue = palloc(sizeof(uint32) * n);
	reached[g->sh->entry] = true;
	parent[g->sh->entry] = g->sh->entry;
	queue[0] = g->sh->entry;
	graph_flood(g, reached, parent, queue, 1);

	for (uint32 u = 0; u < n; u++)
	{
		OmenCand	ep;
		int			nres;
		uint32		v = 0;
		int			slot = -1;
		float		d = 0;
		uint32	   *count;
		float	   *dists;
		uint8	   *flags;
		uint32	   *links;
		int			pos;

		if (reached[u])
			continue;
		CHECK_FOR_INTERRUPTS();

		graph_decode(g, u, query);
		ep = graph_descend(g, query, g->sh->entry, g->sh->top_level, 0);
		nres = graph_search_level(g, query, &ep, 1, g->ef_construction, 0,
								  res);
		for (int replace = 0; replace < 2 && slot < 0; replace++)
		{
			for (int i = 0; i < nres && slot < 0; i++)
			{
				v = (uint32) res[i].id;
				if (reached[v])
				{
					slot = graph_repair_slot(g, parent, v, replace);
					d = res[i].dist;
				}
			}
		}
		for (uint32 w = 0; w < n && slot < 0; w++)
		{
			if (reached[w] &&
				(slot = graph_repair_slot(g, parent, w, true)) >= 0)
			{
				v = w;
				d = mem_pair_distance(g, w, u);
			}
		}
		if (slot < 0)
			elog(ERROR, "omenhnsw: no node can take a link to node %u", u);

		/* drop the link in slot, if any, then insert u in distance order */
		links = graph_links(g, v, 0, &count, &dists, &flags);
		if (slot < (int) *count)
		{
			(*count)--;
			memmove(&links[slot], &links[slot + 1], sizeof(uint32) * (*count - slot));
			memmove(&dists[slot], &dists[slot + 1], sizeof(float) * (*count - slot));
			memmove(&flags[slot], &flags[slot + 1], sizeof(uint8) * (*count - slot));
		}
		pos = *count;
		while (pos > 0 && omen_dist_lt(d, dists[pos - 1]))
			pos--;
		memmove(&links[pos + 1], &links[pos], sizeof(uint32) * (*count - pos));
		memmove(&dists[pos + 1], &dists[pos], sizeof(float) * (*count - pos));
		memmove(&flags[pos + 1], &flags[pos], sizeof(uint8) * (*count - pos));
		links[pos] = u;
		dists[pos] = d;
		flags[pos] = 0;			/* a repair, not a heuristic choice */
		(*count)++;

		reached[u] = true;
		parent[u] = v;
		queue[0] = u;
		graph_flood(g, reached, parent, queue, 1);
	}
	pfree(reached);
	pfree(parent);
	pfree(queue);
	pfree(query);
}

int
omen_graph_count(const OmenGraph *g)
{
	return g->sh->count;
}

bool
omen_graph_full(const OmenGraph *g)
{
	return g->sh->count >= g->capacity ||
		g->sh->upper_used + g->max_level > g->upper_slots;
}

int
omen_graph_entry(const OmenGraph *g)
{
	return g->sh->entry;
}

int
omen_graph_level(const OmenGraph *g, int id)
{
	return g->levels[id];
}

const uint8 *
omen_graph_code(const OmenGraph *g, int id, float *offset, float *scale,
				uint16 *tight)
{
	const OmenCodeRow *row = graph_code(g, id);

	*offset = row->sums.offset;
	*scale = row->sums.scale;
	*tight = row->tight;
	return row->code;
}

/*
 * The nodes in breadth-first order over level-0 links from the entry point,
 * each node's unvisited neighbours nearest first, then any node no link
 * reaches in id order.  Laid out in this order, the neighbours a search
 * scores when it expands a node are largely on the same few pages.  After
 * omen_graph_connect_all, with no concurrent insert.
 */
void
omen_graph_order(const OmenGraph *g, uint32 *order)
{
	uint32		n = (uint32) g->sh->count;
	bool	   *seen;
	uint32		tail = 0;
	uint32		unseen = 0;

	if (n == 0)
		return;
	seen = MemoryContextAllocExtended(CurrentMemoryContext, sizeof(bool) * n,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	seen[g->sh->entry] = true;
	order[tail++] = (uint32) g->sh->entry;
	for (uint32 head = 0; head < n; head++)
	{
		const uint32 *links;
		uint32		cnt;

		if ((head & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		/* a node no link reaches starts the next walk */
		if (head == tail)
		{
			while (seen[unseen])
				unseen++;
			seen[unseen] = true;
			order[tail++] = unseen;
		}
		links = g->links0 + (Size) order[head] * g->m0;
		cnt = g->count0[order[head]];
		for (uint32 i = 0; i < cnt; i++)
		{
			if (!seen[links[i]])
			{
				seen[links[i]] = true;
				order[tail++] = links[i];
			}
		}
	}
	pfree(seen);
}

int
omen_graph_neighbors(const OmenGraph *g, int id, int level,
					 const uint32 **out)
{
	uint32	   *count;

	*out = graph_links(g, id, level, &count, NULL, NULL);
	return *count;
}
