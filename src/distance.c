/*
 * distance.c
 *		Distance kernels and their runtime dispatch.
 *
 * Three variants of every kernel: portable C (the baseline, built without
 * -march flags so the module loads on any CPU), AVX2+FMA+F16C and
 * AVX-512F+BW.
 * The SIMD variants are compiled with per-function target attributes and only
 * called after cpuid and xgetbv say both the CPU and the OS support them;
 * their dense kernels are one template, distance_simd.h, instantiated per
 * instruction set.
 *
 * Every variant keeps several independent partial sums so that consecutive
 * adds or FMAs do not wait on each other's latency; partial sums are
 * combined in a fixed order, so a variant always returns the same result
 * for the same input.  The sparse merge kernels are the exception: one sum
 * in index order, as pgvector's sparsevec functions add.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "distance.h"

#if defined(__x86_64__) && \
	(defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8))
#define OMEN_HAVE_X86_SIMD 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/*
 * Element kinds of the dense kernel templates: float4, half (a binary16 bit
 * pattern, widened exactly to float), 8-bit code (decoded as offset +
 * scale * code), 4-bit code (two a byte, the low nibble first, decoded
 * alike) and half code (halves compared with a float4 query).  A kernel's
 * first operand is of the same kind as its second, except that a coded
 * vector is compared with a float4 query.
 */
typedef enum ElemKind
{
	ELEM_F32,
	ELEM_F16,
	ELEM_U8,
	ELEM_U4,
	ELEM_H16
} ElemKind;

#define QUERY_KIND(kind) \
	((kind) == ELEM_U8 || (kind) == ELEM_U4 || (kind) == ELEM_H16 ? \
	 ELEM_F32 : (kind))

/*
 * The terms the kernels sum: (a-b)^2, a*b or |a-b|.  The constant arguments
 * of the always-inlined templates below select the term and the element
 * kind at compile time.
 */
enum
{
	TERM_L2,
	TERM_DOT,
	TERM_L1
};

/*
 * s plus the term of x and y; fused selects fmaf(x, y, s) for s + x * y, as a
 * compiler contracts it when FMA is available.
 */
static inline __attribute__((always_inline)) float
scalar_term(int term, int fused, float x, float y, float s)
{
	if (term == TERM_L1)
		return s + fabsf(x - y);
	if (term == TERM_L2)
	{
		float		d = x - y;

		return fused ? __builtin_fmaf(d, d, s) : s + d * d;
	}
	return fused ? __builtin_fmaf(x, y, s) : s + x * y;
}

/*
 * Portable variant.  gcc does not vectorize a float reduction without
 * -ffast-math (it would reorder the sum), but 8 explicit partial sums are
 * independent lanes it can keep in two SSE registers at -O2 and that
 * aarch64 keeps in two NEON registers.
 */
#define PORTABLE_LANES 8

/* The partial sums s[0..lanes-1] (lanes 4 or 8) added in a fixed order. */
static inline __attribute__((always_inline)) float
sum_lanes(const float *s, int lanes)
{
	if (lanes == 4)
		return (s[0] + s[2]) + (s[1] + s[3]);
	return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Element i of p, of the given kind, as a float. */
static inline __attribute__((always_inline)) float
portable_elem(int kind, const void *p, int i, float offset, float scale)
{
	switch (kind)
	{
		case ELEM_F16:
		case ELEM_H16:
			return omen_half_to_float(((const uint16_t *) p)[i]);
		case ELEM_U8:
			return offset + scale * ((const unsigned char *) p)[i];
		case ELEM_U4:
			return offset + scale * omen_code_element(p, i, 4);
		default:
			return ((const float *) p)[i];
	}
}

/* s plus term of element i of a and b */
static inline __attribute__((always_inline)) float
portable_term(int term, int kind, const void *a, const void *b, int i,
			  float offset, float scale, float s)
{
	return scalar_term(term, 0, portable_elem(QUERY_KIND(kind), a, i, 0, 0),
					   portable_elem(kind, b, i, offset, scale), s);
}

/*
 * The sum of term over a[i], b[i], element i in lane i % PORTABLE_LANES.
 * Halves convert one at a time, with branches, and run faster in a loop of
 * single elements than in the blocks that let gcc keep float4s' partial
 * sums in registers.
 */
static inline __attribute__((always_inline)) float
portable_sum(int term, int kind, const void *a, const void *b, int n,
			 float offset, float scale)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	if (kind == ELEM_F16 || kind == ELEM_H16)
	{
		for (; i < n; i++)
			s[i % PORTABLE_LANES] = portable_term(term, kind, a, b, i, 0, 0,
												  s[i % PORTABLE_LANES]);
		return sum_lanes(s, PORTABLE_LANES);
	}
	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
			s[j] = portable_term(term, kind, a, b, i + j, offset, scale, s[j]);
	for (int j = 0; i < n; i++, j++)
		s[j] = portable_term(term, kind, a, b, i, offset, scale, s[j]);
	return sum_lanes(s, PORTABLE_LANES);
}

/* Adds element i of a and b to one lane of the cosine sums: *d, *na, *nb. */
static inline __attribute__((always_inline)) void
portable_cos_term(int kind, const void *a, const void *b, int i,
				  float *d, float *na, float *nb)
{
	float		x = portable_elem(QUERY_KIND(kind), a, i, 0, 0);
	float		y = portable_elem(kind, b, i, 0, 0);

	*d += x * y;
	*na += x * x;
	*nb += y * y;
}

/*
 * dot, sum a^2 and sum b^2 in one pass.  Float4s go in blocks of 4 lanes:
 * with 8, gcc keeps the 24 partial sums in memory instead of registers.
 * Halves go one at a time in PORTABLE_LANES lanes, as in portable_sum.
 */
static inline __attribute__((always_inline)) void
portable_cos_parts(int kind, const void *a, const void *b, int n,
				   float *dot, float *norma, float *normb)
{
	const int	lanes = kind == ELEM_F32 ? 4 : PORTABLE_LANES;
	float		d[PORTABLE_LANES] = {0};
	float		na[PORTABLE_LANES] = {0};
	float		nb[PORTABLE_LANES] = {0};
	int			i = 0;

	if (kind != ELEM_F32)
		for (; i < n; i++)
			portable_cos_term(kind, a, b, i, &d[i % lanes], &na[i % lanes],
							  &nb[i % lanes]);
	else
	{
		for (; i + lanes <= n; i += lanes)
			for (int j = 0; j < lanes; j++)
				portable_cos_term(kind, a, b, i + j, &d[j], &na[j], &nb[j]);
		for (int j = 0; i < n; i++, j++)
			portable_cos_term(kind, a, b, i, &d[j], &na[j], &nb[j]);
	}
	*dot = sum_lanes(d, lanes);
	*norma = sum_lanes(na, lanes);
	*normb = sum_lanes(nb, lanes);
}

static float
l2sq_portable(const float *a, const float *b, int n)
{
	return portable_sum(TERM_L2, ELEM_F32, a, b, n, 0, 0);
}

static float
dot_portable(const float *a, const float *b, int n)
{
	return portable_sum(TERM_DOT, ELEM_F32, a, b, n, 0, 0);
}

static float
l1_portable(const float *a, const float *b, int n)
{
	return portable_sum(TERM_L1, ELEM_F32, a, b, n, 0, 0);
}

static void
cos_parts_portable(const float *a, const float *b, int n,
				   float *dot, float *norma, float *normb)
{
	portable_cos_parts(ELEM_F32, a, b, n, dot, norma, normb);
}

static float
l2sq_u8_portable(const float *q, const unsigned char *code, float offset,
				 float scale, int n)
{
	return portable_sum(TERM_L2, ELEM_U8, q, code, n, offset, scale);
}

static float
dot_u8_portable(const float *q, const unsigned char *code, float offset,
				float scale, int n)
{
	return portable_sum(TERM_DOT, ELEM_U8, q, code, n, offset, scale);
}

float
omen_l1_u4(const float *q, const unsigned char *code, float offset,
		   float scale, int n)
{
	return portable_sum(TERM_L1, ELEM_U4, q, code, n, offset, scale);
}

static float
l2sq_u4_portable(const float *q, const unsigned char *code, float offset,
				 float scale, int n)
{
	return portable_sum(TERM_L2, ELEM_U4, q, code, n, offset, scale);
}

static float
dot_u4_portable(const float *q, const unsigned char *code, float offset,
				float scale, int n)
{
	return portable_sum(TERM_DOT, ELEM_U4, q, code, n, offset, scale);
}

static float
l2sq_half_portable(const uint16_t *a, const uint16_t *b, int n)
{
	return portable_sum(TERM_L2, ELEM_F16, a, b, n, 0, 0);
}

static float
dot_half_portable(const uint16_t *a, const uint16_t *b, int n)
{
	return portable_sum(TERM_DOT, ELEM_F16, a, b, n, 0, 0);
}

static float
l1_half_portable(const uint16_t *a, const uint16_t *b, int n)
{
	return portable_sum(TERM_L1, ELEM_F16, a, b, n, 0, 0);
}

static void
cos_parts_half_portable(const uint16_t *a, const uint16_t *b, int n,
						float *dot, float *norma, float *normb)
{
	portable_cos_parts(ELEM_F16, a, b, n, dot, norma, normb);
}

static float
l2sq_h16_portable(const float *q, const uint16_t *x, int n)
{
	return portable_sum(TERM_L2, ELEM_H16, q, x, n, 0, 0);
}

static float
dot_h16_portable(const float *q, const uint16_t *x, int n)
{
	return portable_sum(TERM_DOT, ELEM_H16, q, x, n, 0, 0);
}

static float
l1_h16_portable(const float *q, const uint16_t *x, int n)
{
	return portable_sum(TERM_L1, ELEM_H16, q, x, n, 0, 0);
}

static void
cos_parts_h16_portable(const float *q, const uint16_t *x, int n,
					   float *dot, float *normq, float *normx)
{
	portable_cos_parts(ELEM_H16, q, x, n, dot, normq, normx);
}

/*
 * Sparse merge kernels.  Both index lists are sorted and duplicate-free; a
 * merge visits the union of indices in ascending order and adds one term
 * each to a single float sum: (a-b)^2, a^2 or b^2 for L2, |a-b|, |a| or |b|
 * for L1, a*b at common indices for the inner product.  That is the order
 * pgvector adds them in, so the results agree with it bit for bit where
 * both round the same way (fused: see scalar_term).
 */
static inline __attribute__((always_inline)) float
sparse_merge(int term, int fused,
			 const int32_t *ai, const float *ax, int an,
			 const int32_t *bi, const float *bx, int bn)
{
	float		s = 0.0f;
	int			i = 0;
	int			j = 0;

	while (i < an && j < bn)
	{
		if (ai[i] == bi[j])
		{
			s = scalar_term(term, fused, ax[i], bx[j], s);
			i++;
			j++;
		}
		else if (ai[i] < bi[j])
		{
			if (term != TERM_DOT)
				s = scalar_term(term, fused, ax[i], 0.0f, s);
			i++;
		}
		else
		{
			if (term != TERM_DOT)
				s = scalar_term(term, fused, 0.0f, bx[j], s);
			j++;
		}
	}
	if (term != TERM_DOT)
	{
		for (; i < an; i++)
			s = scalar_term(term, fused, ax[i], 0.0f, s);
		for (; j < bn; j++)
			s = scalar_term(term, fused, 0.0f, bx[j], s);
	}
	return s;
}

static float
sparse_l2sq_portable(const int32_t *ai, const float *ax, int an,
					 const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(TERM_L2, 0, ai, ax, an, bi, bx, bn);
}

static float
sparse_dot_portable(const int32_t *ai, const float *ax, int an,
					const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(TERM_DOT, 0, ai, ax, an, bi, bx, bn);
}

float
omen_sparse_l1(const int32_t *ai, const float *ax, int an,
			   const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(TERM_L1, 0, ai, ax, an, bi, bx, bn);
}

/*
 * Popcount kernels over 64-bit words, then the last 0..7 bytes as one
 * zero-padded word.  hw selects __builtin_popcountll, which is one
 * instruction only in a function compiled for POPCNT; the portable variant
 * counts with shifts and masks instead of calling libgcc's table loop.
 */
static inline uint64_t
popcount64_swar(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

static inline __attribute__((always_inline)) uint64_t
popcount64(int hw, uint64_t x)
{
	return hw ? (uint64_t) __builtin_popcountll(x) : popcount64_swar(x);
}

/* The word at p, or its first bytes (< 8) padded with zeros. */
static inline uint64_t
load_word(const unsigned char *p, size_t bytes)
{
	uint64_t	w = 0;

	memcpy(&w, p, bytes < sizeof(w) ? bytes : sizeof(w));
	return w;
}

static inline __attribute__((always_inline)) uint64_t
hamming_words(int hw, const unsigned char *a, const unsigned char *b,
			  size_t bytes)
{
	uint64_t	n0 = 0,
				n1 = 0;
	size_t		i = 0;

	/* two sums, so that consecutive popcounts do not wait on each other */
	for (; i + 16 <= bytes; i += 16)
	{
		n0 += popcount64(hw, load_word(a + i, 8) ^ load_word(b + i, 8));
		n1 += popcount64(hw, load_word(a + i + 8, 8) ^ load_word(b + i + 8, 8));
	}
	for (; i + 8 <= bytes; i += 8)
		n0 += popcount64(hw, load_word(a + i, 8) ^ load_word(b + i, 8));
	if (i < bytes)
		n1 += popcount64(hw, load_word(a + i, bytes - i) ^ load_word(b + i, bytes - i));
	return n0 + n1;
}

static inline __attribute__((always_inline)) void
jaccard_words(int hw, const unsigned char *a, const unsigned char *b,
			  size_t bytes, uint64_t *ab, uint64_t *aa, uint64_t *bb)
{
	uint64_t	nab = 0,
				na = 0,
				nb = 0;
	size_t		i = 0;

	for (; i < bytes; i += 8)
	{
		/* a constant length for whole words lets memcpy become one load */
		size_t		len = bytes - i;
		uint64_t	x = len >= 8 ? load_word(a + i, 8) : load_word(a + i, len);
		uint64_t	y = len >= 8 ? load_word(b + i, 8) : load_word(b + i, len);

		nab += popcount64(hw, x & y);
		na += popcount64(hw, x);
		nb += popcount64(hw, y);
	}
	*ab = nab;
	*aa = na;
	*bb = nb;
}

static uint64_t
hamming_portable(const unsigned char *a, const unsigned char *b, size_t bytes)
{
	return hamming_words(0, a, b, bytes);
}

static void
jaccard_portable(const unsigned char *a, const unsigned char *b, size_t bytes,
				 uint64_t *ab, uint64_t *aa, uint64_t *bb)
{
	jaccard_words(0, a, b, bytes, ab, aa, bb);
}

/*
 * sum a*b over elements 2 * from .. n - 1 of two 4-bit codes of n elements:
 * the nibble pairs of whole bytes, then a last element alone in its byte.
 */
static inline uint32_t
dot_nibbles(const unsigned char *a, const unsigned char *b, int from, int n)
{
	uint32_t	s = 0;
	int			i = from;

	for (; i < n / 2; i++)
		s += (uint32_t) (a[i] & 0x0F) * (b[i] & 0x0F) +
			(uint32_t) (a[i] >> 4) * (b[i] >> 4);
	if (n % 2)
		s += (uint32_t) (a[i] & 0x0F) * (b[i] & 0x0F);
	return s;
}

static uint32_t
dot_codes4_portable(const unsigned char *a, const unsigned char *b, int n)
{
	return dot_nibbles(a, b, 0, n);
}

/* Four partial sums, as the float kernels keep. */
static uint32_t
dot_codes_portable(const unsigned char *a, const unsigned char *b, int n)
{
	uint32_t	s[4] = {0, 0, 0, 0};
	int			i = 0;

	for (; i + 4 <= n; i += 4)
		for (int j = 0; j < 4; j++)
			s[j] += (uint32_t) a[i + j] * b[i + j];
	for (; i < n; i++)
		s[0] += (uint32_t) a[i] * b[i];
	return s[0] + s[1] + s[2] + s[3];
}

/* The terms of bytes from .. bytes - 1 of a 4-bit code, added into t */
static inline void
query_nibbles(const unsigned char *even, const unsigned char *odd,
			  const unsigned char *code, int from, int bytes,
			  OmenQueryTerms *t)
{
	for (int j = from; j < bytes; j++)
	{
		unsigned	lo = code[j] & 0x0F;
		unsigned	hi = code[j] >> 4;

		t->dot += (uint32_t) even[j] * lo + (uint32_t) odd[j] * hi;
		t->sum += lo + hi;
		t->sumsq += lo * lo + hi * hi;
	}
}

static void
query_u4_portable(const unsigned char *u, const unsigned char *code, int n,
				  OmenQueryTerms *t)
{
	int			bytes = (n + 1) / 2;

	t->dot = t->sum = t->sumsq = 0;
	query_nibbles(u, u + bytes, code, 0, bytes, t);
}

static void
widen_half_portable(const uint16_t *x, int n, float *out)
{
	for (int i = 0; i < n; i++)
		out[i] = omen_half_to_float(x[i]);
}

static void
narrow_half_portable(const float *x, int n, uint16_t *out)
{
	for (int i = 0; i < n; i++)
		out[i] = omen_float_to_half(x[i]);
}

static const OmenKernelSet portable_kernels = {
	"portable", l2sq_portable, dot_portable, l1_portable, cos_parts_portable,
	l2sq_u8_portable, dot_u8_portable, l2sq_u4_portable, dot_u4_portable,
	sparse_l2sq_portable,
	sparse_dot_portable, hamming_portable, jaccard_portable,
	l2sq_half_portable, dot_half_portable, l1_half_portable,
	cos_parts_half_portable, l2sq_h16_portable, dot_h16_portable,
	l1_h16_portable, cos_parts_h16_portable, dot_codes_portable,
	dot_codes4_portable, query_u4_portable,
	widen_half_portable, narrow_half_portable
};

#ifdef OMEN_HAVE_X86_SIMD

/*
 * The merge and popcount kernels of the AVX2 and AVX-512 variants: fused
 * multiply-adds and the POPCNT instruction (every CPU with AVX2 has both;
 * detect_x86 checks POPCNT too).
 */
#define FMA_POPCNT_TARGET __attribute__((target("fma,popcnt")))

static FMA_POPCNT_TARGET float
sparse_l2sq_fma(const int32_t *ai, const float *ax, int an,
				const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(TERM_L2, 1, ai, ax, an, bi, bx, bn);
}

static FMA_POPCNT_TARGET float
sparse_dot_fma(const int32_t *ai, const float *ax, int an,
			   const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(TERM_DOT, 1, ai, ax, an, bi, bx, bn);
}

static FMA_POPCNT_TARGET uint64_t
hamming_popcnt(const unsigned char *a, const unsigned char *b, size_t bytes)
{
	return hamming_words(1, a, b, bytes);
}

static FMA_POPCNT_TARGET void
jaccard_popcnt(const unsigned char *a, const unsigned char *b, size_t bytes,
			   uint64_t *ab, uint64_t *aa, uint64_t *bb)
{
	jaccard_words(1, a, b, bytes, ab, aa, bb);
}

/*
 * AVX2+FMA+F16C variant (F16C, which every AVX2 CPU has, for the half
 * kernels): registers of 8 floats.  The last 1..7 float4s are one masked
 * load: masked lanes read as 0 and never fault.
 */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

/* A window of 8 starting at tail_mask_bits[8 - r] enables the first r lanes. */
static const int32_t tail_mask_bits[16] = {
	-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0
};

static inline AVX2_TARGET __m256i
avx2_tail_mask(int r)
{
	return _mm256_loadu_si256((const __m256i *) (tail_mask_bits + 8 - r));
}

static inline AVX2_TARGET float
avx2_hsum(__m256 v)
{
	__m128		x = _mm_add_ps(_mm256_castps256_ps128(v),
							   _mm256_extractf128_ps(v, 1));

	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

/*
 * Codes widened to 16 bits, 16 a register: vpmaddwd multiplies them and adds
 * pairs of products into 32-bit lanes (255^2 * 2 fits easily), and the lanes
 * add up the exact sum.
 */
/* The sum of v's 8 32-bit lanes */
static inline AVX2_TARGET uint32_t
avx2_hsum_epi32(__m256i v)
{
	__m128i		x = _mm_add_epi32(_mm256_castsi256_si128(v),
								  _mm256_extracti128_si256(v, 1));

	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
	return (uint32_t) _mm_cvtsi128_si32(x);
}

static AVX2_TARGET uint32_t
dot_codes_avx2(const unsigned char *a, const unsigned char *b, int n)
{
	__m256i		s0 = _mm256_setzero_si256();
	__m256i		s1 = _mm256_setzero_si256();
	uint32_t	sum;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256i		a0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
		__m256i		b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));
		__m256i		a1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (a + i + 16)));
		__m256i		b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (b + i + 16)));

		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
		s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(a1, b1));
	}
	sum = avx2_hsum_epi32(_mm256_add_epi32(s0, s1));
	for (; i < n; i++)
		sum += (uint32_t) a[i] * b[i];
	return sum;
}

/*
 * Both operands' nibbles split into bytes of low and of high nibbles:
 * vpmaddubsw multiplies them and adds pairs of products into 16 bits (at
 * most 2 * 15^2), the two halves' sums add there too, and vpmaddwd widens
 * the sums into 32-bit lanes.
 */
static AVX2_TARGET uint32_t
dot_codes4_avx2(const unsigned char *a, const unsigned char *b, int n)
{
	const __m256i low = _mm256_set1_epi8(0x0F);
	const __m256i one = _mm256_set1_epi16(1);
	__m256i		s = _mm256_setzero_si256();
	int			i = 0;

	for (; i + 32 <= n / 2; i += 32)
	{
		__m256i		x = _mm256_loadu_si256((const __m256i *) (a + i));
		__m256i		y = _mm256_loadu_si256((const __m256i *) (b + i));
		__m256i		lo = _mm256_maddubs_epi16(_mm256_and_si256(x, low),
											  _mm256_and_si256(y, low));
		__m256i		hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(x, 4), low),
											  _mm256_and_si256(_mm256_srli_epi16(y, 4), low));

		s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_add_epi16(lo, hi), one));
	}
	return avx2_hsum_epi32(s) + dot_nibbles(a, b, i, n);
}

/*
 * 32 bytes of codes an iteration, split into low and high nibbles: the
 * query's bytes times each by vpmaddubsw (pairs of products, at most
 * 2 * 255 * 15, add into 16 bits), the squares likewise, the nibbles' sum
 * by vpsadbw.  The lanes cannot overflow below 2^31 / (8 * 255 * 15)
 * iterations, more than any code has.
 */
static AVX2_TARGET void
query_u4_avx2(const unsigned char *u, const unsigned char *code, int n,
			  OmenQueryTerms *t)
{
	const unsigned char *even = u;
	int			bytes = (n + 1) / 2;
	const unsigned char *odd = even + bytes;
	const __m256i low = _mm256_set1_epi8(0x0F);
	const __m256i one = _mm256_set1_epi16(1);
	__m256i		dot = _mm256_setzero_si256();
	__m256i		sq = _mm256_setzero_si256();
	__m256i		sum = _mm256_setzero_si256();
	int			j = 0;

	for (; j + 32 <= bytes; j += 32)
	{
		__m256i		c = _mm256_loadu_si256((const __m256i *) (code + j));
		__m256i		lo = _mm256_and_si256(c, low);
		__m256i		hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), low);
		__m256i		e = _mm256_loadu_si256((const __m256i *) (even + j));
		__m256i		o = _mm256_loadu_si256((const __m256i *) (odd + j));

		dot = _mm256_add_epi32(dot, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(e, lo),
																		_mm256_maddubs_epi16(o, hi)),
													  one));
		sq = _mm256_add_epi32(sq, _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, lo),
																	  _mm256_maddubs_epi16(hi, hi)),
													one));
		sum = _mm256_add_epi64(sum, _mm256_sad_epu8(_mm256_add_epi8(lo, hi),
													_mm256_setzero_si256()));
	}
	t->dot = avx2_hsum_epi32(dot);
	t->sumsq = avx2_hsum_epi32(sq);
	t->sum = (uint64_t) _mm256_extract_epi64(sum, 0) + _mm256_extract_epi64(sum, 1) +
		_mm256_extract_epi64(sum, 2) + _mm256_extract_epi64(sum, 3);
	query_nibbles(even, odd, code, j, bytes, t);
}

/*
 * The 4-bit codes packed in the low 8 bytes of p, one a byte in element
 * order: each byte widened to 16 bits, its low nibble kept in the low byte
 * and its high nibble moved to the high one.
 */
static inline AVX2_TARGET __attribute__((always_inline)) __m128i
nibbles_avx2(__m128i p)
{
	__m128i		w = _mm_cvtepu8_epi16(p);

	return _mm_or_si128(_mm_and_si128(w, _mm_set1_epi16(0x0F)),
						_mm_slli_epi16(_mm_srli_epi16(w, 4), 8));
}

/* 8 4-bit codes from the 4 bytes at c, one a byte */
static inline AVX2_TARGET __attribute__((always_inline)) __m128i
load_nibbles_avx2(const unsigned char *c)
{
	int32_t		v;

	memcpy(&v, c, sizeof(v));
	return nibbles_avx2(_mm_cvtsi32_si128(v));
}

#define SIMD_TARGET AVX2_TARGET
#define SIMD_FN(name) name##_avx2
#define SIMD_NAME "avx2"
#define SIMD_WIDTH 8
#define simd_t __m256
#define SIMD_ZERO() _mm256_setzero_ps()
#define SIMD_SET1(x) _mm256_set1_ps(x)
#define SIMD_ADD(x, y) _mm256_add_ps(x, y)
#define SIMD_SUB(x, y) _mm256_sub_ps(x, y)
/* clearing the sign bit is fabsf */
#define SIMD_ABS(x) \
	_mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)))
#define SIMD_FMADD(x, y, s) _mm256_fmadd_ps(x, y, s)
#define SIMD_HSUM(x) avx2_hsum(x)
#define SIMD_LOAD(p) _mm256_loadu_ps(p)
#define SIMD_STORE(p, x) _mm256_storeu_ps(p, x)
/*
 * 8 halves widened, or 8 floats rounded to nearest even, by one F16C
 * instruction
 */
#define SIMD_LOAD_HALF(p) \
	_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (p)))
#define SIMD_STORE_HALF(p, x) \
	_mm_storeu_si128((__m128i *) (p), _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT))
/* 8 codes widened to 8 floats and decoded with one FMA */
#define SIMD_DECODE(c, offset, scale) \
	_mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32( \
		_mm_loadl_epi64((const __m128i *) (c)))), offset)
#define SIMD_DECODE_NIBBLES(c, offset, scale) \
	_mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32( \
		load_nibbles_avx2(c))), offset)
#define SIMD_LOAD_TAIL(p, r) _mm256_maskload_ps(p, avx2_tail_mask(r))
#define SIMD_FIRST(x, r) \
	_mm256_and_ps(x, _mm256_castsi256_ps(avx2_tail_mask(r)))
#include "distance_simd.h"

/*
 * AVX-512F+BW variant: registers of 16 floats; the last 1..15 float4s are
 * one zero-masking load, which does not fault on masked-out lanes.  avx2
 * and fma are enabled too because the compiler may use them for the
 * surrounding scalar code; the variant is only offered when the CPU has
 * them.  BW is for the codes' 16-bit products.
 */
#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx2,fma,f16c")))

static inline AVX512_TARGET __mmask16
avx512_tail_mask(int r)
{
	return (__mmask16) ((1u << r) - 1);
}

/* dot_codes_avx2's scheme, 32 codes a register */
static AVX512_TARGET uint32_t
dot_codes_avx512(const unsigned char *a, const unsigned char *b, int n)
{
	__m512i		s0 = _mm512_setzero_si512();
	__m512i		s1 = _mm512_setzero_si512();
	uint32_t	sum;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m512i		a0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (a + i)));
		__m512i		b0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (b + i)));
		__m512i		a1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (a + i + 32)));
		__m512i		b1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (b + i + 32)));

		s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(a0, b0));
		s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(a1, b1));
	}
	sum = (uint32_t) _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
	for (; i < n; i++)
		sum += (uint32_t) a[i] * b[i];
	return sum;
}

/* dot_codes4_avx2's scheme, 64 bytes a register */
static AVX512_TARGET uint32_t
dot_codes4_avx512(const unsigned char *a, const unsigned char *b, int n)
{
	const __m512i low = _mm512_set1_epi8(0x0F);
	const __m512i one = _mm512_set1_epi16(1);
	__m512i		s = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 64 <= n / 2; i += 64)
	{
		__m512i		x = _mm512_loadu_si512((const void *) (a + i));
		__m512i		y = _mm512_loadu_si512((const void *) (b + i));
		__m512i		lo = _mm512_maddubs_epi16(_mm512_and_si512(x, low),
											  _mm512_and_si512(y, low));
		__m512i		hi = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(x, 4), low),
											  _mm512_and_si512(_mm512_srli_epi16(y, 4), low));

		s = _mm512_add_epi32(s, _mm512_madd_epi16(_mm512_add_epi16(lo, hi), one));
	}
	return (uint32_t) _mm512_reduce_add_epi32(s) + dot_nibbles(a, b, i, n);
}

/*
 * query_u4_avx2's scheme, 64 bytes of codes an iteration, the last ones by
 * loads that leave the bytes past the code 0 and do not read them
 */
static AVX512_TARGET void
query_u4_avx512(const unsigned char *u, const unsigned char *code, int n,
				OmenQueryTerms *t)
{
	const unsigned char *even = u;
	int			bytes = (n + 1) / 2;
	const unsigned char *odd = even + bytes;
	const __m512i low = _mm512_set1_epi8(0x0F);
	const __m512i one = _mm512_set1_epi16(1);
	__m512i		dot = _mm512_setzero_si512();
	__m512i		sq = _mm512_setzero_si512();
	__m512i		sum = _mm512_setzero_si512();
	int			j = 0;

	for (; j < bytes; j += 64)
	{
		__mmask64	m = bytes - j >= 64 ? ~(__mmask64) 0 :
			((__mmask64) 1 << (bytes - j)) - 1;
		__m512i		c = _mm512_maskz_loadu_epi8(m, (const void *) (code + j));
		__m512i		lo = _mm512_and_si512(c, low);
		__m512i		hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), low);
		__m512i		e = _mm512_maskz_loadu_epi8(m, (const void *) (even + j));
		__m512i		o = _mm512_maskz_loadu_epi8(m, (const void *) (odd + j));

		dot = _mm512_add_epi32(dot, _mm512_madd_epi16(_mm512_add_epi16(_mm512_maddubs_epi16(e, lo),
																		_mm512_maddubs_epi16(o, hi)),
													  one));
		sq = _mm512_add_epi32(sq, _mm512_madd_epi16(_mm512_add_epi16(_mm512_maddubs_epi16(lo, lo),
																	  _mm512_maddubs_epi16(hi, hi)),
													one));
		sum = _mm512_add_epi64(sum, _mm512_sad_epu8(_mm512_add_epi8(lo, hi),
													_mm512_setzero_si512()));
	}
	t->dot = (uint32_t) _mm512_reduce_add_epi32(dot);
	t->sumsq = (uint32_t) _mm512_reduce_add_epi32(sq);
	t->sum = (uint64_t) _mm512_reduce_add_epi64(sum);
}

#define SIMD_TARGET AVX512_TARGET
#define SIMD_FN(name) name##_avx512
#define SIMD_NAME "avx512"
#define SIMD_WIDTH 16
#define simd_t __m512
#define SIMD_ZERO() _mm512_setzero_ps()
#define SIMD_SET1(x) _mm512_set1_ps(x)
#define SIMD_ADD(x, y) _mm512_add_ps(x, y)
#define SIMD_SUB(x, y) _mm512_sub_ps(x, y)
#define SIMD_ABS(x) _mm512_abs_ps(x)
#define SIMD_FMADD(x, y, s) _mm512_fmadd_ps(x, y, s)
#define SIMD_HSUM(x) _mm512_reduce_add_ps(x)
#define SIMD_LOAD(p) _mm512_loadu_ps(p)
#define SIMD_STORE(p, x) _mm512_storeu_ps(p, x)
/* 16 halves widened by one vcvtph2ps, or 16 floats rounded by one vcvtps2ph */
#define SIMD_LOAD_HALF(p) \
	_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (p)))
#define SIMD_STORE_HALF(p, x) \
	_mm256_storeu_si256((__m256i *) (p), _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT))
#define SIMD_DECODE(c, offset, scale) \
	_mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32( \
		_mm_loadu_si128((const __m128i *) (c)))), offset)
#define SIMD_DECODE_NIBBLES(c, offset, scale) \
	_mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32( \
		nibbles_avx2(_mm_loadl_epi64((const __m128i *) (c))))), offset)
#define SIMD_LOAD_TAIL(p, r) _mm512_maskz_loadu_ps(avx512_tail_mask(r), p)
#define SIMD_FIRST(x, r) _mm512_maskz_mov_ps(avx512_tail_mask(r), x)
#include "distance_simd.h"

/*
 * AVX-512 VNNI: vpdpbusd multiplies 64 unsigned bytes by 64 signed ones and
 * adds each four products into a 32-bit lane (at most 4 * 255 * 128 in
 * magnitude an iteration).  b's bytes, 0 to 255, are taken as b - 128 by
 * flipping their top bit, and 128 times the sum of a's, which vpsadbw adds
 * up, is added back.  The last bytes are loaded as zeros, which add
 * nothing either way.
 */
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma,f16c")))

static VNNI_TARGET uint32_t
dot_codes_vnni(const unsigned char *a, const unsigned char *b, int n)
{
	const __m512i flip = _mm512_set1_epi8((char) 0x80);
	__m512i		d0 = _mm512_setzero_si512();
	__m512i		d1 = _mm512_setzero_si512();
	__m512i		sum = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 128 <= n; i += 128)
	{
		__m512i		x0 = _mm512_loadu_si512((const void *) (a + i));
		__m512i		x1 = _mm512_loadu_si512((const void *) (a + i + 64));

		d0 = _mm512_dpbusd_epi32(d0, x0, _mm512_xor_si512(_mm512_loadu_si512((const void *) (b + i)), flip));
		d1 = _mm512_dpbusd_epi32(d1, x1, _mm512_xor_si512(_mm512_loadu_si512((const void *) (b + i + 64)), flip));
		sum = _mm512_add_epi64(sum, _mm512_add_epi64(_mm512_sad_epu8(x0, _mm512_setzero_si512()),
													 _mm512_sad_epu8(x1, _mm512_setzero_si512())));
	}
	for (; i < n; i += 64)
	{
		__mmask64	m = n - i >= 64 ? ~(__mmask64) 0 :
			((__mmask64) 1 << (n - i)) - 1;
		__m512i		x = _mm512_maskz_loadu_epi8(m, (const void *) (a + i));
		__m512i		y = _mm512_maskz_loadu_epi8(m, (const void *) (b + i));

		d0 = _mm512_dpbusd_epi32(d0, x, _mm512_xor_si512(y, flip));
		sum = _mm512_add_epi64(sum, _mm512_sad_epu8(x, _mm512_setzero_si512()));
	}
	d0 = _mm512_add_epi32(d0, d1);
	return (uint32_t) (_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(d0)),
																_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(d0, 1)))) +
					   128 * _mm512_reduce_add_epi64(sum));
}

/* The AVX-512 kernels but for dot_codes: set up by omen_kernel_variants */
static OmenKernelSet kernels_avx512vnni;

/* XCR0 bits the OS sets when it saves the register state on context switch */
#define XCR0_SSE		(1u << 1)
#define XCR0_YMM		(1u << 2)
#define XCR0_OPMASK		(1u << 5)
#define XCR0_ZMM_HI256	(1u << 6)
#define XCR0_HI16_ZMM	(1u << 7)
#define XCR0_AVX		(XCR0_SSE | XCR0_YMM)
#define XCR0_AVX512		(XCR0_AVX | XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM)

/* Caller must have checked CPUID.1:ECX.OSXSAVE, else xgetbv faults. */
static uint64_t
read_xcr0(void)
{
	uint32_t	lo,
				hi;

	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t) hi << 32) | lo;
}

/*
 * What this CPU and OS can run.  cpuid alone is not enough: a CPU with
 * AVX-512 under an OS (or hypervisor) that does not save the ZMM and opmask
 * registers would corrupt them across context switches, so XCR0 must show
 * that state enabled too.
 */
static void
detect_x86(int *avx2, int *avx512, int *vnni)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;
	uint64_t	xcr0;

	*avx2 = *avx512 = *vnni = 0;
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return;
	if (!(ecx & bit_OSXSAVE) || !(ecx & bit_AVX) || !(ecx & bit_FMA) ||
		!(ecx & bit_POPCNT) || !(ecx & bit_F16C))
		return;
	xcr0 = read_xcr0();
	if ((xcr0 & XCR0_AVX) != XCR0_AVX)
		return;
	if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
		return;
	if (!(ebx & bit_AVX2))
		return;
	*avx2 = 1;
	if ((ebx & bit_AVX512F) && (ebx & bit_AVX512BW) &&
		(xcr0 & XCR0_AVX512) == XCR0_AVX512)
	{
		*avx512 = 1;
		*vnni = (ecx & bit_AVX512VNNI) != 0;
	}
}

#endif							/* OMEN_HAVE_X86_SIMD */

omen_pair_fn omen_l2sq = l2sq_portable;
omen_pair_fn omen_dot = dot_portable;
omen_pair_fn omen_l1 = l1_portable;
omen_cos_fn omen_cos_parts = cos_parts_portable;
omen_u8_fn	omen_l2sq_u8 = l2sq_u8_portable;
omen_u8_fn	omen_dot_u8 = dot_u8_portable;
omen_u8_fn	omen_l2sq_u4 = l2sq_u4_portable;
omen_u8_fn	omen_dot_u4 = dot_u4_portable;
omen_sparse_fn omen_sparse_l2sq = sparse_l2sq_portable;
omen_sparse_fn omen_sparse_dot = sparse_dot_portable;
omen_hamming_fn omen_hamming = hamming_portable;
omen_jaccard_fn omen_jaccard = jaccard_portable;
omen_half_pair_fn omen_l2sq_half = l2sq_half_portable;
omen_half_pair_fn omen_dot_half = dot_half_portable;
omen_half_pair_fn omen_l1_half = l1_half_portable;
omen_half_cos_fn omen_cos_parts_half = cos_parts_half_portable;
omen_h16_fn omen_l2sq_h16 = l2sq_h16_portable;
omen_h16_fn omen_dot_h16 = dot_h16_portable;
omen_h16_fn omen_l1_h16 = l1_h16_portable;
omen_h16_cos_fn omen_cos_parts_h16 = cos_parts_h16_portable;
omen_codes_fn omen_dot_codes = dot_codes_portable;
omen_codes_fn omen_dot_codes4 = dot_codes4_portable;
omen_query_fn omen_query_u4 = query_u4_portable;
omen_widen_fn omen_widen_half = widen_half_portable;
omen_narrow_fn omen_narrow_half = narrow_half_portable;

static const OmenKernelSet *chosen = &portable_kernels;

int
omen_kernel_variants(const OmenKernelSet **out, int max)
{
	int			n = 0;

#ifdef OMEN_HAVE_X86_SIMD
	int			avx2,
				avx512,
				vnni;

	detect_x86(&avx2, &avx512, &vnni);
#endif

	if (n < max)
		out[n++] = &portable_kernels;
#ifdef OMEN_HAVE_X86_SIMD
	if (avx2 && n < max)
		out[n++] = &kernels_avx2;
	if (avx512 && n < max)
		out[n++] = &kernels_avx512;
	if (avx512 && vnni && n < max)
	{
		kernels_avx512vnni = kernels_avx512;
		kernels_avx512vnni.name = "avx512vnni";
		kernels_avx512vnni.dot_codes = dot_codes_vnni;
		out[n++] = &kernels_avx512vnni;
	}
#endif
	return n;
}

/*
 * Use the fastest variant, or the one named by OMEN_KERNELS (for tests and
 * benchmarks) if this machine can run it; an unknown or unsupported name
 * falls back to the fastest.
 */
void
omen_kernels_init(void)
{
	const OmenKernelSet *v[OMEN_MAX_KERNEL_VARIANTS];
	int			n = omen_kernel_variants(v, OMEN_MAX_KERNEL_VARIANTS);
	const char *want = getenv("OMEN_KERNELS");

	/* variants are listed slowest first */
	chosen = v[n - 1];
	if (want != NULL)
	{
		for (int i = 0; i < n; i++)
			if (strcmp(v[i]->name, want) == 0)
				chosen = v[i];
	}
	omen_l2sq = chosen->l2sq;
	omen_dot = chosen->dot;
	omen_l1 = chosen->l1;
	omen_cos_parts = chosen->cos_parts;
	omen_l2sq_u8 = chosen->l2sq_u8;
	omen_dot_u8 = chosen->dot_u8;
	omen_l2sq_u4 = chosen->l2sq_u4;
	omen_dot_u4 = chosen->dot_u4;
	omen_sparse_l2sq = chosen->sparse_l2sq;
	omen_sparse_dot = chosen->sparse_dot;
	omen_hamming = chosen->hamming;
	omen_jaccard = chosen->jaccard;
	omen_l2sq_half = chosen->l2sq_half;
	omen_dot_half = chosen->dot_half;
	omen_l1_half = chosen->l1_half;
	omen_cos_parts_half = chosen->cos_parts_half;
	omen_l2sq_h16 = chosen->l2sq_h16;
	omen_dot_h16 = chosen->dot_h16;
	omen_l1_h16 = chosen->l1_h16;
	omen_cos_parts_h16 = chosen->cos_parts_h16;
	omen_dot_codes = chosen->dot_codes;
	omen_dot_codes4 = chosen->dot_codes4;
	omen_query_u4 = chosen->query_u4;
	omen_widen_half = chosen->widen_half;
	omen_narrow_half = chosen->narrow_half;
}

/*
 * Each product of two floats is exact in double, and no sum of fewer than
 * 2^31 of them overflows double (2^31 * FLT_MAX^2 is about 2.5e86).  The
 * sum is compensated (Neumaier): the low-order bits each addition loses are
 * added back at the end, so huge products that cancel do not swallow the
 * small ones.
 */
static inline void
compensated_add(double *sum, double *lost, double x)
{
	double		t = *sum + x;

	*lost += fabs(*sum) >= fabs(x) ? (*sum - t) + x : (x - t) + *sum;
	*sum = t;
}

float
omen_dot_careful(const float *a, const float *b, int n)
{
	double		sum = 0.0;
	double		lost = 0.0;

	for (int i = 0; i < n; i++)
		compensated_add(&sum, &lost, (double) a[i] * (double) b[i]);
	return (float) (sum + lost);
}

float
omen_dot_code_careful(const float *q, const unsigned char *code, int bits,
					  float offset, float scale, int n)
{
	double		sum = 0.0;
	double		lost = 0.0;

	for (int i = 0; i < n; i++)
		compensated_add(&sum, &lost,
						q[i] * ((double) offset +
								(double) scale * omen_code_element(code, i, bits)));
	return (float) (sum + lost);
}

void
omen_quantize(const float *x, int n, int bits, unsigned char *code,
			  float *offset, float *scale)
{
	float		lo = x[0];
	float		hi = x[0];
	int			per = 8 / bits;
	double		step;

	memset(code, 0, OMEN_CODE_BYTES(n, bits));
	if (bits == OMEN_CODE_HALVES)
	{
		omen_narrow_half(x, n, (uint16_t *) code);
		*offset = 0;
		*scale = 0;
		return;
	}
	for (int i = 1; i < n; i++)
	{
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
	}
	/* in double: hi - lo may exceed FLT_MAX */
	step = ((double) hi - lo) / ((1 << bits) - 1);
	for (int i = 0; i < n; i++)
	{
		unsigned	c = step > 0 ? (unsigned) lrint((x[i] - (double) lo) / step) : 0;

		code[i / per] |= c << (bits * (i % per));
	}
	*offset = lo;
	*scale = (float) step;
}

/*
 * The error is summed in double, where each decoded element (a float times
 * an integer below 2^8, plus a float) is rounded once: that rounding is far
 * below the margin taken off.
 */
uint16_t
omen_code_tightness(const float *x, int n, int bits, const unsigned char *code,
					float offset, float scale)
{
	double		err2 = 0;
	double		widest;
	double		frac;

	if (bits == OMEN_CODE_HALVES || n <= 0)
		return 0;
	for (int i = 0; i < n; i++)
	{
		double		d = x[i] - ((double) offset +
								(double) scale * omen_code_element(code, i, bits));

		err2 += d * d;
	}
	if (err2 == 0)
		return OMEN_TIGHT_MAX;
	widest = sqrt((double) n) * scale / 2;
	frac = sqrt(err2) / widest * (1 + 1e-9);
	if (!(frac < 1))
		return 0;
	return (uint16_t) floor((1 - frac) * OMEN_TIGHT_MAX);
}

bool
omen_bits_query(const float *q, int n, unsigned char *code, float *value)
{
	float		v = 0;

	memset(code, 0, OMEN_CODE_BYTES(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (!isfinite(q[i]))
			return false;
		if (q[i] == 0)
			continue;
		if (v == 0)
			v = q[i];
		else if (q[i] != v)
			return false;
		code[i / 8] |= 1 << (i % 8);
	}
	*value = v;
	return true;
}

/*
 * Element i of the code is offset + scale * b[i] and of the query
 * qvalue * a[i], for bits a[i] and b[i]; the four pairs of bits are
 * counted, and each count weighs its pair's term.
 */
float
omen_bits_code_distance(int metric, const unsigned char *qcode, float qvalue,
						const unsigned char *code, float offset, float scale,
						int n)
{
	uint64_t	n11;
	uint64_t	na;
	uint64_t	nb;
	double		q = qvalue;
	double		o = offset;
	double		s = scale;

	omen_jaccard(qcode, code, OMEN_CODE_BYTES(n, 1), &n11, &na, &nb);
	if (metric == OMEN_METRIC_L2)
	{
		double		n10 = (double) (na - n11);
		double		n01 = (double) (nb - n11);
		double		n00 = (double) n - na - nb + n11;

		return (float) (n11 * (q - o - s) * (q - o - s) +
						n10 * (q - o) * (q - o) +
						n01 * (o + s) * (o + s) +
						n00 * o * o);
	}
	return (float) -(q * (o * na + s * n11));
}

/* Each byte of in[0..nin - 1] as two: its low shift bits, then the rest */
static inline void
split_bytes(const unsigned char *restrict in, int nin, int shift,
			unsigned char *restrict out)
{
	for (int j = 0; j < nin; j++)
	{
		out[2 * j] = in[j] & ((1u << shift) - 1);
		out[2 * j + 1] = in[j] >> shift;
	}
}

/*
 * Blocks of 16 packed bytes, split by loops of a fixed length that the
 * compiler turns into vector instructions of the baseline target (2- and
 * 1-bit codes in steps: into nibbles, then the nibbles into pairs of bits,
 * then the pairs into bits); the elements after the last block one at a
 * time.  The coded kernels take 2- and 1-bit codes so unpacked
 * (omen_kernel_bits).
 */
void
omen_code_unpack(const unsigned char *restrict code, int n, int bits,
				 unsigned char *restrict out)
{
	int			per = 8 / bits;
	int			b = 0;

	if (bits == 8)
	{
		memcpy(out, code, n);
		return;
	}
	for (; (b + 16) * per <= n; b += 16)
	{
		unsigned char nibbles[32];
		unsigned char pairs[64];

		if (bits == 4)
			split_bytes(code + b, 16, 4, out + 2 * b);
		else
		{
			split_bytes(code + b, 16, 4, nibbles);
			if (bits == 2)
				split_bytes(nibbles, 32, 2, out + 4 * b);
			else
			{
				split_bytes(nibbles, 32, 2, pairs);
				split_bytes(pairs, 64, 1, out + 8 * b);
			}
		}
	}
	for (int i = b * per; i < n; i++)
		out[i] = omen_code_element(code, i, bits);
}

/*
 * Blocks of a fixed length, and code and out declared apart, so that the
 * compiler turns the inner loop into vector instructions of the baseline
 * target; the results equal the plain loop's, element for element.
 */
void
omen_code_decode(const unsigned char *restrict code, int n, int bits,
				 float offset, float scale, float *restrict out)
{
	int			i = 0;

	if (bits == OMEN_CODE_HALVES)
	{
		omen_widen_half((const uint16_t *) code, n, out);
		return;
	}
	if (bits == 4)
	{
		for (; i + 32 <= n; i += 32)
		{
			const unsigned char *c = code + i / 2;
			float	   *o = out + i;

			for (int j = 0; j < 16; j++)
			{
				o[2 * j] = offset + scale * (c[j] & 0x0F);
				o[2 * j + 1] = offset + scale * (c[j] >> 4);
			}
		}
		for (; i < n; i++)
			out[i] = offset + scale * omen_code_element(code, i, 4);
		return;
	}
	for (; i + 16 <= n; i += 16)
	{
		const unsigned char *c = code + i;
		float	   *o = out + i;

		for (int j = 0; j < 16; j++)
			o[j] = offset + scale * c[j];
	}
	for (; i < n; i++)
		out[i] = offset + scale * code[i];
}

/*
 * The sum of a code's elements is its products with codes of 1s, a block of
 * bytes at a time: 8-bit ones, or 4-bit ones two a byte.
 */
#define OMEN_ONES_BLOCK 256
static const unsigned char ones[OMEN_ONES_BLOCK] = {[0 ... OMEN_ONES_BLOCK - 1] = 1};
static const unsigned char ones4[OMEN_ONES_BLOCK] = {[0 ... OMEN_ONES_BLOCK - 1] = 0x11};

void
omen_code_sums(const unsigned char *code, int n, int bits, OmenCodeSums *sums)
{
	omen_codes_fn dot = bits == 4 ? omen_dot_codes4 : omen_dot_codes;
	int			per = 8 / bits;
	int			block = per * OMEN_ONES_BLOCK;
	uint32_t	sum = 0;

	for (int i = 0; i < n; i += block)
		sum += dot(code + i / per, bits == 4 ? ones4 : ones,
				   n - i < block ? n - i : block);
	sums->sum = sum;
	sums->sumsq = dot(code, code, n);
}

/*
 * The distance between two vectors of n elements oa + sa * a[i] and
 * ob + sb * b[i], from the sums of a, b, their squares (asq, bsq) and
 * their products (ab)
 */
static inline float
combine_sums(int metric, int n, double oa, double sa, double asum, double asq,
			 double ob, double sb, double bsum, double bsq, double ab)
{
	if (metric == OMEN_METRIC_L2)
	{
		double		d = oa - ob;

		return (float) ((n * (d * d) + 2 * d * (sa * asum - sb * bsum)) +
						(sa * sa * asq + sb * sb * bsq) - 2 * ((sa * sb) * ab));
	}
	return (float) -(n * (oa * ob) + (oa * sb * bsum + ob * sa * asum) +
					 (sa * sb) * ab);
}

float
omen_code_pair_distance(int metric, int n, int bits, const OmenCodeSums *a,
						const unsigned char *acode, const OmenCodeSums *b,
						const unsigned char *bcode)
{
	double		ab = (bits == 4 ? omen_dot_codes4 : omen_dot_codes) (acode,
																	  bcode, n);

	return combine_sums(metric, n, a->offset, a->scale, a->sum, a->sumsq,
						b->offset, b->scale, b->sum, b->sumsq, ab);
}

bool
omen_query_quantize(const float *q, int n, unsigned char *u, OmenQueryCode *qc)
{
	int			bytes = (n + 1) / 2;
	double		lo = INFINITY;
	double		hi = -INFINITY;
	double		step;

	if (n <= 0)
		return false;
	qc->limit = omen_code_pair_limit(n);
	for (int i = 0; i < n; i++)
	{
		if (!(fabsf(q[i]) < qc->limit))
			return false;
		lo = fmin(lo, q[i]);
		hi = fmax(hi, q[i]);
	}
	step = (hi - lo) / 255;
	qc->n = n;
	qc->offset = lo;
	qc->scale = step;
	qc->sum = qc->sumsq = 0;
	qc->u = u;
	u[2 * bytes - 1] = 0;
	for (int i = 0; i < n; i++)
	{
		unsigned	v = step > 0 ? (unsigned) lrint((q[i] - lo) / step) : 0;

		v = v > 255 ? 255 : v;
		qc->sum += v;
		qc->sumsq += v * v;
		u[i / 2 + (i % 2) * bytes] = v;
	}
	return true;
}

float
omen_query_code_distance(int metric, const OmenQueryCode *qc,
						 const unsigned char *code, float offset, float scale)
{
	OmenQueryTerms t;

	if (!omen_code_pair_fits(&(OmenCodeSums) {.offset = offset, .scale = scale},
							 qc->limit) ||
		!(qc->scale <= scale))
		return NAN;
	omen_query_u4(qc->u, code, qc->n, &t);
	return combine_sums(metric, qc->n, qc->offset, qc->scale, qc->sum,
						qc->sumsq, offset, scale, (double) t.sum,
						(double) t.sumsq, (double) t.dot);
}

float
omen_h16_distance(int metric, const float *q, const uint16_t *x, int n)
{
	switch (metric)
	{
		case OMEN_METRIC_L2:
			return omen_l2sq_h16(q, x, n);
		case OMEN_METRIC_L1:
			return omen_l1_h16(q, x, n);
		case OMEN_METRIC_COSINE:
			{
				float		dot,
							normq,
							normx;
				double		denom;

				omen_cos_parts_h16(q, x, n, &dot, &normq, &normx);
				denom = sqrt((double) normq * normx);
				/* no zero vector is coded under cosine; a zero query scores 0 */
				return denom > 0 ? (float) (-dot / denom) : 0.0f;
			}
		default:
			return -omen_dot_h16(q, x, n);
	}
}

float
omen_l1_u8(const float *q, const unsigned char *code, float offset,
		   float scale, int n)
{
	return portable_sum(TERM_L1, ELEM_U8, q, code, n, offset, scale);
}

const char *
omen_kernels_name(void)
{
	return chosen->name;
}
