/*
 * insert.c
 *		Single-row inserts into an omenhnsw index.
 *
 * A row goes into the last segment of the directory (a new one when the
 * index has none).  Its search for neighbours reads pages as a scan does,
 * without the index's insert lock, so inserts search at the same time.
 * Their writes are serialized by that heavyweight lock, so a neighbour list
 * read under it cannot change before it is rewritten; under it an insert
 * also picks up the nodes that others linked in while it searched.  Scans
 * take no such lock and see every page change whole.
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

int			omen_insert_pause = 0;

/* Most copies of the vector an insert finds before it takes the lock. */
#define OMEN_INSERT_COPIES	4

/* Everything one insert needs. */
typedef struct OmenInsert
{
	Relation	index;
	OmenMetaPageData meta;
	OmenDirectory dir;
	OmenPageStore store;
	const float *vec;			/* the floats of the new row's code */
	const void *exact;			/* its exact vector (store.elem.words) */
	OmenNodeTuple row;			/* vec's search row, filled as it is placed */
	float		self;			/* distance of vec to its code, a copy's */
	ItemPointerData heaptid;
	int			level;
	OmenCand   *nbrs[OMEN_LEVEL_LIMIT + 1];	/* chosen neighbours per level */
	int			nnbrs[OMEN_LEVEL_LIMIT + 1];
	OmenCand   *cands0;			/* level 0's candidates, ascending */
	int			ncands0;
	OmenNodeId	old_entry;		/* the entry point it replaces, if any */
	OmenSegmentDesc searched;	/* the segment as find_neighbors read it */
	OffsetNumber searched_rows;	/* rows on its row_blk before the search */
	/* copies of the vector with room, found before the insert lock */
	OmenNodeId	copies[OMEN_INSERT_COPIES];
	ItemPointerData copy_vectids[OMEN_INSERT_COPIES];
	int			ncopies;
	bool		store_ready;	/* store is set up for searched.segno */
	/* level 0 as first_link left it, for the back-link loop */
	int			first_k;		/* the neighbours tried up to there */
	bool		forced0;		/* a copy of the vector was linked */
	bool		linked0;		/* the row's record links to the new node */
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
			((omen_page_is(page, OMEN_PAGE_DATA) ||
			  omen_page_is(page, OMEN_PAGE_VECTOR)) &&
			 !omen_directory_has(&ins->dir, OmenPageGetOpaque(page)->segno)))
			return buf;
		UnlockReleaseBuffer(buf);
	}
	return omen_new_buffer(ins->index, MAIN_FORKNUM);
}

/*
 * get_page's page, for a data page: ERROR if links cannot name its rows.
 */
static Buffer
get_data_page(OmenInsert *ins)
{
	Buffer		buf = get_page(ins);

	omen_check_link_block(ins->index, BufferGetBlockNumber(buf),
						  omen_link_bits(ins->meta.m, ins->meta.code_bytes));
	return buf;
}

/*
 * Opens a new, empty segment at the end of the directory; one WAL record
 * covers the new data page, the directory and the metapage.
 */
static void
create_segment(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where)
{
	Relation	index = ins->index;
	Buffer		databuf = get_data_page(ins);
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

	omen_check_dims(meta->elem, dims);
	omen_check_codes(meta->elem, omen_elem_code_dims(meta->elem, dims), meta->m,
					 meta->codes);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	omen_meta_set_dims(OmenPageGetMeta(page), dims);
	memcpy(meta, OmenPageGetMeta(page), sizeof(OmenMetaPageData));
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * Whether candidate c is a copy of this vector with a free heap TID slot:
 * only a node at the vector's distance to itself can be one, and its vector
 * must be the same (omen_elem_same).  Its vector's TID into *vectid.  The
 * vector is compared without a buffer lock (it never changes), and without
 * the insert lock.
 */
static bool
is_copy_with_room(OmenInsert *ins, const OmenCand *c, ItemPointer vectid)
{
	ItemPointerData tid;
	OmenNodeTuple nt;
	void	   *x;
	bool		room = false;

	if (c->dist != ins->self)
		return false;
	omen_tid_unpack(c->id, &tid);
	nt = omen_store_node(&ins->store, &tid);
	if (nt == NULL)
		return false;
	*vectid = nt->vectid;
	for (int i = 0; i < OMEN_HEAPTIDS; i++)
		room |= !ItemPointerIsValid(&nt->heaptids[i]);
	omen_store_unlock(&ins->store);
	x = palloc(sizeof(float) * ins->store.elem.words);
	return room && omen_store_exact(&ins->store, vectid, x) &&
		omen_elem_same(&ins->store.elem, x, ins->exact);
}

/*
 * Adds the row to node id, a copy of its vector whose vector is at vectid,
 * if it has a free slot; the slot is taken under the row's page lock, as
 * VACUUM may have emptied the node.  The caller holds the insert lock, so
 * the node's segment is not retired meanwhile.
 */
static bool
take_slot(OmenInsert *ins, OmenNodeId id, ItemPointer vectid)
{
	ItemPointerData tid;
	Buffer		buf;
	Page		page;
	OmenNodeTuple nt;
	GenericXLogState *state;
	bool		done = false;

	omen_tid_unpack(id, &tid);
	buf = ReadBuffer(ins->index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(ins->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	nt = omen_page_get_node(page, ItemPointerGetOffsetNumber(&tid),
							ins->meta.m, ins->meta.code_bytes);
	if (nt != NULL && !nt->deleted && ItemPointerEquals(&nt->vectid, vectid))
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
 * Before the insert lock: the candidates of level 0 that are copies of this
 * vector with room, into ins->copies.
 */
static void
find_copies(OmenInsert *ins)
{
	ins->ncopies = 0;
	for (int i = 0; i < ins->ncands0 && ins->ncopies < OMEN_INSERT_COPIES; i++)
		if (is_copy_with_room(ins, &ins->cands0[i],
							  &ins->copy_vectids[ins->ncopies]))
			ins->copies[ins->ncopies++] = ins->cands0[i].id;
}

/*
 * Under the insert lock: adds the row to a copy of its vector with a free
 * slot among those find_copies found.  Returns true when done.
 */
static bool
merge_found_copy(OmenInsert *ins)
{
	for (int i = 0; i < ins->ncopies; i++)
		if (take_slot(ins, ins->copies[i], &ins->copy_vectids[i]))
			return true;
	return false;
}

/*
 * Under the insert lock: adds the row to a copy of its vector with a free
 * slot among the candidates, other than those merge_found_copy tried.
 * Returns true when done.
 */
static bool
merge_duplicate(OmenInsert *ins)
{
	for (int i = 0; i < ins->ncands0; i++)
	{
		ItemPointerData vectid;
		bool		tried = false;

		for (int j = 0; j < ins->ncopies && !tried; j++)
			tried = ins->copies[j] == ins->cands0[i].id;
		if (!tried && is_copy_with_room(ins, &ins->cands0[i], &vectid) &&
			take_slot(ins, ins->cands0[i].id, &vectid))
			return true;
	}
	return false;
}

/*
 * Gives the new node, which is to replace the segment's entry point, a
 * level-0 link to the old one, in a free slot or in place of its farthest
 * neighbour: no other node need link to an entry point, and every live
 * node is reachable from it on level 0, so through that link every one
 * stays reachable from the new entry point.  Sets ins->old_entry, whose
 * link place_node pins, as it may be the old entry point's only way in.
 */
static void
link_old_entry(OmenInsert *ins, const OmenSegmentDesc *desc)
{
	OmenCand	old;

	old.id = omen_tid_pack((ItemPointer) &desc->entry);
	ins->old_entry = old.id;
	for (int k = 0; k < ins->nnbrs[0]; k++)
		if (ins->nbrs[0][k].id == old.id)
			return;
	old.dist = omen_store_distance(&ins->store, ins->vec, old.id);
	if (ins->nnbrs[0] < omen_level_slots(0, ins->meta.m))
		ins->nbrs[0][ins->nnbrs[0]++] = old;
	else
		ins->nbrs[0][ins->nnbrs[0] - 1] = old;
}

/*
 * Searches the segment for the new node's neighbours on each of its levels,
 * and keeps level 0's candidates, among which merge_duplicate looks for a
 * copy.  Reads pages as a scan does, one buffer lock at a time, with or
 * without the insert lock.
 */
static void
find_neighbors(OmenInsert *ins, const OmenSegmentDesc *desc)
{
	int			efc = ins->meta.ef_construction;
	int			m = ins->meta.m;
	OmenCand   *entries = palloc(sizeof(OmenCand) * efc);
	OmenCand   *cands = palloc(sizeof(OmenCand) * efc);
	int			nentries = 1;
	int			top = Min(ins->level, desc->entry_level);

	entries[0] = omen_store_descend(&ins->store, ins->vec,
									(ItemPointer) &desc->entry,
									desc->entry_level, top);
	for (int l = top; l >= 0; l--)
	{
		OmenSelectMode mode;
		int			max = omen_new_node_links(ins->meta.metric, m, l, &mode);
		int			ncands;
		OmenCand   *swap;

		CHECK_FOR_INTERRUPTS();
		ncands = omen_store_search_level(&ins->store, ins->vec, entries,
										 nentries, l,
										 l == 0 ? (ItemPointer) &desc->entry : NULL,
										 efc, cands);
		ins->nbrs[l] = palloc(sizeof(OmenCand) * omen_level_slots(l, m));
		ins->nnbrs[l] = omen_store_select(&ins->store, cands, ncands, max,
										  mode, ins->self, ins->nbrs[l]);
		if (l == 0)
		{
			ins->cands0 = cands;
			ins->ncands0 = ncands;
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
	BlockNumber hops = 0;

	for (;;)
	{
		Buffer		buf;
		BlockNumber next;

		buf = ReadBuffer(ins->index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		next = omen_chain_next(ins->index, desc->segno, blk,
							   BufferGetPage(buf), &hops);
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
 * Exclusively locks the pinned buffer buf and, when w names a link write,
 * the data page of w's node, an existing page of the segment like buf, in
 * block order.  Returns the node's buffer: buf itself when they share a
 * block, InvalidBuffer when w is NULL.
 */
static Buffer
lock_with_link(OmenInsert *ins, Buffer buf, const OmenLinkWrite *w)
{
	BlockNumber blk;
	Buffer		linkbuf;

	if (w == NULL)
	{
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		return InvalidBuffer;
	}
	blk = ItemPointerGetBlockNumber(&w->node);
	if (blk == BufferGetBlockNumber(buf))
	{
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		return buf;
	}
	linkbuf = ReadBuffer(ins->index, blk);
	LockBuffer(blk < BufferGetBlockNumber(buf) ? linkbuf : buf,
			   BUFFER_LOCK_EXCLUSIVE);
	LockBuffer(blk < BufferGetBlockNumber(buf) ? buf : linkbuf,
			   BUFFER_LOCK_EXCLUSIVE);
	return linkbuf;
}

/*
 * Writes the link w (if any) into its page, locked by lock_with_link, in
 * the record being built.  Returns whether it was written.
 */
static bool
log_link(OmenInsert *ins, GenericXLogState *state, Buffer linkbuf,
		 const OmenLinkWrite *w)
{
	if (w == NULL)
		return false;
	return omen_store_apply_link(&ins->store,
								 GenericXLogRegisterBuffer(state, linkbuf, 0), w);
}

/*
 * Appends the exclusively locked, unused page newbuf to the segment's
 * chain as a page of kind and adds tup to it, with the descriptor (its
 * chain end, and row_blk or vec_blk, updated) and the link write w, unless
 * NULL, in the same WAL record.  Releases newbuf.  Returns whether w was
 * written.
 */
static bool
append_page(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where,
			Buffer newbuf, uint16 kind, void *tup, Size size,
			const OmenLinkWrite *w)
{
	Buffer		lastbuf = chain_end(ins, desc);
	Buffer		linkbuf;
	Buffer		dirbuf;
	GenericXLogState *state;
	Page		page;
	BlockNumber blk = BufferGetBlockNumber(newbuf);
	bool		linked;

	LockBuffer(lastbuf, BUFFER_LOCK_UNLOCK);
	linkbuf = lock_with_link(ins, lastbuf, w);
	dirbuf = ReadBuffer(ins->index, ItemPointerGetBlockNumber(where));
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);

	state = GenericXLogStart(ins->index);
	page = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
	omen_page_init(page, kind, desc->segno);
	add_item(page, tup, size, FirstOffsetNumber, ins->index);
	OmenPageGetOpaque(GenericXLogRegisterBuffer(state, lastbuf, 0))->next = blk;
	linked = log_link(ins, state, linkbuf, w);
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
	if (BufferIsValid(linkbuf) && linkbuf != lastbuf)
		UnlockReleaseBuffer(linkbuf);
	UnlockReleaseBuffer(lastbuf);
	UnlockReleaseBuffer(newbuf);
	return linked;
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
	int			nwords = omen_elem_words(&ins->store.elem, ins->exact);
	const float *words = ins->exact;
	int			first = 0;
	int			npages = 0;
	Buffer	   *bufs;
	Buffer		vecbuf = InvalidBuffer;
	OmenVectorTuple vt = palloc(OMEN_CHUNK_SIZE(nwords));
	int			done;

	/* how much fits where new vectors go, and how many pages the rest takes */
	if (BlockNumberIsValid(desc->vec_blk))
	{
		vecbuf = ReadBuffer(ins->index, desc->vec_blk);
		LockBuffer(vecbuf, BUFFER_LOCK_SHARE);
		first = omen_chunk_floats(PageGetExactFreeSpace(BufferGetPage(vecbuf)), nwords);
		LockBuffer(vecbuf, BUFFER_LOCK_UNLOCK);
	}
	for (done = first; done < nwords; npages++)
		done += omen_chunk_floats(OMEN_PAGE_CAPACITY, nwords - done);

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
		memcpy(vt->x, words, sizeof(float) * first);

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
		vt->nfloats = omen_chunk_floats(OMEN_PAGE_CAPACITY, nwords - done);
		if (i + 1 < npages)
			ItemPointerSet(&vt->next, BufferGetBlockNumber(bufs[i + 1]), FirstOffsetNumber);
		else
			ItemPointerSetInvalid(&vt->next);
		memcpy(vt->x, words + done, sizeof(float) * vt->nfloats);
		done += vt->nfloats;
		append_page(ins, desc, where, bufs[i], OMEN_PAGE_VECTOR, vt,
					OMEN_CHUNK_SIZE(vt->nfloats), NULL);
	}
	pfree(bufs);
	pfree(vt);
}

/*
 * The TID that stands for the new row where its place is not known yet: it
 * names no row of any page.
 */
static void
standin_tid(ItemPointer tid)
{
	ItemPointerSet(tid, InvalidBlockNumber, FirstOffsetNumber);
}

/*
 * The first back-link to the new node, whose row will be at rowtid: the
 * link that makes it reachable.  It is chosen as the back-link loop of
 * omen_aminsert would make it (the nearest neighbours whose pruning keeps
 * it, a copy of the vector in any case; else the nearest that can take it
 * without another node losing its way in; else the nearest in any case),
 * but the neighbour's new list goes into *w, for the row's record to
 * write, and links pruning moves to the new node go into ins->row.  Sets
 * ins->first_k, ins->forced0 and ins->linked0 for the loop to go on from.
 * The row is not on its page yet: the store reads it from ins->row.
 */
static void
first_link(OmenInsert *ins, ItemPointer rowtid, OmenLinkWrite *w)
{
	OmenCand   *nbrs = ins->nbrs[0];
	int			k;

	ins->forced0 = false;
	ins->linked0 = false;
	omen_store_set_pending(&ins->store, rowtid, ins->row);
	for (k = 0; k < ins->nnbrs[0] && !ins->linked0; k++)
	{
		bool		force = !ins->forced0 && nbrs[k].dist == ins->self;

		ins->forced0 |= force;
		ins->linked0 = omen_store_link_deferred(&ins->store, nbrs[k].id, 0,
												rowtid,
												force ? OMEN_LINK_FORCE : OMEN_LINK_IF_KEPT,
												w);
	}
	ins->first_k = k;
	for (k = 0; !ins->linked0 && k < ins->nnbrs[0]; k++)
		ins->linked0 = omen_store_link_deferred(&ins->store, nbrs[k].id, 0,
												rowtid, OMEN_LINK_ADD, w);
	if (!ins->linked0 && ins->nnbrs[0] > 0)
		ins->linked0 = omen_store_link_deferred(&ins->store, nbrs[0].id, 0,
												rowtid, OMEN_LINK_FORCE, w);
	omen_store_set_pending(&ins->store, NULL, NULL);
}

/*
 * Writes the new node: its vector (unless its code is its exact vector),
 * then its search row with its links on
 * the segment's row page (or a new one), with the updated descriptor at
 * `where` and the first back-link to it (first_link) in the row's WAL
 * record, so that no crash leaves the node unreachable.  Sets *rowtid to
 * the search row.
 */
static void
place_node(OmenInsert *ins, OmenSegmentDesc *desc, ItemPointer where,
		   ItemPointer rowtid)
{
	Relation	index = ins->index;
	int			m = ins->meta.m;
	Size		size = OMEN_NODE_SIZE(ins->level, m, ins->meta.code_bytes);
	OmenNodeTuple nt = ins->row;
	OmenLink   *links = omen_node_links(nt, ins->meta.code_bytes);
	bool		codes_exact = ins->store.elem.codes_exact;
	OmenLinkWrite *w = NULL;
	ItemPointerData standin;
	Buffer		rowbuf;
	Buffer		linkbuf;
	Buffer		dirbuf;
	GenericXLogState *state;
	Page		page;
	bool		fits;
	OffsetNumber off;

	/* a row whose code is its exact vector names itself (set below) */
	if (!codes_exact)
		place_vector(ins, desc, where, &nt->vectid);

	nt->level = ins->level;
	memset(links, 0, sizeof(OmenLink) * OMEN_NEIGHBOR_SLOTS(ins->level, m));
	for (int l = 0; l <= ins->level; l++)
	{
		OmenLink   *slots = links + omen_level_offset(l, m);

		for (int k = 0; k < ins->nnbrs[l]; k++)
			slots[k] = omen_link_from_id(ins->nbrs[l][k].id,
										 ins->store.link_bits);
	}

	/*
	 * Inserts are serialized: the row's place stays free until it is added.
	 * A row that needs a new page is linked under a stand-in TID first, so
	 * that no buffer lock is held while first_link reads other pages.
	 */
	rowbuf = ReadBuffer(index, desc->row_blk);
	LockBuffer(rowbuf, BUFFER_LOCK_SHARE);
	fits = PageGetFreeSpace(BufferGetPage(rowbuf)) >= MAXALIGN(size);
	off = PageGetMaxOffsetNumber(BufferGetPage(rowbuf)) + 1;
	LockBuffer(rowbuf, BUFFER_LOCK_UNLOCK);
	standin_tid(&standin);
	if (fits)
	{
		ItemPointerSet(rowtid, desc->row_blk, off);
		omen_store_row_placed(&ins->store, &standin, rowtid);
	}
	else
	{
		ReleaseBuffer(rowbuf);
		*rowtid = standin;
	}
	if (codes_exact)
		nt->vectid = *rowtid;
	if (ins->old_entry != OMEN_NO_NODE)
		omen_store_pin_link(&ins->store, rowtid, 0, ins->old_entry);
	if (ins->nnbrs[0] > 0)
	{
		w = palloc(sizeof(OmenLinkWrite));
		first_link(ins, rowtid, w);
		if (!ins->linked0)
			w = NULL;
	}
	if (!fits)
	{
		rowbuf = get_data_page(ins);
		ItemPointerSet(rowtid, BufferGetBlockNumber(rowbuf), FirstOffsetNumber);
		omen_store_row_placed(&ins->store, &standin, rowtid);
		if (codes_exact)
			nt->vectid = *rowtid;
		for (int i = 0; w != NULL && i < w->n; i++)
			if (w->ids[i] == omen_tid_pack(&standin))
				w->ids[i] = omen_tid_pack(rowtid);
	}

	/* the new node may become the entry point: its links lead in */
	if (!ItemPointerIsValid(&desc->entry) || ins->level > desc->entry_level)
	{
		desc->entry = *rowtid;
		desc->entry_level = ins->level;
	}

	if (!fits)
	{
		ins->linked0 = append_page(ins, desc, where, rowbuf, OMEN_PAGE_DATA,
								   nt, size, w);
		return;
	}

	linkbuf = lock_with_link(ins, rowbuf, w);
	dirbuf = ReadBuffer(index, ItemPointerGetBlockNumber(where));
	LockBuffer(dirbuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, rowbuf, 0);
	add_item(page, nt, size, off, index);
	ins->linked0 = log_link(ins, state, linkbuf, w);

	/* the count changes in the same record, so it never strays from the pages */
	desc->nelements++;
	log_descriptor(state, dirbuf, where, desc);
	GenericXLogFinish(state);

	UnlockReleaseBuffer(dirbuf);
	if (BufferIsValid(linkbuf) && linkbuf != rowbuf)
		UnlockReleaseBuffer(linkbuf);
	UnlockReleaseBuffer(rowbuf);
}

/* The new row's level: random across rows, fixed by its heap TID. */
static int
row_level(OmenInsert *ins)
{
	return omen_random_level(tid_uniform(&ins->heaptid), ins->meta.m,
							 ins->meta.max_level);
}

/*
 * The new row's exact vector, code floats and search row (at row_level),
 * from the detoasted value v, for an index whose dimension is set; ERROR if
 * v's is another.  False for a value the graph cannot place (a zero vector
 * under cosine), which is not indexed.  Takes no lock.
 */
static bool
prepare_row(OmenInsert *ins, OmenElem *kind, const void *v)
{
	ItemPointerData rowtid;
	void	   *exact;
	float	   *vec;

	omen_elem_init(kind, kind->kind, kind->metric, ins->meta.elem_dims,
				   ins->meta.code_bits);
	exact = palloc(sizeof(float) * kind->words);
	if (!omen_elem_exact(kind, v, exact))
		return false;
	vec = palloc(sizeof(float) * ins->meta.dims);
	omen_elem_floats(kind, exact, vec);
	ins->vec = vec;
	ins->exact = exact;
	ins->level = row_level(ins);
	ins->row = palloc(OMEN_NODE_SIZE(ins->level, ins->meta.m,
									 ins->meta.code_bytes));
	ItemPointerSetInvalid(&rowtid);
	omen_node_fill(ins->row, ins->level, &ins->meta, &ins->heaptid, 1, &rowtid);
	omen_node_encode(ins->row, &ins->meta, vec);
	return true;
}

/*
 * Searches segment desc for the new row's neighbours (find_neighbors); the
 * first node of a segment gets level 0 and none.  A store set up for
 * another segment is set up anew: the codes it cached may be of pages
 * reused since.  Takes buffer locks only, one page at a time.
 */
static void
search_segment(OmenInsert *ins, const OmenSegmentDesc *desc)
{
	if (ins->store_ready && ins->store.segno != desc->segno)
	{
		omen_store_release(&ins->store);
		ins->store_ready = false;
	}
	if (!ins->store_ready)
	{
		omen_store_init(&ins->store, ins->index, &ins->meta,
						ins->meta.ef_construction * ins->meta.m * 2);
		ins->store.segno = desc->segno;
		/* a copy's distance: vec's to its own code */
		ins->self = omen_store_code_distance(&ins->store, ins->vec, ins->row);
		ins->store_ready = true;
	}
	ins->searched = *desc;
	ins->level = row_level(ins);
	memset(ins->nnbrs, 0, sizeof(ins->nnbrs));
	ins->cands0 = NULL;
	ins->ncands0 = 0;
	if (ItemPointerIsValid(&desc->entry))
		find_neighbors(ins, desc);
	else
		ins->level = 0;
}

/*
 * Makes, before the insert lock is taken, the neighbour selections that the
 * back-links to the new row will need (omen_store_plan_link), for the
 * neighbours find_neighbors chose, copying each code they score once; under
 * the lock each is reused if that neighbour's list has not changed.  None
 * when a copy of the vector with room was found, which is likely to take
 * the row (merge_duplicate).
 */
static void
plan_links(OmenInsert *ins)
{
	ItemPointerData standin;

	if (ins->ncopies > 0)
		return;
	standin_tid(&standin);
	omen_store_set_pending(&ins->store, &standin, ins->row);
	omen_store_keep_codes(&ins->store, true);
	for (int l = ins->level; l >= 0; l--)
		for (int k = 0; k < ins->nnbrs[l]; k++)
			omen_store_plan_link(&ins->store, ins->nbrs[l][k].id, l, &standin);
	omen_store_keep_codes(&ins->store, false);
	omen_store_set_pending(&ins->store, NULL, NULL);
}

/*
 * The rows on block blk of the index, a data page, now: its line pointer
 * count, read under a share lock.
 */
static OffsetNumber
rows_on(Relation index, BlockNumber blk)
{
	Buffer		buf = ReadBuffer(index, blk);
	OffsetNumber n;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	n = PageGetMaxOffsetNumber(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	return n;
}

/*
 * Under the insert lock, when the segment find_neighbors searched without
 * it has the same entry point but more nodes (desc): the nodes other
 * inserts added meanwhile, whose rows follow the ones row_blk held before
 * the search, join level 0's candidates, and level 0's links are chosen
 * again if one of them is among the ef_construction nearest.  Upper levels
 * keep theirs: new nodes there are few.
 */
static void
refresh_neighbors(OmenInsert *ins, const OmenSegmentDesc *desc)
{
	int			efc = ins->meta.ef_construction;
	int			nadded = desc->nelements - ins->searched.nelements;
	OmenCand   *added = palloc(sizeof(OmenCand) * nadded);
	OmenCand   *cands = palloc(sizeof(OmenCand) * (efc + 1));
	OmenSelectMode mode;
	int			max = omen_new_node_links(ins->meta.metric, ins->meta.m, 0,
										  &mode);
	int			n = ins->ncands0;
	int			nnew;
	bool		reselect = false;

	/* the nodes added since, scored, go in among the efc nearest */
	nnew = omen_store_rows_after(&ins->store, ins->vec, ins->searched.row_blk,
								 ins->searched_rows, ins->searched.last_blk,
								 added, nadded);
	memcpy(cands, ins->cands0, sizeof(OmenCand) * n);
	for (int i = 0; i < nnew; i++)
	{
		bool		known = false;
		int			j = n;

		/* the search may have found the node already */
		for (int k = 0; k < ins->ncands0 && !known; k++)
			known = ins->cands0[k].id == added[i].id;
		if (known)
			continue;
		while (j > 0 && omen_dist_lt(added[i].dist, cands[j - 1].dist))
		{
			cands[j] = cands[j - 1];
			j--;
		}
		if (j >= efc)
			continue;
		cands[j] = added[i];
		n = Min(n + 1, efc);
		reselect = true;
	}
	ins->cands0 = cands;
	ins->ncands0 = n;
	if (reselect)
		ins->nnbrs[0] = omen_store_select(&ins->store, cands, n, max, mode,
										  ins->self, ins->nbrs[0]);
}

/*
 * With omenhnsw.insert_pause set, waits until no session holds the advisory
 * lock of that key (pg_advisory_lock(bigint)): isolation tests run other
 * work between an insert's search and its writes this way.  Holds no other
 * lock.
 */
static void
pause_point(void)
{
	LOCKTAG		tag;

	if (omen_insert_pause == 0)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, (uint32) omen_insert_pause, 1);
	(void) LockAcquire(&tag, ShareLock, false, false);
	LockRelease(&tag, ShareLock, false);
}

/*
 * Inserts one row.  The search for its neighbours runs first, without the
 * insert lock, as a scan's does; the lock covers the writes.  Under it the
 * directory is read again: the search runs again if inserts no longer go to
 * the segment searched or its entry point changed (a new segment, a new top
 * level, VACUUM), and goes on from its candidates if nodes were added.
 */
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
	void	   *v;
	OmenElem	kind;
	bool		merged = false;

	if (isnull[0])
		return false;

	ctx = AllocSetContextCreate(CurrentMemoryContext, "omenhnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);

	/* detoast and look up catalogs before taking the insert lock */
	v = PG_DETOAST_DATUM(values[0]);
	omen_index_elem(index, &kind);
	omen_elem_check_value(&kind, v);

	memset(&ins, 0, sizeof(ins));
	ins.index = index;
	ins.heaptid = *heap_tid;
	omen_meta_read(index, &ins.meta);
	omen_check_meta_elem(index, &ins.meta, kind.kind);
	if (ins.meta.dims > 0)
	{
		if (!prepare_row(&ins, &kind, v))
			goto done;			/* zero vector under cosine: not indexed */
		omen_directory_read(index, &ins.meta, &ins.dir);
		if (ins.dir.nsegs > 0)
		{
			OmenSegmentDesc *last = &ins.dir.segs[ins.dir.nsegs - 1];

			ins.searched_rows = rows_on(index, last->row_blk);
			search_segment(&ins, last);
			find_copies(&ins);
			plan_links(&ins);
			/* no pin is held while waiting */
			omen_store_release(&ins.store);
		}
	}

	pause_point();
	LockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);

	/* the directory's head may have changed, and the dimension been set */
	omen_meta_read(index, &ins.meta);
	if (ins.vec == NULL)
	{
		if (ins.meta.dims == 0)
			set_dims(index, &ins.meta, omen_elem_value_dims(kind.kind, v));
		if (!prepare_row(&ins, &kind, v))
		{
			UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
			goto done;
		}
	}

	omen_directory_read(index, &ins.meta, &ins.dir);
	if (ins.dir.nsegs == 0)
		create_segment(&ins, &desc, &where);
	else
	{
		desc = ins.dir.segs[ins.dir.nsegs - 1];
		where = ins.dir.where[ins.dir.nsegs - 1];
	}
	if (!ins.store_ready || ins.searched.segno != desc.segno ||
		ins.searched.entry_level != desc.entry_level ||
		!ItemPointerEquals(&ins.searched.entry, &desc.entry))
	{
		search_segment(&ins, &desc);
		ins.ncopies = 0;
	}
	else if (!(merged = merge_found_copy(&ins)) &&
			 ins.searched.nelements < desc.nelements)
		refresh_neighbors(&ins, &desc);

	/* a copy of the vector takes the row into its node, if it has room */
	if (!merged && !merge_duplicate(&ins))
	{
		ins.old_entry = OMEN_NO_NODE;
		if (ins.level > desc.entry_level && ItemPointerIsValid(&desc.entry))
			link_old_entry(&ins, &desc);
		ItemPointerSetInvalid(&rowtid);
		place_node(&ins, &desc, &where, &rowtid);
		if (!ins.linked0)
			ins.first_k = 0;	/* the row's record made no link: all anew */

		/*
		 * Level 0 goes first, right after the row's own link: the links of
		 * the new node that omen_store_link pins while linking it in last
		 * for one node and level.
		 */
		for (int l = 0; l <= ins.level; l++)
		{
			bool		linked = l == 0 && ins.linked0;
			bool		forced = l == 0 && ins.forced0;

			/*
			 * The first copy of the vector links to the new node in any
			 * case: copies then reach each other directly, not only through
			 * other vectors.  Level 0 goes on after the row's own link.
			 */
			for (int k = l == 0 ? ins.first_k : 0; k < ins.nnbrs[l]; k++)
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
			 * way in, else the nearest in any case (first_link does the
			 * same for the row's record).
			 */
			for (int k = 0; !linked && l == 0 && k < ins.nnbrs[0]; k++)
				linked = omen_store_link(&ins.store, ins.nbrs[0][k].id, 0,
										 &rowtid, OMEN_LINK_ADD);
			if (!linked && l == 0 && ins.nnbrs[0] > 0)
				omen_store_link(&ins.store, ins.nbrs[0][0].id, 0, &rowtid,
								OMEN_LINK_FORCE);
		}
	}

	UnlockPage(index, OMEN_INSERT_LOCK, ExclusiveLock);
done:
	if (ins.store_ready)
		omen_store_release(&ins.store);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
