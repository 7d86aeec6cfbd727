/*
 * elem.c
 *		The element kinds of omenhnsw indexes: vector (float4), halfvec
 *		(float2) and bit.  See elem.h.
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
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "utils/varbit.h"

#include "distance.h"
#include "elem.h"
#include "halfvec.h"
#include "vector.h"

void
omen_elem_init(OmenElem *e, int kind, int metric, int dims)
{
	e->kind = kind;
	e->metric = metric;
	e->graph_metric = omen_elem_graph_metric(metric);
	e->dims = dims;
	e->code_dims = omen_elem_code_dims(kind, dims);
	switch (kind)
	{
		case OMEN_ELEM_FLOAT2:
			e->words = (dims + 1) / 2;
			break;
		case OMEN_ELEM_BIT:
			e->words = (dims + 31) / 32;
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
		default:
			return "vector";
	}
}

int
omen_elem_max_dims(int kind)
{
	return kind == OMEN_ELEM_BIT ? OMEN_MAX_BITS : VECTOR_MAX_DIM;
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
		default:
			return ((const Vector *) value)->dim;
	}
}

/*
 * Scales x[0..n-1] to unit length, the norm summed in double (a float sum
 * of squares overflows for huge components); false, x unchanged, if it has
 * no direction.
 */
static bool
normalize(float *x, int n)
{
	double		norm = FloatsNorm(x, n);

	if (norm == 0 || !isfinite(norm))
		return false;
	for (int i = 0; i < n; i++)
		x[i] = (float) (x[i] / norm);
	return true;
}

bool
omen_elem_exact(const OmenElem *e, const void *value, void *exact)
{
	int			dims = omen_elem_value_dims(e->kind, value);

	if (dims != e->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", e->dims, dims)));

	memset(exact, 0, sizeof(uint32) * e->words);
	switch (e->kind)
	{
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

void
omen_elem_floats(const OmenElem *e, const void *exact, float *out)
{
	switch (e->kind)
	{
		case OMEN_ELEM_FLOAT2:
			{
				const uint16 *h = exact;

				for (int i = 0; i < e->dims; i++)
					out[i] = omen_half_to_float(h[i]);
				break;
			}
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
		default:
			memcpy(out, exact, sizeof(float) * e->dims);
			break;
	}
	/* a zero bit string stays zero: its Jaccard distance is 1 to all */
	if (e->graph_metric == OMEN_METRIC_COSINE)
		(void) normalize(out, e->code_dims);
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
		default:
			for (int i = 0; i < e->dims; i++)
				if (!isfinite(((const float *) exact)[i]))
					return false;
			break;
	}
	return true;
}

/*
 * The same bytes; or, under cosine, the same direction (equal floats once
 * normalized, as their codes are made), with sums of squares that float4
 * holds, as the cosine kernel sums them: the operator's distance is then
 * the same, but for rounding, for every query.  Scaled copies share a node
 * as they would if the index kept them normalized.
 */
bool
omen_elem_same(const OmenElem *e, const void *a, const void *b)
{
	float	   *fa;
	float	   *fb;
	bool		same;

	if (memcmp(a, b, sizeof(uint32) * e->words) == 0)
		return true;
	if (e->graph_metric != OMEN_METRIC_COSINE || e->kind == OMEN_ELEM_BIT)
		return false;
	if (e->kind == OMEN_ELEM_FLOAT4 &&
		(pow(FloatsNorm(a, e->dims), 2) > FLT_MAX ||
		 pow(FloatsNorm(b, e->dims), 2) > FLT_MAX))
		return false;
	fa = palloc(sizeof(float) * e->code_dims);
	fb = palloc(sizeof(float) * e->code_dims);
	omen_elem_floats(e, a, fa);
	omen_elem_floats(e, b, fb);
	same = memcmp(fa, fb, sizeof(float) * e->code_dims) == 0;
	pfree(fa);
	pfree(fb);
	return same;
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
			d = DenseDistance(DISTANCE_L2_SQUARED, e->kind == OMEN_ELEM_FLOAT2,
							  a, b, e->dims);
			*opdist = sqrt(d);
			return (float) d;
		case OMEN_METRIC_COSINE:
			*opdist = DenseDistance(DISTANCE_COSINE, e->kind == OMEN_ELEM_FLOAT2,
									a, b, e->dims);
			return (float) (*opdist - 1.0);
		case OMEN_METRIC_IP:
			d = DenseDistance(DISTANCE_NEGATIVE_INNER_PRODUCT,
							  e->kind == OMEN_ELEM_FLOAT2, a, b, e->dims);
			break;
		default:
			d = DenseDistance(DISTANCE_L1, e->kind == OMEN_ELEM_FLOAT2,
							  a, b, e->dims);
			break;
	}
	*opdist = d;
	return (float) d;
}
