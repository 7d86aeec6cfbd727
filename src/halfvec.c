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

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/varbit.h"

#include "distance.h"
#include "halfvec.h"
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
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("halfvec must have at least 1 dimension")));
	if (dim > HALFVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("halfvec cannot have more than %d dimensions",
						HALFVEC_MAX_DIM)));
}

void
CheckHalfvecElement(uint16 h)
{
	if (omen_half_is_nan(h))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in halfvec")));
	if (omen_half_is_inf(h))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in halfvec")));
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
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different halfvec dimensions %d and %d",
						a->dim, b->dim)));
}

/* pgvector's white space for halfvec literals: C isspace() in the C locale */
static inline bool
halfvec_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
		c == '\f';
}

static inline char *
skip_space(char *p)
{
	while (halfvec_isspace(*p))
		p++;
	return p;
}

static void pg_attribute_noreturn()
syntax_error(const char *lit, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type halfvec: \"%s\"", lit),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * Text input, element by element as pgvector reads it, so that the first
 * bad element decides the error: strtof's float, then rounded to half.
 */
PG_FUNCTION_INFO_V1(halfvec_in);
Datum
halfvec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	char	   *p = skip_space(lit);
	int			cap = 1;
	int			dim = 0;
	HalfVector *result;

	if (*p != '[')
		syntax_error(lit, "Vector contents must start with \"[\".");
	p = skip_space(p + 1);
	if (*p == ']')
		CheckHalfvecDim(0);

	/* Commas bound the element count, so one allocation is enough. */
	for (char *q = p; *q != '\0' && cap <= HALFVEC_MAX_DIM; q++)
		if (*q == ',')
			cap++;
	result = InitHalfVector(Min(cap, HALFVEC_MAX_DIM));

	for (;;)
	{
		char	   *end;
		float		val;
		uint16		h;

		if (dim == HALFVEC_MAX_DIM)
			CheckHalfvecDim(dim + 1);

		p = skip_space(p);
		if (*p == '\0')
			syntax_error(lit, NULL);

		/* the server runs with LC_NUMERIC=C */
		errno = 0;
		val = strtof(p, &end);
		if (end == p)
			syntax_error(lit, NULL);
		h = omen_float_to_half(val);
		if ((errno == ERANGE && isinf(val)) ||
			(omen_half_is_inf(h) && !isinf(val)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type halfvec",
							pnstrdup(p, end - p))));
		CheckHalfvecElement(h);
		result->x[dim++] = h;

		p = skip_space(end);
		if (*p == ']')
			break;
		if (*p != ',')
			syntax_error(lit, NULL);
		p++;
	}

	if (*skip_space(p + 1) != '\0')
		syntax_error(lit, "Junk after closing right brace.");

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

	/* each element takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 chars + ',' */
	char	   *buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(omen_half_to_float(v->x[i]), p);
	}
	*p++ = ']';
	*p = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(halfvec_typmod_in);
Datum
halfvec_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type halfvec must be at least 1")));
	if (mods[0] > HALFVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type halfvec cannot exceed %d",
						HALFVEC_MAX_DIM)));
	PG_RETURN_INT32(mods[0]);
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
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim = (int16) pq_getmsgint(buf, sizeof(int16));
	int16		unused = (int16) pq_getmsgint(buf, sizeof(int16));
	HalfVector *result;

	CheckHalfvecDim(dim);
	CheckVectorTypmod(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));

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
 * does.
 */

PG_FUNCTION_INFO_V1(halfvec_l2_distance);
Datum
halfvec_l2_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);

	CheckHalfvecDims(a, b);
	PG_RETURN_FLOAT8(sqrt((double) omen_l2sq_half(a->x, b->x, a->dim)));
}

/* Same order as l2_distance without the square root; for index support. */
PG_FUNCTION_INFO_V1(halfvec_l2_squared_distance);
Datum
halfvec_l2_squared_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);

	CheckHalfvecDims(a, b);
	PG_RETURN_FLOAT8((double) omen_l2sq_half(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(halfvec_inner_product);
Datum
halfvec_inner_product(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);

	CheckHalfvecDims(a, b);
	PG_RETURN_FLOAT8((double) omen_dot_half(a->x, b->x, a->dim));
}

/* Negated so that ascending order ranks the largest products first. */
PG_FUNCTION_INFO_V1(halfvec_negative_inner_product);
Datum
halfvec_negative_inner_product(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);

	CheckHalfvecDims(a, b);
	PG_RETURN_FLOAT8(-(double) omen_dot_half(a->x, b->x, a->dim));
}

/* 1 - cos(a, b); NaN when either vector is zero, as in pgvector. */
PG_FUNCTION_INFO_V1(halfvec_cosine_distance);
Datum
halfvec_cosine_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	float		dot,
				norma,
				normb;
	double		sim;

	CheckHalfvecDims(a, b);
	omen_cos_parts_half(a->x, b->x, a->dim, &dot, &norma, &normb);
	sim = (double) dot / sqrt((double) norma * (double) normb);

	/* rounding can push |sim| slightly past 1 */
	if (sim > 1.0)
		sim = 1.0;
	else if (sim < -1.0)
		sim = -1.0;
	PG_RETURN_FLOAT8(1.0 - sim);
}

/*
 * Angle between unit vectors as a fraction of pi; pgvector's distance for
 * spherical k-means (it assumes unit vectors and skips the norms).
 */
PG_FUNCTION_INFO_V1(halfvec_spherical_distance);
Datum
halfvec_spherical_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	double		dot;

	CheckHalfvecDims(a, b);
	dot = (double) omen_dot_half(a->x, b->x, a->dim);

	/* rounding can push |dot| slightly past 1, outside acos's domain */
	if (dot > 1.0)
		dot = 1.0;
	else if (dot < -1.0)
		dot = -1.0;
	PG_RETURN_FLOAT8(acos(dot) / M_PI);
}

PG_FUNCTION_INFO_V1(halfvec_l1_distance);
Datum
halfvec_l1_distance(PG_FUNCTION_ARGS)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);

	CheckHalfvecDims(a, b);
	PG_RETURN_FLOAT8((double) omen_l1_half(a->x, b->x, a->dim));
}

/* Functions */

PG_FUNCTION_INFO_V1(halfvec_vector_dims);
Datum
halfvec_vector_dims(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	PG_RETURN_INT32(v->dim);
}

/* Sum of squares in double. */
static double
halfvec_norm_of(const HalfVector *v)
{
	double		s = 0.0;

	for (int i = 0; i < v->dim; i++)
	{
		double		x = omen_half_to_float(v->x[i]);

		s += x * x;
	}
	return sqrt(s);
}

PG_FUNCTION_INFO_V1(halfvec_l2_norm);
Datum
halfvec_l2_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(halfvec_norm_of(PG_GETARG_HALFVEC_P(0)));
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
	double		norm = halfvec_norm_of(v);
	HalfVector *result = InitHalfVector(v->dim);

	if (norm > 0.0)
		for (int i = 0; i < v->dim; i++)
			result->x[i] = omen_float_to_half((float) (omen_half_to_float(v->x[i]) / norm));
	PG_RETURN_HALFVEC_P(result);
}

/* One bit per element, set when it is positive, first element first. */
PG_FUNCTION_INFO_V1(halfvec_binary_quantize);
Datum
halfvec_binary_quantize(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	Size		size = VARBITTOTALLEN(v->dim);
	VarBit	   *result = (VarBit *) palloc0(size);
	bits8	   *r = VARBITS(result);

	SET_VARSIZE(result, size);
	VARBITLEN(result) = v->dim;
	for (int i = 0; i < v->dim; i++)
		if (omen_half_to_float(v->x[i]) > 0.0f)
			r[i / BITS_PER_BYTE] |= (bits8) (0x80 >> (i % BITS_PER_BYTE));
	PG_RETURN_VARBIT_P(result);
}

/* Elements start..start+count-1, 1-based and clipped like substring(). */
PG_FUNCTION_INFO_V1(halfvec_subvector);
Datum
halfvec_subvector(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		first = Max((int64) start, 1);
	int64		last = Min((int64) start + count - 1, (int64) v->dim);
	HalfVector *result;

	if (count < 1 || first > last)
		CheckHalfvecDim(0);

	result = InitHalfVector((int) (last - first + 1));
	memcpy(result->x, v->x + (first - 1), sizeof(uint16) * result->dim);
	PG_RETURN_HALFVEC_P(result);
}

/*
 * Arithmetic: each element in float, rounded once to half.  A finite half
 * result is required: overflow is an error, and so is a product that
 * underflows to zero, as for float4mul.
 */

typedef enum HalfvecOp
{
	HALFVEC_ADD,
	HALFVEC_SUB,
	HALFVEC_MUL
} HalfvecOp;

static HalfVector *
halfvec_elementwise(FunctionCallInfo fcinfo, HalfvecOp op)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	HalfVector *result;

	CheckHalfvecDims(a, b);
	result = InitHalfVector(a->dim);
	for (int i = 0; i < a->dim; i++)
	{
		float		x = omen_half_to_float(a->x[i]);
		float		y = omen_half_to_float(b->x[i]);
		uint16		r;

		switch (op)
		{
			case HALFVEC_ADD:
				r = omen_float_to_half(x + y);
				break;
			case HALFVEC_SUB:
				r = omen_float_to_half(x - y);
				break;
			default:
				r = omen_float_to_half(x * y);
				break;
		}
		if (omen_half_is_inf(r))
			float_overflow_error();
		if (op == HALFVEC_MUL && omen_half_is_zero(r) &&
			!omen_half_is_zero(a->x[i]) && !omen_half_is_zero(b->x[i]))
			float_underflow_error();
		result->x[i] = r;
	}
	return result;
}

PG_FUNCTION_INFO_V1(halfvec_add);
Datum
halfvec_add(PG_FUNCTION_ARGS)
{
	PG_RETURN_HALFVEC_P(halfvec_elementwise(fcinfo, HALFVEC_ADD));
}

PG_FUNCTION_INFO_V1(halfvec_sub);
Datum
halfvec_sub(PG_FUNCTION_ARGS)
{
	PG_RETURN_HALFVEC_P(halfvec_elementwise(fcinfo, HALFVEC_SUB));
}

PG_FUNCTION_INFO_V1(halfvec_mul);
Datum
halfvec_mul(PG_FUNCTION_ARGS)
{
	PG_RETURN_HALFVEC_P(halfvec_elementwise(fcinfo, HALFVEC_MUL));
}

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

/*
 * Ordering: element by element as floats (so -0 equals 0), then the
 * shorter vector first, as for arrays.  Frees detoasted copies since btree
 * and sorts call it often.
 */
static int
halfvec_cmp_args(FunctionCallInfo fcinfo)
{
	HalfVector *a = PG_GETARG_HALFVEC_P(0);
	HalfVector *b = PG_GETARG_HALFVEC_P(1);
	int			n = Min(a->dim, b->dim);
	int			cmp = 0;

	for (int i = 0; i < n && cmp == 0; i++)
	{
		float		x = omen_half_to_float(a->x[i]);
		float		y = omen_half_to_float(b->x[i]);

		if (x < y)
			cmp = -1;
		else if (x > y)
			cmp = 1;
	}
	if (cmp == 0 && a->dim != b->dim)
		cmp = a->dim < b->dim ? -1 : 1;

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return cmp;
}

PG_FUNCTION_INFO_V1(halfvec_cmp);
Datum
halfvec_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(halfvec_cmp_args(fcinfo));
}

PG_FUNCTION_INFO_V1(halfvec_lt);
Datum
halfvec_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(halfvec_le);
Datum
halfvec_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(halfvec_eq);
Datum
halfvec_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(halfvec_ne);
Datum
halfvec_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(halfvec_ge);
Datum
halfvec_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(halfvec_gt);
Datum
halfvec_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(halfvec_cmp_args(fcinfo) > 0);
}

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
	for (int i = 0; i < v->dim; i++)
		result->x[i] = omen_half_to_float(v->x[i]);
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
	for (int i = 0; i < v->dim; i++)
		result->x[i] = HalfFromFloat(v->x[i]);
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
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	int			n;
	HalfVector *result;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
					  &elems, NULL, &n);
	CheckHalfvecDim(n);
	CheckVectorTypmod(typmod, n);

	result = InitHalfVector(n);
	for (int i = 0; i < n; i++)
	{
		float		f;

		switch (elemtype)
		{
			case INT4OID:
				f = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				f = DatumGetFloat4(elems[i]);
				break;
			case FLOAT8OID:
				f = (float) DatumGetFloat8(elems[i]);
				break;
			case NUMERICOID:
				f = DatumGetFloat4(DirectFunctionCall1(numeric_float4,
													   elems[i]));
				break;
			default:
				elog(ERROR, "unsupported array element type %u", elemtype);
		}
		result->x[i] = HalfFromFloat(f);
	}
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
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(omen_half_to_float(v->x[i]));
	result = construct_array(elems, v->dim, FLOAT4OID, sizeof(float4),
							 true, TYPALIGN_INT);
	pfree(elems);
	PG_RETURN_ARRAYTYPE_P(result);
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
	int			dim;
	float8	   *s = AvgStateValues(state, "halfvec_accum", &dim);
	float8	   *r;

	if (dim == 0)
	{
		/* first row: the sums are the row itself */
		dim = v->dim;
		state = AvgStateNew(dim, s[0], NULL);
		r = (float8 *) ARR_DATA_PTR(state);
	}
	else
	{
		/*
		 * A half addend cannot carry a finite double sum to infinity; a
		 * hand-made state holding Inf or NaN is rejected by halfvec_avg.
		 */
		CheckVectorTypmod(dim, v->dim);
		r = AvgStateWritable(fcinfo, &state, dim);
	}
	for (int i = 0; i < dim; i++)
		r[i + 1] += omen_half_to_float(v->x[i]);
	r[0] += 1.0;
	PG_RETURN_ARRAYTYPE_P(state);
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
