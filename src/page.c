/*
 * page.c
 *		Page codec of an omenhnsw index: page and tuple layout, metapage and
 *		segment directory.
 */
#include "postgres.h"

#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#include "distance.h"
#include "page.h"

/*
 * Highest level whose neighbour tuple still fits on an empty page.
 */
int
omen_max_level(int m)
{
	int			level = 0;

	while (level < OMEN_LEVEL_LIMIT &&
		   OMEN_ITEM_COST(OMEN_NEIGHBOR_SIZE(level + 1, m)) <= OMEN_PAGE_CAPACITY)
		level++;
	return level;
}

void
omen_page_init(Page page, uint16 kind, uint32 segno)
{
	OmenPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(OmenPageOpaqueData));
	opaque = OmenPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->segno = segno;
	opaque->kind = kind;
	opaque->unused = 0;
	opaque->page_id = OMEN_MAGIC;
}

void
omen_meta_init(Page page, int dims, int m, int ef_construction, int metric)
{
	OmenMetaPage meta;

	omen_page_init(page, OMEN_PAGE_META, 0);
	meta = OmenPageGetMeta(page);
	memset(meta, 0, sizeof(OmenMetaPageData));
	meta->magic = OMEN_MAGIC;
	meta->version = OMEN_VERSION;
	meta->dims = dims;
	meta->m = m;
	meta->ef_construction = ef_construction;
	meta->metric = metric;
	meta->max_level = omen_max_level(m);
	meta->dir_head = InvalidBlockNumber;
	/* keep pd_lower truthful so WAL page images include the struct */
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(OmenMetaPageData)) - (char *) page;
}

/*
 * Extends the relation by one page and returns it exclusively locked.
 */
Buffer
omen_new_buffer(Relation index, ForkNumber fork)
{
	Buffer		buf;
	bool		needLock = !RELATION_IS_LOCAL(index);

	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/*
 * Whether page, as the buffer manager hands it over (its header checked),
 * is an omenhnsw page of the given kind: our special space and nothing
 * overlapping it.  Every decoder checks this before it reads the page.
 */
bool
omen_page_is(Page page, uint16 kind)
{
	PageHeader	ph = (PageHeader) page;

	return !PageIsNew(page) &&
		ph->pd_special == BLCKSZ - MAXALIGN(sizeof(OmenPageOpaqueData)) &&
		ph->pd_lower >= SizeOfPageHeaderData &&
		ph->pd_lower <= ph->pd_upper && ph->pd_upper <= ph->pd_special &&
		OmenPageGetOpaque(page)->kind == kind;
}

/*
 * The item at off of a page that omen_page_is accepted, or NULL when off
 * has no normal line pointer or the item is misaligned or reaches outside
 * the tuple space (a damaged page).
 */
char *
omen_page_item(Page page, OffsetNumber off, Size *len)
{
	PageHeader	ph = (PageHeader) page;
	ItemId		iid;
	Size		start;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return NULL;
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid))
		return NULL;
	start = ItemIdGetOffset(iid);
	*len = ItemIdGetLength(iid);
	if (start != MAXALIGN(start) || start < ph->pd_upper ||
		start + *len > ph->pd_special)
		return NULL;
	return (char *) page + start;
}

/*
 * Copies the index parameters out of a metapage image; raises
 * ERRCODE_INDEX_CORRUPTED if it is not one.
 */
void
omen_meta_decode(Page page, const char *relname, OmenMetaPageData *meta)
{
	if (!omen_page_is(page, OMEN_PAGE_META) ||
		OmenPageGetMeta(page)->magic != OMEN_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not an omenhnsw index or its metapage is damaged",
						relname)));
	if (OmenPageGetMeta(page)->version != OMEN_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("index \"%s\" has format version %u, expected %u",
						relname, OmenPageGetMeta(page)->version, OMEN_VERSION),
				 errhint("REINDEX the index.")));
	memcpy(meta, OmenPageGetMeta(page), sizeof(OmenMetaPageData));
}

void
omen_meta_read(Relation index, OmenMetaPageData *meta)
{
	Buffer		buf;

	buf = ReadBuffer(index, OMEN_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	omen_meta_decode(BufferGetPage(buf), RelationGetRelationName(index), meta);
	UnlockReleaseBuffer(buf);
}

/* The item at off of a data page if it is a tuple of the given type. */
static char *
get_item(Page page, OffsetNumber off, uint8 type, Size *len)
{
	char	   *tup;

	if (!omen_page_is(page, OMEN_PAGE_DATA))
		return NULL;
	tup = omen_page_item(page, off, len);
	if (tup == NULL || *len < 2 || (uint8) tup[0] != type)
		return NULL;
	return tup;
}

OmenElementTuple
omen_page_get_element(Page page, OffsetNumber off, int dims)
{
	Size		len;
	char	   *tup = get_item(page, off, OMEN_TUPLE_ELEMENT, &len);

	if (tup == NULL || len != OMEN_ELEMENT_SIZE(dims))
		return NULL;
	return (OmenElementTuple) tup;
}

OmenNeighborTuple
omen_page_get_neighbors(Page page, OffsetNumber off, int m)
{
	Size		len;
	char	   *tup = get_item(page, off, OMEN_TUPLE_NEIGHBOR, &len);

	if (tup == NULL || len < offsetof(OmenNeighborTupleData, tids) ||
		len != OMEN_NEIGHBOR_SIZE(((OmenNeighborTuple) tup)->level, m))
		return NULL;
	return (OmenNeighborTuple) tup;
}

void
omen_element_fill(OmenElementTuple et, int level, int dims, const float *x,
				  ItemPointer heaptids, int ntids, ItemPointer neighbortid)
{
	memset(et, 0, offsetof(OmenElementTupleData, x));
	et->type = OMEN_TUPLE_ELEMENT;
	et->level = level;
	for (int i = 0; i < OMEN_HEAPTIDS; i++)
	{
		if (i < ntids)
			et->heaptids[i] = heaptids[i];
		else
			ItemPointerSetInvalid(&et->heaptids[i]);
	}
	et->neighbortid = *neighbortid;
	memcpy(et->x, x, sizeof(float) * dims);
}

void
omen_neighbor_fill(OmenNeighborTuple nt, int level, int m)
{
	nt->type = OMEN_TUPLE_NEIGHBOR;
	nt->level = level;
	nt->nslots = OMEN_NEIGHBOR_SLOTS(level, m);
	for (int i = 0; i < nt->nslots; i++)
		ItemPointerSetInvalid(&nt->tids[i]);
}

/*
 * Appends the descriptors of directory page blk to dir, growing its arrays;
 * raises ERRCODE_INDEX_CORRUPTED if the page is not a directory page.
 */
void
omen_directory_decode(Page page, BlockNumber blk, const char *relname,
					  OmenDirectory *dir, int *cap)
{
	OffsetNumber maxoff;

	if (!omen_page_is(page, OMEN_PAGE_DIR))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a damaged segment directory at block %u",
						relname, blk)));
	maxoff = PageGetMaxOffsetNumber(page);
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		Size		len;
		char	   *item = omen_page_item(page, off, &len);

		if (item == NULL || len != sizeof(OmenSegmentDesc))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has a damaged segment descriptor at (%u,%u)",
							relname, blk, off)));
		if (dir->nsegs == *cap)
		{
			*cap *= 2;
			dir->segs = repalloc(dir->segs, sizeof(OmenSegmentDesc) * *cap);
			dir->where = repalloc(dir->where, sizeof(ItemPointerData) * *cap);
		}
		memcpy(&dir->segs[dir->nsegs], item, sizeof(OmenSegmentDesc));
		ItemPointerSet(&dir->where[dir->nsegs], blk, off);
		dir->nsegs++;
	}
}

/*
 * Reads the whole segment directory.  A chain that leaves the index or runs
 * longer than the index has pages (a cycle) is damage.
 */
void
omen_directory_read(Relation index, const OmenMetaPageData *meta,
					OmenDirectory *dir)
{
	BlockNumber blk = meta->dir_head;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber npages = 0;
	/* every segment has a page of its own */
	int			cap = Max(Min(meta->nsegments, nblocks), 4);

	dir->nsegs = 0;
	dir->segs = palloc(sizeof(OmenSegmentDesc) * cap);
	dir->where = palloc(sizeof(ItemPointerData) * cap);
	dir->last_page = InvalidBlockNumber;
	while (BlockNumberIsValid(blk))
	{
		Buffer		buf;

		if (blk == OMEN_METAPAGE_BLKNO || blk >= nblocks || ++npages > nblocks)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has a damaged segment directory chain at block %u",
							RelationGetRelationName(index), blk)));
		buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		omen_directory_decode(BufferGetPage(buf), blk,
							  RelationGetRelationName(index), dir, &cap);
		dir->last_page = blk;
		blk = OmenPageGetOpaque(BufferGetPage(buf))->next;
		UnlockReleaseBuffer(buf);
	}
}

bool
omen_directory_has(const OmenDirectory *dir, uint32 segno)
{
	for (int i = 0; i < dir->nsegs; i++)
		if (dir->segs[i].segno == segno)
			return true;
	return false;
}

/*
 * Appends directory pages holding segs and returns the first one's block.
 * Not WAL-logged: the bulk build logs the whole relation afterwards.
 */
BlockNumber
omen_directory_write(Relation index, const OmenSegmentDesc *segs, int nsegs)
{
	BlockNumber head = InvalidBlockNumber;
	Buffer		buf = InvalidBuffer;

	for (int i = 0; i < nsegs; i++)
	{
		if (!BufferIsValid(buf) ||
			PageGetFreeSpace(BufferGetPage(buf)) < MAXALIGN(sizeof(OmenSegmentDesc)))
		{
			Buffer		newbuf = omen_new_buffer(index, MAIN_FORKNUM);

			omen_page_init(BufferGetPage(newbuf), OMEN_PAGE_DIR, 0);
			if (BufferIsValid(buf))
			{
				OmenPageGetOpaque(BufferGetPage(buf))->next = BufferGetBlockNumber(newbuf);
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			else
				head = BufferGetBlockNumber(newbuf);
			buf = newbuf;
		}
		if (PageAddItem(BufferGetPage(buf), (Item) &segs[i], sizeof(OmenSegmentDesc),
						InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
			elog(ERROR, "failed to add segment descriptor to index \"%s\"",
				 RelationGetRelationName(index));
	}
	if (BufferIsValid(buf))
	{
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	return head;
}
