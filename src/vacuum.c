/*
 * vacuum.c
 *		VACUUM of an omenhnsw index.
 *
 * Dead heap TIDs are removed from their elements page by page.  An element
 * left without heap TIDs is marked deleted but stays in its graph as a
 * routing node, so every surviving node stays reachable without repairing
 * links; scans never return deleted elements.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "storage/bufmgr.h"

#include "omenhnsw.h"
#include "page.h"

/*
 * Removes the dead heap TIDs of one page's elements.  Returns the number of
 * heap TIDs removed and adds the survivors to *live.
 */
static int64
vacuum_page(Relation index, Buffer buf, IndexBulkDeleteCallback callback,
			void *callback_state, double *live)
{
	Page		page = BufferGetPage(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	GenericXLogState *state = NULL;
	int64		removed = 0;

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		OmenElementTuple et = omen_page_get_tuple(page, off, OMEN_TUPLE_ELEMENT);
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
		if (nkeep == nhad)
			continue;

		/* first change on this page: switch to the WAL-logged copy */
		if (state == NULL)
		{
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			et = omen_page_get_tuple(page, off, OMEN_TUPLE_ELEMENT);
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

IndexBulkDeleteResult *
omen_ambulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				  IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	double		live = 0;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	for (BlockNumber blk = OMEN_METAPAGE_BLKNO + 1; blk < nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL,
								 info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) && OmenPageGetOpaque(page)->kind == OMEN_PAGE_DATA)
			stats->tuples_removed += vacuum_page(index, buf, callback,
												 callback_state, &live);
		UnlockReleaseBuffer(buf);
	}
	stats->num_pages = nblocks;
	stats->num_index_tuples = live;
	return stats;
}

IndexBulkDeleteResult *
omen_amvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only || stats == NULL)
		return stats;
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
