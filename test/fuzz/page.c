/*
 * page.c
 *		Fuzz target: the page decoders of src/page.c on any page image.
 *		Input: dims (uint16, native order) and a byte whose high bit asks
 *		for a halfvec index's codes (halves where they fit) and
 *		whose low 7 bits give m, to decode with, then the page (zero-padded or cut to BLCKSZ); without
 *		that bit, an odd dims asks for a bit index's codes (a bit an
 *		element), an even one for a vector index's.  Every decoder must
 *		return nothing or raise ERRCODE_INDEX_CORRUPTED, and what it returns
 *		must lie within the page: the target reads all of it as the callers
 *		do, and AddressSanitizer checks those reads.  A chunk's first word,
 *		read as a sparsevec's non-zero count, must give a length within an
 *		exact vector's bounds or be refused.
 */
#include "postgres.h"

#include <stdlib.h>

#include "distance.h"
#include "elem.h"
#include "page.h"
#include "stubs.h"

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

static const int corrupted[] = {ERRCODE_INDEX_CORRUPTED, 0};
static const int meta_errors[] = {ERRCODE_INDEX_CORRUPTED,
ERRCODE_FEATURE_NOT_SUPPORTED, 0};

static void
consume(const void *p, Size len)
{
	for (Size i = 0; i < len; i++)
		fuzz_sink ^= ((const char *) p)[i];
}

static void
decode_data_page(Page page, int elem, int dims, int m)
{
	int			maxoff = PageGetMaxOffsetNumber(page);

	/* a halfvec index of odd dims has its halves as codes where they fit */
	int			bits = omen_code_bits(elem, dims, m,
									  elem == OMEN_ELEM_FLOAT2 && dims % 2 ?
									  OMEN_CODES_HALVES : OMEN_CODES_AUTO);
	int			code_bytes = OMEN_CODE_BYTES(dims, bits > 0 ? bits :
											 omen_code_bits(elem, dims, m,
															OMEN_CODES_AUTO));
	int			sparse_words = 1 + 2 * OMEN_MAX_NNZ;
	int			words;
	int			last = maxoff + 1;

	/*
	 * Offset 0 and one past the end too: links may point anywhere.  A page
	 * of neither kind is refused by every decoder below before it looks at
	 * the offset, so offsets 0 and 1 stand for all of a damaged header's
	 * (up to 16,000).
	 */
	if (!omen_page_is(page, OMEN_PAGE_DATA) &&
		!omen_page_is(page, OMEN_PAGE_VECTOR))
		last = 1;
	for (int off = 0; off <= last; off++)
	{
		OmenNodeTuple nt = omen_page_get_node(page, off, m, code_bytes);
		OmenVectorTuple vt = omen_page_get_chunk(page, off);

		if (nt != NULL)
		{
			const OmenLink *links = omen_node_links(nt, code_bytes);

			if (nt->type != OMEN_TUPLE_NODE)
				abort();
			/* the code, and every level's slots, as a search reads them */
			consume(omen_node_code(nt), code_bytes);
			for (int level = 0; level <= nt->level; level++)
				consume(links + omen_level_offset(level, m),
						sizeof(OmenLink) * omen_level_slots(level, m));
		}
		if (vt != NULL)
		{
			if (vt->type != OMEN_TUPLE_VECTOR)
				abort();
			consume(vt->x, sizeof(float) * vt->nfloats);
			/* as a sparsevec's first chunk: its length, from its first word */
			words = omen_elem_vector_words(OMEN_ELEM_SPARSE, sparse_words,
										   *(uint32 *) vt->x);
			if (words != -1 && (words < 1 || words > sparse_words))
				abort();
		}
		if (omen_page_is(page, OMEN_PAGE_DATA))
		{
			Size		len;
			char	   *item = omen_page_item(page, off, &len);

			if (item != NULL)
				consume(item, len);
		}
	}
}

static void
decode_directory_page(Page page)
{
	OmenDirectory dir;
	int			cap = 1;

	dir.nsegs = 0;
	dir.segs = palloc(sizeof(OmenSegmentDesc) * cap);
	dir.where = palloc(sizeof(ItemPointerData) * cap);
	omen_directory_decode(page, 1, "fuzz", &dir, &cap);
	consume(dir.segs, sizeof(OmenSegmentDesc) * dir.nsegs);
	consume(dir.where, sizeof(ItemPointerData) * dir.nsegs);
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	uint16		dims;
	int			elem;
	int			m;
	static char image[BLCKSZ] pg_attribute_aligned(ALIGNOF_BUFFER);
	Page		page = image;

	if (size < 3)
		return 0;
	memcpy(&dims, data, sizeof(dims));
	dims = 1 + dims % OMEN_MAX_DIMS;
	elem = (data[2] & 0x80) ? OMEN_ELEM_FLOAT2 :
		dims % 2 ? OMEN_ELEM_BIT : OMEN_ELEM_FLOAT4;
	m = 2 + (data[2] & 0x7F) % 99;
	data += 3;
	size -= 3;

	/* exactly BLCKSZ (ASan guards the ends), aligned as in shared buffers */
	size = Min(size, BLCKSZ);
	memcpy(page, data, size);
	memset(page + size, 0, BLCKSZ - size);

	FUZZ_RUN(meta_errors,
		{
			OmenMetaPageData meta;

			omen_meta_decode(page, "fuzz", &meta);
		});
	FUZZ_RUN(corrupted, decode_directory_page(page));
	FUZZ_RUN(corrupted, decode_data_page(page, elem, dims, m));
	return 0;
}
