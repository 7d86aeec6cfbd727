/*
 * page.h
 *		The on-disk format of an omenhnsw index, and its page codec.
 *
 * Block 0 is the metapage.  Every other page is a standard slotted page
 * with an OmenPageOpaque in its special space: data pages hold the element
 * and neighbour tuples of one segment, directory pages hold one
 * OmenSegmentDesc item per segment.  A node is identified by the TID of its
 * element tuple.  Tuples are made by the fill functions below and found by
 * the get functions, which check their kind and size; changes rewrite their
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
#define OMEN_VERSION		1
#define OMEN_METAPAGE_BLKNO	0

/* Heap TIDs one element can carry (exact duplicates share an element). */
#define OMEN_HEAPTIDS		10

/*
 * Heavyweight page-lock tags, not the blocks of those numbers.  The insert
 * lock serializes inserts, segment retirement and VACUUM's relinking; scans
 * hold the scan lock shared while they search.  src/README has the rules.
 */
#define OMEN_INSERT_LOCK	0
#define OMEN_SCAN_LOCK		1

/* Largest level a node may have; bounded again by the page size. */
#define OMEN_LEVEL_LIMIT	16

/* Page kinds */
#define OMEN_PAGE_META		1
#define OMEN_PAGE_DIR		2
#define OMEN_PAGE_DATA		3

typedef struct OmenPageOpaqueData
{
	BlockNumber next;			/* next page of the chain, or Invalid */
	uint32		segno;			/* owning segment (data pages) */
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
	uint32		dims;
	uint16		m;
	uint16		ef_construction;
	uint16		metric;			/* OmenMetric */
	uint16		max_level;
	uint32		nsegments;
	uint32		next_segno;		/* segment numbers are never reused */
	BlockNumber dir_head;		/* first directory page, or Invalid */
} OmenMetaPageData;

typedef OmenMetaPageData *OmenMetaPage;

#define OmenPageGetMeta(page)	((OmenMetaPage) PageGetContents(page))

/* One segment: an independent HNSW graph on a chain of pages. */
typedef struct OmenSegmentDesc
{
	uint32		segno;
	BlockNumber first_blk;
	BlockNumber last_blk;		/* last page of the chain, where inserts go */
	uint32		nblocks;
	ItemPointerData entry;		/* entry point's element tuple, or invalid */
	uint16		entry_level;
	uint32		nelements;
} OmenSegmentDesc;

/* Tuple kinds, first byte of every data tuple */
#define OMEN_TUPLE_ELEMENT	1
#define OMEN_TUPLE_NEIGHBOR	2

/* A node's vector and the heap rows that hold it. */
typedef struct OmenElementTupleData
{
	uint8		type;
	uint8		level;
	uint8		deleted;
	uint8		unused;
	ItemPointerData heaptids[OMEN_HEAPTIDS];	/* unused slots invalid */
	ItemPointerData neighbortid;
	uint16		unused2;
	float		x[FLEXIBLE_ARRAY_MEMBER];
} OmenElementTupleData;

typedef OmenElementTupleData *OmenElementTuple;

/*
 * A node's links: 2m slots for level 0, then m for each level above.  Always
 * full size, so it is updated in place; empty slots are invalid TIDs.
 */
typedef struct OmenNeighborTupleData
{
	uint8		type;
	uint8		level;
	uint16		nslots;
	ItemPointerData tids[FLEXIBLE_ARRAY_MEMBER];
} OmenNeighborTupleData;

typedef OmenNeighborTupleData *OmenNeighborTuple;

#define OMEN_ELEMENT_SIZE(dims) \
	(offsetof(OmenElementTupleData, x) + sizeof(float) * (dims))
#define OMEN_NEIGHBOR_SLOTS(level, m)	(2 * (m) + (level) * (m))
#define OMEN_NEIGHBOR_SIZE(level, m) \
	(offsetof(OmenNeighborTupleData, tids) + \
	 sizeof(ItemPointerData) * OMEN_NEIGHBOR_SLOTS(level, m))

/* Room for tuples on an empty page, and what one tuple costs there. */
#define OMEN_PAGE_CAPACITY \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(OmenPageOpaqueData)))
#define OMEN_ITEM_COST(size)	(MAXALIGN(size) + sizeof(ItemIdData))

/* Largest dimension an element tuple can hold on one page. */
#define OMEN_MAX_DIMS \
	((int) ((TYPEALIGN_DOWN(MAXIMUM_ALIGNOF, OMEN_PAGE_CAPACITY - sizeof(ItemIdData)) - \
			 offsetof(OmenElementTupleData, x)) / sizeof(float)))

/* Slots of a level within a neighbour tuple. */
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

extern int	omen_max_level(int m);
extern void omen_page_init(Page page, uint16 kind, uint32 segno);
extern void omen_meta_init(Page page, int dims, int m, int ef_construction,
						   int metric);
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
 * The element or neighbour tuple at off of a locked data page, or NULL when
 * there is none of the right kind and size (stale links, damaged pages).
 */
extern OmenElementTuple omen_page_get_element(Page page, OffsetNumber off,
											  int dims);
extern OmenNeighborTuple omen_page_get_neighbors(Page page, OffsetNumber off,
												 int m);

extern void omen_element_fill(OmenElementTuple et, int level, int dims,
							  const float *x, ItemPointer heaptids, int ntids,
							  ItemPointer neighbortid);
extern void omen_neighbor_fill(OmenNeighborTuple nt, int level, int m);

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
extern BlockNumber omen_directory_write(Relation index,
										const OmenSegmentDesc *segs, int nsegs);

#endif							/* OMEN_PAGE_H */
