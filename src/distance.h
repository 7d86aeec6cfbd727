/*
 * distance.h
 *		Distance kernels over float4 arrays.
 *
 * The bottom layer: plain C, no PostgreSQL headers, so the kernels can be
 * unit-tested outside the server.  omen_kernels_init() picks the fastest
 * variant the CPU and OS support (portable C, AVX2+FMA+F16C, AVX-512,
 * AVX-512 with VNNI) once; the function pointers below are then used
 * everywhere.
 */
#ifndef OMEN_DISTANCE_H
#define OMEN_DISTANCE_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Metrics an index can be built for. */
typedef enum OmenMetric
{
	OMEN_METRIC_L2 = 1,			/* squared L2 internally */
	OMEN_METRIC_IP = 2,			/* negative inner product */
	OMEN_METRIC_COSINE = 3,		/* codes normalized; negative inner product */
	OMEN_METRIC_L1 = 4,
	OMEN_METRIC_HAMMING = 5,	/* bit strings; squared L2 of 0/1 floats */
	OMEN_METRIC_JACCARD = 6		/* bit strings; cosine of 0/1 floats */
} OmenMetric;

typedef float (*omen_pair_fn) (const float *a, const float *b, int n);
typedef void (*omen_cos_fn) (const float *a, const float *b, int n,
							 float *dot, float *norma, float *normb);

/*
 * A float query against a vector stored as 8-bit codes, decoded as
 * x[i] = offset + scale * code[i] (see omen_quantize).
 */
typedef float (*omen_u8_fn) (const float *q, const unsigned char *code,
							 float offset, float scale, int n);

/*
 * The exact sum of a[i] * b[i] over two arrays of n 8-bit codes, one element
 * a byte: exact for n up to 66,052 (255^2 * n < 2^32).
 */
typedef uint32_t (*omen_codes_fn) (const unsigned char *a,
								   const unsigned char *b, int n);

/*
 * Integer sums of a quantized query u against a 4-bit code of n elements
 * (see OmenQueryCode): sum u[i] * code[i], sum code[i] and sum code[i]^2.
 */
typedef struct OmenQueryTerms
{
	uint64_t	dot;
	uint64_t	sum;
	uint64_t	sumsq;
} OmenQueryTerms;

typedef void (*omen_query_fn) (const unsigned char *u,
							   const unsigned char *code, int n,
							   OmenQueryTerms *t);

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

/* The same kernels over vectors of half floats (binary16 bit patterns). */
typedef float (*omen_half_pair_fn) (const uint16_t *a, const uint16_t *b, int n);
typedef void (*omen_half_cos_fn) (const uint16_t *a, const uint16_t *b, int n,
								  float *dot, float *norma, float *normb);

/* A float query against a vector coded as its halves (OMEN_CODE_HALVES). */
typedef float (*omen_h16_fn) (const float *q, const uint16_t *x, int n);
typedef void (*omen_h16_cos_fn) (const float *q, const uint16_t *x, int n,
								 float *dot, float *normq, float *normx);
/* Halves widened to floats, exactly. */
typedef void (*omen_widen_fn) (const uint16_t *x, int n, float *out);
/* Floats rounded to halves, each as omen_float_to_half rounds it. */
typedef void (*omen_narrow_fn) (const float *x, int n, uint16_t *out);

/* One implementation of every kernel. */
typedef struct OmenKernelSet
{
	const char *name;			/* "portable", "avx2", "avx512", "avx512vnni" */
	omen_pair_fn l2sq;			/* sum (a-b)^2 */
	omen_pair_fn dot;			/* sum a*b */
	omen_pair_fn l1;			/* sum |a-b| */
	omen_cos_fn cos_parts;		/* dot, sum a^2, sum b^2 in one pass */
	omen_u8_fn	l2sq_u8;		/* sum (q-x)^2 over a coded x */
	omen_u8_fn	dot_u8;			/* sum q*x over a coded x */
	omen_u8_fn	l2sq_u4;		/* the same over 4-bit codes, packed two */
	omen_u8_fn	dot_u4;			/* a byte (omen_quantize) */
	omen_sparse_fn sparse_l2sq;	/* sum (a-b)^2 over the union of indices */
	omen_sparse_fn sparse_dot;	/* sum a*b over the common indices */
	omen_hamming_fn hamming;	/* popcount(a ^ b) */
	omen_jaccard_fn jaccard;	/* popcount(a & b), popcount(a), popcount(b) */
	omen_half_pair_fn l2sq_half;	/* l2sq, dot, l1 and cos_parts over */
	omen_half_pair_fn dot_half; /* halves, summed in float */
	omen_half_pair_fn l1_half;
	omen_half_cos_fn cos_parts_half;
	omen_h16_fn l2sq_h16;		/* l2sq, dot, l1 and cos_parts of a float */
	omen_h16_fn dot_h16;		/* query and halves */
	omen_h16_fn l1_h16;
	omen_h16_cos_fn cos_parts_h16;
	omen_codes_fn dot_codes;	/* sum a*b of two codes, in integers */
	omen_codes_fn dot_codes4;	/* the same of 4-bit codes, packed two a
								 * byte */
	omen_query_fn query_u4;		/* a quantized query's terms against 4-bit
								 * codes, packed two a byte */
	omen_widen_fn widen_half;	/* halves to floats */
	omen_narrow_fn narrow_half; /* floats to halves */
} OmenKernelSet;

/* The chosen kernels (valid after omen_kernels_init). */
extern omen_pair_fn omen_l2sq;
extern omen_pair_fn omen_dot;
extern omen_pair_fn omen_l1;
extern omen_cos_fn omen_cos_parts;
extern omen_u8_fn omen_l2sq_u8;
extern omen_u8_fn omen_dot_u8;
extern omen_u8_fn omen_l2sq_u4;
extern omen_u8_fn omen_dot_u4;
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
extern omen_half_pair_fn omen_l2sq_half;
extern omen_half_pair_fn omen_dot_half;
extern omen_half_pair_fn omen_l1_half;
extern omen_half_cos_fn omen_cos_parts_half;
extern omen_h16_fn omen_l2sq_h16;
extern omen_h16_fn omen_dot_h16;
extern omen_h16_fn omen_l1_h16;
extern omen_h16_cos_fn omen_cos_parts_h16;
extern omen_codes_fn omen_dot_codes;
extern omen_codes_fn omen_dot_codes4;
extern omen_query_fn omen_query_u4;
extern omen_widen_fn omen_widen_half;
extern omen_narrow_fn omen_narrow_half;

/*
 * Scalar codes of bits (8, 4, 2 or 1) per element: code[i] = round((x[i] -
 * offset) / scale), with offset and scale mapping the vector's smallest
 * and largest element to 0 and 2^bits - 1, packed low bits first into
 * OMEN_CODE_BYTES(n, bits) bytes (a multiple of 4, so that what follows a
 * code on a page stays 4-byte aligned; the bytes past the elements are 0).
 * Each decoded element is within scale / 2 of the original.
 *
 * Codes of OMEN_CODE_HALVES bits are the elements rounded to halves, with
 * offset and scale 0; made from halves widened to float they are those
 * halves exactly.  Their distances under cosine are cosines of the vectors
 * as they are (omen_h16_distance), so neither operand needs normalizing.
 */
#define OMEN_CODE_BYTES(n, bits) ((((n) * (bits) + 7) / 8 + 3) & ~3)
#define OMEN_CODE_HALVES	16

extern void omen_quantize(const float *x, int n, int bits,
						  unsigned char *code, float *offset, float *scale);

/*
 * How much of the widest error a scalar code allows its vector leaves
 * unused, in steps of 1 / OMEN_TIGHT_MAX: x is within
 * (1 - tight / OMEN_TIGHT_MAX) * sqrt(n) * scale / 2 in L2 of what its code
 * (of bits 8, 4, 2 or 1, made by omen_quantize with offset and scale)
 * stands for, offset + scale * code[i] in real numbers.  Rounded so that
 * the claim holds: 0 claims no more than the widest error, and is what
 * codes of OMEN_CODE_HALVES get, which are their vectors.  Scans rank by
 * bounds that are that much narrower (scan.c: lower_bound).
 */
#define OMEN_TIGHT_MAX 65535

extern uint16_t omen_code_tightness(const float *x, int n, int bits,
									const unsigned char *code, float offset,
									float scale);

/*
 * The width at which the coded kernels (omen_code_distance,
 * omen_code_decode, omen_code_sums, omen_code_pair_distance) take codes of
 * bits: codes of 8 and 4 bits and of halves as omen_quantize packs them,
 * narrower ones unpacked to a byte an element (omen_code_unpack), as 8-bit
 * codes.
 */
static inline int
omen_kernel_bits(int bits)
{
	return bits >= 4 ? bits : 8;
}

/* Element i of a code of bits (8, 4, 2 or 1) as omen_quantize packs it. */
static inline unsigned
omen_code_element(const unsigned char *code, int i, int bits)
{
	int			per = 8 / bits;

	return (code[i / per] >> (bits * (i % per))) & ((1u << bits) - 1);
}

/* One element a byte, for the coded kernels, from codes of 8, 4, 2 or 1 bits. */
extern void omen_code_unpack(const unsigned char *restrict code, int n,
							 int bits, unsigned char *restrict out);

/*
 * A query whose elements are all 0 or one value, as a 1-bit code: into
 * code (OMEN_CODE_BYTES(n, 1) bytes) the places of that value, laid out as
 * omen_quantize lays out 1-bit codes, and into *value the value (0 when
 * there is none).  False, leaving them undefined, for any other query, or
 * one with an element not finite.
 */
extern bool omen_bits_query(const float *q, int n, unsigned char *code,
							float *value);

/*
 * omen_code_distance for a 1-bit code of n elements and a query that
 * omen_bits_query took (qcode, qvalue), from counts of bits instead
 * of element by element: in double, so it may differ from the kernels'
 * float sums in the last bits; exact where the terms are integers, as they
 * are for a bit string's 0s and 1s against its own code.  L2 and inner
 * product (the negative dot product) only.
 */
extern float omen_bits_code_distance(int metric, const unsigned char *qcode,
									 float qvalue, const unsigned char *code,
									 float offset, float scale, int n);

/*
 * The vector a code stands for into out[0..n-1]: of omen_kernel_bits bits
 * (8, 4 or OMEN_CODE_HALVES).
 */
extern void omen_code_decode(const unsigned char *code, int n, int bits,
							 float offset, float scale, float *out);

/*
 * What a distance between two codes of 8 or 4 bits needs besides their
 * elements:
 * offset and scale, and the sums of the elements and of their squares (at
 * most 255 and 255^2 times 16,000: they fit).
 */
typedef struct OmenCodeSums
{
	float		offset;
	float		scale;
	uint32_t	sum;
	uint32_t	sumsq;
} OmenCodeSums;

/* Sets sums->sum and sums->sumsq from code's n elements, of 8 or 4 bits. */
extern void omen_code_sums(const unsigned char *code, int n, int bits,
						   OmenCodeSums *sums);

/*
 * The magnitude below which the elements of two n-element vectors keep every
 * sum of their squares and products in float4's range; omen_code_pair_fits
 * tells whether a code's decoded elements are all below it.
 */
static inline double
omen_code_pair_limit(int n)
{
	return sqrt(FLT_MAX / (4.0 * n));
}

static inline int
omen_code_pair_fits(const OmenCodeSums *c, double limit)
{
	return fabs((double) c->offset) + 255.0 * c->scale < limit;
}

/*
 * The distance between the vectors two codes of n elements stand for, both
 * of 8 or both of 4 bits,
 * under L2 or the inner product (omen_distance's, cosine codes being
 * normalized; not L1): from the exact integer sum of the products of their
 * elements and the codes' sums, combined in double so that nothing cancels.
 * It is the distance of the decoded codes but for the rounding of that
 * combination, and the same either way round.  For codes that
 * omen_code_pair_fits.
 */
extern float omen_code_pair_distance(int metric, int n, int bits,
									 const OmenCodeSums *a,
									 const unsigned char *acode,
									 const OmenCodeSums *b,
									 const unsigned char *bcode);

/*
 * A query quantized to measure it against 4-bit codes in integers: element
 * i is offset + scale * u[i], within scale / 2 of the query's, for u[i] a
 * byte.  u holds first the elements that the codes' low nibbles pair with
 * (0, 2, 4, ...), then the high nibbles' (1, 3, ...), (n + 1) / 2 each, the
 * last one 0 where n is odd, as the last high nibble of a code is.  Its
 * distances are sums of byte products, which cost less than decoding each
 * nibble to float, and stand within the quantization's error of the
 * query's own.  That error is only taken where the query's step is no
 * coarser than the code's, as it is 17 times finer for a query spread like
 * the vectors; a query with one element far out of its others' range
 * would lose them all to it, and is measured in float.  These distances
 * are not what lower bounds are reckoned from (omen_code_distance is).
 */
typedef struct OmenQueryCode
{
	int			n;
	double		offset;
	double		scale;
	double		sum;			/* sum u[i] */
	double		sumsq;			/* sum u[i]^2 */
	double		limit;			/* omen_code_pair_limit(n) */
	unsigned char *u;			/* OMEN_QUERY_CODE_BYTES(n) */
} OmenQueryCode;

#define OMEN_QUERY_CODE_BYTES(n) ((size_t) (n) + 1)

/*
 * Quantizes q (n elements) into qc, its elements into u.  False, leaving qc
 * unusable, where an element is not finite or beyond the magnitude at which
 * codes' sums stay in float4's range (omen_code_pair_limit).
 */
extern bool omen_query_quantize(const float *q, int n, unsigned char *u,
								OmenQueryCode *qc);

/*
 * omen_code_distance from the query qc stands for to a 4-bit code with
 * offset and scale, combined as omen_code_pair_distance combines its sums;
 * NaN for a code beyond the magnitude that fits or of a step finer than
 * the query's (the caller measures it in float instead).  Not for L1.
 */
extern float omen_query_code_distance(int metric, const OmenQueryCode *qc,
									  const unsigned char *code, float offset,
									  float scale);

/*
 * omen_distance from q to a vector coded as its halves; under cosine the
 * negative cosine of q and the halves.
 */
extern float omen_h16_distance(int metric, const float *q, const uint16_t *x,
							   int n);

/*
 * sum |q-x| over a coded x, of 8 or 4 bits: portable only, as L1 indexes
 * are rare.
 */
extern float omen_l1_u8(const float *q, const unsigned char *code,
						float offset, float scale, int n);
extern float omen_l1_u4(const float *q, const unsigned char *code,
						float offset, float scale, int n);

/*
 * sum a*b in double, rounded once to float: see omen_inner_product; and
 * the same over a coded b, of 8 bits or of 4 packed two a byte, decoded in
 * double (omen_code_distance)
 */
extern float omen_dot_careful(const float *a, const float *b, int n);
extern float omen_dot_code_careful(const float *q, const unsigned char *code,
								   int bits, float offset, float scale, int n);

extern void omen_kernels_init(void);
extern const char *omen_kernels_name(void);

/*
 * Every variant this machine can run, portable first and fastest last; for
 * tests and benchmarks.  Returns the count written to out (at most max).
 */
#define OMEN_MAX_KERNEL_VARIANTS 4

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

/*
 * omen_distance from q to a coded vector of omen_kernel_bits bits: of 8
 * bits, one element a byte, of 4 bits, two a byte, or of OMEN_CODE_HALVES.  A
 * non-finite inner product of a scalar code is recomputed as
 * omen_inner_product does, so that a coded vector whose terms
 * overflow float4 ranks where its exact inner product does (an infinity of
 * the true sum's sign) rather than last (NaN); products of halves and a
 * float query cannot overflow where the query's elements are halves.
 */
static inline float
omen_code_distance(int metric, int bits, const float *q,
				   const unsigned char *code, float offset, float scale, int n)
{
	float		d;

	if (bits == OMEN_CODE_HALVES)
		return omen_h16_distance(metric, q, (const uint16_t *) code, n);
	switch (metric)
	{
		case OMEN_METRIC_L2:
			return (bits == 4 ? omen_l2sq_u4 : omen_l2sq_u8) (q, code, offset,
															  scale, n);
		case OMEN_METRIC_L1:
			return (bits == 4 ? omen_l1_u4 : omen_l1_u8) (q, code, offset,
														  scale, n);
		default:
			d = (bits == 4 ? omen_dot_u4 : omen_dot_u8) (q, code, offset,
														 scale, n);
			if (__builtin_expect(!isfinite(d), 0))
				d = omen_dot_code_careful(q, code, bits, offset, scale, n);
			return -d;
	}
}

/*
 * IEEE 754 binary16 ("half") values, stored as their bit patterns.
 *
 * omen_half_to_float is exact.  omen_float_to_half rounds to nearest, ties
 * to even, as the F16C instruction does; magnitudes from 65520 up become
 * infinity and NaN stays NaN.  Both are portable C for single values; the
 * half kernels below convert in bulk with the CPU's instructions.
 */
#define OMEN_HALF_EXP_MASK	0x7C00
#define OMEN_HALF_ABS_MASK	0x7FFF

static inline float
omen_half_to_float(uint16_t h)
{
	uint32_t	sign = (uint32_t) (h & 0x8000) << 16;
	uint32_t	exp = (h & OMEN_HALF_EXP_MASK) >> 10;
	uint32_t	man = h & 0x03FF;
	uint32_t	bits;
	float		f;

	if (exp == 0)
	{
		/* zero or subnormal: man * 2^-24, exact in float */
		f = (float) man * 5.9604644775390625e-8f;
		return sign ? -f : f;
	}
	if (exp == 0x1F)
		bits = sign | 0x7F800000 | (man << 13);
	else
		bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static inline uint16_t
omen_float_to_half(float f)
{
	uint32_t	bits;
	uint32_t	abs;
	uint16_t	sign;

	memcpy(&bits, &f, sizeof(bits));
	sign = (uint16_t) ((bits >> 16) & 0x8000);
	abs = bits & 0x7FFFFFFF;

	if (abs > 0x7F800000)
		return sign | 0x7E00 | (uint16_t) ((abs >> 13) & 0x03FF);	/* NaN */
	if (abs >= 0x477FF000)
		return sign | OMEN_HALF_EXP_MASK;	/* >= 65520 (or inf): infinity */
	if (abs >= 0x38800000)
	{
		/*
		 * A normal half (>= 2^-14): rebias the exponent and round the 13
		 * dropped mantissa bits to nearest even; a carry moves into the
		 * exponent, which is right.
		 */
		abs += 0x0FFF + ((abs >> 13) & 1);
		return sign | (uint16_t) ((abs - ((uint32_t) (127 - 15) << 23)) >> 13);
	}
	else
	{
		/*
		 * Below 2^-14: adding 0.5 leaves float's rounding (to nearest even)
		 * at a step of 2^-24, the half subnormal step, so the low mantissa
		 * bits of the sum are the half's bits.  2^-14 itself comes out as
		 * the smallest normal half.
		 */
		float		t;
		uint32_t	tbits;

		memcpy(&t, &abs, sizeof(t));
		t += 0.5f;
		memcpy(&tbits, &t, sizeof(tbits));
		return sign | (uint16_t) (tbits - 0x3F000000);
	}
}

static inline int
omen_half_is_nan(uint16_t h)
{
	return (h & OMEN_HALF_ABS_MASK) > OMEN_HALF_EXP_MASK;
}

static inline int
omen_half_is_inf(uint16_t h)
{
	return (h & OMEN_HALF_ABS_MASK) == OMEN_HALF_EXP_MASK;
}

static inline int
omen_half_is_zero(uint16_t h)
{
	return (h & OMEN_HALF_ABS_MASK) == 0;
}

#endif							/* OMEN_DISTANCE_H */
