/*
 * pagestore.h
 *		The graph algorithms' view of an index's pages: a node store whose
 *		ids are packed TIDs of search rows.  Searches score nodes by their
 *		codes; exact vectors are read only where asked for.
 */
#ifndef OMEN_PAGESTORE_H
#define OMEN_PAGESTORE_H

#include "postgres.h"

#include "storage/buf.h"
#include "utils/rel.h"

#include "elem.h"
#include "hnsw_graph.h"
#include "page.h"

typedef struct omenvis_hash omenvis_hash;
typedef struct OmenRecentBuffers OmenRecentBuffers;

typedef struct OmenPageStore
{
	Relation	index;
	OmenElem	elem;			/* what the vector pages hold */
	int			metric;			/* of codes and searches: elem.graph_metric */
	int			dims;			/* floats of a code: elem.code_dims */
	int			m;
	int			code_bits;
	int			code_bytes;
	bool		code_pairs;		/* pair distances of copied codes in integers */
	double		code_limit;		/* omen_code_pair_limit(dims) */
	int			link_bits;		/* omen_link_bits */
	uint32		segno;			/* the segment being searched or linked */
	BlockNumber nblocks;		/* known size; refreshed on a larger TID */
	Buffer		buf;			/* pinned, unlocked between accesses */
	OmenRecentBuffers *recent;	/* buffers that held the index's blocks */
	omenvis_hash *visited;
	float	   *scratch;		/* dims floats */
	OmenNodeId	scratch_id;		/* whose decoded code scratch holds */

	/*
	 * The codes of the candidates of the neighbour selection under way
	 * (omen_store_select, omen_store_link), or of the selections since
	 * omen_store_keep_codes, copied from their rows, and a hash table of
	 * them by id (linear probing)
	 */
	int			ncached;
	bool		keep_codes;		/* omen_store_keep_codes */
	int			cached_cap;
	struct OmenCachedCode *cached;	/* [cached_cap] */
	uint8	   *cached_codes;	/* [cached_cap][code_bytes] */
	int		   *cached_hash;	/* [cached_mask + 1]: 1 + index in cached, or 0 */
	int			cached_mask;
	void	   *exact;			/* an exact vector, allocated when needed */
	uint8	   *unpacked;		/* dims codes, when code_bits < 4 */

	/* omen_store_set_query: a query that 1-bit codes measure by bit counts */
	const float *bits_query;	/* NULL when there is none */
	uint8	   *bits_code;		/* its bits (omen_bits_query) */
	float		bits_value;		/* its nonzero value */
	/* or that 4-bit codes measure in integers */
	const float *quant_query;	/* NULL when there is none */
	OmenQueryCode quant;		/* its quantization (omen_query_quantize) */
	uint8	   *quant_u;		/* OMEN_QUERY_CODE_BYTES(dims) for it */

	/* omen_store_link: links of the node being linked that must stay */
	OmenNodeId	pin_node;
	int			pin_level;		/* -1 when none */
	int			npinned;
	OmenNodeId *pinned;			/* OMEN_MAX_LINKS, allocated when needed */

	/* omen_store_set_pending: a new row read and linked in memory */
	OmenNodeId	pending_id;		/* OMEN_NO_NODE when there is none */
	OmenNodeTuple pending;
	bool		pending_out;	/* omen_store_node handed it out */
	struct OmenLinkWrite *deferred; /* omen_store_link_deferred's target */

	/* omen_store_descend: deleted nodes are results, not only routes */
	bool		descending;

	/* omen_store_plan_link: selections for omen_store_link to reuse */
	int			nplans;
	int			plans_cap;
	struct OmenLinkPlan *plans;
	OmenNodeId	plan_as;		/* the id the planned-for node has now */
} OmenPageStore;

extern const OmenStoreOps omen_page_store_ops;

extern void omen_store_init(OmenPageStore *s, Relation index,
							const OmenMetaPageData *meta, int expected_nodes);
extern void omen_store_release(OmenPageStore *s);
extern bool omen_store_visit(OmenPageStore *s, OmenNodeId id);
/* Nodes visited since the visited set was last reset: all were scored. */
extern uint64 omen_store_nvisited(OmenPageStore *s);
/* Memory of the visited set, which is not in the store's memory context. */
extern Size omen_store_visited_bytes(OmenPageStore *s);
/* Distance from query to node id by its code; NaN if it has gone. */
extern float omen_store_distance(OmenPageStore *s, const float *query,
								 OmenNodeId id);

/*
 * Lets codes measure query by counting bits or in integers (see
 * pagestore.c).
 */
extern void omen_store_set_query(OmenPageStore *s, const float *query);
/* Distance from query to the vector that nt's code stands for. */
extern float omen_store_code_distance(OmenPageStore *s, const float *query,
									  OmenNodeTuple nt);
/*
 * What lower bounds on exact distances are reckoned from, for nt's code
 * that a search measured at searched from query (see pagestore.c).
 */
extern float omen_store_bound_distance(OmenPageStore *s, const float *query,
									   OmenNodeTuple nt, float searched);

/*
 * Share-locks and returns the search row at tid; the caller unlocks with
 * omen_store_unlock.  NULL, with nothing locked, if there is none.
 */
extern OmenNodeTuple omen_store_node(OmenPageStore *s, ItemPointer tid);
extern void omen_store_unlock(OmenPageStore *s);

/*
 * The exact vector of the node whose row names vectid, into out
 * (elem.words words, as elem.h describes; a sparsevec's as many as its
 * first word says, at most elem.words); false if its chunks are not there
 * (a stale link) or do not add up to its length.  Locks each chunk's page while it copies it; the
 * caller holds no buffer lock.
 */
extern bool omen_store_exact(OmenPageStore *s, ItemPointer vectid, void *out);

/*
 * The same vector as the floats its code is made of (dims floats, see
 * omen_elem_floats).  The caller holds no buffer lock.
 */
extern bool omen_store_vector(OmenPageStore *s, ItemPointer vectid,
							  float *out);

/*
 * Distance from query, an exact vector, to the exact vector whose first
 * chunk is vectid: as the codes' distances are into *dist, as the ordering
 * operator returns it into *opdist (omen_elem_distance); false if its
 * chunks are not there.  The caller holds no buffer lock.
 */
extern bool omen_store_exact_distance(OmenPageStore *s, const void *query,
									  ItemPointer vectid, float *dist,
									  double *opdist);

/*
 * Descent from entry through the levels above to_level, a narrow beam on
 * each: the closest node found there, deleted or not (id OMEN_NO_NODE if
 * the entry has gone).
 */
extern OmenCand omen_store_descend(OmenPageStore *s, const float *query,
								   ItemPointer entry, int entry_level,
								   int to_level);

/*
 * Beam search of width ef on one level; result ascending, returns count.
 * On level 0 the result holds live nodes only: deleted entries route the
 * search but are no results, and root, the segment's entry point, seeds it
 * too, as omen_store_search_begin's root (NULL above level 0).
 */
extern int	omen_store_search_level(OmenPageStore *s, const float *query,
									const OmenCand *entries, int nentries,
									int level, ItemPointer root, int ef,
									OmenCand *result);

/*
 * The live nodes of the segment added since its data page blk held `after`
 * rows and its chain ended at last_blk, with their distances from query,
 * into out (up to max); returns their count.  They are the rows after
 * `after` on blk and those of the pages after last_blk: no data page lies
 * between a segment's last data page and its chain's end, only vector
 * pages.  The caller holds the insert lock, so the chain does not change;
 * pages are share-locked one at a time.  ERROR (index corrupted) if the
 * chain is damaged.
 */
extern int	omen_store_rows_after(OmenPageStore *s, const float *query,
								  BlockNumber blk, OffsetNumber after,
								  BlockNumber last_blk, OmenCand *out,
								  int max);

/*
 * A level-0 search from entry, the node a descent from the segment's entry
 * point root found, and from root itself, whose visited set is this
 * store's own; a deleted entry routes it but is no result.  Every live node
 * is reachable on level 0 from root (omenhnsw_verify checks it), not
 * always from entry: seeded with both, a resumable search reaches them all.
 */
extern OmenSearch *omen_store_search_begin(OmenPageStore *s,
										   const float *query, OmenCand entry,
										   ItemPointer root, int ef,
										   bool resumable);

/* Room omen_store_page_heaptids needs: every search row of a page, full. */
#define OMEN_PAGE_MAX_HEAPTIDS \
	(OMEN_HEAPTIDS * (OMEN_PAGE_CAPACITY / OMEN_ITEM_COST(OMEN_NODE_SIZE(0, 2, 2))))

extern int	omen_store_page_heaptids(OmenPageStore *s, BlockNumber blk,
									 ItemPointer tids, BlockNumber *next);

/*
 * omen_select_neighbors over nodes of this store, with every candidate's
 * code read from its page once instead of at every distance between two of
 * them.  The caller holds no buffer lock.
 */
extern int	omen_store_select(OmenPageStore *s, const OmenCand *cands,
							  int ncands, int m, OmenSelectMode mode,
							  float self, OmenCand *out);

/* How omen_store_link treats a link that pruning would not keep. */
typedef enum OmenLinkMode
{
	OMEN_LINK_IF_ROOM,			/* added only into a free slot */
	OMEN_LINK_IF_KEPT,			/* not added */
	OMEN_LINK_ADD,				/* added unless a node would lose its way in */
	OMEN_LINK_FORCE				/* added in any case */
} OmenLinkMode;

extern bool omen_store_link(OmenPageStore *s, OmenNodeId from, int level,
							ItemPointer to, OmenLinkMode mode);

/*
 * Pins the link to node id in the list of the new node at `to` on level, as
 * omen_store_link pins the links it moves there: while `to` is linked in on
 * that level, omen_store_link never gives the link up for room.  For a link
 * that may be the only way into its node.
 */
extern void omen_store_pin_link(OmenPageStore *s, ItemPointer to, int level,
								OmenNodeId id);

/*
 * Makes ahead of time the neighbour selection that omen_store_link(s, from,
 * level, to, ...) would make now for the pending row at `to`: where from's
 * list is full, scores it and selects among it and `to`, and keeps the
 * result.  omen_store_link reuses it when from's list is still the same
 * then and it links that row, at `to` or at the TID omen_store_row_placed
 * gives it later.  Takes share locks one row at a time, so it needs no
 * heavyweight lock: an insert plans before it takes the insert lock.
 */
extern void omen_store_plan_link(OmenPageStore *s, OmenNodeId from,
								 int level, ItemPointer to);

/*
 * While keep is set, the codes that selections copy out of rows stay for
 * the selections that follow, which copy only those they lack: for the
 * plans of one insert, whose lists share many nodes.  The copies are of
 * one segment, whose codes do not change while it is live; clearing keep
 * forgets them.  Takes no locks.
 */
extern void omen_store_keep_codes(OmenPageStore *s, bool keep);
/*
 * The new row that plans and omen_store_link's pins named by the TID
 * standin is at tid now: they follow it.
 */
extern void omen_store_row_placed(OmenPageStore *s, ItemPointer standin,
								  ItemPointer tid);

/*
 * Rewrites node's list on level as ids[0..n-1], in one WAL record; false
 * if the node is not a row of the segment with that level.  The caller
 * holds no buffer lock and keeps other writers of the list away.
 */
extern bool omen_store_write_links(OmenPageStore *s, OmenNodeId node,
								   int level, const OmenNodeId *ids, int n);

/*
 * A new node's search row that is not on its page yet: until it is cleared
 * (row NULL), omen_store_node returns row for tid, and omen_store_link reads
 * and rewrites its links in row.  Searches do not see it (nothing links to
 * it yet).
 */
extern void omen_store_set_pending(OmenPageStore *s, ItemPointer tid,
								   OmenNodeTuple row);

/* One node's list on one level, as omen_store_link_deferred leaves it. */
typedef struct OmenLinkWrite
{
	ItemPointerData node;		/* invalid when there is no write */
	int			level;
	int			n;
	OmenNodeId	ids[OMEN_MAX_LINKS];
} OmenLinkWrite;

/*
 * omen_store_link to the pending row `to`, except that from's rewritten
 * list goes into *w instead of to its page, for the caller to write with
 * omen_store_apply_link in the record that adds the pending row.  Other
 * lists it changes (the pending row's in memory; nodes pruning left without
 * a place, under OMEN_LINK_FORCE) are written as omen_store_link writes
 * them: only links between existing nodes are added before that record.
 */
extern bool omen_store_link_deferred(OmenPageStore *s, OmenNodeId from,
									 int level, ItemPointer to,
									 OmenLinkMode mode, OmenLinkWrite *w);

/*
 * Writes *w into page, an exclusively locked data page registered in the
 * caller's GenericXLog record; false if the node is not there.
 */
extern bool omen_store_apply_link(OmenPageStore *s, Page page,
								  const OmenLinkWrite *w);
extern int	omen_store_orphans(OmenPageStore *s, const OmenSegmentDesc *seg,
							   ItemPointerData **orphans);

#endif							/* OMEN_PAGESTORE_H */
