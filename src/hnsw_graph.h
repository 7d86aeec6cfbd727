/*
 * hnsw_graph.h
 *		HNSW algorithms over an abstract node store, and the in-memory graph
 *		that bulk builds fill.
 *
 * Nothing here knows about buffers.  Scans and inserts reach pages through a
 * store (OmenStoreOps) whose node ids are packed TIDs; the in-memory graph
 * uses dense ids 0..n-1 and is what a build participant fills before the
 * page writer lays it out.
 */
#ifndef OMEN_HNSW_GRAPH_H
#define OMEN_HNSW_GRAPH_H

#include "postgres.h"

#include <math.h>

#include "distance.h"

/* Largest m the reloption allows; level 0 keeps up to 2m links. */
#define OMEN_MAX_M 100
#define OMEN_MAX_LINKS (2 * OMEN_MAX_M)

/* Dense index in memory, packed ItemPointer on pages. */
typedef uint64 OmenNodeId;

/* No node: what a search finds when its entry point has gone. */
#define OMEN_NO_NODE PG_UINT64_MAX

/* A node and its distance to the query (smaller is closer). */
typedef struct OmenCand
{
	OmenNodeId	id;
	float		dist;
} OmenCand;

/*
 * Distances are ordered as PostgreSQL orders float8: -Infinity, the finite
 * values, Infinity, then NaN, which equals itself.  Far is not gone: an
 * infinite or NaN distance is an ordinary value of this order.
 */
static inline bool
omen_dist_lt(float a, float b)
{
	return a < b || (isnan(b) && !isnan(a));
}

static inline bool
omen_dist_le(float a, float b)
{
	return a <= b || isnan(b);
}

/*
 * Access to the nodes of one graph.  Implementations must tolerate ids of
 * nodes that have gone (stale links seen by a scan): neighbors() returns -1,
 * distances() marks them routing (so that no search returns them) and
 * pair_distance() gives NaN (so that they prune no candidate).
 */
typedef struct OmenStoreOps
{
	/* Neighbours of id at level, at most max; count, or -1 if id is gone. */
	int			(*neighbors) (void *store, OmenNodeId id, int level,
							  OmenNodeId *out, int max);
	/*
	 * Distances from query to each of ids[0..n-1] into out[].  A node that
	 * may be passed through but not returned (a deleted element, or one
	 * that has gone) gets routing[i] = true; the caller clears routing[]
	 * first.
	 */
	void		(*distances) (void *store, const float *query,
							  const OmenNodeId *ids, int n, float *out,
							  bool *routing);
	/* Distance between two stored nodes (neighbour selection). */
	float		(*pair_distance) (void *store, OmenNodeId a, OmenNodeId b);
	/* Marks id visited for the current search; false if it already was. */
	bool		(*visit) (void *store, OmenNodeId id);
} OmenStoreOps;

/*
 * Beam search on one level from the given entry candidates (their distances
 * known and already marked visited).  Writes up to ef nearest into result,
 * ascending by distance, and returns the count.  The caller starts a fresh
 * visited set for every call (levels do not share one), and neighbors() is
 * asked for at most OMEN_MAX_LINKS ids.
 */
extern int	omen_search_layer(const OmenStoreOps *ops, void *store,
							  const float *query, const OmenCand *entry,
							  int nentry, int ef, int level, OmenCand *result);

/*
 * A search of level 0 that can go on: each omen_search_next call writes the
 * next batch of up to ef results, ascending, and returns its count, 0 when
 * nothing is left.  The first batch equals omen_search_layer's result from
 * entries[0..nentries-1] (already visited), except that an entry that only
 * routes (a deleted element: routing[i]) takes no place in it; a resumable
 * search keeps everything it scored so later batches continue the same
 * beam.  The store's visited set must live as long as the search, and
 * query must too.
 */
typedef struct OmenSearch OmenSearch;

extern OmenSearch *omen_search_begin(const OmenStoreOps *ops, void *store,
									 const float *query,
									 const OmenCand *entries,
									 const bool *routing, int nentries,
									 int ef, bool resumable);
extern int	omen_search_next(OmenSearch *s, OmenCand *result);

/*
 * The next batch of a resumable search without searching further: up to ef
 * of the nodes it scored and has not handed out, nearest first; 0 when none
 * is left.
 */
extern int	omen_search_drain(OmenSearch *s, OmenCand *result);

/* How omen_select_neighbors picks links. */
typedef enum OmenSelectMode
{
	OMEN_SELECT_HEURISTIC,		/* Malkov's Alg. 4 */
	OMEN_SELECT_HEURISTIC_FILL, /* same, refilled with the nearest pruned */
	OMEN_SELECT_NEAREST			/* the m nearest */
} OmenSelectMode;

/*
 * Selection mode for a metric.  The heuristic assumes a metric space; under
 * inner product, which is no metric, it prunes links a search needs, so
 * that takes the nearest.
 */
#define OMEN_SELECT_MODE(metric) \
	((metric) == OMEN_METRIC_IP ? OMEN_SELECT_NEAREST : OMEN_SELECT_HEURISTIC)

/*
 * From candidates sorted ascending, keep up to m.  The heuristic keeps those
 * closer to the base than to any kept one, and with _FILL tops up with the
 * nearest discarded ones.  Candidates at distance self (the base's distance
 * to itself) are copies of the base: they rule out no other candidate, and
 * only a few are kept.  Writes the kept ones to out, ascending, and returns
 * the count (m <= OMEN_MAX_LINKS).  The in-memory build fills a new node's
 * lists with _FILL under the heuristic and keeps them full as back-links
 * arrive, with flags per link instead of rerunning this.
 */
extern int	omen_select_neighbors(const OmenStoreOps *ops, void *store,
								  const OmenCand *cands, int ncands, int m,
								  OmenSelectMode mode, float self,
								  OmenCand *out);

/*
 * How a node new to a graph picks its links at level: sets *mode and
 * returns how many it takes.  Bulk builds and inserts link new nodes alike.
 */
extern int	omen_new_node_links(int metric, int m, int level,
								OmenSelectMode *mode);

/* Random level for a new node, from a uniform draw in (0,1]. */
extern int	omen_random_level(double uniform, int m, int max_level);

/*
 * The in-memory graph of one segment under construction.  Capacity is fixed
 * at creation (the caller sizes it from its memory budget with
 * omen_graph_node_bytes), so no reallocation happens while inserting.  A
 * node keeps its vector only as a code of code_bits (OMEN_CODE_HALVES, 8, 4,
 * 2 or 1) an element (omen_quantize) and its links; every distance the graph
 * computes is from codes, and the caller keeps the exact vectors where it
 * needs them.
 *
 * A graph lives in local memory (omen_graph_create), or in memory of
 * omen_graph_size bytes, 64-byte aligned, that the caller provides: a
 * parallel build's leader creates it there with concurrent = true and every
 * other participant attaches to it; all of them then insert at once.  Each
 * handle also has capacity * 4 bytes of the process's own memory.
 */
typedef struct OmenGraph OmenGraph;

extern Size omen_graph_node_bytes(int dim, int code_bits, int m);
extern Size omen_graph_size(int dim, int code_bits, int m, int max_level,
							int capacity);
extern OmenGraph *omen_graph_create(int dim, int metric, int code_bits,
									int m, int ef_construction,
									int max_level, int capacity, uint64 seed);
extern OmenGraph *omen_graph_create_in(void *mem, bool concurrent, int dim,
									   int metric, int code_bits, int m,
									   int ef_construction, int max_level,
									   int capacity, uint64 seed);
extern OmenGraph *omen_graph_attach(void *mem, uint64 seed);

/*
 * A node's lock, for what the caller keeps per node in a concurrent graph
 * (no-ops otherwise).  Hold it briefly, and no other node's with it.
 */
extern void omen_graph_lock(OmenGraph *g, int id);
extern void omen_graph_unlock(OmenGraph *g, int id);

/*
 * Asked to add the row being inserted to node id, whose code equals the
 * row's (the caller checks that the vectors are equal); whether it did.
 */
typedef bool (*OmenMergeFn) (void *arg, int id);

/* Told the id of the row's new node, before any other node links to it. */
typedef void (*OmenAddFn) (void *arg, int id);

/*
 * Inserts vec (already normalized for cosine).  If merge is given, it is
 * offered the nodes found with an identical code, nearest first; when it
 * takes one, nothing is inserted, *merged is set and that node's id is
 * returned.  Otherwise calls add (if given) and returns the new node's id,
 * or returns -1 if the graph has no room for it (only a concurrent graph
 * fills up under a caller that checks omen_graph_full after every insert).
 */
extern int	omen_graph_insert(OmenGraph *g, const float *vec,
							  OmenMergeFn merge, OmenAddFn add, void *arg,
							  bool *merged);

/*
 * Links the nodes that share a code to each other, then gives every node an
 * incoming path from the entry point; before writing.
 */
extern void omen_graph_connect_all(OmenGraph *g);

extern int	omen_graph_count(const OmenGraph *g);
extern bool omen_graph_full(const OmenGraph *g);
extern int	omen_graph_entry(const OmenGraph *g);	/* -1 when empty */
extern int	omen_graph_level(const OmenGraph *g, int id);
/*
 * Node id's code (packed as omen_quantize makes it), offset, scale and
 * omen_code_tightness.
 */
extern const uint8 *omen_graph_code(const OmenGraph *g, int id,
									float *offset, float *scale,
									uint16 *tight);
extern int	omen_graph_neighbors(const OmenGraph *g, int id, int level,
								 const uint32 **out);
/* The order the nodes' rows are laid out in (n ids, a permutation). */
extern void omen_graph_order(const OmenGraph *g, uint32 *order);

#endif							/* OMEN_HNSW_GRAPH_H */
