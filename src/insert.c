/*
 * insert.c
 *		Single-row inserts into an omenhnsw index.
 *
 * A row goes into the last segment of the directory (a new one when the
 * index has none).  Inserts are serialized by a heavyweight lock on the
 * index, so a neighbour list read during the search cannot change before it
 * is rewritten; scans take no such lock and see every page change whole.
 * The order of the WAL records keeps the graph navigable at every record
 * boundary: first the vector's chunks, which nothing references yet, then
 * the search row with its own links and the segment's descriptor (count,
 * entry point), then each back-link.  A crash before the row's record
 * leaves unreferenced chunks, space that is lost until the segment is
 * retired; one after it, a node with too few back-links, which VACUUM
 * relinks if nothing else reaches it.
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
	OmenNodeTuple row;			/* vec's search row, filled as it is placed */
	float		self;			/* distance of vec to its code, a copy's */
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
			((OmenPageGetOpaque(page)->kind == OMEN_PAGE_DATA ||
			  OmenPageGetOpaque(page)->kind == OMEN_PAGE_VECTOR) &&
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
		fits = PageGetFreeSpace(BufferGetPage(dirbuf)) >= MAXALIGN(sizeof(OmenSegmentDesc));
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
	desc->row_blk = desc->first_blk;
	desc->vec_blk = InvalidBlockNumber;
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

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	omen_meta_set_dims(OmenPageGetMeta(page), dims);
	memcpy(meta, OmenPageGetMeta(page), sizeof(OmenMetaPageData));
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * Adds the row to node id if it holds this vector and has a free slot.  The
 * vector is compared without a buffer lock (it never changes); the slot is
 * taken under the row's page lock, as VACUUM may have emptied the node.
 */
static bool
merge_into(OmenInsert *ins, OmenNodeId id)
{
	ItemPointerData tid;
	ItemPointerData vectid;
	Buffer		buf;
	Page		page;
	OmenNodeTuple nt;
	GenericXLogState *state;
	float	   *x = palloc(sizeof(float) * ins->meta.dims);
	bool		done = false;

	omen_tid_unpack(id, &tid);
	nt = omen_store_node(&ins->store, &tid);
	if (nt == NULL)
		return false;
	vectid = nt->vectid;
	omen_store_unlock(&ins->store);
	if (!omen_store_vector(&ins->store, &vectid, x) ||
		memcmp(x, ins->vec, sizeof(float) * ins->meta.dims) != 0)
		return false;

	buf = ReadBuffer(ins->index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(ins->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	nt = omen_page_get_node(page, ItemPointerGetOffsetNumber(&tid),
							ins->meta.m, ins->meta.code_bytes);
	if (nt != NULL && !nt->deleted && ItemPointerEquals(&nt->vectid, &vectid))
	{
		for (int i = 0; i < OMEN_HEAPTIDS; i++)
		{
			if (!ItemPointerIsValid(&nt->heaptids[i]))
			{
				nt->heaptids[i] = ins->heaptid;
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
		ins->nnbrs[l] = omen_store_select(&ins->store, cands, ncands, max,
										  mode, ins->self, ins->nbrs[l]);
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
 * The last page of the segment's chain, share-locked: last_blk changes in
 * the record that extends the chain, so it is confirmed by following the
 * chain from there.
 */
static Buffer
chain_end(OmenInsert *ins, OmenSegmentDesc *desc)
{
	BlockNumber blk = desc->last_blk;

	for (BlockNumber hops = 0;; hops++)
	{
		Buffer		buf;
		BlockNumber next;

		if (hops > RelationGetNumberOfBlocks(ins->index))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("page chain of segment %u of index \"%s\" has a cycle",
							desc->segno, RelationGetRelationName(ins->index))));
		buf = ReadBuffer(ins->index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		next = OmenPageGetOpaque(BufferGetPage(buf))->next;
		if (!BlockNumberIsValid(next))
			return buf;
		UnlockReleaseBuffer(buf);
		blk = next;
	}
}

/*
 * Writes the segment's descriptor at `where` into the record being built,
 * with the directory page dirbuf (exclusively locked).
 */
static void
log_descriptor(GenericXLogState *state, Buffer dirbuf, ItemPointer where,
			   const OmenSegmentDesc *desc)
{
	Page		dirpage = GenericXLogRegisterBuffer(state, dirbuf, 0);

	memcpy(PageGetItem(dirpage, PageGetItemId(dirpage, ItemPointerGetOffsetNumber(where))),
		   desc, sizeof(OmenSegmentDesc));
}

/*
 * Appends the exclusively locked, unused page newbuf to the segment's
 * chain as a page of kind and adds tup to it, with the descriptor (its
 * chain end, and row_blk or vec_blk, updated) in the same WAL record.
 * Releases newbuf.
 */
static void
append_page(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where,
			Buffer newbuf, uint16 kind, void *tup, Size size)
{
	Buffer		lastbuf = chain_end(ins, desc);
	Buffer		dirbuf;
	GenericXLogState *state;
	Page		page;
	BlockNumber blk = BufferGetBlockNumber(newbuf);

	LockBuffer(lastbuf, BUFFER_LOCK_UNLOCK);
	LockBuffer(lastbuf, BUFFER_LOCK_EXCLUSIVE);
	dirbuf = ReadBuffer(ins->index, ItemPointerGetBlockNumber(where));
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);

	state = GenericXLogStart(ins->index);
	page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
	omen_page_init(page, kind, desc->segno);
	add_item(page, tup, size, FirstOffsetNumber, ins->index);
	OmenPageGetOpaque(GenericXLogRegisterBuffer(state, lastbuf, 0))->next = blk;
	desc->last_blk = blk;
	desc->nblocks++;
	if (kind == OMEN_PAGE_DATA)
	{
		desc->row_blk = blk;
		desc->nelements++;
	}
	else
		desc->vec_blk = blk;
	log_descriptor(state, dirbuf, where, desc);
	GenericXLogFinish(state);

	UnlockReleaseBuffer(dirbuf);
	UnlockReleaseBuffer(lastbuf);
	UnlockReleaseBuffer(newbuf);
}

/*
 * Writes the new vector's chunks: into the room left on the segment's
 * vector page, then on new pages, one WAL record each.  Sets *vectid to the
 * first chunk.
 */
static void
place_vector(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where,
			 ItemPointer vectid)
{
	int			dims = ins->meta.dims;
	int			first = 0;
	int			npages = 0;
	Buffer	   *bufs;
	Buffer		vecbuf = InvalidBuffer;
	OmenVectorTuple vt = palloc(OMEN_CHUNK_SIZE(dims));
	int			done;

	/* how much fits where new vectors go, and how many pages the rest takes */
	if (BlockNumberIsValid(desc->vec_blk))
	{
		vecbuf = ReadBuffer(ins->index, desc->vec_blk);
		LockBuffer(vecbuf, BUFFER_LOCK_SHARE);
		first = omen_chunk_floats(PageGetExactFreeSpace(BufferGetPage(vecbuf)), dims);
		LockBuffer(vecbuf, BUFFER_LOCK_UNLOCK);
	}
	for (done = first; done < dims; npages++)
		done += omen_chunk_floats(OMEN_PAGE_CAPACITY, dims - done);

	/* inserts are serialized, so nothing takes the room meanwhile */
	bufs = palloc(sizeof(Buffer) * Max(npages, 1));
	for (int i = 0; i < npages; i++)
		bufs[i] = get_page(ins);

	memset(vt, 0, offsetof(OmenVectorTupleData, x));
	vt->type = OMEN_TUPLE_VECTOR;
	if (first > 0)
	{
		GenericXLogState *state;
		Page		page;

		vt->nfloats = first;
		if (npages > 0)
			ItemPointerSet(&vt->next, BufferGetBlockNumber(bufs[0]), FirstOffsetNumber);
		else
			ItemPointerSetInvalid(&vt->next);
		memcpy(vt->x, ins->vec, sizeof(float) * first);

		LockBuffer(vecbuf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(ins->index);
		page = GenericXLogRegisterBuffer(state, vecbuf, 0);
		ItemPointerSet(vectid, desc->vec_blk, PageGetMaxOffsetNumber(page) + 1);
		add_item(page, vt, OMEN_CHUNK_SIZE(first),
				 ItemPointerGetOffsetNumber(vectid), ins->index);
		GenericXLogFinish(state);
		UnlockReleaseBuffer(vecbuf);
	}
	else
	{
		ItemPointerSet(vectid, BufferGetBlockNumber(bufs[0]), FirstOffsetNumber);
		if (BufferIsValid(vecbuf))
			ReleaseBuffer(vecbuf);
	}

	done = first;
	for (int i = 0; i < npages; i++)
	{
		vt->nfloats = omen_chunk_floats(OMEN_PAGE_CAPACITY, dims - done);
		if (i + 1 < npages)
			ItemPointerSet(&vt->next, BufferGetBlockNumber(bufs[i + 1]), FirstOffsetNumber);
		else
			ItemPointerSetInvalid(&vt->next);
		memcpy(vt->x, ins->vec + done, sizeof(float) * vt->nfloats);
		done += vt->nfloats;
		append_page(ins, desc, where, bufs[i], OMEN_PAGE_VECTOR, vt,
					OMEN_CHUNK_SIZE(vt->nfloats));
	}
	pfree(bufs);
	pfree(vt);
}

/*
 * Writes the new node: its vector, then its search row with its links on
 * the segment's row page (or a new one), with the updated descriptor at
 * `where` in the row's WAL record.  Sets *rowtid to the search row.
 */
static void
place_node(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where,
		   ItemPointer rowtid)
{
	Relation	index = ins->index;
	int			m = ins->meta.m;
	Size		size = OMEN_NODE_SIZE(ins->level, m, ins->meta.code_bytes);
	OmenNodeTuple nt = ins->row;
	ItemPointer links = omen_node_links(nt, ins->meta.code_bytes);
	ItemPointerData vectid;
	Buffer		rowbuf;
	Buffer		dirbuf;
	GenericXLogState *state;
	Page		page;
	bool		fits;

	place_vector(ins, desc, where, &vectid);

	nt->level = ins->level;
	nt->vectid = vectid;
	for (int i = 0; i < OMEN_NEIGHBOR_SLOTS(ins->level, m); i++)
		ItemPointerSetInvalid(&links[i]);
	for (int l = 0; l <= ins->level; l++)
	{
		ItemPointer slots = links + omen_level_offset(l, m);

		for (int k = 0; k < ins->nnbrs[l]; k++)
			omen_tid_unpack(ins->nbrs[l][k].id, &slots[k]);
	}

	rowbuf = ReadBuffer(index, desc->row_blk);
	LockBuffer(rowbuf, BUFFER_LOCK_SHARE);
	fits = PageGetFreeSpace(BufferGetPage(rowbuf)) >= MAXALIGN(size);
	LockBuffer(rowbuf, BUFFER_LOCK_UNLOCK);
	if (!fits)
	{
		ReleaseBuffer(rowbuf);
		rowbuf = get_page(ins);
		ItemPointerSet(rowtid, BufferGetBlockNumber(rowbuf), FirstOffsetNumber);
		/* the new node may become the entry point: its links lead in */
		if (!ItemPointerIsValid(&desc->entry) || ins->level > desc->entry_level)
		{
			desc->entry = *rowtid;
			desc->entry_level = ins->level;
		}
		append_page(ins, desc, where, rowbuf, OMEN_PAGE_DATA, nt, size);
		return;
	}

	LockBuffer(rowbuf, BUFFER_LOCK_EXCLUSIVE);
	dirbuf = ReadBuffer(index, ItemPointerGetBlockNumber(where));
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, rowbuf, 0);
	ItemPointerSet(rowtid, desc->row_blk, PageGetMaxOffsetNumber(page) + 1);
	add_item(page, nt, size, ItemPointerGetOffsetNumber(rowtid), index);

	/* the count changes in the same record, so it never strays from the pages */
	desc->nelements++;
	if (!ItemPointerIsValid(&desc->entry) || ins->level > desc->entry_level)
	{
		desc->entry = *rowtid;
		desc->entry_level = ins->level;
	}
	log_descriptor(state, dirbuf, where, desc);
	GenericXLogFinish(state);

	UnlockReleaseBuffer(dirbuf);
	UnlockReleaseBuffer(rowbuf);
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
	ItemPointerData rowtid;
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

	/* the row's code, and a copy's distance: vec's to its own code */
	ins.row = palloc(OMEN_NODE_SIZE(ins.level, ins.meta.m, ins.meta.code_bytes));
	ItemPointerSetInvalid(&rowtid);
	omen_node_fill(ins.row, ins.level, &ins.meta, &ins.heaptid, 1, &rowtid);
	omen_node_encode(ins.row, &ins.meta, vec);
	ins.self = omen_store_code_distance(&ins.store, vec, ins.row);

	if (ItemPointerIsValid(&desc.entry))
		find_neighbors(&ins, &desc);
	else
		ins.level = 0;			/* the first node of a segment */

	if (ins.nnbrs[0] >= 0)
	{
		place_node(&ins, &desc, &where, &rowtid);
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
										  &rowtid,
										  force ? OMEN_LINK_FORCE : OMEN_LINK_IF_KEPT);
			}

			/*
			 * A node nobody links to could never be found: the nearest
			 * neighbour that can take it without another node losing its
			 * way in links to it, else the nearest in any case.
			 */
			for (int k = 0; !linked && l == 0 && k < ins.nnbrs[0]; k++)
				linked = omen_store_link(&ins.store, ins.nbrs[0][k].id, 0,
										 &rowtid, OMEN_LINK_ADD);
			if (!linked && l == 0 && ins.nnbrs[0] > 0)
				omen_store_link(&ins.store, ins.nbrs[0][0].id, 0, &rowtid,
								OMEN_LINK_FORCE);
		}
	}

	omen_store_release(&ins.store);
	UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
