/*
 * halfvec.c
 *		The halfvec type: vectors of IEEE half floats with pgvector's text
 *		and binary forms, on-disk layout and SQL-level behaviour.
 *
 * Elements are kept as binary16 bit patterns and widened to float for any
 * arithmetic; results are rounded back to half once.  As for vector, every
 * value that reaches a HalfVector is finite: input, casts and arithmetic
 * reject NaN, infinities and values beyond half's range (65504).
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/float.h"

#include "distance.h"
#include "halfvec.h"
#include "typecmp.h"
#include "vector.h"

HalfVector *
InitHalfVector(int dim)
{
	Size		size = HALFVEC_SIZE(dim);
	HalfVector *v = (HalfVector *) palloc0(size);

	SET_VARSIZE(v, size);
	v->dim = (int16) dim;
	return v;
}

void
CheckHalfvecDim(int dim)
{
	CheckDim("halfvec", dim, HALFVEC_MAX_DIM);
}

void
CheckHalfvecElement(uint16 h)
{
	CheckFinite("halfvec", omen_half_to_float(h));
}

uint16
HalfFromFloat(float f)
{
	uint16		h = omen_float_to_half(f);

	if (omen_half_is_inf(h) && !isinf(f))
	{
		char		buf[FLOAT_SHORTEST_DECIMAL_LEN];

		float_to_shortest_decimal_buf(f, buf);
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type halfvec", buf)));
	}
	return h;
}

static inline void
CheckHalfvecDims(const HalfVector *a, const HalfVector *b)
{
	CheckSameDims("halfvec", a->dim, b->dim);
}

float *
HalfvecFloats(const HalfVector *v)
{
	float	   *x = palloc(sizeof(float) * v->dim);

	omen_widen_half(v->x, v->dim, x);
	return x;
}

/*
 * An element of the text form: rounded to half, which must be finite.  A
 * finite x that does not overflow rounds to a finite half, and NaN and the
 * infinities stay what they are, so x itself is checked.
 */
static void
put_halfvec_element(void *arg, int i, float x, const char *text, int len)
{
	uint16		h = omen_float_to_half(x);

	if (omen_half_is_inf(h) && !isinf(x))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type halfvec",
						pnstrdup(text, len))));
	CheckFinite("halfvec", x);
	((HalfVector *) arg)->x[i] = h;
}

/*
 * Text input, element by element as pgvector reads it, so that the first
 * bad element decides the error: float4in's float, then rounded to half.
 */
PG_FUNCTION_INFO_V1(halfvec_in);
Datum
halfvec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	HalfVector *result = InitHalfVector(DenseTextCapacity(lit, HALFVEC_MAX_DIM));
	int			dim = ReadDenseText(lit, "halfvec", HALFVEC_MAX_DIM,
									put_halfvec_element, result);

	CheckVectorTypmod(typmod, dim);
	SET_VARSIZE(result, HALFVEC_SIZE(dim));
	result->dim = (int16) dim;
	PG_RETURN_HALFVEC_P(result);
}

/* Each half as the shortest decimal that reads back as the same float. */
PG_FUNCTION_INFO_V1(halfvec_out);
Datum
halfvec_out(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	char	   *buf = FloatsToText(HalfvecFloats(v), v->dim);

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(halfvec_typmod_in);
Datum
halfvec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(TypmodIn(PG_GETARG_ARRAYTYPE_P(0), "halfvec",
							 HALFVEC_MAX_DIM));
}

/*
 * Wire format: int16 dim, int16 unused (0), dim halves' bits, big-endian.
 * The header fields are signed, as pgvector reads them: 0xFFFF is -1.
 */
PG_FUNCTION_INFO_V1(halfvec_recv);
Datum
halfvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			dim = RecvDenseHeader(buf, PG_GETARG_INT32(2), "halfvec",
									  HALFVEC_MAX_DIM);
	HalfVector *result;

	result = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (uint16) pq_getmsgint(buf, sizeof(uint16));
		CheckHalfvecElement(result->x[i]);
	}
	PG_RETURN_HALFVEC_P(result);
}

PG_FUNCTION_INFO_V1(halfvec_send);
Datum
halfvec_send(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, (uint16) v->dim);
	pq_sendint16(&buf, (uint16) v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendint16(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Cast to itself: enforces the column's typmod. */
PG_FUNCTION_INFO_V1(halfvec);
Datum
halfvec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_HALFVEC_P(v);
}

/*
 * Distances, summed in float over the halves widened to float, as pgvector
 * does.  Spherical distance is the angle between unit vectors as a fraction
 * of pi, pgvector's distance for spherical k-means (it assumes unit vectors
 * and skips the norms).
 */
static double
halfvec_distance(FunctionCallInfo fcinfo, DenseDistanceKind kind)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);

	CheckHalfvecDims(a, b);
	return DenseDistance(kind, true, a->x, b->x, a->dim);
}

OMEN_FMGR_FUNCTION(halfvec_l2_distance, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_L2)
OMEN_FMGR_FUNCTION(halfvec_l2_squared_distance, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_L2_SQUARED)
OMEN_FMGR_FUNCTION(halfvec_inner_product, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_INNER_PRODUCT)
OMEN_FMGR_FUNCTION(halfvec_negative_inner_product, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_NEGATIVE_INNER_PRODUCT)
OMEN_FMGR_FUNCTION(halfvec_cosine_distance, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_COSINE)
OMEN_FMGR_FUNCTION(halfvec_spherical_distance, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_SPHERICAL)
OMEN_FMGR_FUNCTION(halfvec_l1_distance, PG_RETURN_FLOAT8,
				   halfvec_distance, DISTANCE_L1)

/* Functions */

PG_FUNCTION_INFO_V1(halfvec_vector_dims);
Datum
halfvec_vector_dims(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_INT32(v->dim);
}

PG_FUNCTION_INFO_V1(halfvec_l2_norm);
Datum
halfvec_l2_norm(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_FLOAT8(FloatsNorm(HalfvecFloats(v), v->dim));
}

/*
 * Unit vector in the direction of v; the zero vector stays zero.  Each
 * quotient is rounded to float and then to half, as pgvector rounds it;
 * |x[i]| <= norm, so none can overflow.
 */
PG_FUNCTION_INFO_V1(halfvec_l2_normalize);
Datum
halfvec_l2_normalize(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	float	   *x = HalfvecFloats(v);
	double		norm = FloatsNorm(x, v->dim);
	HalfVector *result = InitHalfVector(v->dim);

	if (norm > 0.0)
		for (int i = 0; i < v->dim; i++)
			result->x[i] = omen_float_to_half((float) (x[i] / norm));
	PG_RETURN_HALFVEC_P(result);
}

/* One bit per element, set when it is positive, first element first. */
PG_FUNCTION_INFO_V1(halfvec_binary_quantize);
Datum
halfvec_binary_quantize(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_VARBIT_P(BinaryQuantize(HalfvecFloats(v), v->dim));
}

/* See SubvectorRange */
PG_FUNCTION_INFO_V1(halfvec_subvector);
Datum
halfvec_subvector(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	int			first;
	HalfVector *result;

	result = InitHalfVector(SubvectorRange("halfvec", v->dim,
										   PG_GETARG_INT32(1),
										   PG_GETARG_INT32(2), &first));
	memcpy(result->x, v->x + first, sizeof(uint16) * result->dim);
	PG_RETURN_HALFVEC_P(result);
}

/* Arithmetic: each element in float, rounded once to half */
static HalfVector *
halfvec_arithmetic(FunctionCallInfo fcinfo, DenseOp op)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDims(a, b);
	result = InitHalfVector(a->dim);
	DenseArithmetic(op, true, a->x, b->x, a->dim, result->x);
	return result;
}

OMEN_FMGR_FUNCTION(halfvec_add, PG_RETURN_HALFVEC_P,
				   halfvec_arithmetic, DENSE_ADD)
OMEN_FMGR_FUNCTION(halfvec_sub, PG_RETURN_HALFVEC_P,
				   halfvec_arithmetic, DENSE_SUB)
OMEN_FMGR_FUNCTION(halfvec_mul, PG_RETURN_HALFVEC_P,
				   halfvec_arithmetic, DENSE_MUL)

PG_FUNCTION_INFO_V1(halfvec_concat);
Datum
halfvec_concat(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDim(a->dim + b->dim);
	result = InitHalfVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(uint16) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(uint16) * b->dim);
	PG_RETURN_HALFVEC_P(result);
}

/* Ordering: as floats (so -0 equals 0); see OMEN_DENSE_COMPARISON_FUNCTIONS */
OMEN_DENSE_COMPARISON_FUNCTIONS(halfvec, HalfVector, PG_GETARG_HALFVEC_P,
								omen_half_to_float)

/* Casts */

PG_FUNCTION_INFO_V1(halfvec_to_vector);
Datum
halfvec_to_vector(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	Vector	   *result;

	CheckVectorDim(v->dim);
	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	result = InitVector(v->dim);
	omen_widen_half(v->x, v->dim, result->x);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_to_halfvec);
Datum
vector_to_halfvec(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	HalfVector *result;

	CheckHalfvecDim(v->dim);
	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	result = InitHalfVector(v->dim);
	omen_narrow_half(v->x, v->dim, result->x);
	/* the first element that overflows half raises HalfFromFloat's error */
	for (int i = 0; i < v->dim; i++)
		if (omen_half_is_inf(result->x[i]))
			(void) HalfFromFloat(v->x[i]);
	PG_RETURN_HALFVEC_P(result);
}

/*
 * Cast from integer[], real[], double precision[] or numeric[]: each
 * element to float (a double beyond float's range becomes infinite, as in
 * pgvector), then to half; pgvector reports a float that overflows half
 * before it looks for NaN and infinities, so this does too.
 */
PG_FUNCTION_INFO_V1(array_to_halfvec);
Datum
array_to_halfvec(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int			n;
	Datum	   *elems = CastArrayElements(arr, &n);
	HalfVector *result;

	CheckHalfvecDim(n);
	CheckVectorTypmod(PG_GETARG_INT32(1), n);

	result = InitHalfVector(n);
	for (int i = 0; i < n; i++)
		result->x[i] = HalfFromFloat(CastArrayElement(elems[i],
													  ARR_ELEMTYPE(arr)));
	for (int i = 0; i < n; i++)
		CheckHalfvecElement(result->x[i]);
	pfree(elems);
	PG_RETURN_HALFVEC_P(result);
}

PG_FUNCTION_INFO_V1(halfvec_to_float4);
Datum
halfvec_to_float4(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_ARRAYTYPE_P(FloatsToArray(HalfvecFloats(v), v->dim));
}

/*
 * avg(halfvec): the state is avg(vector)'s (see AvgStateValues), and so is
 * its combine function, vector_combine.
 */
PG_FUNCTION_INFO_V1(halfvec_accum);
Datum
halfvec_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	HalfVector *v = PG_GETARG_HALFVEC_P(1);

	PG_RETURN_ARRAYTYPE_P(AvgStateAccum(fcinfo, state, "halfvec_accum",
										HalfvecFloats(v), v->dim));
}

/* Each mean rounded to float and then to half, as pgvector rounds it. */
PG_FUNCTION_INFO_V1(halfvec_avg);
Datum
halfvec_avg(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float8	   *s = AvgStateValues(state, "halfvec_avg", &dim);
	HalfVector *result;

	/* the average of no rows is NULL */
	if (s[0] == 0.0)
		PG_RETURN_NULL();

	CheckHalfvecDim(dim);
	result = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = HalfFromFloat((float) (s[i + 1] / s[0]));
		CheckHalfvecElement(result->x[i]);
	}
	PG_RETURN_HALFVEC_P(result);
}
