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

#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "distance.h"
#include "pagestore.h"

/* Visited set of packed TIDs */
typedef struct OmenVisitEntry
{
	uint64		key;
	char		status;
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

void
omen_store_init(OmenPageStore *s, Relation index, const OmenMetaPageData *meta,
				int expected_nodes)
{
	s->index = index;
	s->metric = meta->metric;
	s->dims = meta->dims;
	s->m = meta->m;
	s->nblocks = RelationGetNumberOfBlocks(index);
	s->buf = InvalidBuffer;
	s->visited = omenvis_create(CurrentMemoryContext, Max(expected_nodes, 64), NULL);
	s->scratch = palloc(sizeof(float) * Max(meta->dims, 1));
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

/* Whether tid can name a data tuple of this index. */
static bool
tid_in_index(OmenPageStore *s, ItemPointer tid)
{
	BlockNumber blk;

	if (!ItemPointerIsValid(tid))
		return false;
	blk = ItemPointerGetBlockNumber(tid);
	if (blk == OMEN_METAPAGE_BLKNO)
		return false;
	if (blk >= s->nblocks)
		s->nblocks = RelationGetNumberOfBlocks(s->index);
	return blk < s->nblocks;
}

/* Share-locks blk, keeping the pin when it is the block already pinned. */
static Page
lock_page(OmenPageStore *s, BlockNumber blk)
{
	if (!BufferIsValid(s->buf) || BufferGetBlockNumber(s->buf) != blk)
		s->buf = ReleaseAndReadBuffer(s->buf, s->index, blk);
	LockBuffer(s->buf, BUFFER_LOCK_SHARE);
	return BufferGetPage(s->buf);
}

void
omen_store_unlock(OmenPageStore *s)
{
	LockBuffer(s->buf, BUFFER_LOCK_UNLOCK);
}

OmenElementTuple
omen_store_element(OmenPageStore *s, ItemPointer tid)
{
	Page		page;
	OmenElementTuple et = NULL;

	if (!tid_in_index(s, tid))
		return NULL;
	page = lock_page(s, ItemPointerGetBlockNumber(tid));
	if (!PageIsNew(page) && OmenPageGetOpaque(page)->kind == OMEN_PAGE_DATA)
		et = omen_page_get_tuple(page, ItemPointerGetOffsetNumber(tid),
								 OMEN_TUPLE_ELEMENT);
	if (et == NULL)
		omen_store_unlock(s);
	return et;
}

/* Distance to element id, +Inf if it is gone; *deleted says if it is. */
static float
element_distance(OmenPageStore *s, const float *query, OmenNodeId id,
				 bool *deleted)
{
	ItemPointerData tid;
	OmenElementTuple et;
	float		d;

	omen_tid_unpack(id, &tid);
	et = omen_store_element(s, &tid);
	if (et == NULL)
		return INFINITY;
	d = omen_distance(s->metric, query, et->x, s->dims);
	*deleted = et->deleted;
	omen_store_unlock(s);
	return d;
}

float
omen_store_distance(OmenPageStore *s, const float *query, OmenNodeId id)
{
	bool		deleted;

	return element_distance(s, query, id, &deleted);
}

static int
store_neighbors(void *arg, OmenNodeId id, int level, OmenNodeId *out, int max)
{
	OmenPageStore *s = (OmenPageStore *) arg;
	ItemPointerData tid;
	ItemPointerData nbtid;
	OmenElementTuple et;
	OmenNeighborTuple nt;
	Page		page;
	ItemPointer slots;
	int			nslots;
	int			n = 0;

	omen_tid_unpack(id, &tid);
	et = omen_store_element(s, &tid);
	if (et == NULL)
		return -1;
	if (et->level < level)
	{
		omen_store_unlock(s);
		return -1;
	}
	nbtid = et->neighbortid;
	page = BufferGetPage(s->buf);
	if (ItemPointerGetBlockNumber(&nbtid) != ItemPointerGetBlockNumber(&tid))
	{
		omen_store_unlock(s);
		if (!tid_in_index(s, &nbtid))
			return -1;
		page = lock_page(s, ItemPointerGetBlockNumber(&nbtid));
	}

	nt = omen_page_get_tuple(page, ItemPointerGetOffsetNumber(&nbtid),
							 OMEN_TUPLE_NEIGHBOR);
	if (nt == NULL || nt->level < level)
	{
		omen_store_unlock(s);
		return -1;
	}
	slots = &nt->tids[omen_level_offset(level, s->m)];
	nslots = omen_level_slots(level, s->m);
	for (int i = 0; i < nslots && n < max; i++)
		if (ItemPointerIsValid(&slots[i]))
			out[n++] = omen_tid_pack(&slots[i]);
	omen_store_unlock(s);
	return n;
}

/* Deleted elements still route searches but are never their results. */
static void
store_distances(void *arg, const float *query, const OmenNodeId *ids, int n,
				float *out, bool *routing)
{
	OmenPageStore *s = (OmenPageStore *) arg;

	for (int i = 0; i < n; i++)
		out[i] = element_distance(s, query, ids[i], &routing[i]);
}

static float
store_pair_distance(void *arg, OmenNodeId a, OmenNodeId b)
{
	OmenPageStore *s = (OmenPageStore *) arg;
	ItemPointerData tid;
	OmenElementTuple et;

	omen_tid_unpack(a, &tid);
	et = omen_store_element(s, &tid);
	if (et == NULL)
		return INFINITY;
	memcpy(s->scratch, et->x, sizeof(float) * s->dims);
	omen_store_unlock(s);
	return omen_store_distance(s, s->scratch, b);
}

static bool
store_visit(void *arg, OmenNodeId id)
{
	return omen_store_visit((OmenPageStore *) arg, id);
}

const OmenStoreOps omen_page_store_ops = {
	store_neighbors, store_distances, store_pair_distance, store_visit
};

OmenCand
omen_store_descend(OmenPageStore *s, const float *query, ItemPointer entry,
				   int entry_level, int to_level)
{
	OmenCand	ep;
	OmenCand	best;

	ep.id = omen_tid_pack(entry);
	ep.dist = omen_store_distance(s, query, ep.id);
	for (int l = entry_level; l > to_level && !isinf(ep.dist); l--)
	{
		if (omen_store_search_level(s, query, &ep, 1, l, 1, &best) > 0)
			ep = best;
	}
	return ep;
}

int
omen_store_search_level(OmenPageStore *s, const float *query,
						const OmenCand *entries, int nentries, int level,
						int ef, OmenCand *result)
{
	omenvis_reset(s->visited);
	for (int i = 0; i < nentries; i++)
		omen_store_visit(s, entries[i].id);
	return omen_search_layer(&omen_page_store_ops, s, query, entries,
							 nentries, ef, level, result);
}
