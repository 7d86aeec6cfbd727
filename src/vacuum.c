/*
 * vacuum.c
 *		VACUUM of an omenhnsw index.
 *
 * Dead heap TIDs are removed from their nodes' search rows page by page.  A
 * node left without heap TIDs is marked deleted but stays in its graph as a
 * routing node; scans never return deleted nodes.  In each segment where
 * nodes were deleted, the live nodes that linked to them get new links
 * around them, and a deleted entry point is replaced (repair_segments).  A
 * segment left with no live node is retired: dropped from the directory,
 * and its pages (data and vector pages) go to the free space map for
 * inserts.  A scan still searching the segment meets reused pages as
 * another segment's and treats their tuples as gone.
 * Afterwards live nodes that inserts left unreachable are relinked; a
 * VACUUM that deleted nothing does that too, after a page pass that removes
 * nothing (it counts, and retires segments with no live node left).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "omenhnsw.h"
#include "pagestore.h"

/*
 * Removes the dead heap TIDs of one data page's nodes.  Returns the number
 * of heap TIDs removed; adds the surviving TIDs to *live, the nodes that
 * keep any to *live_elems and those it marks deleted to *deleted_elems.
 * The caller holds the page's exclusive lock.
 */
static int64
vacuum_page(Relation index, Buffer buf, const OmenMetaPageData *meta,
			IndexBulkDeleteCallback callback, void *callback_state,
			double *live, uint32 *live_elems, uint32 *deleted_elems)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	GenericXLogState *state = NULL;
	int64		removed = 0;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		OmenNodeTuple et = omen_page_get_node(page, off, meta->m,
											  meta->code_bytes);
		ItemPointerData keep[OMEN_HEAPTIDS];
		int			nkeep = 0;
		int			nhad = 0;

		if (et == NULL || et->deleted)
			continue;
		for (int i = 0; i < OMEN_HEAPTIDS; i++)
		{
			if (!ItemPointerIsValid(&et->heaptids[i]))
				continue;
			nhad++;
			if (!callback(&et->heaptids[i], callback_state))
				keep[nkeep++] = et->heaptids[i];
		}
		*live += nkeep;
		if (nkeep > 0)
			(*live_elems)++;
		if (nkeep == nhad)
			continue;

		/* first change on this page: switch to the WAL-logged copy */
		if (state == NULL)
		{
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			et = omen_page_get_node(page, off, meta->m, meta->code_bytes);
		}
		for (int i = 0; i < OMEN_HEAPTIDS; i++)
		{
			if (i < nkeep)
				et->heaptids[i] = keep[i];
			else
				ItemPointerSetInvalid(&et->heaptids[i]);
		}
		if (nkeep == 0)
		{
			et->deleted = 1;
			(*deleted_elems)++;
		}
		removed += nhad - nkeep;
	}
	if (state != NULL)
		GenericXLogFinish(state);
	return removed;
}

/*
 * Calls visit for each search row along segment seg's chain, with its page
 * share-locked, until it returns false.  Returns false if it did.
 */
static bool
walk_segment(Relation index, const OmenMetaPageData *meta,
			 const OmenSegmentDesc *seg,
			 bool (*visit) (OmenNodeTuple nt, ItemPointer tid, void *arg),
			 void *arg)
{
	BlockNumber hops = 0;

	for (BlockNumber blk = seg->first_blk; BlockNumberIsValid(blk);)
	{
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;
		BlockNumber next;
		bool		go_on = true;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		next = omen_chain_next(index, seg->segno, blk, page, &hops);
		for (OffsetNumber off = FirstOffsetNumber;
			 go_on && off <= PageGetMaxOffsetNumber(page); off++)
		{
			OmenNodeTuple nt = omen_page_get_node(page, off, meta->m,
												  meta->code_bytes);
			ItemPointerData tid;

			ItemPointerSet(&tid, blk, off);
			if (nt != NULL)
				go_on = visit(nt, &tid, arg);
		}
		UnlockReleaseBuffer(buf);
		if (!go_on)
			return false;
		blk = next;
	}
	return true;
}

static bool
count_one(OmenNodeTuple nt, ItemPointer tid, void *arg)
{
	if (!nt->deleted)
		(*(uint32 *) arg)++;
	return true;
}

/* Live nodes of a segment, counted along its chain. */
static uint32
count_live(Relation index, const OmenSegmentDesc *seg,
		   const OmenMetaPageData *meta)
{
	uint32		n = 0;

	walk_segment(index, meta, seg, count_one, &n);
	return n;
}

/*
 * Drops the directory entries at offs on directory page blk, in one WAL
 * record with the metapage.
 */
static void
drop_descriptors(Relation index, BlockNumber blk, OffsetNumber *offs, int n)
{
	Buffer		metabuf = ReadBuffer(index, OMEN_METAPAGE_BLKNO);
	Buffer		dirbuf = ReadBuffer(index, blk);
	GenericXLogState *state;
	OmenMetaPage meta;

	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = OmenPageGetMeta(GenericXLogRegisterBuffer(state, metabuf, 0));
	PageIndexMultiDelete(GenericXLogRegisterBuffer(state, dirbuf, 0), offs, n);
	meta->nsegments -= n;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(dirbuf);
	UnlockReleaseBuffer(metabuf);
}

/*
 * Retires the segments that the page pass found without live elements
 * (live[] by segno, for segnos below nseen).  The segment inserts go to is
 * recounted under the insert lock, as rows may have arrived since.  Their
 * pages go to the free space map at once.  Returns the number of pages
 * freed.
 */
static BlockNumber
retire_dead_segments(Relation index, const uint32 *live, uint32 nseen)
{
	OmenMetaPageData meta;
	OmenDirectory dir;
	BlockNumber *freed = NULL;
	int			nfreed = 0;
	int			maxfreed = 0;
	int			i;
	BlockNumber hops;

	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);
	for (i = 0; i < dir.nsegs; i++)
		if (dir.segs[i].segno < nseen && live[dir.segs[i].segno] == 0)
			break;
	if (i == dir.nsegs)
		return 0;

	LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);

	for (i = 0; i < dir.nsegs;)
	{
		BlockNumber dirblk = ItemPointerGetBlockNumber(&dir.where[i]);
		OffsetNumber offs[MaxOffsetNumber];
		int			noffs = 0;

		/* the segments on one directory page go in one record */
		for (; i < dir.nsegs && ItemPointerGetBlockNumber(&dir.where[i]) == dirblk; i++)
		{
			OmenSegmentDesc *seg = &dir.segs[i];

			if (seg->segno >= nseen || live[seg->segno] != 0)
				continue;
			if (i == dir.nsegs - 1 && count_live(index, seg, &meta) > 0)
				continue;
			offs[noffs++] = ItemPointerGetOffsetNumber(&dir.where[i]);
			hops = 0;
			for (BlockNumber blk = seg->first_blk; BlockNumberIsValid(blk);)
			{
				Buffer		buf = ReadBuffer(index, blk);

				CHECK_FOR_INTERRUPTS();
				if (nfreed == maxfreed)
				{
					maxfreed = Max(64, maxfreed * 2);
					freed = freed ? repalloc(freed, sizeof(BlockNumber) * maxfreed) :
						palloc(sizeof(BlockNumber) * maxfreed);
				}
				freed[nfreed++] = blk;
				LockBuffer(buf, BUFFER_LOCK_SHARE);
				blk = omen_chain_next(index, seg->segno, blk,
									  BufferGetPage(buf), &hops);
				UnlockReleaseBuffer(buf);
			}
		}
		if (noffs > 0)
			drop_descriptors(index, dirblk, offs, noffs);
	}
	UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);

	/*
	 * Searches that read the old directory may still walk those pages, and
	 * inserts may reuse them under such a search: the search then rejects
	 * every page another segment took (pagestore.c: on_segment).
	 */
	for (i = 0; i < nfreed; i++)
		RecordFreeIndexPage(index, freed[i]);
	return nfreed;
}

static int
cmp_node_id(const void *a, const void *b)
{
	OmenNodeId	x = *(const OmenNodeId *) a;
	OmenNodeId	y = *(const OmenNodeId *) b;

	return x < y ? -1 : x > y;
}

/*
 * Whether id is one of the orphans, ids[0..n-1] ascending, that no pass
 * has relinked yet.
 */
static bool
still_orphan(OmenNodeId id, const OmenNodeId *ids, const bool *relinked,
			 int n)
{
	const OmenNodeId *at = bsearch(&id, ids, n, sizeof(OmenNodeId),
								   cmp_node_id);

	return at != NULL && !relinked[at - ids];
}

/*
 * Relinks the live elements of the segment inserts go to that its entry
 * point no longer reaches: pruning a full list on insert can drop a node's
 * last incoming link.  Each gets a link from the nearest node a search for
 * it finds that is not itself an orphan still unlinked: the search's seeds
 * include the entry point, from which every such node is reachable, but
 * also the node a descent found, which may lead to other orphans.  An
 * orphan whose candidates are all such orphans waits for the next pass;
 * passes go on while one relinks anything.  Other segments take no
 * inserts, and repair_segments keeps them connected around the nodes
 * VACUUM deletes.
 * The orphans are found without the insert lock; linking one that an insert
 * has meanwhile linked only adds a link.  The insert lock is held for one
 * orphan at a time and released for the cost-based delay between them; the
 * entry point read first stays a node of its level meanwhile.
 */
static void
repair_insert_segment(Relation index)
{
	OmenMetaPageData meta;
	OmenDirectory dir;
	OmenSegmentDesc *seg;
	OmenPageStore store;
	ItemPointerData *orphans;
	OmenNodeId *ids;
	bool	   *relinked;
	bool		progress;
	OmenCand   *cands;
	float	   *vec;
	MemoryContext tmpctx;
	MemoryContext old;
	int			n;

	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);
	if (dir.nsegs == 0 || !ItemPointerIsValid(&dir.segs[dir.nsegs - 1].entry))
		return;
	seg = &dir.segs[dir.nsegs - 1];
	omen_store_init(&store, index, &meta, meta.ef_construction * meta.m * 2);
	n = omen_store_orphans(&store, seg, &orphans);
	if (n == 0)
	{
		omen_store_release(&store);
		return;
	}

	ids = palloc(sizeof(OmenNodeId) * n);
	for (int i = 0; i < n; i++)
		ids[i] = omen_tid_pack(&orphans[i]);
	qsort(ids, n, sizeof(OmenNodeId), cmp_node_id);
	relinked = palloc0(sizeof(bool) * n);
	vec = palloc(sizeof(float) * meta.dims);
	cands = palloc(sizeof(OmenCand) * meta.ef_construction);
	tmpctx = AllocSetContextCreate(CurrentMemoryContext, "omenhnsw repair",
								   ALLOCSET_DEFAULT_SIZES);
	do
	{
		progress = false;
		for (int i = 0; i < n; i++)
		{
			OmenNodeTuple nt;
			ItemPointerData tid;
			ItemPointerData vectid;
			OmenCand	ep;
			int			ncands;

			if (relinked[i])
				continue;
			omen_tid_unpack(ids[i], &tid);
			/* cost-based delay with no lock held, so inserts do not wait it out */
			vacuum_delay_point();
			LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
			nt = omen_store_node(&store, &tid);
			if (nt != NULL)
			{
				vectid = nt->vectid;
				omen_store_unlock(&store);
			}
			if (nt == NULL || !omen_store_vector(&store, &vectid, vec))
			{
				/* gone: nothing to relink */
				relinked[i] = true;
				UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
				continue;
			}
			old = MemoryContextSwitchTo(tmpctx);
			ep = omen_store_descend(&store, vec, &seg->entry, seg->entry_level, 0);
			ncands = omen_store_search_level(&store, vec, &ep, 1, 0, &seg->entry,
											 meta.ef_construction, cands);
			for (int j = 0; j < ncands && !relinked[i]; j++)
			{
				if (cands[j].id != ids[i] &&
					!still_orphan(cands[j].id, ids, relinked, n))
				{
					omen_store_link(&store, cands[j].id, 0, &tid,
									OMEN_LINK_FORCE);
					relinked[i] = true;
					progress = true;
				}
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(tmpctx);
			UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
		}
	} while (progress);
	omen_store_release(&store);
	MemoryContextDelete(tmpctx);
}

/*
 * A segment's level-0 graph as read by repair_segment: its nodes in chain
 * order, each with its deleted mark, its level and its 2m level-0 links
 * (packed TIDs, OMEN_NO_NODE for an empty slot), and the BFS tree from the
 * entry point.
 */
typedef struct RepairGraph
{
	int			n;
	int			cap;			/* room in the arrays */
	int			maxlinks;
	int			code_bytes;
	int			link_bits;		/* omen_link_bits */
	OmenNodeId *ids;
	bool	   *deleted;
	uint8	   *level;
	OmenNodeId *links;			/* n * maxlinks */
	HTAB	   *pos;			/* packed TID -> RepairPos */
	int32	   *parent;			/* BFS tree: -1 unreached, itself for the root */
	bool	   *needed;			/* its BFS subtree holds a live node */
	int32	   *indeg;			/* level-0 links to it from live nodes */
	int32	   *queue;
} RepairGraph;

typedef struct RepairPos
{
	OmenNodeId	id;				/* hash key */
	int32		pos;
} RepairPos;

/* Position of node id in g, or -1 if it is not there. */
static int32
graph_pos(RepairGraph *g, OmenNodeId id)
{
	RepairPos  *p = hash_search(g->pos, &id, HASH_FIND, NULL);

	return p ? p->pos : -1;
}

/*
 * Adds node nt at tid to the graph (RepairGraph *), growing it for rows
 * inserted since the descriptor was read; false once the graph would take
 * more than maintenance_work_mem.
 */
static bool
graph_add(OmenNodeTuple nt, ItemPointer tid, void *arg)
{
	RepairGraph *g = arg;
	const OmenLink *slots = omen_node_links(nt, g->code_bytes);
	RepairPos  *p;

	if (g->n == g->cap)
	{
		g->cap *= 2;
		if ((double) g->cap * (g->maxlinks * sizeof(OmenNodeId) + 64) >
			(double) maintenance_work_mem * 1024)
			return false;
		g->ids = repalloc(g->ids, sizeof(OmenNodeId) * g->cap);
		g->deleted = repalloc(g->deleted, sizeof(bool) * g->cap);
		g->level = repalloc(g->level, sizeof(uint8) * g->cap);
		g->links = repalloc(g->links, sizeof(OmenNodeId) * g->cap * g->maxlinks);
	}
	g->ids[g->n] = omen_tid_pack(tid);
	g->deleted[g->n] = nt->deleted;
	g->level[g->n] = nt->level;
	for (int i = 0; i < g->maxlinks; i++)
		g->links[g->n * g->maxlinks + i] =
			slots[i] != OMEN_NO_LINK ? omen_link_to_id(slots[i], g->link_bits) :
			OMEN_NO_NODE;
	p = hash_search(g->pos, &g->ids[g->n], HASH_ENTER, NULL);
	p->pos = g->n++;
	return true;
}

/*
 * Reads the level-0 graph of segment seg along its chain and counts each
 * node's links from live nodes, or returns false when it would take more
 * than maintenance_work_mem.  Pages inserts add
 * meanwhile may be missed: their nodes are not in the graph.
 */
static bool
graph_read(Relation index, const OmenMetaPageData *meta,
		   const OmenSegmentDesc *seg, RepairGraph *g)
{
	HASHCTL		ctl;

	g->maxlinks = omen_level_slots(0, meta->m);
	g->code_bytes = meta->code_bytes;
	g->link_bits = omen_link_bits(meta->m, meta->code_bytes);
	g->cap = Max(seg->nelements, 64);
	if ((double) g->cap * (g->maxlinks * sizeof(OmenNodeId) + 64) >
		(double) maintenance_work_mem * 1024)
		return false;
	g->n = 0;
	g->ids = palloc(sizeof(OmenNodeId) * g->cap);
	g->deleted = palloc(sizeof(bool) * g->cap);
	g->level = palloc(sizeof(uint8) * g->cap);
	g->links = palloc(sizeof(OmenNodeId) * g->cap * g->maxlinks);
	ctl.keysize = sizeof(OmenNodeId);
	ctl.entrysize = sizeof(RepairPos);
	ctl.hcxt = CurrentMemoryContext;
	g->pos = hash_create("omenhnsw repair", g->cap, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (!walk_segment(index, meta, seg, graph_add, g))
		return false;
	g->parent = palloc(sizeof(int32) * Max(g->n, 1));
	g->needed = palloc(sizeof(bool) * Max(g->n, 1));
	g->queue = palloc(sizeof(int32) * Max(g->n, 1));
	g->indeg = palloc0(sizeof(int32) * Max(g->n, 1));
	for (int u = 0; u < g->n; u++)
	{
		for (int i = 0; i < g->maxlinks && !g->deleted[u]; i++)
		{
			int32		x = g->links[u * g->maxlinks + i] == OMEN_NO_NODE ? -1 :
				graph_pos(g, g->links[u * g->maxlinks + i]);

			if (x >= 0)
				g->indeg[x]++;
		}
	}
	return true;
}

/*
 * Breadth-first search of g's level-0 links from position root: fills
 * parent and needed, and returns the number of live nodes reached.
 */
static int
graph_bfs(RepairGraph *g, int32 root)
{
	int			qtail = 0;
	int			nlive = 0;

	for (int i = 0; i < g->n; i++)
	{
		g->parent[i] = -1;
		g->needed[i] = false;
	}
	g->parent[root] = root;
	g->queue[qtail++] = root;
	for (int qhead = 0; qhead < qtail; qhead++)
	{
		int32		u = g->queue[qhead];

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < g->maxlinks; i++)
		{
			int32		x = g->links[u * g->maxlinks + i] == OMEN_NO_NODE ? -1 :
				graph_pos(g, g->links[u * g->maxlinks + i]);

			if (x >= 0 && g->parent[x] < 0)
			{
				g->parent[x] = u;
				g->queue[qtail++] = x;
			}
		}
	}
	for (int i = qtail - 1; i >= 0; i--)
	{
		int32		v = g->queue[i];

		if (!g->deleted[v])
		{
			g->needed[v] = true;
			nlive++;
		}
		if (g->needed[v] && v != root)
			g->needed[g->parent[v]] = true;
	}
	return nlive;
}

/*
 * Makes the live node at position best of g segment segno's entry point in
 * place of the deleted one at old, if the descriptor still names old.  The
 * insert lock keeps inserts, which may set a new entry point, away.
 */
static void
replace_entry(Relation index, uint32 segno, const RepairGraph *g, int32 old,
			  int32 best)
{
	OmenMetaPageData meta;
	OmenDirectory dir;

	LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);
	for (int i = 0; i < dir.nsegs; i++)
	{
		OmenSegmentDesc *seg = &dir.segs[i];
		Buffer		buf;
		GenericXLogState *state;
		Page		page;
		OffsetNumber off = ItemPointerGetOffsetNumber(&dir.where[i]);

		if (seg->segno != segno || omen_tid_pack(&seg->entry) != g->ids[old])
			continue;
		omen_tid_unpack(g->ids[best], &seg->entry);
		seg->entry_level = g->level[best];
		buf = ReadBuffer(index, ItemPointerGetBlockNumber(&dir.where[i]));
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		memcpy(PageGetItem(page, PageGetItemId(page, off)), seg,
			   sizeof(OmenSegmentDesc));
		GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
	UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
}

static int
cmp_cand(const void *a, const void *b)
{
	const OmenCand *x = a;
	const OmenCand *y = b;

	return omen_dist_lt(x->dist, y->dist) ? -1 : omen_dist_lt(y->dist, x->dist);
}

/* Whether id is among ids[0..n-1]. */
static bool
id_in(OmenNodeId id, const OmenNodeId *ids, int n)
{
	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * Rewrites the level-0 list of the live node at position u of g if it
 * links to deleted nodes, as an insert would choose it: the candidates are
 * the live nodes a search for its vector from the entry point finds
 * (ef_construction wide), its own live links and the live links of the
 * deleted nodes it names, selected as a new node's list is.
 *
 * Links that are edges of g's BFS tree into a subtree holding a live node
 * stay, so that every live node stays reachable from the entry point at
 * every record, and so do links to nodes not in g (inserted after it was
 * read).  A live node that u's old list reached directly or through a
 * deleted node, and that no other live node links to, keeps a link from
 * u: the selection would drop ways in that only back-links
 * gave (under inner product a node far from all others has no other), and
 * searches that do not pass the entry point on level 0 would miss it.
 * g->indeg follows the lists written.  The caller keeps other writers of
 * the list away.
 */
static void
repair_node(OmenPageStore *store, const OmenMetaPageData *meta,
			RepairGraph *g, int32 u, ItemPointer entry, int entry_level)
{
	OmenNodeId	cur[OMEN_MAX_LINKS];
	OmenNodeId	keep[OMEN_MAX_LINKS];
	OmenNodeId	links[OMEN_MAX_LINKS];
	int			slots = omen_level_slots(0, meta->m);
	int			ncur;
	int			nkeep = 0;
	int			nids = 0;
	bool		any_deleted = false;
	OmenNodeId *ids;
	OmenCand   *found;
	OmenCand   *cands;
	OmenCand   *sel;
	OmenSelectMode mode;
	int			max = omen_new_node_links(meta->metric, meta->m, 0, &mode);
	int			nfound;
	int			nsel;
	OmenCand	ep;
	int			n = 0;
	ItemPointerData tid;
	ItemPointerData vectid;
	OmenNodeTuple nt;
	float	   *vec;

	/* the list as it is now: an insert may have changed it since g was read */
	ncur = omen_page_store_ops.neighbors(store, g->ids[u], 0, cur, slots);
	if (ncur <= 0)
		return;
	ids = palloc(sizeof(OmenNodeId) *
				 ((slots + 1) * slots + meta->ef_construction));
	for (int i = 0; i < ncur; i++)
	{
		int32		x = graph_pos(g, cur[i]);
		int			nx;

		if (x < 0 || (g->parent[x] == u && g->needed[x]))
			keep[nkeep++] = cur[i];
		else if (!g->deleted[x])
			ids[nids++] = cur[i];
		if (x < 0 || !g->deleted[x])
			continue;
		any_deleted = true;
		nx = omen_page_store_ops.neighbors(store, cur[i], 0, links, slots);
		for (int j = 0; j < nx; j++)
		{
			int32		y = graph_pos(g, links[j]);

			if (y != u && (y < 0 || !g->deleted[y]))
				ids[nids++] = links[j];
		}
	}
	if (!any_deleted)
		return;

	/* the old list's live nodes that only u links to stay */
	for (int i = 0; i < nids && nkeep < slots; i++)
	{
		int32		y = graph_pos(g, ids[i]);

		if (y >= 0 && !id_in(ids[i], keep, nkeep) &&
			g->indeg[y] == (id_in(ids[i], cur, ncur) ? 1 : 0))
			keep[nkeep++] = ids[i];
	}

	/* the live nodes a search for u's vector finds */
	omen_tid_unpack(g->ids[u], &tid);
	nt = omen_store_node(store, &tid);
	if (nt == NULL)
		return;
	vectid = nt->vectid;
	omen_store_unlock(store);
	vec = palloc(sizeof(float) * meta->dims);
	if (!omen_store_vector(store, &vectid, vec))
		return;
	found = palloc(sizeof(OmenCand) * meta->ef_construction);
	ep = omen_store_descend(store, vec, entry, entry_level, 0);
	nfound = ep.id == OMEN_NO_NODE ? 0 :
		omen_store_search_level(store, vec, &ep, 1, 0, entry,
								meta->ef_construction, found);
	for (int i = 0; i < nfound; i++)
	{
		int32		x = graph_pos(g, found[i].id);

		if (x != u && (x < 0 || !g->deleted[x]))
			ids[nids++] = found[i].id;
	}

	/* distinct candidates, by distance from u's vector to their codes */
	qsort(ids, nids, sizeof(OmenNodeId), cmp_node_id);
	cands = palloc(sizeof(OmenCand) * Max(nids, 1));
	sel = palloc(sizeof(OmenCand) * max);
	for (int i = 0; i < nids; i++)
	{
		if ((i > 0 && ids[i] == ids[i - 1]) || id_in(ids[i], keep, nkeep))
			continue;
		cands[n].id = ids[i];
		cands[n].dist = omen_store_distance(store, vec, ids[i]);
		n++;
	}
	qsort(cands, n, sizeof(OmenCand), cmp_cand);
	nsel = omen_select_neighbors(&omen_page_store_ops, store, cands, n, max,
								 mode, omen_store_distance(store, vec, g->ids[u]),
								 sel);

	/* the links that stay first, then the selection while there is room */
	for (int i = 0; i < nsel && nkeep < slots; i++)
		keep[nkeep++] = sel[i].id;
	if (!omen_store_write_links(store, g->ids[u], 0, keep, nkeep))
		return;
	for (int i = 0; i < ncur; i++)
	{
		int32		x = graph_pos(g, cur[i]);

		if (x >= 0 && !id_in(cur[i], keep, nkeep))
			g->indeg[x]--;
	}
	for (int i = 0; i < nkeep; i++)
	{
		int32		x = graph_pos(g, keep[i]);

		if (x >= 0 && !id_in(keep[i], cur, ncur))
			g->indeg[x]++;
	}
}

/*
 * Repairs segment seg's graph around the nodes this VACUUM deleted: a
 * deleted entry point is replaced by the live node of the highest level
 * when that node's level-0 links reach every live node the old one
 * reached, then every live node linking to deleted nodes gets its list
 * rewritten by repair_node.  Deleted nodes keep their own lists, and the
 * links into them that the BFS tree needs stay, so every live node stays
 * reachable from the entry point at every WAL record.  For the insert
 * segment (insert_seg) the insert lock is held for one node at a time;
 * other segments take no inserts, and one VACUUM runs at a time.  Upper
 * levels are left as they are: deleted nodes route searches there.
 */
static void
repair_segment(Relation index, const OmenMetaPageData *meta,
			   const OmenSegmentDesc *seg, bool insert_seg)
{
	RepairGraph g;
	OmenPageStore store;
	int32		root;
	ItemPointerData entry;
	int			entry_level;
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext,
											  "omenhnsw repair",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext tmpctx = AllocSetContextCreate(ctx, "omenhnsw repair node",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);

	if (!ItemPointerIsValid(&seg->entry) || !graph_read(index, meta, seg, &g) ||
		(root = graph_pos(&g, omen_tid_pack((ItemPointer) &seg->entry))) < 0)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ctx);
		return;
	}
	entry = seg->entry;
	entry_level = seg->entry_level;
	if (g.deleted[root])
	{
		int32		best = -1;
		int			nlive = graph_bfs(&g, root);

		for (int32 i = 0; i < g.n; i++)
			if (!g.deleted[i] && g.parent[i] >= 0 &&
				(best < 0 || g.level[i] > g.level[best]))
				best = i;
		if (best >= 0 && graph_bfs(&g, best) == nlive)
		{
			replace_entry(index, seg->segno, &g, root, best);
			root = best;
			omen_tid_unpack(g.ids[best], &entry);
			entry_level = g.level[best];
		}
	}
	graph_bfs(&g, root);

	omen_store_init(&store, index, meta, 64);
	store.segno = seg->segno;
	for (int32 u = 0; u < g.n; u++)
	{
		bool		any = false;

		if (g.deleted[u])
			continue;
		for (int i = 0; i < g.maxlinks && !any; i++)
		{
			int32		x = g.links[u * g.maxlinks + i] == OMEN_NO_NODE ? -1 :
				graph_pos(&g, g.links[u * g.maxlinks + i]);

			any = x >= 0 && g.deleted[x];
		}
		if (!any)
			continue;
		vacuum_delay_point();
		if (insert_seg)
			LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
		MemoryContextSwitchTo(tmpctx);
		repair_node(&store, meta, &g, u, &entry, entry_level);
		MemoryContextSwitchTo(ctx);
		MemoryContextReset(tmpctx);
		if (insert_seg)
			UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
	}
	omen_store_release(&store);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}

/*
 * Repairs the graphs of the segments in which this page pass deleted nodes
 * (deleted[] by segno, for segnos below nseen).
 */
static void
repair_segments(Relation index, const uint32 *deleted, uint32 nseen)
{
	OmenMetaPageData meta;
	OmenDirectory dir;

	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);
	for (int i = 0; i < dir.nsegs; i++)
		if (dir.segs[i].segno < nseen && deleted[dir.segs[i].segno] > 0)
			repair_segment(index, &meta, &dir.segs[i], i == dir.nsegs - 1);
}

IndexBulkDeleteResult *
omen_ambulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	OmenMetaPageData meta;
	OmenDirectory dir;
	uint32	   *live_elems;
	uint32	   *deleted_elems;
	double		live = 0;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);
	live_elems = palloc0(sizeof(uint32) * Max(meta.next_segno, 1));
	deleted_elems = palloc0(sizeof(uint32) * Max(meta.next_segno, 1));

	for (BlockNumber blk = OMEN_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;
		bool		free_page = false;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
								 info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
			free_page = true;	/* extended by an insert that failed */
		else if (omen_page_is(page, OMEN_PAGE_DATA) ||
				 omen_page_is(page, OMEN_PAGE_VECTOR))
		{
			uint32		segno = OmenPageGetOpaque(page)->segno;
			uint32		elems = 0;
			uint32		deleted = 0;

			if (OmenPageGetOpaque(page)->kind == OMEN_PAGE_DATA)
				stats->tuples_removed += vacuum_page(index, buf, &meta,
													 callback, callback_state,
													 &live, &elems, &deleted);
			if (segno < meta.next_segno)
			{
				live_elems[segno] += elems;
				deleted_elems[segno] += deleted;
				/* re-record pages a crash or a busy page kept from the map */
				free_page = !omen_directory_has(&dir, segno);
			}
		}
		else if (!omen_page_is(page, OMEN_PAGE_META) &&
				 !omen_page_is(page, OMEN_PAGE_DIR))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has a damaged page at block %u",
							RelationGetRelationName(index), blk)));
		UnlockReleaseBuffer(buf);
		if (free_page)
			RecordFreeIndexPage(index, blk);
	}

	stats->pages_newly_deleted = retire_dead_segments(index, live_elems,
													  meta.next_segno);
	stats->pages_deleted += stats->pages_newly_deleted;
	repair_segments(index, deleted_elems, meta.next_segno);
	stats->num_pages = RelationGetNumberOfBlocks(index);
	stats->num_index_tuples = live;
	return stats;
}

/* The bulk-delete callback of a page pass that removes nothing. */
static bool
keep_all(ItemPointer itemptr, void *state)
{
	return false;
}

IndexBulkDeleteResult *
omen_amvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;

	/*
	 * No bulk delete ran: a page pass that removes nothing counts the live
	 * rows and re-records the free pages a crash kept from the map, so that
	 * VACUUM reports the index's size and rows as after a bulk delete.
	 */
	if (stats == NULL)
		stats = omen_ambulkdelete(info, NULL, keep_all, NULL);
	repair_insert_segment(info->index);
	IndexFreeSpaceMapVacuum(info->index);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
