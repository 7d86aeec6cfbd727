/*
 * verify.c
 *		omenhnsw_verify(regclass): structural check of an omenhnsw index.
 *
 * Returns one row per problem and none for a healthy index: page kinds and
 * headers, every link in range and of the right kind, every node's exact
 * vector whole and its code the code of that vector, metapage and segment
 * directory consistent with the pages, and every live node reachable from
 * its segment's entry point.  It reads the index under AccessShareLock
 * one page at a time, so it is exact only while nothing writes the index.
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_am.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/rel.h"

#include "omenhnsw.h"
#include "pagestore.h"

PG_FUNCTION_INFO_V1(omenhnsw_verify);

typedef struct VerifyState
{
	Relation	index;
	ReturnSetInfo *rsinfo;
	BlockNumber nblocks;
	OmenMetaPageData meta;
	int			link_bits;		/* omen_link_bits */
	uint32	   *owner;			/* segno+1 owning each block, 0 if none */
	int			nproblems;
} VerifyState;

/* A node met while walking a segment */
typedef struct ElemEntry
{
	ItemPointerData tid;		/* hash key */
	uint8		level;
	bool		live;
} ElemEntry;

#define MAX_PROBLEMS 1000

static void
problem(VerifyState *vs, const char *fmt,...) pg_attribute_printf(2, 3);

static void
problem(VerifyState *vs, const char *fmt,...)
{
	va_list		args;
	StringInfoData buf;
	Datum		value;
	bool		isnull = false;

	if (++vs->nproblems > MAX_PROBLEMS)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	value = CStringGetTextDatum(buf.data);
	tuplestore_putvalues(vs->rsinfo->setResult, vs->rsinfo->setDesc,
						 &value, &isnull);
	pfree(buf.data);
}

static bool
tid_ok(VerifyState *vs, ItemPointer tid)
{
	return ItemPointerIsValid(tid) &&
		ItemPointerGetBlockNumber(tid) > OMEN_METAPAGE_BLKNO &&
		ItemPointerGetBlockNumber(tid) < vs->nblocks;
}

/*
 * Reads the search row at tid into a palloc'd copy, or NULL if there is
 * none on a page of segment segno.
 */
static OmenNodeTuple
read_row(VerifyState *vs, ItemPointer tid, uint32 segno)
{
	Buffer		buf;
	Page		page;
	OmenNodeTuple nt;
	OmenNodeTuple copy = NULL;

	if (!tid_ok(vs, tid))
		return NULL;
	buf = ReadBuffer(vs->index, ItemPointerGetBlockNumber(tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	nt = omen_page_get_node(page, ItemPointerGetOffsetNumber(tid),
							vs->meta.m, vs->meta.code_bytes);
	if (nt != NULL && OmenPageGetOpaque(page)->segno == segno &&
		nt->level <= vs->meta.max_level)
	{
		Size		size = OMEN_NODE_SIZE(nt->level, vs->meta.m,
										  vs->meta.code_bytes);

		copy = palloc(size);
		memcpy(copy, nt, size);
	}
	UnlockReleaseBuffer(buf);
	return copy;
}

/* Checks the tuples of data page blk, adding its nodes to elems. */
static void
check_data_page(VerifyState *vs, Page page, BlockNumber blk, HTAB *elems,
				uint32 *nelements, uint32 *nlive)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		Size		len;
		char	   *tup;
		OmenNodeTuple nt;
		ItemPointerData tid;
		ElemEntry  *e;
		bool		found;
		int			ntids = 0;

		if (!ItemIdIsNormal(PageGetItemId(page, off)))
			continue;
		tup = omen_page_item(page, off, &len);
		if (tup == NULL || len == 0)
		{
			problem(vs, "block %u offset %u: item lies outside the tuple space",
					blk, off);
			continue;
		}
		if (tup[0] != OMEN_TUPLE_NODE)
		{
			problem(vs, "block %u offset %u holds a tuple of unknown kind %d",
					blk, off, tup[0]);
			continue;
		}
		nt = omen_page_get_node(page, off, vs->meta.m, vs->meta.code_bytes);
		if (nt == NULL)
		{
			problem(vs, "search row (%u,%u) has length %zu, not one of a row at its level",
					blk, off, len);
			continue;
		}
		if (nt->level > vs->meta.max_level)
		{
			problem(vs, "search row (%u,%u) has level %u above the limit %u",
					blk, off, nt->level, vs->meta.max_level);
			continue;
		}
		for (int i = 0; i < OMEN_HEAPTIDS; i++)
			if (ItemPointerIsValid(&nt->heaptids[i]))
				ntids++;
		if (!nt->deleted && ntids == 0)
			problem(vs, "search row (%u,%u) is live but has no heap TID",
					blk, off);

		ItemPointerSet(&tid, blk, off);
		e = hash_search(elems, &tid, HASH_ENTER, &found);
		e->level = nt->level;
		e->live = !nt->deleted;
		(*nelements)++;
		if (e->live)
			(*nlive)++;
	}
}

/* Checks the tuples of vector page blk. */
static void
check_vector_page(VerifyState *vs, Page page, BlockNumber blk)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
	{
		if (!ItemIdIsNormal(PageGetItemId(page, off)))
			continue;
		if (omen_page_get_chunk(page, off) == NULL)
			problem(vs, "block %u offset %u is not a vector chunk", blk, off);
	}
}

/*
 * Checks node e's row: its links lead to nodes of the segment at their
 * levels, its vector is whole and a value of its type, and its code is that
 * vector's.  exact, x and code are scratch space for the vector, its floats
 * and the row as it should be.
 */
static void
check_row(VerifyState *vs, const OmenSegmentDesc *seg, HTAB *elems,
		  ElemEntry *e, OmenPageStore *store, void *exact, float *x,
		  OmenNodeTuple code)
{
	int			m = vs->meta.m;
	OmenNodeTuple nt = read_row(vs, &e->tid, seg->segno);
	const OmenLink *links;

	if (nt == NULL)
	{
		problem(vs, "search row (%u,%u) changed while it was checked",
				ItemPointerGetBlockNumber(&e->tid),
				ItemPointerGetOffsetNumber(&e->tid));
		return;
	}
	links = omen_node_links(nt, vs->meta.code_bytes);
	for (int l = 0; l <= e->level; l++)
	{
		const OmenLink *slots = links + omen_level_offset(l, m);

		for (int i = 0; i < omen_level_slots(l, m); i++)
		{
			ElemEntry  *t;
			ItemPointerData to;

			if (slots[i] == OMEN_NO_LINK)
				continue;
			omen_link_to_tid(slots[i], vs->link_bits, &to);
			t = hash_search(elems, &to, HASH_FIND, NULL);
			if (t == NULL)
				problem(vs, "node (%u,%u) level %d links to (%u,%u), not a node of segment %u",
						ItemPointerGetBlockNumber(&e->tid),
						ItemPointerGetOffsetNumber(&e->tid), l,
						ItemPointerGetBlockNumberNoCheck(&to),
						ItemPointerGetOffsetNumberNoCheck(&to),
						seg->segno);
			else if (t->level < l)
				problem(vs, "node (%u,%u) level %d links to (%u,%u) of level %u",
						ItemPointerGetBlockNumber(&e->tid),
						ItemPointerGetOffsetNumber(&e->tid), l,
						ItemPointerGetBlockNumber(&to),
						ItemPointerGetOffsetNumber(&to),
						t->level);
		}
	}

	if (store->elem.codes_exact && !ItemPointerEquals(&nt->vectid, &e->tid))
		problem(vs, "node (%u,%u): its code is its vector, but it names (%u,%u) as its vector",
				ItemPointerGetBlockNumber(&e->tid),
				ItemPointerGetOffsetNumber(&e->tid),
				ItemPointerGetBlockNumberNoCheck(&nt->vectid),
				ItemPointerGetOffsetNumberNoCheck(&nt->vectid));
	else if (!omen_store_exact(store, &nt->vectid, exact))
		problem(vs, "node (%u,%u): its vector at (%u,%u) is missing or incomplete",
				ItemPointerGetBlockNumber(&e->tid),
				ItemPointerGetOffsetNumber(&e->tid),
				ItemPointerGetBlockNumberNoCheck(&nt->vectid),
				ItemPointerGetOffsetNumberNoCheck(&nt->vectid));
	else if (!omen_elem_valid(&store->elem, exact))
		problem(vs, "node (%u,%u): its vector is not a %s value",
				ItemPointerGetBlockNumber(&e->tid),
				ItemPointerGetOffsetNumber(&e->tid),
				omen_elem_type_name(store->elem.kind));
	else
	{
		omen_elem_floats(&store->elem, exact, x);
		omen_node_encode(code, &vs->meta, x);
		if (code->offset != nt->offset || code->scale != nt->scale ||
			memcmp(omen_node_code(code), omen_node_code(nt),
				   vs->meta.code_bytes) != 0)
			problem(vs, "node (%u,%u): its code is not the code of its vector",
					ItemPointerGetBlockNumber(&e->tid),
					ItemPointerGetOffsetNumber(&e->tid));
		else if (nt->tight > code->tight)
			problem(vs, "node (%u,%u): its code claims its vector nearer than it is (tightness %u, at most %u)",
					ItemPointerGetBlockNumber(&e->tid),
					ItemPointerGetOffsetNumber(&e->tid),
					nt->tight, code->tight);
	}
	pfree(nt);
}

/*
 * Checks one segment: its page chain, its tuples, the links between its
 * nodes, their vectors and codes, and that every live node is reachable
 * from the entry point.
 */
static void
verify_segment(VerifyState *vs, const OmenSegmentDesc *seg)
{
	HASHCTL		ctl;
	HTAB	   *elems;
	HASH_SEQ_STATUS hs;
	ElemEntry  *e;
	BlockNumber blk = seg->first_blk;
	BlockNumber last = InvalidBlockNumber;
	uint32		nelements = 0;
	uint32		nlive = 0;
	uint32		npages = 0;
	bool		row_blk_seen = false;
	bool		vec_blk_seen = !BlockNumberIsValid(seg->vec_blk);
	OmenPageStore store;
	ItemPointerData *orphans;
	int			norphans;
	float	   *x;
	void	   *exact;
	OmenNodeTuple code;

	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ElemEntry);
	ctl.hcxt = CurrentMemoryContext;
	elems = hash_create("omenhnsw verify", 1024, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* walk the chain, collecting nodes */
	while (BlockNumberIsValid(blk))
	{
		Buffer		buf;
		Page		page;
		OmenPageOpaque opaque;

		CHECK_FOR_INTERRUPTS();
		if (blk == OMEN_METAPAGE_BLKNO || blk >= vs->nblocks)
		{
			problem(vs, "segment %u: chain leads to block %u, outside the index",
					seg->segno, blk);
			break;
		}
		if (vs->owner[blk] != 0)
		{
			problem(vs, "segment %u: block %u is already part of %s %u",
					seg->segno, blk,
					vs->owner[blk] - 1 == seg->segno ? "this chain at" : "segment",
					vs->owner[blk] - 1);
			break;
		}
		vs->owner[blk] = seg->segno + 1;
		last = blk;
		npages++;

		buf = ReadBuffer(vs->index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = OmenPageGetOpaque(page);
		if (omen_page_is(page, OMEN_PAGE_DATA) && opaque->page_id == OMEN_MAGIC)
		{
			check_data_page(vs, page, blk, elems, &nelements, &nlive);
			row_blk_seen |= blk == seg->row_blk;
		}
		else if (omen_page_is(page, OMEN_PAGE_VECTOR) && opaque->page_id == OMEN_MAGIC)
		{
			check_vector_page(vs, page, blk);
			vec_blk_seen |= blk == seg->vec_blk;
		}
		else
		{
			problem(vs, "segment %u: block %u is not a data or vector page",
					seg->segno, blk);
			UnlockReleaseBuffer(buf);
			break;
		}
		if (opaque->segno != seg->segno)
			problem(vs, "segment %u: block %u is marked as segment %u",
					seg->segno, blk, opaque->segno);
		blk = opaque->next;
		UnlockReleaseBuffer(buf);
	}

	if (last != seg->last_blk)
		problem(vs, "segment %u: chain ends at block %u, directory says %u",
				seg->segno, last, seg->last_blk);
	if (npages != seg->nblocks)
		problem(vs, "segment %u: %u pages in its chain, directory says %u",
				seg->segno, npages, seg->nblocks);
	if (!row_blk_seen || !vec_blk_seen)
		problem(vs, "segment %u: the pages new rows and vectors go to (%u and %u) are not data and vector pages of its chain",
				seg->segno, seg->row_blk, seg->vec_blk);
	if (nelements != seg->nelements)
		problem(vs, "segment %u: %u nodes on pages, directory says %u",
				seg->segno, nelements, seg->nelements);

	/* every link, vector and code of every node */
	omen_store_init(&store, vs->index, &vs->meta, 64);
	store.segno = seg->segno;
	x = palloc(sizeof(float) * Max(vs->meta.dims, 1));
	exact = palloc(sizeof(float) * Max(store.elem.words, 1));
	code = palloc(OMEN_NODE_SIZE(0, vs->meta.m, vs->meta.code_bytes));
	hash_seq_init(&hs, elems);
	while ((e = hash_seq_search(&hs)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		check_row(vs, seg, elems, e, &store, exact, x, code);
	}
	omen_store_release(&store);

	if (nelements == 0)
	{
		if (ItemPointerIsValid(&seg->entry))
			problem(vs, "segment %u: empty but has an entry point", seg->segno);
		hash_destroy(elems);
		return;
	}
	e = hash_search(elems, &seg->entry, HASH_FIND, NULL);
	if (e == NULL)
	{
		problem(vs, "segment %u: entry point (%u,%u) is not one of its nodes",
				seg->segno, ItemPointerGetBlockNumberNoCheck(&seg->entry),
				ItemPointerGetOffsetNumberNoCheck(&seg->entry));
		hash_destroy(elems);
		return;
	}
	if (e->level != seg->entry_level)
		problem(vs, "segment %u: entry point has level %u, directory says %u",
				seg->segno, e->level, seg->entry_level);

	norphans = omen_store_orphans(&store, seg, &orphans);
	omen_store_release(&store);
	if (norphans > 0)
		problem(vs, "segment %u: %d of %u live elements are unreachable from the entry point",
				seg->segno, norphans, nlive);
	hash_destroy(elems);
}

Datum
omenhnsw_verify(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	VerifyState vs;
	OmenDirectory dir;
	OmenElem	kind;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	memset(&vs, 0, sizeof(vs));
	vs.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	vs.index = relation_open(indexoid, AccessShareLock);
	if (vs.index->rd_rel->relkind != RELKIND_INDEX ||
		vs.index->rd_indam == NULL ||
		vs.index->rd_indam->ambuild != omen_ambuild)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an omenhnsw index",
						RelationGetRelationName(vs.index))));

	omen_index_elem(vs.index, &kind);
	omen_meta_read(vs.index, &vs.meta);
	vs.link_bits = omen_link_bits(vs.meta.m, vs.meta.code_bytes);
	vs.nblocks = RelationGetNumberOfBlocks(vs.index);
	vs.owner = palloc0(sizeof(uint32) * vs.nblocks);

	if (vs.meta.dims > OMEN_MAX_DIMS)
		problem(&vs, "metapage: %u dimensions, more than %d", vs.meta.dims, OMEN_MAX_DIMS);
	if (vs.meta.m < 2 || vs.meta.max_level != omen_max_level(vs.meta.m))
		problem(&vs, "metapage: m %u and level limit %u do not agree",
				vs.meta.m, vs.meta.max_level);
	if (vs.meta.elem != kind.kind)
		problem(&vs, "metapage: element kind %u, the operator class is for %s",
				vs.meta.elem, omen_elem_type_name(kind.kind));
	if (vs.meta.elem_dims > omen_elem_max_dims(kind.kind) ||
		vs.meta.dims != omen_elem_code_dims(kind.kind, vs.meta.elem_dims))
		problem(&vs, "metapage: codes of %u dimensions do not suit values of %u",
				vs.meta.dims, vs.meta.elem_dims);
	/* omen_meta_read checked the dimension and the code's size */
	if (vs.meta.dims > 0 &&
		vs.meta.code_bits != omen_code_bits(vs.meta.elem, vs.meta.dims, vs.meta.m,
											OMEN_CODES_AUTO) &&
		vs.meta.code_bits != omen_code_bits(vs.meta.elem, vs.meta.dims, vs.meta.m,
											OMEN_CODES_HALVES) &&
		vs.meta.code_bits != omen_scalar_code_bits(vs.meta.dims, vs.meta.m))
		problem(&vs, "metapage: codes of %u bits in %u bytes do not suit %u dimensions",
				vs.meta.code_bits, vs.meta.code_bytes, vs.meta.dims);
	if (vs.meta.metric != kind.metric)
		problem(&vs, "metapage: metric %u, the operator class says %d",
				vs.meta.metric, kind.metric);

	omen_directory_read(vs.index, &vs.meta, &dir);
	if (dir.nsegs != (int) vs.meta.nsegments)
		problem(&vs, "directory: %d segments, metapage says %u",
				dir.nsegs, vs.meta.nsegments);
	for (int i = 0; i < dir.nsegs; i++)
	{
		if (dir.segs[i].segno >= vs.meta.next_segno)
			problem(&vs, "directory: segment number %u, but the next to be given is %u",
					dir.segs[i].segno, vs.meta.next_segno);
		for (int j = 0; j < i; j++)
			if (dir.segs[j].segno == dir.segs[i].segno)
				problem(&vs, "directory: segment number %u appears twice", dir.segs[i].segno);
		verify_segment(&vs, &dir.segs[i]);
	}

	/* directory pages belong to no segment but are accounted for */
	for (BlockNumber blk = vs.meta.dir_head; BlockNumberIsValid(blk);)
	{
		Buffer		buf;

		if (blk >= vs.nblocks || vs.owner[blk] != 0)
		{
			problem(&vs, "directory: chain reaches block %u twice or outside the index", blk);
			break;
		}
		vs.owner[blk] = PG_UINT32_MAX;
		buf = ReadBuffer(vs.index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		blk = OmenPageGetOpaque(BufferGetPage(buf))->next;
		UnlockReleaseBuffer(buf);
	}
	for (BlockNumber blk = OMEN_METAPAGE_BLKNO + 1; blk < vs.nblocks; blk++)
	{
		Buffer		buf;
		Page		page;

		if (vs.owner[blk] != 0)
			continue;

		/*
		 * Free pages are new (extended by an insert that failed before
		 * linking them) or data and vector pages of a retired segment.
		 */
		buf = ReadBuffer(vs.index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) &&
			((!omen_page_is(page, OMEN_PAGE_DATA) &&
			  !omen_page_is(page, OMEN_PAGE_VECTOR)) ||
			 omen_directory_has(&dir, OmenPageGetOpaque(page)->segno)))
			problem(&vs, "block %u belongs to no live segment chain and is not free", blk);
		UnlockReleaseBuffer(buf);
	}

	if (vs.nproblems > MAX_PROBLEMS)
	{
		int			hidden = vs.nproblems - MAX_PROBLEMS;

		vs.nproblems = 0;
		problem(&vs, "%d more problems not shown", hidden);
	}

	relation_close(vs.index, AccessShareLock);
	return (Datum) 0;
}
