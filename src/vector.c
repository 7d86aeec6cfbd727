/*
 * vector.c
 *		The vector type: I/O, casts, arithmetic, distances, ordering and
 *		aggregates, all compatible with pgvector's SQL-level behaviour.
 *
 * Every value that reaches a Vector is finite: input, casts and arithmetic
 * reject NaN and infinities, so the index code never has to.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "nodes/nodeFuncs.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "distance.h"
#include "typecmp.h"
#include "vector.h"

Vector *
InitVector(int dim)
{
	Size		size = VECTOR_SIZE(dim);
	Vector	   *v = (Vector *) palloc0(size);

	SET_VARSIZE(v, size);
	v->dim = (int16) dim;
	return v;
}

void
CheckDim(const char *typname, int dim, int maxdim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s must have at least 1 dimension", typname)));
	if (dim > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s cannot have more than %d dimensions", typname,
						maxdim)));
}

void
CheckVectorDim(int dim)
{
	CheckDim("vector", dim, VECTOR_MAX_DIM);
}

void
CheckVectorTypmod(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

void
CheckSameDims(const char *typname, int adim, int bdim)
{
	if (adim != bdim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different %s dimensions %d and %d", typname,
						adim, bdim)));
}

void
CheckVectorDims(const Vector *a, const Vector *b)
{
	CheckSameDims("vector", a->dim, b->dim);
}

void
NotFiniteError(const char *typname, float x)
{
	if (isnan(x))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in %s", typname)));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("infinite value not allowed in %s", typname)));
}

static inline void
check_element(float v)
{
	CheckFinite("vector", v);
}

/* The powers of ten a double holds exactly: 5^22 < 2^53. */
static const double exact_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

#define EXACT_DOUBLE_INT (UINT64CONST(1) << 53)
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

/*
 * Reads one element as strtof would.  A plain decimal whose digits form an
 * integer below 2^53 and whose exponent is within 22 is an exact double
 * times or divided by an exact power of ten: one operation, so d is the
 * value rounded once, within half a double ulp.  Rounding d to float again
 * gives strtof's result unless d sits exactly halfway between two floats
 * (its 29 bits below float precision are 1000...0): only then could the
 * true value lie on the other side.  Those bounds keep d between 1e-22 and
 * 9e37, a normal float.  The halfway case and anything else (hex, inf, nan,
 * odd syntax) go to strtof.  Typical embeddings' text takes the fast path.
 */
static float
read_element(char *p, char **end)
{
	char	   *s = p;
	bool		neg = false;
	uint64		m = 0;
	int			ndigits = 0;
	int			exp10 = 0;
	double		d;
	uint64		bits;

	if (*s == '+' || *s == '-')
		neg = (*s++ == '-');
	for (; IS_DIGIT(*s); s++, ndigits++)
		if ((m = m * 10 + (*s - '0')) >= EXACT_DOUBLE_INT)
			goto slow;
	if (*s == '.')
		for (s++; IS_DIGIT(*s); s++, ndigits++, exp10--)
			if ((m = m * 10 + (*s - '0')) >= EXACT_DOUBLE_INT)
				goto slow;
	if (ndigits == 0)
		goto slow;
	if (*s == 'e' || *s == 'E')
	{
		bool		eneg = false;
		int			e = 0;

		s++;
		if (*s == '+' || *s == '-')
			eneg = (*s++ == '-');
		if (!IS_DIGIT(*s))
			goto slow;
		for (; IS_DIGIT(*s); s++)
			if ((e = e * 10 + (*s - '0')) > 100)
				goto slow;
		exp10 += eneg ? -e : e;
	}
	if (*s != ',' && *s != ']' && *s != '\0' && !VectorIsSpace(*s))
		goto slow;
	if (m == 0)
	{
		*end = s;
		return neg ? -0.0f : 0.0f;
	}
	if (exp10 < -22 || exp10 > 22)
		goto slow;
	d = exp10 >= 0 ? (double) m * exact_pow10[exp10] :
		(double) m / exact_pow10[-exp10];
	memcpy(&bits, &d, sizeof(bits));
	if ((bits & ((UINT64CONST(1) << 29) - 1)) == (UINT64CONST(1) << 28))
		goto slow;
	*end = s;
	return neg ? (float) -d : (float) d;

slow:
	return strtof(p, end);
}

void
SyntaxError(const char *typname, const char *lit, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s: \"%s\"", typname, lit),
			 detail ? errdetail("%s", detail) : 0));
}

/* Commas bound the element count, so one allocation is enough. */
int
DenseTextCapacity(const char *lit, int maxdim)
{
	int			cap = 1;

	for (const char *q = lit; *q != '\0' && cap <= maxdim; q++)
		if (*q == ',')
			cap++;
	return Min(cap, maxdim);
}

/* ReadDenseText; vector_in's constant arguments inline its put */
static pg_attribute_always_inline int
read_dense_text(char *lit, const char *typname, int maxdim, DenseTextPut put,
				void *arg)
{
	char	   *p = SkipSpace(lit);
	int			dim = 0;

	if (*p != '[')
		SyntaxError(typname, lit, "Vector contents must start with \"[\".");
	p = SkipSpace(p + 1);
	if (*p == ']')
		CheckDim(typname, 0, maxdim);

	for (;;)
	{
		char	   *end;
		float		val;

		if (dim == maxdim)
			CheckDim(typname, dim + 1, maxdim);

		/* float4in's value: strtof's correct rounding, never twice */
		errno = 0;
		val = read_element(p, &end);
		if (end == p)
			SyntaxError(typname, lit, NULL);
		if (errno == ERANGE && isinf(val))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type %s",
							pnstrdup(p, end - p), typname)));
		put(arg, dim++, val, p, end - p);

		p = SkipSpace(end);
		if (*p == ']')
			break;
		if (*p != ',')
			SyntaxError(typname, lit, NULL);
		p = SkipSpace(p + 1);
	}

	if (*SkipSpace(p + 1) != '\0')
		SyntaxError(typname, lit, "Junk after closing right brace.");
	return dim;
}

int
ReadDenseText(char *lit, const char *typname, int maxdim, DenseTextPut put,
			  void *arg)
{
	return read_dense_text(lit, typname, maxdim, put, arg);
}

static void
put_vector_element(void *arg, int i, float x, const char *text, int len)
{
	check_element(x);
	((Vector *) arg)->x[i] = x;
}

PG_FUNCTION_INFO_V1(vector_in);
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	Vector	   *result = InitVector(DenseTextCapacity(lit, VECTOR_MAX_DIM));
	int			dim = read_dense_text(lit, "vector", VECTOR_MAX_DIM,
									  put_vector_element, result);

	CheckVectorTypmod(typmod, dim);
	SET_VARSIZE(result, VECTOR_SIZE(dim));
	result->dim = (int16) dim;
	PG_RETURN_VECTOR_P(result);
}

/* Each element as the shortest decimal that reads back as the same float. */
char *
FloatsToText(const float *x, int n)
{
	/* each element takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 chars + ',' */
	char	   *buf = palloc((Size) n * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	return buf;
}

PG_FUNCTION_INFO_V1(vector_out);
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	char	   *buf = FloatsToText(v->x, v->dim);

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

int32
TypmodIn(ArrayType *ta, const char *typname, int32 maxdim)
{
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
				 errmsg("dimensions for type %s must be at least 1",
						typname)));
	if (mods[0] > maxdim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type %s cannot exceed %d", typname,
						maxdim)));
	return mods[0];
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(TypmodIn(PG_GETARG_ARRAYTYPE_P(0), "vector",
							 VECTOR_MAX_DIM));
}

PG_FUNCTION_INFO_V1(vector_typmod_out);
Datum
vector_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	PG_RETURN_CSTRING(typmod < 0 ? pstrdup("") : psprintf("(%d)", typmod));
}

/*
 * Wire format: int16 dim, int16 unused (0), dim float4s, big-endian.  Both
 * header fields are signed, so 0xFFFF reads as -1 in the messages.
 */
int
RecvDenseHeader(StringInfo buf, int32 typmod, const char *typname, int maxdim)
{
	int16		dim = (int16) pq_getmsgint(buf, sizeof(int16));
	int16		unused = (int16) pq_getmsgint(buf, sizeof(int16));

	CheckDim(typname, dim, maxdim);
	CheckVectorTypmod(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));
	return dim;
}

PG_FUNCTION_INFO_V1(vector_recv);
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			dim = RecvDenseHeader(buf, PG_GETARG_INT32(2), "vector",
									  VECTOR_MAX_DIM);
	Vector	   *result;

	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		check_element(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_send);
Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, (uint16) v->dim);
	pq_sendint16(&buf, (uint16) v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Cast to itself: enforces the column's typmod. */
PG_FUNCTION_INFO_V1(vector);
Datum
vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_VECTOR_P(v);
}

Datum *
CastArrayElements(ArrayType *arr, int *n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign,
					  &elems, NULL, n);
	return elems;
}

float
CastArrayElement(Datum d, Oid elemtype)
{
	switch (elemtype)
	{
		case INT4OID:
			return (float) DatumGetInt32(d);
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case FLOAT8OID:
			return (float) DatumGetFloat8(d);
		case NUMERICOID:
			return DatumGetFloat4(DirectFunctionCall1(numeric_float4, d));
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("unsupported array type")));
	}
	pg_unreachable();
}

/*
 * Cast from integer[], real[], double precision[] or numeric[].  Every
 * element is converted before any is checked, so a numeric out of float4's
 * range is reported ahead of a NaN earlier in the array; a double beyond
 * float4's range becomes an infinity, reported as such.
 */
PG_FUNCTION_INFO_V1(array_to_vector);
Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int			n;
	Datum	   *elems = CastArrayElements(arr, &n);
	Vector	   *result;

	CheckVectorDim(n);
	CheckVectorTypmod(PG_GETARG_INT32(1), n);

	result = InitVector(n);
	for (int i = 0; i < n; i++)
		result->x[i] = CastArrayElement(elems[i], ARR_ELEMTYPE(arr));
	pfree(elems);
	for (int i = 0; i < n; i++)
		check_element(result->x[i]);
	PG_RETURN_VECTOR_P(result);
}

ArrayType *
FloatsToArray(const float *x, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	ArrayType  *result;

	for (int i = 0; i < n; i++)
		elems[i] = Float4GetDatum(x[i]);
	result = construct_array(elems, n, FLOAT4OID, sizeof(float4), true,
							 TYPALIGN_INT);
	pfree(elems);
	return result;
}

PG_FUNCTION_INFO_V1(vector_to_float4);
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_ARRAYTYPE_P(FloatsToArray(v->x, v->dim));
}

VarBit *
BinaryQuantize(const float *x, int n)
{
	Size		size = VARBITTOTALLEN(n);
	VarBit	   *result = (VarBit *) palloc0(size);
	bits8	   *r = VARBITS(result);

	SET_VARSIZE(result, size);
	VARBITLEN(result) = n;
	for (int i = 0; i < n; i++)
		if (x[i] > 0.0f)
			r[i / BITS_PER_BYTE] |= (bits8) (0x80 >> (i % BITS_PER_BYTE));
	return result;
}

/* Distances */

/* NaN when either vector is zero, as in pgvector. */
double
CosineDistance(float dot, float norma, float normb)
{
	double		sim = (double) dot / sqrt((double) norma * (double) normb);

	/* rounding can push |sim| slightly past 1 */
	if (sim > 1.0)
		sim = 1.0;
	else if (sim < -1.0)
		sim = -1.0;
	return 1.0 - sim;
}

/* The inner product; halves' products cannot overflow float4. */
static inline float
dense_dot(bool half, const void *x, const void *y, int dim)
{
	return half ? omen_dot_half(x, y, dim) : omen_inner_product(x, y, dim);
}

/* DenseDistance; constant arguments specialize it for its callers */
static pg_attribute_always_inline double
dense_distance(DenseDistanceKind kind, bool half, const void *x, const void *y,
			   int dim)
{
	double		d;
	float		dot,
				norma,
				normb;

	switch (kind)
	{
		case DISTANCE_L2:
		case DISTANCE_L2_SQUARED:
			d = half ? omen_l2sq_half(x, y, dim) : omen_l2sq(x, y, dim);
			return kind == DISTANCE_L2 ? sqrt(d) : d;
		case DISTANCE_INNER_PRODUCT:
			return dense_dot(half, x, y, dim);
		case DISTANCE_NEGATIVE_INNER_PRODUCT:
			return -(double) dense_dot(half, x, y, dim);
		case DISTANCE_COSINE:
			if (half)
				omen_cos_parts_half(x, y, dim, &dot, &norma, &normb);
			else
				omen_cos_parts(x, y, dim, &dot, &norma, &normb);
			return CosineDistance(dot, norma, normb);
		case DISTANCE_SPHERICAL:
			/* rounding can push |dot| slightly past 1, outside acos's domain */
			d = Max(-1.0, Min(1.0, (double) dense_dot(half, x, y, dim)));
			return acos(d) / M_PI;
		case DISTANCE_L1:
			return half ? omen_l1_half(x, y, dim) : omen_l1(x, y, dim);
	}
	pg_unreachable();
}

double
DenseDistance(DenseDistanceKind kind, bool half, const void *x, const void *y,
			  int dim)
{
	return dense_distance(kind, half, x, y, dim);
}

/* The distance kind between the two vector arguments */
static pg_attribute_always_inline double
vector_distance(FunctionCallInfo fcinfo, DenseDistanceKind kind)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a, b);
	return dense_distance(kind, false, a->x, b->x, a->dim);
}

OMEN_FMGR_FUNCTION(l2_distance, PG_RETURN_FLOAT8, vector_distance, DISTANCE_L2)
OMEN_FMGR_FUNCTION(vector_l2_squared_distance, PG_RETURN_FLOAT8,
				   vector_distance, DISTANCE_L2_SQUARED)
OMEN_FMGR_FUNCTION(inner_product, PG_RETURN_FLOAT8,
				   vector_distance, DISTANCE_INNER_PRODUCT)
OMEN_FMGR_FUNCTION(vector_negative_inner_product, PG_RETURN_FLOAT8,
				   vector_distance, DISTANCE_NEGATIVE_INNER_PRODUCT)
OMEN_FMGR_FUNCTION(cosine_distance, PG_RETURN_FLOAT8,
				   vector_distance, DISTANCE_COSINE)
OMEN_FMGR_FUNCTION(l1_distance, PG_RETURN_FLOAT8, vector_distance, DISTANCE_L1)

/* Functions */

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(v->dim);
}

/* Sum of squares in double: float4 squares would overflow past ~1.8e19. */
double
FloatsNorm(const float *x, int n)
{
	double		s = 0.0;

	for (int i = 0; i < n; i++)
		s += (double) x[i] * (double) x[i];
	return sqrt(s);
}

PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_FLOAT8(FloatsNorm(v->x, v->dim));
}

/*
 * Unit vector in the direction of v; the zero vector stays zero.  Each
 * |x[i]| <= norm, so the quotients cannot overflow.
 */
PG_FUNCTION_INFO_V1(l2_normalize);
Datum
l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	double		norm = FloatsNorm(v->x, v->dim);
	Vector	   *result = InitVector(v->dim);

	if (norm > 0.0)
		for (int i = 0; i < v->dim; i++)
			result->x[i] = (float) ((double) v->x[i] / norm);
	PG_RETURN_VECTOR_P(result);
}

/* Elements start..start+count-1, 1-based and clipped like substring(). */
int
SubvectorRange(const char *typname, int dim, int32 start, int32 count,
			   int *first)
{
	int64		from = Max((int64) start, 1);
	int64		to = Min((int64) start + count - 1, (int64) dim);

	if (count < 1 || from > to)
		CheckDim(typname, 0, dim);
	*first = (int) (from - 1);
	return (int) (to - from + 1);
}

PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int			first;
	Vector	   *result;

	result = InitVector(SubvectorRange("vector", v->dim, PG_GETARG_INT32(1),
									   PG_GETARG_INT32(2), &first));
	memcpy(result->x, v->x + first, sizeof(float) * result->dim);
	PG_RETURN_VECTOR_P(result);
}

/* Arithmetic */

static pg_attribute_always_inline float
dense_op(DenseOp op, float x, float y)
{
	switch (op)
	{
		case DENSE_ADD:
			return x + y;
		case DENSE_SUB:
			return x - y;
		default:
			return x * y;
	}
}

/* ERROR if the result of x op y is infinite, or zero where it must not be */
static pg_attribute_always_inline void
check_dense_op(DenseOp op, bool inf, bool zero, float x, float y)
{
	if (inf)
		float_overflow_error();
	if (op == DENSE_MUL && zero && x != 0.0f && y != 0.0f)
		float_underflow_error();
}

/* DenseArithmetic; constant arguments specialize it for its callers */
static pg_attribute_always_inline void
dense_arithmetic(DenseOp op, bool half, const void *x, const void *y, int n,
				 void *r)
{
	if (half)
	{
		const uint16 *x2 = x;
		const uint16 *y2 = y;
		uint16	   *r2 = r;

		for (int i = 0; i < n; i++)
		{
			float		a = omen_half_to_float(x2[i]);
			float		b = omen_half_to_float(y2[i]);
			uint16		h = omen_float_to_half(dense_op(op, a, b));

			check_dense_op(op, omen_half_is_inf(h), omen_half_is_zero(h), a, b);
			r2[i] = h;
		}
	}
	else
	{
		const float *x4 = x;
		const float *y4 = y;
		float	   *r4 = r;

		/* all results, then the checks, so that the first loop vectorizes */
		for (int i = 0; i < n; i++)
			r4[i] = dense_op(op, x4[i], y4[i]);
		for (int i = 0; i < n; i++)
			check_dense_op(op, isinf(r4[i]), r4[i] == 0.0f, x4[i], y4[i]);
	}
}

void
DenseArithmetic(DenseOp op, bool half, const void *x, const void *y, int n,
				void *r)
{
	dense_arithmetic(op, half, x, y, n, r);
}

/* The elementwise op of the two vector arguments */
static pg_attribute_always_inline Vector *
vector_arithmetic(FunctionCallInfo fcinfo, DenseOp op)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDims(a, b);
	result = InitVector(a->dim);
	dense_arithmetic(op, false, a->x, b->x, a->dim, result->x);
	return result;
}

OMEN_FMGR_FUNCTION(vector_add, PG_RETURN_VECTOR_P,
				   vector_arithmetic, DENSE_ADD)
OMEN_FMGR_FUNCTION(vector_sub, PG_RETURN_VECTOR_P,
				   vector_arithmetic, DENSE_SUB)
OMEN_FMGR_FUNCTION(vector_mul, PG_RETURN_VECTOR_P,
				   vector_arithmetic, DENSE_MUL)

PG_FUNCTION_INFO_V1(vector_concat);
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDim(a->dim + b->dim);
	result = InitVector(a->dim + b->dim);
	memcpy(result->x, a->x, sizeof(float) * a->dim);
	memcpy(result->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_VECTOR_P(result);
}

/* Ordering: see OMEN_DENSE_COMPARISON_FUNCTIONS */
#define FLOAT_ELEMENT(x) (x)
OMEN_DENSE_COMPARISON_FUNCTIONS(vector, Vector, PG_GETARG_VECTOR_P,
								FLOAT_ELEMENT)

/*
 * avg(vector) and avg(halfvec) state: a double precision[] holding the row
 * count and then the per-dimension sums; '{0}' (no dimensions yet) before
 * the first row.  The state functions are callable from SQL, so the array is
 * checked; a malformed one is an internal error naming the function, as in
 * pgvector.
 */
float8 *
AvgStateValues(ArrayType *state, const char *caller, int *dim)
{
	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] < 1 ||
		ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("%s: expected state array", caller)));
	*dim = ARR_DIMS(state)[0] - 1;
	return (float8 *) ARR_DATA_PTR(state);
}

/* A state of n rows for dim sums, the sums copied from sums (or zero). */
static ArrayType *
AvgStateNew(int dim, float8 n, const float8 *sums)
{
	Size		size = add_size(ARR_OVERHEAD_NONULLS(1),
								mul_size(sizeof(float8), dim + 1));
	ArrayType  *state = (ArrayType *) palloc0(size);
	float8	   *s;

	SET_VARSIZE(state, size);
	state->ndim = 1;
	state->elemtype = FLOAT8OID;
	ARR_DIMS(state)[0] = dim + 1;
	ARR_LBOUND(state)[0] = 1;
	s = (float8 *) ARR_DATA_PTR(state);
	s[0] = n;
	if (sums != NULL)
		memcpy(s + 1, sums, sizeof(float8) * dim);
	return state;
}

/*
 * The values of *state to update: its own inside an aggregate; called from
 * SQL, those of a copy that replaces *state.
 */
static float8 *
AvgStateWritable(FunctionCallInfo fcinfo, ArrayType **state, int dim)
{
	float8	   *s = (float8 *) ARR_DATA_PTR(*state);

	if (!AggCheckCallContext(fcinfo, NULL))
	{
		*state = AvgStateNew(dim, s[0], s + 1);
		s = (float8 *) ARR_DATA_PTR(*state);
	}
	return s;
}

/*
 * Adds one row (x4) or another state's sums (x8) to the dim sums of *state;
 * a sum that reaches infinity is an overflow.  Returns the values of the
 * state that holds the result.
 */
static float8 *
state_add(FunctionCallInfo fcinfo, ArrayType **state, int dim,
		  const float *x4, const float8 *x8)
{
	float8	   *s = AvgStateWritable(fcinfo, state, dim);

	for (int i = 0; i < dim; i++)
	{
		s[i + 1] += x4 ? (float8) x4[i] : x8[i];
		if (isinf(s[i + 1]))
			float_overflow_error();
	}
	return s;
}

ArrayType *
AvgStateAccum(FunctionCallInfo fcinfo, ArrayType *state, const char *caller,
			  const float *x, int dim)
{
	int			sdim;
	float8	   *s = AvgStateValues(state, caller, &sdim);

	if (sdim == 0)
	{
		/* first row: the sums are the row itself */
		state = AvgStateNew(dim, s[0], NULL);
		s = (float8 *) ARR_DATA_PTR(state);
		for (int i = 0; i < dim; i++)
			s[i + 1] = x[i];
	}
	else
	{
		CheckVectorTypmod(sdim, dim);
		s = state_add(fcinfo, &state, sdim, x, NULL);
	}
	s[0] += 1.0;
	return state;
}

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Vector	   *v = PG_GETARG_VECTOR_P(1);

	PG_RETURN_ARRAYTYPE_P(AvgStateAccum(fcinfo, state, "vector_accum", v->x,
										v->dim));
}

/*
 * A state with no rows counted contributes nothing, whatever it holds; two
 * such states (partial aggregates that saw no rows) combine to the second.
 */
PG_FUNCTION_INFO_V1(vector_combine);
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *state2 = PG_GETARG_ARRAYTYPE_P(1);
	int			dim1,
				dim2;
	float8	   *s1 = AvgStateValues(state1, "vector_combine", &dim1);
	float8	   *s2 = AvgStateValues(state2, "vector_combine", &dim2);

	if (s1[0] == 0.0)
	{
		if (s2[0] != 0.0)
			CheckVectorDim(dim2);
		PG_RETURN_ARRAYTYPE_P(state2);
	}
	CheckVectorDim(dim1);
	if (s2[0] == 0.0)
		PG_RETURN_ARRAYTYPE_P(state1);

	CheckVectorTypmod(dim1, dim2);
	s1 = state_add(fcinfo, &state1, dim1, NULL, s2 + 1);
	s1[0] += s2[0];
	PG_RETURN_ARRAYTYPE_P(state1);
}

PG_FUNCTION_INFO_V1(vector_avg);
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float8	   *s = AvgStateValues(state, "vector_avg", &dim);
	Vector	   *result;

	/* the average of no rows is NULL */
	if (s[0] == 0.0)
		PG_RETURN_NULL();

	CheckVectorDim(dim);
	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (float) (s[i + 1] / s[0]);
		check_element(result->x[i]);
	}
	PG_RETURN_VECTOR_P(result);
}

/* Dimensions assumed for a distance whose operands' typmods say none. */
#define VECTOR_COST_DEFAULT_DIMS 768

double
vector_distance_cost_units(int dims)
{
	if (dims <= 0)
		dims = VECTOR_COST_DEFAULT_DIMS;
	/* a plain operator reads two words; a distance reads 2 * dims floats */
	return 1.0 + dims / 32.0;
}

/*
 * Planner support for the distance functions: their cost grows with the
 * dimensions, which the operands' typmods tell.  With the default cost of
 * one operator, a sort over a filtered scan looked nearly free next to an
 * index scan that computes the same distances.
 */
PG_FUNCTION_INFO_V1(vector_distance_support);
Datum
vector_distance_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestCost *req;
	List	   *args = NIL;
	int			dims = -1;
	ListCell   *lc;

	if (!IsA(rawreq, SupportRequestCost))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestCost *) rawreq;
	if (req->node != NULL && IsA(req->node, OpExpr))
		args = ((OpExpr *) req->node)->args;
	else if (req->node != NULL && IsA(req->node, FuncExpr))
		args = ((FuncExpr *) req->node)->args;
	foreach(lc, args)
	{
		int32		typmod = exprTypmod((Node *) lfirst(lc));

		if (typmod > 0)
			dims = typmod;
	}
	req->startup = 0;
	req->per_tuple = cpu_operator_cost * vector_distance_cost_units(dims);
	PG_RETURN_POINTER(req);
}
