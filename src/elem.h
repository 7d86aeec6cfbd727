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
	OMEN_ELEM_BIT = 3			/* bit: the value's bits */
} OmenElemKind;

/* Largest number of bits a bit index holds, as pgvector's. */
#define OMEN_MAX_BITS		64000

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
	int			words;			/* 4-byte words of an exact vector */
} OmenElem;

extern void omen_elem_init(OmenElem *e, int kind, int metric, int dims);

/* The type name of a kind, and the largest dimension an index of it takes. */
extern const char *omen_elem_type_name(int kind);
extern int	omen_elem_max_dims(int kind);

/* The metric graph searches use for an operator class's metric. */
extern int	omen_elem_graph_metric(int metric);

/*
 * Floats of the codes of a value of dims elements: one an element, but at
 * most VECTOR_MAX_DIM for bit strings.  Inline, so that the page codec
 * (page.c, which the fuzz targets link alone) needs nothing else of here.
 */
static inline int
omen_elem_code_dims(int kind, int dims)
{
	return kind == OMEN_ELEM_BIT ? Min(dims, VECTOR_MAX_DIM) : dims;
}

/* Elements of a detoasted value of the kind. */
extern int	omen_elem_value_dims(int kind, const void *value);

/*
 * The exact vector of a detoasted value into exact (e->words words, unused
 * bytes zero); ERROR if its dimension is not e->dims.  False for a value
 * the graph cannot place, a zero one under cosine; exact is then undefined.
 */
extern bool omen_elem_exact(const OmenElem *e, const void *value,
							void *exact);

/*
 * The floats an exact vector's code is made of, into out (e->code_dims):
 * widened, and normalized where the graph metric is cosine.
 */
extern void omen_elem_floats(const OmenElem *e, const void *exact, float *out);

/*
 * Whether an exact vector read from a page is one omen_elem_exact makes:
 * finite elements, no bits set past the length.
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
