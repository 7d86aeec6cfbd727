/*
 * sparsevec.h
 *		The sparsevec type: on-disk layout identical to pgvector's.
 */
#ifndef OMEN_SPARSEVEC_H
#define OMEN_SPARSEVEC_H

#include "fmgr.h"

#include "vector.h"

#define SPARSEVEC_MAX_DIM 1000000000
#define SPARSEVEC_MAX_NNZ 16000

/*
 * varlena header, int32 dim, int32 nnz, int32 unused (always 0), then nnz
 * int32 indices (0-based, strictly ascending) and nnz float4 values, none
 * of them zero.
 */
typedef struct SparseVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int32		dim;
	int32		nnz;
	int32		unused;
	int32		indices[FLEXIBLE_ARRAY_MEMBER];
} SparseVector;

#define SPARSEVEC_SIZE(_nnz) \
	(offsetof(SparseVector, indices) + (sizeof(int32) + sizeof(float)) * (Size) (_nnz))
#define DatumGetSparseVector(x)		((SparseVector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_SPARSEVEC_P(x)	DatumGetSparseVector(PG_GETARG_DATUM(x))
#define PG_RETURN_SPARSEVEC_P(x)	PG_RETURN_POINTER(x)

/* The values, stored after the indices. */
static inline float *
SparsevecValues(const SparseVector *v)
{
	return (float *) (v->indices + v->nnz);
}

/*
 * A sparsevec of dim dimensions with room for nnz indices and values, all
 * zero (dim and nnz must already be checked).
 */
extern SparseVector *InitSparseVector(int dim, int nnz);

/*
 * Distance kind (not DISTANCE_SPHERICAL) between two sparse vectors given as
 * their sorted indices and values, computed as the sparsevec operators do.
 */
extern double SparseDistance(DenseDistanceKind kind, const int32 *ai,
							 const float *ax, int an, const int32 *bi,
							 const float *bx, int bn);

/* Distance functions that identify an operator class's metric */
extern PGDLLEXPORT Datum sparsevec_l2_squared_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sparsevec_negative_inner_product(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sparsevec_cosine_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sparsevec_l1_distance(PG_FUNCTION_ARGS);

#endif							/* OMEN_SPARSEVEC_H */
