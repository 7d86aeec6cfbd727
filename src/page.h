/*
 * page.h
 *		The on-disk format of an omenhnsw index, and its page codec.
 *
 * Block 0 is the metapage.  Every other page is a standard slotted page
 * with an OmenPageOpaque in its special space: data pages hold the search
 * rows of one segment (a node's code and links together, many to a page),
 * vector pages its nodes' exact vectors in chunks, directory pages one
 * OmenSegmentDesc item per segment.  A node is identified by the TID of its
 * search row.  Tuples are made by the fill functions below and found by the
 * get functions, which check their kind and size; changes rewrite their
 * fixed-size fields in place.  src/README describes the format, the locks
 * and the WAL records.
 */
#ifndef OMEN_PAGE_H
#define OMEN_PAGE_H

#include "postgres.h"

#include "storage/bufpage.h"
#include "storage/itemptr.h"
#include "utils/rel.h"

#define OMEN_MAGIC			0x0E7D6B01
#define OMEN_VERSION		3
#define OMEN_METAPAGE_BLKNO	0

/* Heap TIDs one node can carry (exact duplicates share a node). */
#define OMEN_HEAPTIDS		10

/*
 * Heavyweight page-lock tag, not the block of that number.  The insert lock
 * serializes inserts, segment retirement and VACUUM's relinking; scans take
 * no heavyweight lock.  src/README has the rules.
 */
#define OMEN_INSERT_LOCK	0

/* Largest level a node may have; bounded again by the page size. */
#define OMEN_LEVEL_LIMIT	16

/* Largest dimension an index holds: the vector type's. */
#define OMEN_MAX_DIMS		16000

/* Page kinds */
#define OMEN_PAGE_META		1
#define OMEN_PAGE_DIR		2
#define OMEN_PAGE_DATA		3	/* search rows of a segment */
#define OMEN_PAGE_VECTOR	4	/* exact vectors of a segment */

typedef struct OmenPageOpaqueData
{
	BlockNumber next;			/* next page of the chain, or Invalid */
	uint32		segno;			/* owning segment (data and vector pages) */
	uint16		kind;			/* OMEN_PAGE_* */
	uint16		unused;
	uint32		page_id;		/* OMEN_MAGIC, for tools */
} OmenPageOpaqueData;

typedef OmenPageOpaqueData *OmenPageOpaque;

#define OmenPageGetOpaque(page) ((OmenPageOpaque) PageGetSpecialPointer(page))

/* Index-wide parameters and where the segment directory starts. */
typedef struct OmenMetaPageData
{
	uint32		magic;
	uint32		version;
	uint32		dims;			/* floats of the codes; 0 until known */
	uint16		m;
	uint16		ef_construction;
	uint16		metric;			/* OmenMetric */
	uint16		max_level;
	uint32		nsegments;
	uint32		next_segno;		/* segment numbers are never reused */
	BlockNumber dir_head;		/* first directory page, or Invalid */
	uint16		code_bits;		/* bits per element of the codes (16: halves),
								 * 0 with dims */
	uint16		code_bytes;		/* bytes of a node's code */
	uint16		elem;			/* OmenElemKind of the operator class's type */
	uint16		codes;			/* OmenCodesOption it was built with */
	uint32		elem_dims;		/* elements of a value; 0 until known */
} OmenMetaPageData;

typedef OmenMetaPageData *OmenMetaPage;

#define OmenPageGetMeta(page)	((OmenMetaPage) PageGetContents(page))

/*
 * One segment: an independent HNSW graph on a chain of data pages (search
 * rows) and vector pages.
 */
typedef struct OmenSegmentDesc
{
	uint32		segno;
	BlockNumber first_blk;
	BlockNumber last_blk;		/* last page of the chain */
	BlockNumber row_blk;		/* data page that new search rows go to */
	BlockNumber vec_blk;		/* vector page that new vectors go to */
	uint32		nblocks;
	ItemPointerData entry;		/* entry point's search row, or invalid */
	uint16		entry_level;
	uint32		nelements;
} OmenSegmentDesc;

/* Tuple kinds, first byte of every data and vector tuple */
#define OMEN_TUPLE_NODE		1
#define OMEN_TUPLE_VECTOR	3

/*
 * A link: the TID of a search row of the same segment in 4 bytes, its
 * block shifted left by the index's link offset bits (omen_link_bits) and
 * its offset in those bits.  0 is no link: block 0 is the metapage.
 */
typedef uint32 OmenLink;

#define OMEN_NO_LINK		0

/*
 * A node's search row: its heap rows, where its exact vector is, its code
 * and its links, all a search needs.  The code (code_bytes, a multiple of
 * 4) comes first in data[], then 2m link slots for level 0 and m for each
 * level above.  Its size is fixed by its level, so it is updated in place;
 * empty slots are OMEN_NO_LINK.
 */
typedef struct OmenNodeTupleData
{
	uint8		type;
	uint8		level;
	uint8		deleted;
	uint8		unused;
	ItemPointerData heaptids[OMEN_HEAPTIDS];	/* unused slots invalid */
	ItemPointerData vectid;		/* first chunk of the exact vector */
	uint16		tight;			/* omen_code_tightness; 0 in older rows */
	float		offset;			/* code decodes as offset + scale * code */
	float		scale;
	uint8		data[FLEXIBLE_ARRAY_MEMBER];
} OmenNodeTupleData;

typedef OmenNodeTupleData *OmenNodeTuple;

#define OMEN_NEIGHBOR_SLOTS(level, m)	(2 * (m) + (level) * (m))
#define OMEN_NODE_SIZE(level, m, code_bytes) \
	(offsetof(OmenNodeTupleData, data) + (code_bytes) + \
	 sizeof(OmenLink) * OMEN_NEIGHBOR_SLOTS(level, m))

static inline uint8 *
omen_node_code(OmenNodeTuple nt)
{
	return nt->data;
}

static inline OmenLink *
omen_node_links(OmenNodeTuple nt, int code_bytes)
{
	return (OmenLink *) (nt->data + code_bytes);
}

/*
 * A piece of a node's exact vector, as the value holds it: nfloats
 * elements, the rest in the chunk at next.  Chunks follow each other in
 * element order.  Vectors are packed densely: one that starts where at least
 * OMEN_MIN_CHUNK_FLOATS fit goes on on the next page.
 */
typedef struct OmenVectorTupleData
{
	uint8		type;
	uint8		unused;
	uint16		nfloats;
	ItemPointerData next;		/* next chunk, or invalid */
	uint16		unused2;
	float		x[FLEXIBLE_ARRAY_MEMBER];
} OmenVectorTupleData;

typedef OmenVectorTupleData *OmenVectorTuple;

#define OMEN_CHUNK_SIZE(nfloats) \
	(offsetof(OmenVectorTupleData, x) + sizeof(float) * (nfloats))

/* Room for tuples on an empty page, and what one tuple costs there. */
#define OMEN_PAGE_CAPACITY \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(OmenPageOpaqueData)))
#define OMEN_ITEM_COST(size)	(MAXALIGN(size) + sizeof(ItemIdData))

/*
 * The fewest floats worth a chunk at the end of a page that has some room
 * left, rather than starting the vector on a new page.
 */
#define OMEN_MIN_CHUNK_FLOATS	16

/* Slots of a level within a node's links. */
static inline int
omen_level_offset(int level, int m)
{
	return level == 0 ? 0 : 2 * m + (level - 1) * m;
}

static inline int
omen_level_slots(int level, int m)
{
	return level == 0 ? 2 * m : m;
}

static inline uint64
omen_tid_pack(ItemPointer tid)
{
	return ((uint64) ItemPointerGetBlockNumberNoCheck(tid) << 16) |
		ItemPointerGetOffsetNumberNoCheck(tid);
}

static inline void
omen_tid_unpack(uint64 id, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (id >> 16), (OffsetNumber) (id & 0xFFFF));
}

/*
 * Bits of a link's offset in an index of m and code_bytes: the width of
 * the most rows a data page holds, all of level 0.
 */
extern int	omen_link_bits(int m, int code_bytes);

/* Data pages whose rows links of obits offset bits can name: blocks below. */
static inline BlockNumber
omen_link_blocks(int obits)
{
	return (BlockNumber) 1 << (32 - obits);
}

/*
 * ERROR (ERRCODE_PROGRAM_LIMIT_EXCEEDED) if blk, a data page to be, is not
 * below omen_link_blocks(obits).
 */
extern void omen_check_link_block(Relation index, BlockNumber blk, int obits);

/* The link to row off of block blk: off below 2^obits, blk below the above. */
static inline OmenLink
omen_link_make(BlockNumber blk, OffsetNumber off, int obits)
{
	return blk << obits | off;
}

/* A link and the packed TID (omen_tid_pack) of the row it names. */
static inline OmenLink
omen_link_from_id(uint64 id, int obits)
{
	return omen_link_make((BlockNumber) (id >> 16), (OffsetNumber) (id & 0xFFFF),
						  obits);
}

static inline uint64
omen_link_to_id(OmenLink link, int obits)
{
	return (uint64) (link >> obits) << 16 | (link & ((1U << obits) - 1));
}

static inline void
omen_link_to_tid(OmenLink link, int obits, ItemPointer tid)
{
	omen_tid_unpack(omen_link_to_id(link, obits), tid);
}

/*
 * Highest level a node may have at m: its search row fits an empty page
 * with the widest code of any dimension.
 */
extern int	omen_max_level(int m);

/*
 * What search rows keep of a vector to search by (the codes option):
 * OMEN_CODES_AUTO, the codes omen_code_bits picks for the element kind, or
 * OMEN_CODES_HALVES, for halfvec indexes only, the halves themselves, as
 * the rows' codes and the index's only copy of them.
 */
typedef enum OmenCodesOption
{
	OMEN_CODES_AUTO = 0,
	OMEN_CODES_HALVES = 1
} OmenCodesOption;

/*
 * Bits per element of the codes of dims floats at m: of a new index of
 * element kind elem with the codes option codes, OMEN_CODE_HALVES, 8, 4, 2
 * or 1, or 0 where that option has no layout (omen_check_codes); the
 * scalar ones, 8, 4 or 2.  An index keeps the width it was made with (its
 * metapage's code_bits).
 */
extern int	omen_code_bits(int elem, int dims, int m, int codes);
extern int	omen_scalar_code_bits(int dims, int m);

/*
 * ERROR unless an index of element kind elem with the codes option codes
 * has a layout for codes of dims floats (dims 0: not known yet) at m.
 */
extern void omen_check_codes(int elem, int dims, int m, int codes);

extern void omen_page_init(Page page, uint16 kind, uint32 segno);
extern void omen_meta_init(Page page, int elem, int elem_dims, int m,
						   int ef_construction, int metric, int codes);

/*
 * Sets elem_dims, and the code dimension and width that go with it under
 * the metapage's codes option; ERROR where there is none
 * (omen_check_codes).
 */
extern void omen_meta_set_dims(OmenMetaPage meta, int elem_dims);
extern Buffer omen_new_buffer(Relation index, ForkNumber fork);
extern void omen_meta_read(Relation index, OmenMetaPageData *meta);

/*
 * Decoders of page images, pure functions of the page (the fuzz targets in
 * test/fuzz call them directly): damage gives NULL or an ERROR with
 * ERRCODE_INDEX_CORRUPTED, never a read outside the page.
 */
extern bool omen_page_is(Page page, uint16 kind);
extern char *omen_page_item(Page page, OffsetNumber off, Size *len);
extern void omen_meta_decode(Page page, const char *relname,
							 OmenMetaPageData *meta);

/*
 * The search row or vector chunk at off of a locked page, or NULL when
 * there is none of the right kind and size (stale links, damaged pages).
 */
extern OmenNodeTuple omen_page_get_node(Page page, OffsetNumber off, int m,
										int code_bytes);
extern OmenVectorTuple omen_page_get_chunk(Page page, OffsetNumber off);

/*
 * Fills a search row with no links; code, offset, scale and tight are x's
 * code (omen_node_encode).
 */
extern void omen_node_fill(OmenNodeTuple nt, int level,
						   const OmenMetaPageData *meta,
						   ItemPointer heaptids, int ntids,
						   ItemPointer vectid);
extern void omen_node_encode(OmenNodeTuple nt, const OmenMetaPageData *meta,
							 const float *x);

extern int	omen_chunk_floats(Size free, int remaining);

/* The segment directory as read: descriptors in order and their places. */
typedef struct OmenDirectory
{
	int			nsegs;
	OmenSegmentDesc *segs;
	ItemPointerData *where;
	BlockNumber last_page;		/* last directory page, or Invalid */
} OmenDirectory;

extern void omen_directory_decode(Page page, BlockNumber blk,
								  const char *relname, OmenDirectory *dir,
								  int *cap);
extern void omen_directory_read(Relation index, const OmenMetaPageData *meta,
								OmenDirectory *dir);
extern bool omen_directory_has(const OmenDirectory *dir, uint32 segno);

/* Walking a segment's page chain: damage raises ERRCODE_INDEX_CORRUPTED. */
extern void omen_chain_damaged(Relation index, uint32 segno, BlockNumber blk)
			pg_attribute_noreturn();
extern BlockNumber omen_chain_next(Relation index, uint32 segno,
								   BlockNumber blk, Page page,
								   BlockNumber *hops);
extern BlockNumber omen_directory_write(Relation index,
										const OmenSegmentDesc *segs, int nsegs);

#endif							/* OMEN_PAGE_H */
