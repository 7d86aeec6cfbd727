/*
 * halfvec.h
 *		The halfvec type: IEEE half floats, on-disk layout identical to
 *		pgvector's.
 */
#ifndef OMEN_HALFVEC_H
#define OMEN_HALFVEC_H

#include "fmgr.h"

#define HALFVEC_MAX_DIM 16000

/* varlena header, int16 dim, int16 unused (always 0), dim halves' bits */
typedef struct HalfVector
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	int16		dim;
	int16		unused;
	uint16		x[FLEXIBLE_ARRAY_MEMBER];
} HalfVector;

#define HALFVEC_SIZE(_dim)		(offsetof(HalfVector, x) + sizeof(uint16) * (_dim))
#define DatumGetHalfVector(x)	((HalfVector *) PG_DETOAST_DATUM(x))
#define PG_GETARG_HALFVEC_P(x)	DatumGetHalfVector(PG_GETARG_DATUM(x))
#define PG_RETURN_HALFVEC_P(x)	PG_RETURN_POINTER(x)

/* A zero-filled halfvec of dim elements (dim must already be checked). */
extern HalfVector *InitHalfVector(int dim);

/* ERROR unless 1 <= dim <= HALFVEC_MAX_DIM. */
extern void CheckHalfvecDim(int dim);

/* ERROR if h is NaN or infinite. */
extern void CheckHalfvecElement(uint16 h);

/* f rounded to half; ERROR if a finite f is beyond half's range. */
extern uint16 HalfFromFloat(float f);

/* v's elements widened to float, in a new array. */
extern float *HalfvecFloats(const HalfVector *v);

#endif							/* OMEN_HALFVEC_H */
