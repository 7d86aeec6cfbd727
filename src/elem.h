/*
 * elem.h
 *		The element kinds an omenhnsw index holds: what its operator class's
 *		type keeps on vector pages, the floats its codes and graph are made
 *		of, and the exact distance over what it keeps.
 *
 * Between the types and the page codec: build, insert, scan, VACUUM and
 * omenhnsw_verify go through these functions wherever a value becomes
 * floats or bytes and wherever an exact distance is taken, so that no other
 * file needs to know which type an index is on.  No function here takes
 * locks.
 */
#ifndef OMEN_ELEM_H
#define OMEN_ELEM_H

#include "postgres.h"

#include "vector.h"

/* Element kinds, as the metapage records them. */
typedef enum OmenElemKind
{
	OMEN_ELEM_FLOAT4 = 1,		/* vector: the value's floats */
	OMEN_ELEM_FLOAT2 = 2,		/* halfvec: the value's halves */
	OMEN_ELEM_BIT = 3,			/* bit: the value's bits */
	OMEN_ELEM_SPARSE = 4		/* sparsevec: its non-zeros' count, indices
								 * and values */
} OmenElemKind;

/* Largest number of bits a bit index holds, as pgvector's. */
#define OMEN_MAX_BITS		64000

/*
 * Most non-zero elements of a sparsevec an index holds: its exact vector,
 * 1 + 2 nnz words, is then no longer than the longest vector's (16,000
 * floats).
 */
#define OMEN_MAX_NNZ		((VECTOR_MAX_DIM - 1) / 2)

/*
 * Floats of a sparsevec's code when it has more dimensions: a signed
 * hashing sketch of the value (see elem.c).
 */
#define OMEN_SPARSE_CODE_DIMS	512

/*
 * One index's element kind, metric and dimension, and what follows from
 * them.
 */
typedef struct OmenElem
{
	int			kind;			/* OmenElemKind */
	int			metric;			/* the operator class's OmenMetric */
	int			graph_metric;	/* the metric of codes and graph searches */
	int			dims;			/* elements of a value; 0 until known */
	int			code_dims;		/* floats that codes are made of */
	int			words;			/* 4-byte words of an exact vector; sparse:
								 * the most, 1 + 2 OMEN_MAX_NNZ */
	bool		codes_exact;	/* codes are the exact vectors: a halfvec
								 * index whose codes are its halves */
} OmenElem;

/*
 * code_bits is the index's (its metapage's), or 0 where there is no index
 * yet: OMEN_CODE_HALVES makes the codes the exact vectors.
 */
extern void omen_elem_init(OmenElem *e, int kind, int metric, int dims,
						   int code_bits);

/* The type name of a kind, and the largest dimension an index of it takes. */
extern const char *omen_elem_type_name(int kind);
extern int	omen_elem_max_dims(int kind);

/* The metric graph searches use for an operator class's metric. */
extern int	omen_elem_graph_metric(int metric);

/*
 * Floats of the codes of a value of dims elements: one an element, but at
 * most VECTOR_MAX_DIM for bit strings and OMEN_SPARSE_CODE_DIMS for
 * sparsevecs.  Inline, so that the page codec (page.c, which the fuzz
 * targets link alone) needs nothing else of here.
 */
static inline int
omen_elem_code_dims(int kind, int dims)
{
	switch (kind)
	{
		case OMEN_ELEM_BIT:
			return Min(dims, VECTOR_MAX_DIM);
		case OMEN_ELEM_SPARSE:
			return Min(dims, OMEN_SPARSE_CODE_DIMS);
		default:
			return dims;
	}
}

/*
 * Words of a stored exact vector of kind whose first word is first, in an
 * index whose exact vectors have words words (a sparsevec's: at most words,
 * 1 + 2 nnz with nnz its first word); -1 if first is no count that fits.
 * Inline for the page codec, as above.
 */
static inline int
omen_elem_vector_words(int kind, int words, uint32 first)
{
	if (kind != OMEN_ELEM_SPARSE)
		return words;
	if (first > (uint32) (words - 1) / 2)
		return -1;
	return 1 + 2 * (int) first;
}

/* Elements of a detoasted value of the kind. */
extern int	omen_elem_value_dims(int kind, const void *value);

/*
 * Words of the exact vector of a detoasted value (e->words but for a
 * sparsevec), and of an exact vector.
 */
extern int	omen_elem_value_words(const OmenElem *e, const void *value);
extern int	omen_elem_words(const OmenElem *e, const void *exact);

/*
 * ERROR, with pgvector's message, if an index cannot hold the detoasted
 * value (a sparsevec with more than OMEN_MAX_NNZ non-zeros); builds and
 * inserts check each value, queries need not.
 */
extern void omen_elem_check_value(const OmenElem *e, const void *value);

/*
 * The exact vector of a detoasted value into exact (room for
 * omen_elem_value_words words; the unused bytes of e->words are zero but
 * for a sparsevec); ERROR if its dimension is not e->dims.  False for a
 * value the graph cannot place, a zero one under cosine; exact is then
 * undefined.
 */
extern bool omen_elem_exact(const OmenElem *e, const void *value,
							void *exact);

/*
 * The floats an exact vector's code is made of, into out (e->code_dims):
 * widened, and normalized where the graph metric is cosine unless the codes
 * are exact (their cosine distances take the norms into account).
 */
extern void omen_elem_floats(const OmenElem *e, const void *exact, float *out);

/*
 * Whether an exact vector read from a page is one omen_elem_exact makes:
 * finite elements, no bits set past the length; for a sparsevec at most
 * OMEN_MAX_NNZ non-zero values at ascending indices below dims.
 */
extern bool omen_elem_valid(const OmenElem *e, const void *exact);

/*
 * Whether two exact vectors may share a node: every query is at the same
 * distance from both (see elem.c).
 */
extern bool omen_elem_same(const OmenElem *e, const void *a, const void *b);

/*
 * Distance between two exact vectors: the ordering operator's result into
 * *opdist, and returned as the graph compares its code distances (squared
 * L2, L1 or negative similarity).
 */
extern float omen_elem_distance(const OmenElem *e, const void *a,
								const void *b, double *opdist);

#endif							/* OMEN_ELEM_H */
