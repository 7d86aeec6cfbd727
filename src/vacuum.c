/*
 * vacuum.c
 *		VACUUM of an omenhnsw index.
 *
 * Dead heap TIDs are removed from their nodes' search rows page by page.  A
 * node left without heap TIDs is marked deleted but stays in its graph as a
 * routing node, so every surviving node stays reachable without repairing
 * links; scans never return deleted nodes.  A segment left with no live
 * node is retired: dropped from the directory and, once the searches
 * running then are done, its pages (data and vector pages) go to the free
 * space map for inserts.  A scan that resumes the segment's search later
 * meets reused pages as another segment's and treats their tuples as gone.
 * Afterwards live nodes that inserts left unreachable are relinked; a
 * VACUUM that deleted nothing does that too, after a page pass that only
 * counts.
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
 * of heap TIDs removed; adds the surviving TIDs to *live and the nodes that
 * keep any to *live_elems.  The caller holds the page's exclusive lock.
 */
static int64
vacuum_page(Relation index, Buffer buf, const OmenMetaPageData *meta,
			IndexBulkDeleteCallback callback, void *callback_state,
			double *live, uint32 *live_elems)
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
			et->deleted = 1;
		removed += nhad - nkeep;
	}
	if (state != NULL)
		GenericXLogFinish(state);
	return removed;
}

/* Live nodes of a segment, counted along its chain. */
static uint32
count_live(Relation index, const OmenSegmentDesc *seg,
		   const OmenMetaPageData *meta)
{
	uint32		n = 0;
	BlockNumber hops = 0;

	for (BlockNumber blk = seg->first_blk; BlockNumberIsValid(blk);)
	{
		Buffer		buf = ReadBuffer(index, blk);
		Page		page;
		OffsetNumber maxoff;
		BlockNumber next;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		next = omen_chain_next(index, seg->segno, blk, page, &hops);
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			OmenNodeTuple nt = omen_page_get_node(page, off, meta->m,
												  meta->code_bytes);

			if (nt != NULL && !nt->deleted)
				n++;
		}
		UnlockReleaseBuffer(buf);
		blk = next;
	}
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
 * pages are freed once every search running at the drop is done.  Returns
 * the number of pages freed.
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
	 * Searches that read the old directory may still walk those pages: wait
	 * for those running now.  No one can reuse the pages before they are
	 * recorded free; a scan resuming a search of them between batches
	 * rejects pages reused by another segment (pagestore.c: on_segment).
	 */
	if (nfreed > 0)
	{
		LockPage(index, OMEN_SCAN_LOCK, ExclusiveLock);
		UnlockPage(index, OMEN_SCAN_LOCK, ExclusiveLock);
		for (i = 0; i < nfreed; i++)
			RecordFreeIndexPage(index, freed[i]);
	}
	return nfreed;
}

/*
 * Relinks the live elements of the segment inserts go to that its entry
 * point no longer reaches: pruning a full list on insert can drop a node's
 * last incoming link.  Each gets a link from the nearest node a search for
 * it finds, which is reachable by construction.  Other segments only lose
 * rows to VACUUM, never links or elements, so they stay as connected as
 * they were.
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

	vec = palloc(sizeof(float) * meta.dims);
	cands = palloc(sizeof(OmenCand) * meta.ef_construction);
	tmpctx = AllocSetContextCreate(CurrentMemoryContext, "omenhnsw repair",
								   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
	{
		OmenNodeTuple nt;
		ItemPointerData vectid;
		OmenNodeId	self = omen_tid_pack(&orphans[i]);
		OmenCand	ep;
		int			ncands;

		/* cost-based delay with no lock held, so inserts do not wait it out */
		vacuum_delay_point();
		LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
		nt = omen_store_node(&store, &orphans[i]);
		if (nt != NULL)
		{
			vectid = nt->vectid;
			omen_store_unlock(&store);
		}
		if (nt != NULL && omen_store_vector(&store, &vectid, vec))
		{
			old = MemoryContextSwitchTo(tmpctx);
			ep = omen_store_descend(&store, vec, &seg->entry, seg->entry_level, 0);
			ncands = omen_store_search_level(&store, vec, &ep, 1, 0,
											 meta.ef_construction, cands);
			for (int j = 0; j < ncands; j++)
			{
				if (cands[j].id != self)
				{
					omen_store_link(&store, cands[j].id, 0, &orphans[i],
									OMEN_LINK_FORCE);
					break;
				}
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(tmpctx);
		}
		UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
	}
	omen_store_release(&store);
	MemoryContextDelete(tmpctx);
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
	double		live = 0;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	omen_meta_read(index, &meta);
	omen_directory_read(index, &meta, &dir);
	live_elems = palloc0(sizeof(uint32) * Max(meta.next_segno, 1));

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

			if (OmenPageGetOpaque(page)->kind == OMEN_PAGE_DATA)
				stats->tuples_removed += vacuum_page(index, buf, &meta,
													 callback, callback_state,
													 &live, &elems);
			if (segno < meta.next_segno)
			{
				live_elems[segno] += elems;
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
