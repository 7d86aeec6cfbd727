/*
 * page.c
 *		Page codec of an omenhnsw index: page and tuple layout, metapage and
 *		segment directory.
 */
#include "postgres.h"

#include "port/pg_bitutils.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"

#include "distance.h"
#include "elem.h"
#include "page.h"

int
omen_max_level(int m)
{
	Size		widest = OMEN_CODE_BYTES(OMEN_MAX_DIMS, 2);
	int			level = 0;

	while (level < OMEN_LEVEL_LIMIT &&
		   OMEN_ITEM_COST(OMEN_NODE_SIZE(level + 1, m, widest)) <= OMEN_PAGE_CAPACITY)
		level++;
	return level;
}

int
omen_link_bits(int m, int code_bytes)
{
	uint32		rows = OMEN_PAGE_CAPACITY /
		OMEN_ITEM_COST(OMEN_NODE_SIZE(0, m, code_bytes));

	/* at least one bit, also for a (damaged) metapage's rows that fit no page */
	return pg_leftmost_one_pos32(Max(rows, 1)) + 1;
}

void
omen_check_link_block(Relation index, BlockNumber blk, int obits)
{
	if (blk >= omen_link_blocks(obits))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("index \"%s\" is too large for its links",
						RelationGetRelationName(index)),
				 errdetail("Its search rows can be on the first %u blocks only; the next would be on block %u.",
						   omen_link_blocks(obits), blk)));
}

/*
 * The widest scalar code whose search row fits an empty page at every level
 * a node may have: 8 bits up to a few thousand dimensions, fewer above.
 */
int
omen_scalar_code_bits(int dims, int m)
{
	int			bits = 8;

	while (bits > 2 &&
		   OMEN_ITEM_COST(OMEN_NODE_SIZE(omen_max_level(m), m,
										 OMEN_CODE_BYTES(dims, bits))) > OMEN_PAGE_CAPACITY)
		bits /= 2;
	return bits;
}

/*
 * The codes a new index of dims code floats of element kind elem gets.  For
 * a bit string, a bit an element: its floats take two values only, which a
 * 1-bit code keeps exactly.  For a halfvec, 4-bit codes with the halves
 * apart: about half the room of a vector index's 8-bit codes and floats,
 * and search rows of half their size; or, under codes = 'halves', the
 * halves themselves where two level-0 rows of them fit a page (up to 1,932
 * dimensions at m = 16), which takes a little less room again but makes
 * rows of three times the size to search.  Otherwise
 * omen_scalar_code_bits.
 */
int
omen_code_bits(int elem, int dims, int m, int codes)
{
	Size		halves = OMEN_CODE_BYTES(dims, OMEN_CODE_HALVES);

	if (codes == OMEN_CODES_HALVES)
	{
		if (elem == OMEN_ELEM_FLOAT2 &&
			2 * OMEN_ITEM_COST(OMEN_NODE_SIZE(0, m, halves)) <= OMEN_PAGE_CAPACITY &&
			OMEN_ITEM_COST(OMEN_NODE_SIZE(omen_max_level(m), m, halves)) <= OMEN_PAGE_CAPACITY)
			return OMEN_CODE_HALVES;
		return 0;
	}
	if (elem == OMEN_ELEM_BIT)
		return 1;
	if (elem == OMEN_ELEM_FLOAT2)
		return Min(4, omen_scalar_code_bits(dims, m));
	return omen_scalar_code_bits(dims, m);
}

void
omen_check_codes(int elem, int dims, int m, int codes)
{
	if (codes == OMEN_CODES_HALVES && elem != OMEN_ELEM_FLOAT2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("codes = 'halves' is for halfvec indexes only")));
	if (dims > 0 && omen_code_bits(elem, dims, m, codes) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("search rows of %d halves do not fit a page at m = %d",
						dims, m),
				 errhint("Build the index with codes = 'auto'.")));
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
omen_meta_init(Page page, int elem, int elem_dims, int m, int ef_construction,
			   int metric, int codes)
{
	OmenMetaPage meta;

	omen_page_init(page, OMEN_PAGE_META, 0);
	meta = OmenPageGetMeta(page);
	memset(meta, 0, sizeof(OmenMetaPageData));
	meta->magic = OMEN_MAGIC;
	meta->version = OMEN_VERSION;
	meta->m = m;
	meta->ef_construction = ef_construction;
	meta->metric = metric;
	meta->elem = elem;
	meta->codes = codes;
	meta->max_level = omen_max_level(m);
	meta->dir_head = InvalidBlockNumber;
	omen_meta_set_dims(meta, elem_dims);
	/* keep pd_lower truthful so WAL page images include the struct */
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(OmenMetaPageData)) - (char *) page;
}

void
omen_meta_set_dims(OmenMetaPage meta, int elem_dims)
{
	int			dims = omen_elem_code_dims(meta->elem, elem_dims);

	omen_check_codes(meta->elem, dims, meta->m, meta->codes);
	meta->elem_dims = elem_dims;
	meta->dims = dims;
	meta->code_bits = dims > 0 ?
		omen_code_bits(meta->elem, dims, meta->m, meta->codes) : 0;
	meta->code_bytes = dims > 0 ? OMEN_CODE_BYTES(dims, meta->code_bits) : 0;
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

	/* the code width every reader goes by: one a codec knows, and its size */
	if (meta->dims > OMEN_MAX_DIMS || meta->codes > OMEN_CODES_HALVES ||
		(meta->dims == 0 ? meta->code_bits != 0 || meta->code_bytes != 0 :
		 !(meta->code_bits == 8 || meta->code_bits == 4 || meta->code_bits == 2 ||
		   (meta->code_bits == 1 && meta->elem == OMEN_ELEM_BIT) ||
		   (meta->code_bits == OMEN_CODE_HALVES && meta->elem == OMEN_ELEM_FLOAT2)) ||
		 meta->code_bytes != OMEN_CODE_BYTES(meta->dims, meta->code_bits)))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has a damaged metapage: codes of %u bits in %u bytes for %u dimensions",
						relname, meta->code_bits, meta->code_bytes, meta->dims)));
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

/* The item at off of a page of kind if it is a tuple of the given type. */
static char *
get_item(Page page, OffsetNumber off, uint16 kind, uint8 type, Size *len)
{
	char	   *tup;

	if (!omen_page_is(page, kind))
		return NULL;
	tup = omen_page_item(page, off, len);
	if (tup == NULL || *len < 2 || (uint8) tup[0] != type)
		return NULL;
	return tup;
}

OmenNodeTuple
omen_page_get_node(Page page, OffsetNumber off, int m, int code_bytes)
{
	Size		len;
	char	   *tup = get_item(page, off, OMEN_PAGE_DATA, OMEN_TUPLE_NODE, &len);

	if (tup == NULL || len < offsetof(OmenNodeTupleData, data) ||
		len != OMEN_NODE_SIZE(((OmenNodeTuple) tup)->level, m, code_bytes))
		return NULL;
	return (OmenNodeTuple) tup;
}

OmenVectorTuple
omen_page_get_chunk(Page page, OffsetNumber off)
{
	Size		len;
	char	   *tup = get_item(page, off, OMEN_PAGE_VECTOR, OMEN_TUPLE_VECTOR, &len);

	if (tup == NULL || len < offsetof(OmenVectorTupleData, x) ||
		len != OMEN_CHUNK_SIZE(((OmenVectorTuple) tup)->nfloats) ||
		((OmenVectorTuple) tup)->nfloats == 0)
		return NULL;
	return (OmenVectorTuple) tup;
}

void
omen_node_fill(OmenNodeTuple nt, int level, const OmenMetaPageData *meta,
			   ItemPointer heaptids, int ntids, ItemPointer vectid)
{
	memset(nt, 0, offsetof(OmenNodeTupleData, data));
	nt->type = OMEN_TUPLE_NODE;
	nt->level = level;
	for (int i = 0; i < OMEN_HEAPTIDS; i++)
	{
		if (i < ntids)
			nt->heaptids[i] = heaptids[i];
		else
			ItemPointerSetInvalid(&nt->heaptids[i]);
	}
	nt->vectid = *vectid;
	memset(omen_node_links(nt, meta->code_bytes), 0,
		   sizeof(OmenLink) * OMEN_NEIGHBOR_SLOTS(level, meta->m));
}

void
omen_node_encode(OmenNodeTuple nt, const OmenMetaPageData *meta,
				 const float *x)
{
	omen_quantize(x, meta->dims, meta->code_bits, omen_node_code(nt),
				  &nt->offset, &nt->scale);
	nt->tight = omen_code_tightness(x, meta->dims, meta->code_bits,
									omen_node_code(nt), nt->offset, nt->scale);
}

/*
 * Floats of the next chunk of a vector that has remaining floats left to
 * place, on a page with free bytes: as many as fit, or 0 when too few fit
 * to be worth a chunk (the vector then goes on on a new page).
 */
int
omen_chunk_floats(Size free, int remaining)
{
	Size		fit;

	if (free < sizeof(ItemIdData) + MAXALIGN(OMEN_CHUNK_SIZE(1)))
		return 0;
	fit = (TYPEALIGN_DOWN(MAXIMUM_ALIGNOF, free - sizeof(ItemIdData)) -
		   offsetof(OmenVectorTupleData, x)) / sizeof(float);
	if (fit < (Size) Min(remaining, OMEN_MIN_CHUNK_FLOATS))
		return 0;
	return (int) Min(fit, (Size) remaining);
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

void
omen_chain_damaged(Relation index, uint32 segno, BlockNumber blk)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" has a damaged page chain of segment %u at block %u",
					RelationGetRelationName(index), segno, blk)));
}

/*
 * The block after page, block blk of segment segno's chain, or Invalid at
 * the chain's end; *hops counts the pages walked (0 before the first).  A
 * page that is not one of the segment's data or vector pages, a next
 * pointer to the metapage or past the relation's end, and a chain with more
 * pages than the relation (a cycle) are damage.  The caller holds page's
 * buffer lock.
 */
BlockNumber
omen_chain_next(Relation index, uint32 segno, BlockNumber blk, Page page,
				BlockNumber *hops)
{
	BlockNumber next;

	if ((!omen_page_is(page, OMEN_PAGE_DATA) &&
		 !omen_page_is(page, OMEN_PAGE_VECTOR)) ||
		OmenPageGetOpaque(page)->segno != segno)
		omen_chain_damaged(index, segno, blk);
	next = OmenPageGetOpaque(page)->next;
	if (BlockNumberIsValid(next))
	{
		BlockNumber nblocks = RelationGetNumberOfBlocks(index);

		if (next == OMEN_METAPAGE_BLKNO || next >= nblocks || ++(*hops) >= nblocks)
			omen_chain_damaged(index, segno, blk);
	}
	return next;
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
