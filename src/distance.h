/*
 * distance.h
 *		Distance kernels over float4 arrays.
 *
 * The bottom layer: plain C, no PostgreSQL headers, so the kernels can be
 * unit-tested outside the server.  omen_kernels_init() picks the fastest
 * variant the CPU and OS support (portable C, AVX2+FMA, AVX-512) once; the
 * function pointers below are then used everywhere.
 */
#ifndef OMEN_DISTANCE_H
#define OMEN_DISTANCE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Metrics an index can be built for. */
typedef enum OmenMetric
{
	OMEN_METRIC_L2 = 1,			/* squared L2 internally */
	OMEN_METRIC_IP = 2,			/* negative inner product */
	OMEN_METRIC_COSINE = 3,		/* vectors stored normalized; negative inner product */
	OMEN_METRIC_L1 = 4
} OmenMetric;

typedef float (*omen_pair_fn) (const float *a, const float *b, int n);
typedef void (*omen_cos_fn) (const float *a, const float *b, int n,
							 float *dot, float *norma, float *normb);

/*
 * A float query against a vector stored as 8-bit codes, decoded as
 * x[i] = offset + scale * code[i] (see omen_quantize_u8).
 */
typedef float (*omen_u8_fn) (const float *q, const unsigned char *code,
							 float offset, float scale, int n);

/*
 * Sparse vectors as sorted, duplicate-free index arrays with their values;
 * the kernels merge the two lists in index order with one float sum, the
 * order pgvector's sparsevec functions add their terms in.
 */
typedef float (*omen_sparse_fn) (const int32_t *ai, const float *ax, int an,
								 const int32_t *bi, const float *bx, int bn);

/* Bit strings of the same length in bytes (whole bytes; unused bits 0). */
typedef uint64_t (*omen_hamming_fn) (const unsigned char *a,
									 const unsigned char *b, size_t bytes);
typedef void (*omen_jaccard_fn) (const unsigned char *a,
								 const unsigned char *b, size_t bytes,
								 uint64_t *ab, uint64_t *aa, uint64_t *bb);

/* One implementation of every kernel. */
typedef struct OmenKernelSet
{
	const char *name;			/* "portable", "avx2", "avx512" */
	omen_pair_fn l2sq;			/* sum (a-b)^2 */
	omen_pair_fn dot;			/* sum a*b */
	omen_pair_fn l1;			/* sum |a-b| */
	omen_cos_fn cos_parts;		/* dot, sum a^2, sum b^2 in one pass */
	omen_u8_fn	l2sq_u8;		/* sum (q-x)^2 over a coded x */
	omen_u8_fn	dot_u8;			/* sum q*x over a coded x */
	omen_sparse_fn sparse_l2sq;	/* sum (a-b)^2 over the union of indices */
	omen_sparse_fn sparse_dot;	/* sum a*b over the common indices */
	omen_hamming_fn hamming;	/* popcount(a ^ b) */
	omen_jaccard_fn jaccard;	/* popcount(a & b), popcount(a), popcount(b) */
} OmenKernelSet;

/* The chosen kernels (valid after omen_kernels_init). */
extern omen_pair_fn omen_l2sq;
extern omen_pair_fn omen_dot;
extern omen_pair_fn omen_l1;
extern omen_cos_fn omen_cos_parts;
extern omen_u8_fn omen_l2sq_u8;
extern omen_u8_fn omen_dot_u8;
extern omen_sparse_fn omen_sparse_l2sq;
extern omen_sparse_fn omen_sparse_dot;
extern omen_hamming_fn omen_hamming;
extern omen_jaccard_fn omen_jaccard;

/*
 * sum |a-b| over the union of two sparse vectors' indices: no products, so
 * one variant serves every CPU.
 */
extern float omen_sparse_l1(const int32_t *ai, const float *ax, int an,
							const int32_t *bi, const float *bx, int bn);

/*
 * Codes x[0..n-1] as code[i] = round((x[i] - offset) / scale), with offset
 * and scale mapping the vector's smallest and largest element to 0 and 255.
 * Each decoded element is within scale / 2 of the original.
 */
extern void omen_quantize_u8(const float *x, int n, unsigned char *code,
							 float *offset, float *scale);

/* sum a*b in double, rounded once to float: see omen_inner_product */
extern float omen_dot_careful(const float *a, const float *b, int n);

extern void omen_kernels_init(void);
extern const char *omen_kernels_name(void);

/*
 * Every variant this machine can run, portable first and fastest last; for
 * tests and benchmarks.  Returns the count written to out (at most max).
 */
#define OMEN_MAX_KERNEL_VARIANTS 3

extern int	omen_kernel_variants(const OmenKernelSet **out, int max);

/*
 * The inner product.  Products beyond float4's range make a fast kernel's
 * lane sums infinite, and lanes of opposite signs then add up to NaN or to
 * an infinity the true sum does not reach.  Such a non-finite result is
 * recomputed in double off the hot path, which holds every partial sum:
 * the result is then an infinity of the true sum's sign only when that sum
 * is beyond float4's range, and NaN only when an input is NaN.  (Sums of squares and of
 * absolute values have no terms of opposite signs: their only non-finite
 * result, +infinity, is already the true sum rounded.)
 */
static inline float
omen_inner_product(const float *a, const float *b, int n)
{
	float		d = omen_dot(a, b, n);

	if (__builtin_expect(!isfinite(d), 0))
		d = omen_dot_careful(a, b, n);
	return d;
}

/*
 * Graph distance for a metric: smaller is closer.  Cosine vectors are
 * normalized before they reach the graph, so cosine uses the inner product.
 */
static inline float
omen_distance(int metric, const float *a, const float *b, int n)
{
	switch (metric)
	{
		case OMEN_METRIC_L2:
			return omen_l2sq(a, b, n);
		case OMEN_METRIC_L1:
			return omen_l1(a, b, n);
		default:
			return -omen_inner_product(a, b, n);
	}
}

#endif							/* OMEN_DISTANCE_H */
