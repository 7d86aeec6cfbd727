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
CheckVectorDim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	if (dim > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions",
						VECTOR_MAX_DIM)));
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
CheckVectorDims(const Vector *a, const Vector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d",
						a->dim, b->dim)));
}

static inline void
check_element(float v)
{
	if (isnan(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in vector")));
	if (isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in vector")));
}

/* Arithmetic on finite inputs may still overflow float4. */
static inline void
check_overflow(const Vector *v)
{
	for (int i = 0; i < v->dim; i++)
		if (isinf(v->x[i]))
			float_overflow_error();
}

/*
 * White space in vector text: the six characters isspace() knows in the C
 * locale, vertical tab included (PostgreSQL 15's scanner_isspace lacks it).
 */
static inline bool
vector_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

static inline char *
skip_space(char *p)
{
	while (vector_isspace(*p))
		p++;
	return p;
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
	if (*s != ',' && *s != ']' && *s != '\0' && !vector_isspace(*s))
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

static void pg_attribute_noreturn()
syntax_error(const char *lit, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type vector: \"%s\"", lit),
			 detail ? errdetail("%s", detail) : 0));
}

PG_FUNCTION_INFO_V1(vector_in);
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	char	   *p = skip_space(lit);
	int			cap = 1;
	int			dim = 0;
	Vector	   *result;

	if (*p != '[')
		syntax_error(lit, "Vector contents must start with \"[\".");
	p = skip_space(p + 1);
	if (*p == ']')
		CheckVectorDim(0);

	/* Commas bound the element count, so one allocation is enough. */
	for (char *q = p; *q != '\0' && cap <= VECTOR_MAX_DIM; q++)
		if (*q == ',')
			cap++;
	result = InitVector(Min(cap, VECTOR_MAX_DIM));

	for (;;)
	{
		char	   *end;
		float		val;

		if (dim == VECTOR_MAX_DIM)
			CheckVectorDim(dim + 1);

		/* float4in's value: strtof's correct rounding, never twice */
		errno = 0;
		val = read_element(p, &end);
		if (end == p)
			syntax_error(lit, NULL);
		if (errno == ERANGE && isinf(val))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type vector",
							pnstrdup(p, end - p))));
		check_element(val);
		result->x[dim++] = val;

		p = skip_space(end);
		if (*p == ']')
			break;
		if (*p != ',')
			syntax_error(lit, NULL);
		p = skip_space(p + 1);
	}

	if (*skip_space(p + 1) != '\0')
		syntax_error(lit, "Junk after closing right brace.");

	CheckVectorTypmod(typmod, dim);
	SET_VARSIZE(result, VECTOR_SIZE(dim));
	result->dim = (int16) dim;
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_out);
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	/* each element takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 chars + ',' */
	char	   *buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(v->x[i], p);
	}
	*p++ = ']';
	*p = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
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
				 errmsg("dimensions for type vector must be at least 1")));
	if (mods[0] > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector cannot exceed %d",
						VECTOR_MAX_DIM)));
	PG_RETURN_INT32(mods[0]);
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
PG_FUNCTION_INFO_V1(vector_recv);
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim = (int16) pq_getmsgint(buf, sizeof(int16));
	int16		unused = (int16) pq_getmsgint(buf, sizeof(int16));
	Vector	   *result;

	CheckVectorDim(dim);
	CheckVectorTypmod(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));

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
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	int			n;
	Vector	   *result;

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
	CheckVectorDim(n);
	CheckVectorTypmod(typmod, n);

	result = InitVector(n);
	for (int i = 0; i < n; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				result->x[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				result->x[i] = DatumGetFloat4(elems[i]);
				break;
			case FLOAT8OID:
				result->x[i] = (float) DatumGetFloat8(elems[i]);
				break;
			case NUMERICOID:
				result->x[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4,
																  elems[i]));
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("unsupported array type")));
		}
	}
	pfree(elems);
	for (int i = 0; i < n; i++)
		check_element(result->x[i]);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_to_float4);
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *elems = palloc(sizeof(Datum) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(v->x[i]);
	result = construct_array(elems, v->dim, FLOAT4OID, sizeof(float4),
							 true, TYPALIGN_INT);
	pfree(elems);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* Distances */

PG_FUNCTION_INFO_V1(l2_distance);
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a, b);
	PG_RETURN_FLOAT8(sqrt((double) omen_l2sq(a->x, b->x, a->dim)));
}

/* Same order as l2_distance without the square root; for index support. */
PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a, b);
	PG_RETURN_FLOAT8((double) omen_l2sq(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum
inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a, b);
	PG_RETURN_FLOAT8((double) omen_inner_product(a->x, b->x, a->dim));
}

/* Negated so that ascending order ranks the largest products first. */
PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a, b);
	PG_RETURN_FLOAT8(-(double) omen_inner_product(a->x, b->x, a->dim));
}

/* 1 - cos(a, b); NaN when either vector is zero, as in pgvector. */
PG_FUNCTION_INFO_V1(cosine_distance);
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	float		dot,
				norma,
				normb;
	double		sim;

	CheckVectorDims(a, b);
	omen_cos_parts(a->x, b->x, a->dim, &dot, &norma, &normb);
	sim = (double) dot / sqrt((double) norma * (double) normb);

	/* rounding can push |sim| slightly past 1 */
	if (sim > 1.0)
		sim = 1.0;
	else if (sim < -1.0)
		sim = -1.0;
	PG_RETURN_FLOAT8(1.0 - sim);
}

PG_FUNCTION_INFO_V1(l1_distance);
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a, b);
	PG_RETURN_FLOAT8((double) omen_l1(a->x, b->x, a->dim));
}

/* Functions */

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(v->dim);
}

/* Sum of squares in double: float4 squares would overflow past ~1.8e19. */
static double
norm_of(const Vector *v)
{
	double		s = 0.0;

	for (int i = 0; i < v->dim; i++)
		s += (double) v->x[i] * (double) v->x[i];
	return sqrt(s);
}

PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(norm_of(PG_GETARG_VECTOR_P(0)));
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
	double		norm = norm_of(v);
	Vector	   *result = InitVector(v->dim);

	if (norm > 0.0)
		for (int i = 0; i < v->dim; i++)
			result->x[i] = (float) ((double) v->x[i] / norm);
	PG_RETURN_VECTOR_P(result);
}

/* Elements start..start+count-1, 1-based and clipped like substring(). */
PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		first = Max((int64) start, 1);
	int64		last = Min((int64) start + count - 1, (int64) v->dim);
	Vector	   *result;

	if (count < 1 || first > last)
		CheckVectorDim(0);

	result = InitVector((int) (last - first + 1));
	memcpy(result->x, v->x + (first - 1), sizeof(float) * result->dim);
	PG_RETURN_VECTOR_P(result);
}

/* Arithmetic */

PG_FUNCTION_INFO_V1(vector_add);
Datum
vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDims(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] + b->x[i];
	check_overflow(result);
	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDims(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] - b->x[i];
	check_overflow(result);
	PG_RETURN_VECTOR_P(result);
}

/*
 * Elementwise product; underflow to zero is an error, as for float4mul.
 * The first element that overflows or underflows names the error.
 */
PG_FUNCTION_INFO_V1(vector_mul);
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *result;

	CheckVectorDims(a, b);
	result = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		result->x[i] = a->x[i] * b->x[i];
	for (int i = 0; i < a->dim; i++)
	{
		if (isinf(result->x[i]))
			float_overflow_error();
		if (result->x[i] == 0.0f && a->x[i] != 0.0f && b->x[i] != 0.0f)
			float_underflow_error();
	}
	PG_RETURN_VECTOR_P(result);
}

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

/*
 * Ordering: element by element, then the shorter vector first, as for
 * arrays.  Frees detoasted copies since btree and sorts call it often.
 */
static int
vector_cmp_args(FunctionCallInfo fcinfo)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	int			n = Min(a->dim, b->dim);
	int			cmp = 0;

	for (int i = 0; i < n && cmp == 0; i++)
	{
		if (a->x[i] < b->x[i])
			cmp = -1;
		else if (a->x[i] > b->x[i])
			cmp = 1;
	}
	if (cmp == 0 && a->dim != b->dim)
		cmp = a->dim < b->dim ? -1 : 1;

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return cmp;
}

PG_FUNCTION_INFO_V1(vector_cmp);
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(vector_cmp_args(fcinfo));
}

PG_FUNCTION_INFO_V1(vector_lt);
Datum
vector_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) < 0);
}

PG_FUNCTION_INFO_V1(vector_le);
Datum
vector_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) <= 0);
}

PG_FUNCTION_INFO_V1(vector_eq);
Datum
vector_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) == 0);
}

PG_FUNCTION_INFO_V1(vector_ne);
Datum
vector_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) != 0);
}

PG_FUNCTION_INFO_V1(vector_ge);
Datum
vector_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) >= 0);
}

PG_FUNCTION_INFO_V1(vector_gt);
Datum
vector_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vector_cmp_args(fcinfo) > 0);
}

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
ArrayType *
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
float8 *
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

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	int			dim;
	float8	   *s = AvgStateValues(state, "vector_accum", &dim);

	if (dim == 0)
	{
		/* first row: the sums are the row itself */
		state = AvgStateNew(v->dim, s[0], NULL);
		s = (float8 *) ARR_DATA_PTR(state);
		for (int i = 0; i < v->dim; i++)
			s[i + 1] = v->x[i];
	}
	else
	{
		CheckVectorTypmod(dim, v->dim);
		s = state_add(fcinfo, &state, dim, v->x, NULL);
	}
	s[0] += 1.0;
	PG_RETURN_ARRAYTYPE_P(state);
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
