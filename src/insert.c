/*
 * insert.c
 *		Single-row inserts into an omenhnsw index.
 *
 * A row goes into the last segment of the directory (a new one when the
 * index has none).  Inserts are serialized by a heavyweight lock on the
 * index, so a neighbour list read during the search cannot change before it
 * is rewritten; scans take no such lock and see every page change whole.
 * The order of the WAL records keeps the graph navigable at every record
 * boundary: first the element with its own links and the segment's
 * descriptor (count, entry point), then each back-link.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"

#include "distance.h"
#include "omenhnsw.h"
#include "pagestore.h"

/* Everything one insert needs. */
typedef struct OmenInsert
{
	Relation	index;
	OmenMetaPageData meta;
	OmenDirectory dir;
	OmenPageStore store;
	const float *vec;
	float		self;			/* distance of vec to itself, a copy's */
	ItemPointerData heaptid;
	int			level;
	OmenCand   *nbrs[OMEN_LEVEL_LIMIT + 1];	/* chosen neighbours per level */
	int			nnbrs[OMEN_LEVEL_LIMIT + 1];
} OmenInsert;

/*
 * A uniform draw in (0,1] from a hash of the heap TID: a row's level is
 * random across rows but the same on every run, so the graph that a given
 * sequence of inserts grows does not depend on the session's random state.
 */
static double
tid_uniform(ItemPointer tid)
{
	uint64		h = hash_bytes_extended((const unsigned char *) tid,
										sizeof(ItemPointerData), 0);

	return ((h >> 11) + 1) * (1.0 / (UINT64CONST(1) << 53));
}

static bool
page_fits(Page page, Size size)
{
	return PageGetFreeSpace(page) >= MAXALIGN(size);
}

static void
add_item(Page page, void *tup, Size size, OffsetNumber off, Relation index)
{
	if (PageAddItem(page, (Item) tup, size, off, false, false) != off)
		elog(ERROR, "failed to add tuple to index \"%s\"",
			 RelationGetRelationName(index));
}

/*
 * A page for new tuples: a free one from the free space map, else a new
 * one.  The map is not crash safe, so a page it offers is used only if it
 * is new or belongs to no live segment.  Returned exclusively locked.
 */
static Buffer
get_page(OmenInsert *ins)
{
	for (int tries = 0; tries < 16; tries++)
	{
		BlockNumber blk = GetFreeIndexPage(ins->index);
		Buffer		buf;
		Page		page;

		if (!BlockNumberIsValid(blk))
			break;
		/* after a crash the map may name blocks past the end */
		if (blk >= RelationGetNumberOfBlocks(ins->index))
			continue;
		buf = ReadBuffer(ins->index, blk);
		if (!ConditionalLockBuffer(buf))
		{
			/* busy for a moment: keep it in the map for later */
			ReleaseBuffer(buf);
			RecordFreeIndexPage(ins->index, blk);
			continue;
		}
		page = BufferGetPage(buf);
		if (PageIsNew(page) ||
			(OmenPageGetOpaque(page)->kind == OMEN_PAGE_DATA &&
			 !omen_directory_has(&ins->dir, OmenPageGetOpaque(page)->segno)))
			return buf;
		UnlockReleaseBuffer(buf);
	}
	return omen_new_buffer(ins->index, MAIN_FORKNUM);
}

/*
 * Opens a new, empty segment at the end of the directory; one WAL record
 * covers the new data page, the directory and the metapage.
 */
static void
create_segment(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where)
{
	Relation	index = ins->index;
	Buffer		databuf = get_page(ins);
	Buffer		metabuf;
	Buffer		dirbuf = InvalidBuffer;
	Buffer		newdirbuf = InvalidBuffer;
	BlockNumber dirblk;
	GenericXLogState *state;
	Page		metapage;
	Page		dirpage;
	Page		page;
	bool		fits = false;

	if (BlockNumberIsValid(ins->dir.last_page))
	{
		dirbuf = ReadBuffer(index, ins->dir.last_page);
		LockBuffer(dirbuf, BUFFER_LOCK_SHARE);
		fits = page_fits(BufferGetPage(dirbuf), sizeof(OmenSegmentDesc));
		LockBuffer(dirbuf, BUFFER_LOCK_UNLOCK);
	}
	/* a new directory page is unreachable until linked: take it first */
	if (!fits)
		newdirbuf = get_page(ins);

	metabuf = ReadBuffer(index, OMEN_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	if (BufferIsValid(dirbuf))
		LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);

	state = GenericXLogStart(index);
	metapage = GenericXLogRegisterBuffer(state, metabuf, 0);
	memset(desc, 0, sizeof(OmenSegmentDesc));
	desc->segno = OmenPageGetMeta(metapage)->next_segno++;
	desc->first_blk = BufferGetBlockNumber(databuf);
	desc->last_blk = desc->first_blk;
	desc->nblocks = 1;
	ItemPointerSetInvalid(&desc->entry);

	page = GenericXLogRegisterBuffer(state, databuf, GENERIC_XLOG_FULL_IMAGE);
	omen_page_init(page, OMEN_PAGE_DATA, desc->segno);

	if (BufferIsValid(newdirbuf))
	{
		dirpage = GenericXLogRegisterBuffer(state, newdirbuf, GENERIC_XLOG_FULL_IMAGE);
		omen_page_init(dirpage, OMEN_PAGE_DIR, 0);
		if (BufferIsValid(dirbuf))
			OmenPageGetOpaque(GenericXLogRegisterBuffer(state, dirbuf, 0))->next =
				BufferGetBlockNumber(newdirbuf);
		else
			OmenPageGetMeta(metapage)->dir_head = BufferGetBlockNumber(newdirbuf);
		dirblk = BufferGetBlockNumber(newdirbuf);
	}
	else
	{
		dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);
		dirblk = BufferGetBlockNumber(dirbuf);
	}
	ItemPointerSet(where, dirblk, PageGetMaxOffsetNumber(dirpage) + 1);
	add_item(dirpage, desc, sizeof(OmenSegmentDesc),
			 ItemPointerGetOffsetNumber(where), index);
	OmenPageGetMeta(metapage)->nsegments++;
	memcpy(&ins->meta, OmenPageGetMeta(metapage), sizeof(OmenMetaPageData));
	GenericXLogFinish(state);

	/* later pages of this insert must not take the new segment's page */
	ins->dir.segs = repalloc(ins->dir.segs, sizeof(OmenSegmentDesc) * (ins->dir.nsegs + 1));
	ins->dir.where = repalloc(ins->dir.where, sizeof(ItemPointerData) * (ins->dir.nsegs + 1));
	ins->dir.segs[ins->dir.nsegs] = *desc;
	ins->dir.where[ins->dir.nsegs] = *where;
	ins->dir.nsegs++;

	UnlockReleaseBuffer(databuf);
	if (BufferIsValid(newdirbuf))
		UnlockReleaseBuffer(newdirbuf);
	if (BufferIsValid(dirbuf))
		UnlockReleaseBuffer(dirbuf);
	UnlockReleaseBuffer(metabuf);
}

/*
 * Sets the dimension of an index that was built over no rows and has no
 * typmod, from its first inserted vector.
 */
static void
set_dims(Relation index, OmenMetaPageData *meta, int dims)
{
	Buffer		buf = ReadBuffer(index, OMEN_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;

	omen_check_dims(dims);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	OmenPageGetMeta(page)->dims = dims;
	memcpy(meta, OmenPageGetMeta(page), sizeof(OmenMetaPageData));
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/* Adds the row to element id if it holds this vector and has a free slot. */
static bool
merge_into(OmenInsert *ins, OmenNodeId id)
{
	ItemPointerData tid;
	Buffer		buf;
	Page		page;
	OmenElementTuple et;
	GenericXLogState *state;
	bool		done = false;

	omen_tid_unpack(id, &tid);
	buf = ReadBuffer(ins->index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(ins->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	et = omen_page_get_element(page, ItemPointerGetOffsetNumber(&tid),
							   ins->meta.dims);
	if (et != NULL && !et->deleted &&
		memcmp(et->x, ins->vec, sizeof(float) * ins->meta.dims) == 0)
	{
		for (int i = 0; i < OMEN_HEAPTIDS; i++)
		{
			if (!ItemPointerIsValid(&et->heaptids[i]))
			{
				et->heaptids[i] = ins->heaptid;
				done = true;
				break;
			}
		}
	}
	if (done)
		GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
	return done;
}

/*
 * If a candidate holds exactly this vector and has a free heap TID slot,
 * adds the row to it.  Returns true when done.
 */
static bool
merge_duplicate(OmenInsert *ins, const OmenCand *cands, int ncands)
{
	/* only a node at the vector's distance to itself can be a copy */
	for (int i = 0; i < ncands; i++)
		if (cands[i].dist == ins->self && merge_into(ins, cands[i].id))
			return true;
	return false;
}

/*
 * Searches the segment for the new node's neighbours on each of its levels.
 */
static void
find_neighbors(OmenInsert *ins, OmenSegmentDesc *desc)
{
	int			efc = ins->meta.ef_construction;
	int			m = ins->meta.m;
	OmenCand   *entries = palloc(sizeof(OmenCand) * efc);
	OmenCand   *cands = palloc(sizeof(OmenCand) * efc);
	int			nentries = 1;
	int			top = Min(ins->level, desc->entry_level);

	entries[0] = omen_store_descend(&ins->store, ins->vec, &desc->entry,
									desc->entry_level, top);
	for (int l = top; l >= 0; l--)
	{
		OmenSelectMode mode;
		int			max = omen_new_node_links(ins->meta.metric, m, l, &mode);
		int			ncands;
		OmenCand   *swap;

		CHECK_FOR_INTERRUPTS();
		ncands = omen_store_search_level(&ins->store, ins->vec, entries,
										 nentries, l, efc, cands);
		ins->nbrs[l] = palloc(sizeof(OmenCand) * max);
		ins->nnbrs[l] = omen_select_neighbors(&omen_page_store_ops, &ins->store,
											  cands, ncands, max, mode,
											  ins->self, ins->nbrs[l]);
		if (l == 0 && merge_duplicate(ins, cands, ncands))
		{
			ins->nnbrs[0] = -1;
			return;
		}
		/* this level's candidates start the search one level down */
		swap = entries;
		entries = cands;
		cands = swap;
		nentries = ncands;
	}
}

/*
 * Writes the element and its neighbour tuple at the end of the segment's
 * page chain, adding pages as needed, and the updated descriptor at
 * `where`.  One WAL record.
 */
static void
place_node(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where,
		   ItemPointer elemtid)
{
	Relation	index = ins->index;
	int			m = ins->meta.m;
	Size		esize = OMEN_ELEMENT_SIZE(ins->meta.dims);
	Size		nsize = OMEN_NEIGHBOR_SIZE(ins->level, m);
	OmenElementTuple et = palloc(esize);
	OmenNeighborTuple nt = palloc(nsize);
	Buffer		bufs[3];
	Page		pages[3];
	Buffer		dirbuf;
	Page		dirpage;
	int			nbufs = 0;
	int			epage;
	int			npage;
	GenericXLogState *state;
	ItemPointerData nbtid;
	BlockNumber blk = desc->last_blk;
	Buffer		lastbuf;

	/* last_blk changes in the record that extends the chain: confirm it */
	for (BlockNumber hops = 0;; hops++)
	{
		BlockNumber next;

		CHECK_FOR_INTERRUPTS();
		if (hops > RelationGetNumberOfBlocks(index))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("page chain of segment %u of index \"%s\" has a cycle",
							desc->segno, RelationGetRelationName(index))));
		lastbuf = ReadBuffer(index, blk);
		LockBuffer(lastbuf, BUFFER_LOCK_SHARE);
		next = OmenPageGetOpaque(BufferGetPage(lastbuf))->next;
		if (!BlockNumberIsValid(next))
			break;
		UnlockReleaseBuffer(lastbuf);
		blk = next;
	}

	/*
	 * Decide where the two tuples go.  Inserts are serialized, so the free
	 * space cannot change once the share lock is dropped; new pages are
	 * taken before the last page is locked again, as nothing reaches them.
	 */
	if (page_fits(BufferGetPage(lastbuf), esize + nsize + sizeof(ItemIdData)))
		epage = npage = 0;
	else if (OMEN_ITEM_COST(esize) + OMEN_ITEM_COST(nsize) <= OMEN_PAGE_CAPACITY)
		epage = npage = 1;
	else
	{
		/* too big to share a page */
		epage = page_fits(BufferGetPage(lastbuf), esize) ? 0 : 1;
		npage = epage + 1;
	}
	LockBuffer(lastbuf, BUFFER_LOCK_UNLOCK);
	bufs[nbufs++] = lastbuf;
	while (nbufs <= npage)
		bufs[nbufs++] = get_page(ins);
	LockBuffer(lastbuf, BUFFER_LOCK_EXCLUSIVE);
	dirbuf = ReadBuffer(index, ItemPointerGetBlockNumber(where));
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);

	state = GenericXLogStart(index);
	for (int i = 0; i < nbufs; i++)
	{
		pages[i] = GenericXLogRegisterBuffer(state, bufs[i],
											 i == 0 ? 0 : GENERIC_XLOG_FULL_IMAGE);
		if (i > 0)
		{
			omen_page_init(pages[i], OMEN_PAGE_DATA, desc->segno);
			OmenPageGetOpaque(pages[i - 1])->next = BufferGetBlockNumber(bufs[i]);
		}
	}

	ItemPointerSet(elemtid, BufferGetBlockNumber(bufs[epage]),
				   PageGetMaxOffsetNumber(pages[epage]) + 1);
	ItemPointerSet(&nbtid, BufferGetBlockNumber(bufs[npage]),
				   PageGetMaxOffsetNumber(pages[npage]) + (epage == npage ? 2 : 1));

	omen_element_fill(et, ins->level, ins->meta.dims, ins->vec, &ins->heaptid,
					  1, &nbtid);
	omen_neighbor_fill(nt, ins->level, m);
	for (int l = 0; l <= ins->level; l++)
	{
		ItemPointer slots = &nt->tids[omen_level_offset(l, m)];

		for (int k = 0; k < ins->nnbrs[l]; k++)
			omen_tid_unpack(ins->nbrs[l][k].id, &slots[k]);
	}
	add_item(pages[epage], et, esize, ItemPointerGetOffsetNumber(elemtid), index);
	add_item(pages[npage], nt, nsize, ItemPointerGetOffsetNumber(&nbtid), index);

	/*
	 * The descriptor changes in the same record, so its count never strays
	 * from the pages.  The new node may become the entry point before any
	 * back-link exists: its own links already lead into the graph.
	 */
	desc->last_blk = BufferGetBlockNumber(bufs[nbufs - 1]);
	desc->nblocks += nbufs - 1;
	desc->nelements++;
	if (!ItemPointerIsValid(&desc->entry) || ins->level > desc->entry_level)
	{
		desc->entry = *elemtid;
		desc->entry_level = ins->level;
	}
	dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);
	memcpy(PageGetItem(dirpage, PageGetItemId(dirpage, ItemPointerGetOffsetNumber(where))),
		   desc, sizeof(OmenSegmentDesc));
	GenericXLogFinish(state);

	UnlockReleaseBuffer(dirbuf);
	for (int i = 0; i < nbufs; i++)
		UnlockReleaseBuffer(bufs[i]);
	pfree(et);
	pfree(nt);
}

bool
omen_aminsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
			  Relation heap, IndexUniqueCheck checkUnique, bool indexUnchanged,
			  IndexInfo *indexInfo)
{
	MemoryContext ctx;
	MemoryContext old;
	OmenInsert	ins;
	OmenSegmentDesc desc;
	ItemPointerData where;
	ItemPointerData elemtid;
	Vector	   *v;
	float	   *vec;
	int			metric;

	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "omenhnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);

	/* detoast and look up catalogs before taking the insert lock */
	v = DatumGetVector(values[0]);
	metric = omen_index_metric(index);

	LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);

	memset(&ins, 0, sizeof(ins));
	ins.index = index;
	ins.heaptid = *heap_tid;
	omen_meta_read(index, &ins.meta);
	if (ins.meta.dims == 0)
		set_dims(index, &ins.meta, v->dim);
	vec = palloc(sizeof(float) * ins.meta.dims);
	if (!omen_prepare_vector(v, metric, ins.meta.dims, vec))
	{
		/* zero vector under cosine: not indexed */
		UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ctx);
		return false;
	}
	ins.vec = vec;
	ins.self = omen_distance(ins.meta.metric, vec, vec, ins.meta.dims);

	omen_directory_read(index, &ins.meta, &ins.dir);
	if (ins.dir.nsegs == 0)
		create_segment(&ins, &desc, &where);
	else
	{
		desc = ins.dir.segs[ins.dir.nsegs - 1];
		where = ins.dir.where[ins.dir.nsegs - 1];
	}

	omen_store_init(&ins.store, index, &ins.meta, ins.meta.ef_construction * ins.meta.m * 2);
	ins.store.segno = desc.segno;
	ins.level = omen_random_level(tid_uniform(heap_tid), ins.meta.m,
								  ins.meta.max_level);

	if (ItemPointerIsValid(&desc.entry))
		find_neighbors(&ins, &desc);
	else
		ins.level = 0;			/* the first node of a segment */

	if (ins.nnbrs[0] >= 0)
	{
		place_node(&ins, &desc, &where, &elemtid);
		for (int l = ins.level; l >= 0; l--)
		{
			bool		linked = false;
			bool		forced = false;

			/*
			 * The first copy of the vector links to the new node in any
			 * case: copies then reach each other directly, not only through
			 * other vectors.
			 */
			for (int k = 0; k < ins.nnbrs[l]; k++)
			{
				bool		force = !forced && ins.nbrs[l][k].dist == ins.self;

				forced |= force;
				linked |= omen_store_link(&ins.store, ins.nbrs[l][k].id, l,
										  &elemtid,
										  force ? OMEN_LINK_FORCE : OMEN_LINK_IF_KEPT);
			}

			/*
			 * A node nobody links to could never be found: the nearest
			 * neighbour that can take it without another node losing its
			 * way in links to it, else the nearest in any case.
			 */
			for (int k = 0; !linked && l == 0 && k < ins.nnbrs[0]; k++)
				linked = omen_store_link(&ins.store, ins.nbrs[0][k].id, 0,
										 &elemtid, OMEN_LINK_ADD);
			if (!linked && l == 0 && ins.nnbrs[0] > 0)
				omen_store_link(&ins.store, ins.nbrs[0][0].id, 0, &elemtid,
								OMEN_LINK_FORCE);
		}
	}

	omen_store_release(&ins.store);
	UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
