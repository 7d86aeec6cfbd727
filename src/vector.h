/*
 * vector.h
 *		The vector type: on-disk layout identical to pgvector's.
 */
#ifndef OMEN_VECTOR_H
#define OMEN_VECTOR_H

#include <math.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/varbit.h"

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
 * Checks shared by the vector types, their messages naming the type typname
 * as pgvector's do: ERROR unless 1 <= dim <= maxdim; unless a's and b's
 * dimensions are equal; if x is NaN or infinite (the test inline, since
 * input checks every element, and the report out of line).
 */
extern void CheckDim(const char *typname, int dim, int maxdim);
extern void CheckSameDims(const char *typname, int adim, int bdim);
extern void NotFiniteError(const char *typname, float x)
			pg_attribute_noreturn();

static inline void
CheckFinite(const char *typname, float x)
{
	if (unlikely(!isfinite(x)))
		NotFiniteError(typname, x);
}

/* The typmod_in function of a type of at most maxdim dimensions. */
extern int32 TypmodIn(ArrayType *ta, const char *typname, int32 maxdim);

/*
 * Text input.  SkipSpace skips the white space of pgvector's literals;
 * SyntaxError reports lit as invalid input for typname, with an optional
 * DETAIL.  ReadDenseText reads a dense literal "[x1,x2,...]" of at most
 * maxdim elements as float4in would read each, handing element i to
 * put(arg, i, x, text, len) as soon as it is read (so that the first bad
 * element decides the error; text and len are its characters); put checks
 * and stores it.  ReadDenseText checks that the float is in float4's range;
 * it returns the number of elements, at most DenseTextCapacity(lit, maxdim).
 */
typedef void (*DenseTextPut) (void *arg, int i, float x, const char *text,
							  int len);
extern void SyntaxError(const char *typname, const char *lit,
						const char *detail) pg_attribute_noreturn();
extern int	DenseTextCapacity(const char *lit, int maxdim);
extern int	ReadDenseText(char *lit, const char *typname, int maxdim,
						  DenseTextPut put, void *arg);

/*
 * White space in the text forms: the six characters isspace() knows in the
 * C locale, vertical tab included (PostgreSQL 15's scanner_isspace lacks
 * it).
 */
static inline bool
VectorIsSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

static inline char *
SkipSpace(char *p)
{
	while (VectorIsSpace(*p))
		p++;
	return p;
}

/*
 * Array casts: the elements of the integer[], real[], double precision[] or
 * numeric[] argument (ERROR unless 1-D, without NULLs), and one of them as
 * float4 (as float4's own cast rounds it; a double beyond float4's range
 * becomes an infinity).
 */
extern Datum *CastArrayElements(ArrayType *arr, int *n);
extern float CastArrayElement(Datum d, Oid elemtype);

/* A real[] holding x[0..n-1]. */
extern ArrayType *FloatsToArray(const float *x, int n);

/* One bit per element, set where it is positive, first element first. */
extern VarBit *BinaryQuantize(const float *x, int n);

/*
 * Hamming distance, or if jaccard Jaccard distance, between two bit strings
 * of bytes bytes each (unused trailing bits 0).
 */
extern double BitDistance(bool jaccard, const unsigned char *a,
						  const unsigned char *b, size_t bytes);

/*
 * Output, binary input and functions shared by the dense types.
 * FloatsToText is the text form of x[0..n-1].  RecvDenseHeader reads the
 * binary form's header, int16 dim and int16 unused (0), and returns dim
 * after checking it against typname's maxdim and typmod.  FloatsNorm is the
 * L2 norm, summed in double.  SubvectorRange is the 0-based first element
 * (*first) and the number of elements of subvector(v, start, count) of a
 * vector of dim elements: elements start..start+count-1, 1-based and clipped
 * like substring(); none is an ERROR naming typname.
 */
extern char *FloatsToText(const float *x, int n);
extern int	RecvDenseHeader(StringInfo buf, int32 typmod, const char *typname,
							int maxdim);
extern double FloatsNorm(const float *x, int n);
extern int	SubvectorRange(const char *typname, int dim, int32 start,
						   int32 count, int *first);

/*
 * Arithmetic: r = x op y element by element, n float4s or, if half, n
 * halves each computed in float and rounded once to half.  The first
 * element whose result is infinite (an overflow) or, for a product, zero
 * with neither factor zero (an underflow, as for float4mul) is an ERROR.
 */
typedef enum DenseOp
{
	DENSE_ADD,
	DENSE_SUB,
	DENSE_MUL
} DenseOp;

extern void DenseArithmetic(DenseOp op, bool half, const void *x,
							const void *y, int n, void *r);

/* 1 - the cosine similarity of two vectors from their dot product and norms */
extern double CosineDistance(float dot, float norma, float normb);

/* The distance functions of the dense types, vector and halfvec */
typedef enum DenseDistanceKind
{
	DISTANCE_L2,
	DISTANCE_L2_SQUARED,		/* L2's order without the root, for indexes */
	DISTANCE_INNER_PRODUCT,
	DISTANCE_NEGATIVE_INNER_PRODUCT,	/* ascending: largest products first */
	DISTANCE_COSINE,			/* 1 - cos */
	DISTANCE_SPHERICAL,			/* angle between unit vectors / pi */
	DISTANCE_L1
} DenseDistanceKind;

/* Distance kind between x and y, dim float4s or, if half, halves each. */
extern double DenseDistance(DenseDistanceKind kind, bool half, const void *x,
							const void *y, int dim);

/*
 * Defines name as an SQL-callable function returning impl(fcinfo, what)
 * with ret (PG_RETURN_FLOAT8, ...): one of the functions that impl serves,
 * what saying which.
 */
#define OMEN_FMGR_FUNCTION(name, ret, impl, what) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		ret(impl(fcinfo, what)); \
	}

/*
 * The avg aggregates' state, a double precision[] {row count, sum per
 * dimension}.  AvgStateValues checks a state (an internal error naming
 * caller if malformed) and returns its values and dimensions (0 before the
 * first row).  AvgStateAccum returns the state after one more row
 * x[0..dim-1], for vector_accum and halfvec_accum (caller names the
 * function).
 */
extern float8 *AvgStateValues(ArrayType *state, const char *caller, int *dim);
extern ArrayType *AvgStateAccum(FunctionCallInfo fcinfo, ArrayType *state,
								const char *caller, const float *x, int dim);

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
extern PGDLLEXPORT Datum halfvec_l2_squared_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum halfvec_negative_inner_product(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum halfvec_cosine_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum halfvec_l1_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum hamming_distance(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum jaccard_distance(PG_FUNCTION_ARGS);

#endif							/* OMEN_VECTOR_H */
