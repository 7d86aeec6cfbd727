/*
 * vector.h
 *		The vector type: on-disk layout identical to pgvector's.
 */
#ifndef OMEN_VECTOR_H
#define OMEN_VECTOR_H

#include "fmgr.h"
#include "utils/array.h"

#define VECTOR_MAX_DIM 16000

/* varlena header, int16 dim, int16 unused (always 0), dim float4s */
typedef struct Vector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;
	int16		unused;
	float		x[FLEXIBLE_ARRAY_MEMBER];
} Vector;

#define VECTOR_SIZE(_dim)		(offsetof(Vector, x) + sizeof(float) * (_dim))
#define DatumGetVector(x)		((Vector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_VECTOR_P(x)	DatumGetVector(PG_GETARG_DATUM(x))
#define PG_RETURN_VECTOR_P(x)	PG_RETURN_POINTER(x)

/* A zero-filled vector of dim elements (dim must already be checked). */
extern Vector *InitVector(int dim);

/* ERROR unless 1 <= dim <= VECTOR_MAX_DIM. */
extern void CheckVectorDim(int dim);

/* ERROR unless typmod is -1 (none) or equal to dim. */
extern void CheckVectorTypmod(int32 typmod, int dim);

/* ERROR unless both operands have the same number of dimensions. */
extern void CheckVectorDims(const Vector *a, const Vector *b);

/*
 * The avg aggregates' state, a double precision[] {row count, sum per
 * dimension}.  AvgStateValues checks a state (an internal error naming
 * caller if malformed) and returns its values and dimensions (0 before the
 * first row); AvgStateNew makes a state of n rows for dim sums, copied from
 * sums or zero; AvgStateWritable returns the values to update: the state's
 * own inside an aggregate, else those of a copy that replaces *state.
 */
extern float8 *AvgStateValues(ArrayType *state, const char *caller, int *dim);
extern ArrayType *AvgStateNew(int dim, float8 n, const float8 *sums);
extern float8 *AvgStateWritable(FunctionCallInfo fcinfo, ArrayType **state,
								int dim);

/*
 * Planner cost of one distance between vectors of dims elements, in units
 * of cpu_operator_cost; dims <= 0 when unknown.
 */
extern double vector_distance_cost_units(int dims);

/* Distance functions that identify an operator class's metric */
extern PGDLLEXPORT Datum vector_l2_squared_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum cosine_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum l1_distance(PG_FUNCTION_ARGS);

#endif							/* OMEN_VECTOR_H */
