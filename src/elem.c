/*
 * elem.c
 *		The element kinds of omenhnsw indexes: vector (float4), halfvec
 *		(float2), bit and sparsevec.  See elem.h.
 *
 * A vector index keeps each value's floats as they are, a halfvec index its
 * halves; codes are made from them widened to float and, under cosine,
 * normalized.  Exact distances are taken over the values as kept, by the
 * kernels the operators use, so that they are the ones the ordering
 * operator returns for the heap value, to the last bit and for values whose
 * norm overflows float4.  A bit index keeps the bits; its
 * codes are made of one float per bit, 0 or 1: under hamming the squared L2
 * distance of those floats is the Hamming distance, under jaccard they are
 * normalized and ranked by cosine, and exact distances are put in the same
 * scale (omen_elem_distance).  A bit string longer than VECTOR_MAX_DIM
 * is coded from VECTOR_MAX_DIM evenly spaced bits of it, scaled so that the
 * squared L2 distance estimates the Hamming distance of the whole strings.
 *
 * A sparsevec index keeps a value's non-zero count, indices and values, its
 * exact vector as long as the value needs (1 + 2 nnz words, the first word
 * telling how long it is).  Of up to OMEN_SPARSE_CODE_DIMS dimensions it is
 * coded from its dense floats; with more, from a signed hashing sketch of
 * OMEN_SPARSE_CODE_DIMS floats: each index goes to a bucket, with a sign,
 * chosen by a fixed hash of the index, and a bucket holds the signed sum of
 * its values.  Sketches keep inner products, and so L2 distances and
 * cosines, in expectation (and exactly where no two non-zeros of the two
 * values meet in a bucket), but bound none of them: scans then rank by the
 * exact distances only (scan.c: lower_bound).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "utils/varbit.h"

#include "distance.h"
#include "elem.h"
#include "halfvec.h"
#include "sparsevec.h"
#include "vector.h"

/*
 * A stored sparsevec: its non-zero count, then nnz indices and nnz values,
 * one word each.
 */
typedef struct SparseExact
{
	uint32		nnz;
	int32		indices[FLEXIBLE_ARRAY_MEMBER];
} SparseExact;

static inline const float *
sparse_values(const SparseExact *x)
{
	return (const float *) (x->indices + x->nnz);
}

void
omen_elem_init(OmenElem *e, int kind, int metric, int dims, int code_bits)
{
	e->kind = kind;
	e->metric = metric;
	e->graph_metric = omen_elem_graph_metric(metric);
	e->dims = dims;
	e->code_dims = omen_elem_code_dims(kind, dims);
	e->codes_exact = code_bits == OMEN_CODE_HALVES;
	switch (kind)
	{
		case OMEN_ELEM_FLOAT2:
			e->words = (dims + 1) / 2;
			break;
		case OMEN_ELEM_BIT:
			e->words = (dims + 31) / 32;
			break;
		case OMEN_ELEM_SPARSE:
			e->words = 1 + 2 * OMEN_MAX_NNZ;
			break;
		default:
			e->words = dims;
			break;
	}
}

const char *
omen_elem_type_name(int kind)
{
	switch (kind)
	{
		case OMEN_ELEM_FLOAT2:
			return "halfvec";
		case OMEN_ELEM_BIT:
			return "bit";
		case OMEN_ELEM_SPARSE:
			return "sparsevec";
		default:
			return "vector";
	}
}

int
omen_elem_max_dims(int kind)
{
	switch (kind)
	{
		case OMEN_ELEM_BIT:
			return OMEN_MAX_BITS;
		case OMEN_ELEM_SPARSE:
			return SPARSEVEC_MAX_DIM;
		default:
			return VECTOR_MAX_DIM;
	}
}

int
omen_elem_graph_metric(int metric)
{
	switch (metric)
	{
		case OMEN_METRIC_HAMMING:
			return OMEN_METRIC_L2;
		case OMEN_METRIC_JACCARD:
			return OMEN_METRIC_COSINE;
		default:
			return metric;
	}
}

int
omen_elem_value_dims(int kind, const void *value)
{
	switch (kind)
	{
		case OMEN_ELEM_FLOAT2:
			return ((const HalfVector *) value)->dim;
		case OMEN_ELEM_BIT:
			return VARBITLEN((const VarBit *) value);
		case OMEN_ELEM_SPARSE:
			return ((const SparseVector *) value)->dim;
		default:
			return ((const Vector *) value)->dim;
	}
}

int
omen_elem_value_words(const OmenElem *e, const void *value)
{
	if (e->kind == OMEN_ELEM_SPARSE)
		return 1 + 2 * ((const SparseVector *) value)->nnz;
	return e->words;
}

int
omen_elem_words(const OmenElem *e, const void *exact)
{
	if (e->kind == OMEN_ELEM_SPARSE)
		return 1 + 2 * ((const SparseExact *) exact)->nnz;
	return e->words;
}

void
omen_elem_check_value(const OmenElem *e, const void *value)
{
	if (e->kind == OMEN_ELEM_SPARSE &&
		((const SparseVector *) value)->nnz > OMEN_MAX_NNZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sparsevec cannot have more than %d non-zero elements for hnsw index",
						OMEN_MAX_NNZ)));
}

/*
 * Scales x[0..n-1] to unit length, the norm summed in double (a float sum
 * of squares overflows for huge components), and returns that norm; 0, x
 * unchanged, if it has no direction.
 */
static double
normalize(float *x, int n)
{
	double		norm = FloatsNorm(x, n);

	if (norm == 0 || !isfinite(norm))
		return 0;
	for (int i = 0; i < n; i++)
		x[i] = (float) (x[i] / norm);
	return norm;
}

bool
omen_elem_exact(const OmenElem *e, const void *value, void *exact)
{
	int			dims = omen_elem_value_dims(e->kind, value);

	if (dims != e->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", e->dims, dims)));

	if (e->kind != OMEN_ELEM_SPARSE)
		memset(exact, 0, sizeof(uint32) * e->words);
	switch (e->kind)
	{
		case OMEN_ELEM_SPARSE:
			{
				const SparseVector *v = value;
				SparseExact *x = exact;

				x->nnz = v->nnz;
				memcpy(x->indices, v->indices,
					   (sizeof(int32) + sizeof(float)) * v->nnz);
				return e->graph_metric != OMEN_METRIC_COSINE ||
					FloatsNorm(SparsevecValues(v), v->nnz) != 0;
			}
		case OMEN_ELEM_FLOAT2:
			{
				const HalfVector *v = value;

				memcpy(exact, v->x, sizeof(uint16) * dims);
				if (e->graph_metric == OMEN_METRIC_COSINE)
				{
					for (int i = 0; i < dims; i++)
						if (!omen_half_is_zero(v->x[i]))
							return true;
					return false;
				}
				return true;
			}
		case OMEN_ELEM_BIT:
			memcpy(exact, VARBITS((const VarBit *) value),
				   VARBITBYTES((const VarBit *) value));
			return true;
		default:
			memcpy(exact, ((const Vector *) value)->x, sizeof(float) * dims);
			return e->graph_metric != OMEN_METRIC_COSINE ||
				FloatsNorm(exact, dims) != 0;
	}
}

/*
 * The bucket, bits 0..62 modulo OMEN_SPARSE_CODE_DIMS, and the sign, bit 63,
 * of index i in a sparsevec's sketch: the finalizer of SplitMix64 (Steele,
 * Lea and Flood, 2014), a fixed bijection of 64-bit integers whose output
 * bits each depend on every input bit.
 */
static inline uint64
sketch_hash(int32 i)
{
	uint64		z = (uint64) (uint32) i + UINT64CONST(0x9E3779B97F4A7C15);

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/*
 * A sparsevec's code floats: its dense floats, or its sketch (see the top
 * of the file).  Indices outside the dimension, which only a damaged page
 * holds, are left out.
 */
static void
sparse_floats(const OmenElem *e, const SparseExact *x, float *out)
{
	const float *values = sparse_values(x);

	memset(out, 0, sizeof(float) * e->code_dims);
	for (uint32 k = 0; k < x->nnz; k++)
	{
		int32		i = x->indices[k];

		if (i < 0 || i >= e->dims)
			continue;
		if (e->code_dims == e->dims)
			out[i] = values[k];
		else
		{
			uint64		h = sketch_hash(i);
			int			bucket = (int) ((h & ~(UINT64CONST(1) << 63)) %
										OMEN_SPARSE_CODE_DIMS);

			out[bucket] += (h >> 63) ? -values[k] : values[k];
		}
	}
}

/* The floats of an exact vector's code, before any normalization. */
static void
widen(const OmenElem *e, const void *exact, float *out)
{
	switch (e->kind)
	{
		case OMEN_ELEM_FLOAT2:
			omen_widen_half(exact, e->dims, out);
			break;
		case OMEN_ELEM_BIT:
			{
				const uint8 *bits = exact;
				float		one = (float) sqrt((double) e->dims / e->code_dims);

				for (int j = 0; j < e->code_dims; j++)
				{
					int			i = (int) ((int64) j * e->dims / e->code_dims);

					out[j] = (bits[i / 8] & (0x80 >> (i % 8))) ? one : 0;
				}
				break;
			}
		case OMEN_ELEM_SPARSE:
			sparse_floats(e, exact, out);
			break;
		default:
			memcpy(out, exact, sizeof(float) * e->dims);
			break;
	}
}

/*
 * The cosine operators sum a vector's squares in float4, as pgvector does,
 * and where that sum is not a normal float the distance stops following
 * the direction: past float4's range it is 1 for every query (NaN where the
 * dot product overflows too); zero or subnormal, the quotient is infinite
 * or far off and clamped, so it is 0 or 2 by the dot product's sign.  So
 * that searches meet such a vector where the operator puts it, its code
 * floats are zero in the first case (code distance 0: the distance 1), and
 * in the second its direction times OMEN_TINY_SCALE, which codes it nearer
 * than any unit vector to the queries it is at 0 from and farther from the
 * others.  Either code keeps the scan's lower bounds (scan.c) at or below
 * the exact distance of any vector: the first only needs it certain that
 * the float sum overflows, in any order of summation (a float sum of n
 * squares is within (n + 1) * FLT_EPSILON of the true one), the second is
 * taken wherever a subnormal square may weigh.
 */
#define OMEN_TINY_SCALE 1048576.0f

void
omen_elem_floats(const OmenElem *e, const void *exact, float *out)
{
	int			n = e->code_dims;
	double		sumsq;

	widen(e, exact, out);
	/* halves' sums of squares neither overflow nor underflow float4 */
	if (e->graph_metric != OMEN_METRIC_COSINE || e->codes_exact)
		return;
	/* a zero bit string stays zero: its Jaccard distance is 1 to all */
	sumsq = pow(normalize(out, n), 2);
	if (sumsq == 0)
		return;
	if (sumsq * (1 - (n + 1) * (double) FLT_EPSILON) > FLT_MAX)
		memset(out, 0, sizeof(float) * n);
	else if (sumsq < n * (double) FLT_MIN)
	{
		for (int i = 0; i < n; i++)
			out[i] *= OMEN_TINY_SCALE;
	}
}

bool
omen_elem_valid(const OmenElem *e, const void *exact)
{
	switch (e->kind)
	{
		case OMEN_ELEM_FLOAT2:
			for (int i = 0; i < e->dims; i++)
				if (omen_half_is_nan(((const uint16 *) exact)[i]) ||
					omen_half_is_inf(((const uint16 *) exact)[i]))
					return false;
			break;
		case OMEN_ELEM_BIT:
			{
				const uint8 *bits = exact;

				/* bits past the length are 0 in a bit string */
				if (e->dims % 8 != 0 &&
					(bits[e->dims / 8] & (0xFF >> (e->dims % 8))) != 0)
					return false;
				for (int i = (e->dims + 7) / 8; i < (int) sizeof(uint32) * e->words; i++)
					if (bits[i] != 0)
						return false;
				break;
			}
		case OMEN_ELEM_SPARSE:
			{
				const SparseExact *x = exact;
				const float *values = sparse_values(x);

				if (x->nnz > OMEN_MAX_NNZ)
					return false;
				for (uint32 k = 0; k < x->nnz; k++)
					if (x->indices[k] < (k == 0 ? 0 : x->indices[k - 1] + 1) ||
						x->indices[k] >= e->dims ||
						values[k] == 0 || !isfinite(values[k]))
						return false;
				break;
			}
		default:
			for (int i = 0; i < e->dims; i++)
				if (!isfinite(((const float *) exact)[i]))
					return false;
			break;
	}
	return true;
}

/*
 * Whether x and y, n floats each (overwritten), have the same direction:
 * sums of squares that float4 holds, as the cosine kernels sum them, and
 * equal floats once normalized.
 */
static bool
same_direction(float *x, float *y, int n)
{
	if (pow(FloatsNorm(x, n), 2) > FLT_MAX || pow(FloatsNorm(y, n), 2) > FLT_MAX)
		return false;
	(void) normalize(x, n);
	(void) normalize(y, n);
	return memcmp(x, y, sizeof(float) * n) == 0;
}

/*
 * The same words; or, under cosine, the same direction (for a sparsevec:
 * the same indices, and values in the same direction): the operator's
 * distance is then the same, but for rounding, for every query.  Scaled
 * copies share a node as they would if the index kept them normalized.
 */
bool
omen_elem_same(const OmenElem *e, const void *a, const void *b)
{
	int			words = omen_elem_words(e, a);
	int			n;
	float	   *fa;
	float	   *fb;
	bool		same;

	if (words == omen_elem_words(e, b) &&
		memcmp(a, b, sizeof(uint32) * words) == 0)
		return true;
	if (e->graph_metric != OMEN_METRIC_COSINE || e->kind == OMEN_ELEM_BIT)
		return false;
	if (e->kind == OMEN_ELEM_SPARSE)
	{
		const SparseExact *x = a;
		const SparseExact *y = b;

		if (x->nnz != y->nnz ||
			memcmp(x->indices, y->indices, sizeof(int32) * x->nnz) != 0)
			return false;
		n = x->nnz;
		fa = palloc(sizeof(float) * Max(n, 1));
		fb = palloc(sizeof(float) * Max(n, 1));
		memcpy(fa, sparse_values(x), sizeof(float) * n);
		memcpy(fb, sparse_values(y), sizeof(float) * n);
	}
	else
	{
		n = e->dims;
		fa = palloc(sizeof(float) * n);
		fb = palloc(sizeof(float) * n);
		widen(e, a, fa);
		widen(e, b, fb);
	}
	same = same_direction(fa, fb, n);
	pfree(fa);
	pfree(fb);
	return same;
}

/* Distance kind between two exact vectors, by the type's kernels */
static double
kernel(const OmenElem *e, DenseDistanceKind kind, const void *a, const void *b)
{
	if (e->kind == OMEN_ELEM_SPARSE)
	{
		const SparseExact *x = a;
		const SparseExact *y = b;

		return SparseDistance(kind, x->indices, sparse_values(x), x->nnz,
							  y->indices, sparse_values(y), y->nnz);
	}
	return DenseDistance(kind, e->kind == OMEN_ELEM_FLOAT2, a, b, e->dims);
}

float
omen_elem_distance(const OmenElem *e, const void *a, const void *b,
				   double *opdist)
{
	double		d;

	if (e->kind == OMEN_ELEM_BIT)
	{
		d = BitDistance(e->metric == OMEN_METRIC_JACCARD, a, b,
						(e->dims + 7) / 8);
		*opdist = d;
		if (e->metric == OMEN_METRIC_JACCARD)
		{
			/*
			 * The codes rank by cosine similarity, |a AND b| / sqrt(|a| |b|).
			 * Jaccard similarity j goes into that scale as the Dice
			 * coefficient 2j / (1 + j), which equals the cosine for strings
			 * with as many bits set and is never above it: the scan's gap
			 * between code and exact distances stays that of the strings'
			 * sizes.
			 */
			double		j = 1.0 - d;

			return (float) (-2.0 * j / (1.0 + j));
		}
		return (float) d;
	}

	switch (e->metric)
	{
		case OMEN_METRIC_L2:
			d = kernel(e, DISTANCE_L2_SQUARED, a, b);
			*opdist = sqrt(d);
			return (float) d;
		case OMEN_METRIC_COSINE:
			*opdist = kernel(e, DISTANCE_COSINE, a, b);
			return (float) (*opdist - 1.0);
		case OMEN_METRIC_IP:
			d = kernel(e, DISTANCE_NEGATIVE_INNER_PRODUCT, a, b);
			break;
		default:
			d = kernel(e, DISTANCE_L1, a, b);
			break;
	}
	*opdist = d;
	return (float) d;
}
