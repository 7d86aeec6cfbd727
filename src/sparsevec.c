/*
 * sparsevec.c
 *		The sparsevec type: I/O, casts, distances and ordering, compatible
 *		with pgvector's SQL-level behaviour and on-disk layout.
 *
 * A SparseVector holds only its non-zero elements, indices strictly
 * ascending.  Every way in (text, binary, casts, l2_normalize) enforces
 * that, and rejects NaN and infinities, so the functions below can merge
 * two vectors without checks.  No function here takes locks.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "distance.h"
#include "halfvec.h"
#include "sparsevec.h"
#include "typecmp.h"
#include "vector.h"

SparseVector *
InitSparseVector(int dim, int nnz)
{
	Size		size = SPARSEVEC_SIZE(nnz);
	SparseVector *v = (SparseVector *) palloc0(size);

	SET_VARSIZE(v, size);
	v->dim = dim;
	v->nnz = nnz;
	return v;
}

static void
check_dim(int dim)
{
	CheckDim("sparsevec", dim, SPARSEVEC_MAX_DIM);
}

static void
check_nnz(int nnz, int dim)
{
	if (nnz < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("sparsevec cannot have negative number of elements")));
	if (nnz > SPARSEVEC_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements",
						SPARSEVEC_MAX_NNZ)));
	if (nnz > dim)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more elements than dimensions")));
}

/* ERROR unless indices[i] is within dim and above indices[i - 1]. */
static void
check_index(const int32 *indices, int i, int dim)
{
	int32		index = indices[i];

	if (index < 0 || index >= dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("sparsevec index out of bounds")));
	if (i > 0 && index < indices[i - 1])
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("sparsevec indices must be in ascending order")));
	if (i > 0 && index == indices[i - 1])
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("sparsevec indices must not contain duplicates")));
}

static void
check_element(float v)
{
	CheckFinite("sparsevec", v);
}

static void
check_same_dims(const SparseVector *a, const SparseVector *b)
{
	CheckSameDims("sparsevec", a->dim, b->dim);
}

/*
 * Keep the elements of x[0..n-1] that are not zero (-0 included) as
 * 0-based indices and values, after checking how many there are against
 * dim; NaN and infinities are rejected after the count, as pgvector does.
 */
static SparseVector *
sparsevec_from_dense(const float *x, int n)
{
	SparseVector *result;
	float	   *values;
	int			nnz = 0;

	for (int i = 0; i < n; i++)
		nnz += x[i] != 0.0f;
	check_nnz(nnz, n);

	result = InitSparseVector(n, nnz);
	values = SparsevecValues(result);
	nnz = 0;
	for (int i = 0; i < n; i++)
		if (x[i] != 0.0f)
		{
			check_element(x[i]);
			result->indices[nnz] = i;
			values[nnz++] = x[i];
		}
	return result;
}

/* Text input */

static void pg_attribute_noreturn()
syntax_error(const char *lit, const char *detail)
{
	SyntaxError("sparsevec", lit, detail);
}

/*
 * A decimal integer as strtol reads it, clamped to [lo, INT_MAX] so that
 * an out-of-range index or dimension reaches the range checks.
 */
static int32
read_int(char *p, char **end, const char *lit, long lo)
{
	long		v = strtol(p, end, 10);

	if (*end == p)
		syntax_error(lit, NULL);
	return (int32) Max(lo, Min(v, (long) INT_MAX));
}

typedef struct SparseInputElement
{
	int32		index;			/* 0-based */
	float		value;
} SparseInputElement;

static int
compare_elements(const void *a, const void *b)
{
	int32		x = ((const SparseInputElement *) a)->index;
	int32		y = ((const SparseInputElement *) b)->index;

	return (x > y) - (x < y);
}

/*
 * {index:value,...}/dim with 1-based indices in any order.  Zeros are
 * dropped; the rest, sorted, must be distinct and within dim.
 */
PG_FUNCTION_INFO_V1(sparsevec_in);
Datum
sparsevec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	SparseInputElement *elems;
	int			max_elems = 1;
	int			nnz = 0;
	int32		dim;
	char	   *p;
	SparseVector *result;
	float	   *values;

	/* every element but the first follows a comma */
	for (p = lit; *p != '\0'; p++)
		max_elems += *p == ',';
	if (max_elems > SPARSEVEC_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements",
						SPARSEVEC_MAX_NNZ)));
	elems = palloc(sizeof(SparseInputElement) * max_elems);

	p = SkipSpace(lit);
	if (*p != '{')
		syntax_error(lit, "Vector contents must start with \"{\".");
	p = SkipSpace(p + 1);
	if (*p == '}')
		p++;
	else
	{
		for (;;)
		{
			int32		index;
			float		value;
			char	   *end;

			p = SkipSpace(p);
			if (*p == '\0')
				syntax_error(lit, NULL);
			/* INT_MIN + 1: index - 1 below must not overflow */
			index = read_int(p, &end, lit, (long) INT_MIN + 1);
			p = SkipSpace(end);
			if (*p != ':')
				syntax_error(lit, NULL);
			p = SkipSpace(p + 1);

			/* strtof, not strtod and a cast: one rounding, as float4in */
			errno = 0;
			value = strtof(p, &end);
			if (end == p)
				syntax_error(lit, NULL);
			if (errno == ERANGE && (value == 0.0f || isinf(value)))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("\"%s\" is out of range for type sparsevec",
								pnstrdup(p, end - p))));
			check_element(value);
			if (value != 0.0f)
			{
				elems[nnz].index = index - 1;
				elems[nnz++].value = value;
			}

			p = SkipSpace(end);
			if (*p == '}')
			{
				p++;
				break;
			}
			if (*p != ',')
				syntax_error(lit, NULL);
			p++;
		}
	}

	p = SkipSpace(p);
	if (*p != '/')
		syntax_error(lit, "Unexpected end of input.");
	p = SkipSpace(p + 1);
	dim = read_int(p, &p, lit, INT_MIN);
	p = SkipSpace(p);
	if (*p != '\0')
		syntax_error(lit, "Junk after closing.");

	check_dim(dim);
	CheckVectorTypmod(typmod, dim);

	qsort(elems, nnz, sizeof(SparseInputElement), compare_elements);
	result = InitSparseVector(dim, nnz);
	values = SparsevecValues(result);
	for (int i = 0; i < nnz; i++)
	{
		result->indices[i] = elems[i].index;
		values[i] = elems[i].value;
		check_index(result->indices, i, dim);
	}
	pfree(elems);
	PG_RETURN_SPARSEVEC_P(result);
}

PG_FUNCTION_INFO_V1(sparsevec_out);
Datum
sparsevec_out(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *values = SparsevecValues(v);

	/* per element: sign and 10 digits, ':', a float, ','; then the rest */
	char	   *buf = palloc((Size) v->nnz * (11 + 1 + FLOAT_SHORTEST_DECIMAL_LEN + 1) + 16);
	char	   *p = buf;

	*p++ = '{';
	for (int i = 0; i < v->nnz; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += pg_ltoa(v->indices[i] + 1, p);
		*p++ = ':';
		p += float_to_shortest_decimal_bufn(values[i], p);
	}
	*p++ = '}';
	*p++ = '/';
	p += pg_ltoa(v->dim, p);
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(sparsevec_typmod_in);
Datum
sparsevec_typmod_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(TypmodIn(PG_GETARG_ARRAYTYPE_P(0), "sparsevec",
							 SPARSEVEC_MAX_DIM));
}

/*
 * Binary form: int32 dim, int32 nnz, int32 unused (0), nnz 0-based int32
 * indices, nnz float4 values; every value non-zero.
 */
PG_FUNCTION_INFO_V1(sparsevec_recv);
Datum
sparsevec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int32		dim = pq_getmsgint(buf, sizeof(int32));
	int32		nnz = pq_getmsgint(buf, sizeof(int32));
	int32		unused = pq_getmsgint(buf, sizeof(int32));
	SparseVector *result;
	float	   *values;

	check_dim(dim);
	check_nnz(nnz, dim);
	CheckVectorTypmod(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));

	result = InitSparseVector(dim, nnz);
	values = SparsevecValues(result);
	for (int i = 0; i < nnz; i++)
	{
		result->indices[i] = pq_getmsgint(buf, sizeof(int32));
		check_index(result->indices, i, dim);
	}
	for (int i = 0; i < nnz; i++)
	{
		values[i] = pq_getmsgfloat4(buf);
		check_element(values[i]);
		if (values[i] == 0.0f)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("binary representation of sparsevec cannot contain zero values")));
	}
	PG_RETURN_SPARSEVEC_P(result);
}

PG_FUNCTION_INFO_V1(sparsevec_send);
Datum
sparsevec_send(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *values = SparsevecValues(v);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->dim);
	pq_sendint32(&buf, v->nnz);
	pq_sendint32(&buf, v->unused);
	for (int i = 0; i < v->nnz; i++)
		pq_sendint32(&buf, v->indices[i]);
	for (int i = 0; i < v->nnz; i++)
		pq_sendfloat4(&buf, values[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Casts */

/* sparsevec to sparsevec(n): checks the type modifier */
PG_FUNCTION_INFO_V1(sparsevec);
Datum
sparsevec(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);

	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_SPARSEVEC_P(v);
}

PG_FUNCTION_INFO_V1(vector_to_sparsevec);
Datum
vector_to_sparsevec(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_SPARSEVEC_P(sparsevec_from_dense(v->x, v->dim));
}

/* Only sparsevecs of at most VECTOR_MAX_DIM dimensions fit a vector. */
PG_FUNCTION_INFO_V1(sparsevec_to_vector);
Datum
sparsevec_to_vector(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *values = SparsevecValues(v);
	Vector	   *result;

	CheckVectorDim(v->dim);
	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	result = InitVector(v->dim);
	for (int i = 0; i < v->nnz; i++)
		result->x[v->indices[i]] = values[i];
	PG_RETURN_VECTOR_P(result);
}

/* Casts to and from halfvec. */

PG_FUNCTION_INFO_V1(halfvec_to_sparsevec);
Datum
halfvec_to_sparsevec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	float	   *x;
	SparseVector *result;

	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	x = HalfvecFloats(v);
	result = sparsevec_from_dense(x, v->dim);
	pfree(x);
	PG_RETURN_SPARSEVEC_P(result);
}

/* ERROR if a value is beyond half precision's range. */
PG_FUNCTION_INFO_V1(sparsevec_to_halfvec);
Datum
sparsevec_to_halfvec(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *values = SparsevecValues(v);
	HalfVector *result;

	CheckHalfvecDim(v->dim);
	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	result = InitHalfVector(v->dim);
	for (int i = 0; i < v->nnz; i++)
		result->x[v->indices[i]] = HalfFromFloat(values[i]);
	PG_RETURN_HALFVEC_P(result);
}

/*
 * integer[], real[], double precision[] and numeric[] to sparsevec: each
 * element rounded to float4 (a double too large becomes infinite and is
 * rejected as such); elements that round to zero are dropped.
 */
PG_FUNCTION_INFO_V1(array_to_sparsevec);
Datum
array_to_sparsevec(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int			n;
	Datum	   *elems = CastArrayElements(arr, &n);
	float	   *x;
	SparseVector *result;

	check_dim(n);
	CheckVectorTypmod(PG_GETARG_INT32(1), n);

	x = palloc(sizeof(float) * n);
	for (int i = 0; i < n; i++)
		x[i] = CastArrayElement(elems[i], ARR_ELEMTYPE(arr));
	result = sparsevec_from_dense(x, n);
	pfree(x);
	pfree(elems);
	PG_RETURN_SPARSEVEC_P(result);
}

/* Distances */

double
SparseDistance(DenseDistanceKind kind, const int32 *ai, const float *ax,
			   int an, const int32 *bi, const float *bx, int bn)
{
	double		d;

	switch (kind)
	{
		case DISTANCE_L2:
		case DISTANCE_L2_SQUARED:
			d = omen_sparse_l2sq(ai, ax, an, bi, bx, bn);
			return kind == DISTANCE_L2 ? sqrt(d) : d;
		case DISTANCE_INNER_PRODUCT:
			return omen_sparse_dot(ai, ax, an, bi, bx, bn);
		case DISTANCE_NEGATIVE_INNER_PRODUCT:
			return -(double) omen_sparse_dot(ai, ax, an, bi, bx, bn);
		case DISTANCE_COSINE:
			return CosineDistance(omen_sparse_dot(ai, ax, an, bi, bx, bn),
								  omen_dot(ax, ax, an), omen_dot(bx, bx, bn));
		case DISTANCE_L1:
			return omen_sparse_l1(ai, ax, an, bi, bx, bn);
		case DISTANCE_SPHERICAL:
			break;
	}
	elog(ERROR, "unsupported sparsevec distance %d", (int) kind);
	pg_unreachable();
}

/* The distance kind between the two sparsevec arguments */
static double
sparsevec_distance(FunctionCallInfo fcinfo, DenseDistanceKind kind)
{
	SparseVector *a = PG_GETARG_SPARSEVEC_P(0);
	SparseVector *b = PG_GETARG_SPARSEVEC_P(1);

	check_same_dims(a, b);
	return SparseDistance(kind, a->indices, SparsevecValues(a), a->nnz,
						  b->indices, SparsevecValues(b), b->nnz);
}

OMEN_FMGR_FUNCTION(sparsevec_l2_distance, PG_RETURN_FLOAT8,
				   sparsevec_distance, DISTANCE_L2)
OMEN_FMGR_FUNCTION(sparsevec_l2_squared_distance, PG_RETURN_FLOAT8,
				   sparsevec_distance, DISTANCE_L2_SQUARED)
OMEN_FMGR_FUNCTION(sparsevec_inner_product, PG_RETURN_FLOAT8,
				   sparsevec_distance, DISTANCE_INNER_PRODUCT)
OMEN_FMGR_FUNCTION(sparsevec_negative_inner_product, PG_RETURN_FLOAT8,
				   sparsevec_distance, DISTANCE_NEGATIVE_INNER_PRODUCT)
/* 1 - cos; NaN when either vector is zero, as pgvector. */
OMEN_FMGR_FUNCTION(sparsevec_cosine_distance, PG_RETURN_FLOAT8,
				   sparsevec_distance, DISTANCE_COSINE)
OMEN_FMGR_FUNCTION(sparsevec_l1_distance, PG_RETURN_FLOAT8,
				   sparsevec_distance, DISTANCE_L1)

PG_FUNCTION_INFO_V1(sparsevec_l2_norm);
Datum
sparsevec_l2_norm(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);

	PG_RETURN_FLOAT8(FloatsNorm(SparsevecValues(v), v->nnz));
}

/*
 * Unit vector in the direction of v; the zero vector stays zero.  A tiny
 * element next to a huge one can round to zero: it is dropped, since a
 * sparsevec stores no zeros.
 */
PG_FUNCTION_INFO_V1(sparsevec_l2_normalize);
Datum
sparsevec_l2_normalize(PG_FUNCTION_ARGS)
{
	SparseVector *v = PG_GETARG_SPARSEVEC_P(0);
	float	   *x = SparsevecValues(v);
	double		norm = FloatsNorm(x, v->nnz);
	SparseVector *result;
	float	   *rx;
	int			nnz = 0;

	if (norm == 0.0)
		PG_RETURN_SPARSEVEC_P(InitSparseVector(v->dim, 0));

	for (int i = 0; i < v->nnz; i++)
		nnz += (float) (x[i] / norm) != 0.0f;
	result = InitSparseVector(v->dim, nnz);
	rx = SparsevecValues(result);
	nnz = 0;
	for (int i = 0; i < v->nnz; i++)
	{
		float		q = (float) (x[i] / norm);

		if (q != 0.0f)
		{
			result->indices[nnz] = v->indices[i];
			rx[nnz++] = q;
		}
	}
	PG_RETURN_SPARSEVEC_P(result);
}

/* Ordering */

/*
 * The order of the dense vectors: elements compared in index order up to
 * the smaller dimension (absent ones are 0), then the dimensions, as
 * pgvector orders sparsevecs (and PostgreSQL arrays).
 */
static int
sparsevec_cmp_internal(const SparseVector *a, const SparseVector *b)
{
	float	   *ax = SparsevecValues(a);
	float	   *bx = SparsevecValues(b);
	int32		dim = Min(a->dim, b->dim);
	int			i = 0;
	int			j = 0;

	while ((i < a->nnz && a->indices[i] < dim) ||
		   (j < b->nnz && b->indices[j] < dim))
	{
		int32		ia = i < a->nnz ? a->indices[i] : INT_MAX;
		int32		ib = j < b->nnz ? b->indices[j] : INT_MAX;
		float		va = ia <= ib ? ax[i] : 0.0f;
		float		vb = ib <= ia ? bx[j] : 0.0f;

		if (va < vb)
			return -1;
		if (va > vb)
			return 1;
		i += ia <= ib;
		j += ib <= ia;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

static int
sparsevec_cmp_args(FunctionCallInfo fcinfo)
{
	return sparsevec_cmp_internal(PG_GETARG_SPARSEVEC_P(0),
								  PG_GETARG_SPARSEVEC_P(1));
}

OMEN_COMPARISON_FUNCTIONS(sparsevec, sparsevec_cmp_args)
