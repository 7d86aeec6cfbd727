/*
 * distance.c
 *		Distance kernels and their runtime dispatch.
 *
 * Three variants of every kernel: portable C (the baseline, built without
 * -march flags so the module loads on any CPU), AVX2+FMA+F16C and AVX-512F.
 * The SIMD variants are compiled with per-function target attributes and only
 * called after cpuid and xgetbv say both the CPU and the OS support them.
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
 * Portable variant.  gcc does not vectorize a float reduction without
 * -ffast-math (it would reorder the sum), but 8 explicit partial sums are
 * independent lanes it can keep in two SSE registers at -O2 and that
 * aarch64 keeps in two NEON registers.
 */
#define PORTABLE_LANES 8

static inline float
sum_lanes(const float *s)
{
	return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static float
l2sq_portable(const float *a, const float *b, int n)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
		{
			float		d = a[i + j] - b[i + j];

			s[j] += d * d;
		}
	for (int j = 0; i < n; i++, j++)
	{
		float		d = a[i] - b[i];

		s[j] += d * d;
	}
	return sum_lanes(s);
}

static float
dot_portable(const float *a, const float *b, int n)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
			s[j] += a[i + j] * b[i + j];
	for (int j = 0; i < n; i++, j++)
		s[j] += a[i] * b[i];
	return sum_lanes(s);
}

static float
l1_portable(const float *a, const float *b, int n)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
			s[j] += fabsf(a[i + j] - b[i + j]);
	for (int j = 0; i < n; i++, j++)
		s[j] += fabsf(a[i] - b[i]);
	return sum_lanes(s);
}

/*
 * Three sums of 4 lanes each: with 8 lanes gcc keeps the 24 partial sums in
 * memory instead of registers.
 */
static void
cos_parts_portable(const float *a, const float *b, int n,
				   float *dot, float *norma, float *normb)
{
	float		d[4] = {0};
	float		na[4] = {0};
	float		nb[4] = {0};
	int			i = 0;

	for (; i + 4 <= n; i += 4)
		for (int j = 0; j < 4; j++)
		{
			d[j] += a[i + j] * b[i + j];
			na[j] += a[i + j] * a[i + j];
			nb[j] += b[i + j] * b[i + j];
		}
	for (int j = 0; i < n; i++, j++)
	{
		d[j] += a[i] * b[i];
		na[j] += a[i] * a[i];
		nb[j] += b[i] * b[i];
	}
	*dot = (d[0] + d[2]) + (d[1] + d[3]);
	*norma = (na[0] + na[2]) + (na[1] + na[3]);
	*normb = (nb[0] + nb[2]) + (nb[1] + nb[3]);
}

static float
l2sq_u8_portable(const float *q, const unsigned char *code, float offset,
				 float scale, int n)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
		{
			float		d = q[i + j] - (offset + scale * code[i + j]);

			s[j] += d * d;
		}
	for (int j = 0; i < n; i++, j++)
	{
		float		d = q[i] - (offset + scale * code[i]);

		s[j] += d * d;
	}
	return sum_lanes(s);
}

static float
dot_u8_portable(const float *q, const unsigned char *code, float offset,
				float scale, int n)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
			s[j] += q[i + j] * (offset + scale * code[i + j]);
	for (int j = 0; i < n; i++, j++)
		s[j] += q[i] * (offset + scale * code[i]);
	return sum_lanes(s);
}

/*
 * Sparse merge kernels.  Both index lists are sorted and duplicate-free; a
 * merge visits the union of indices in ascending order and adds one term
 * each to a single float sum: (a-b)^2, a^2 or b^2 for L2, |a-b|, |a| or |b|
 * for L1, a*b at common indices for the inner product.  That is the order
 * pgvector adds them in, so the results agree with it bit for bit where
 * both round the same way: fused selects fmaf(x, y, s) for s + x * y, as a
 * compiler contracts it when FMA is available.  The constant arguments of
 * these always-inlined templates select the metric at compile time.
 */
enum
{
	SPARSE_L2,
	SPARSE_DOT,
	SPARSE_L1
};

static inline __attribute__((always_inline)) float
sparse_term(int metric, int fused, float x, float y, float s)
{
	if (metric == SPARSE_L1)
		return s + fabsf(x - y);
	if (metric == SPARSE_L2)
	{
		float		d = x - y;

		return fused ? __builtin_fmaf(d, d, s) : s + d * d;
	}
	return fused ? __builtin_fmaf(x, y, s) : s + x * y;
}

static inline __attribute__((always_inline)) float
sparse_merge(int metric, int fused,
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
			s = sparse_term(metric, fused, ax[i], bx[j], s);
			i++;
			j++;
		}
		else if (ai[i] < bi[j])
		{
			if (metric != SPARSE_DOT)
				s = sparse_term(metric, fused, ax[i], 0.0f, s);
			i++;
		}
		else
		{
			if (metric != SPARSE_DOT)
				s = sparse_term(metric, fused, 0.0f, bx[j], s);
			j++;
		}
	}
	if (metric != SPARSE_DOT)
	{
		for (; i < an; i++)
			s = sparse_term(metric, fused, ax[i], 0.0f, s);
		for (; j < bn; j++)
			s = sparse_term(metric, fused, 0.0f, bx[j], s);
	}
	return s;
}

static float
sparse_l2sq_portable(const int32_t *ai, const float *ax, int an,
					 const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(SPARSE_L2, 0, ai, ax, an, bi, bx, bn);
}

static float
sparse_dot_portable(const int32_t *ai, const float *ax, int an,
					const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(SPARSE_DOT, 0, ai, ax, an, bi, bx, bn);
}

float
omen_sparse_l1(const int32_t *ai, const float *ax, int an,
			   const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(SPARSE_L1, 0, ai, ax, an, bi, bx, bn);
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
 * Half-float kernels: each half widens exactly to float and the sums are
 * the float kernels' sums, 8 lanes again.
 */
static float
l2sq_half_portable(const uint16_t *a, const uint16_t *b, int n)
{
	float		s[PORTABLE_LANES] = {0};

	for (int i = 0; i < n; i++)
	{
		float		d = omen_half_to_float(a[i]) - omen_half_to_float(b[i]);

		s[i % PORTABLE_LANES] += d * d;
	}
	return sum_lanes(s);
}

static float
dot_half_portable(const uint16_t *a, const uint16_t *b, int n)
{
	float		s[PORTABLE_LANES] = {0};

	for (int i = 0; i < n; i++)
		s[i % PORTABLE_LANES] += omen_half_to_float(a[i]) * omen_half_to_float(b[i]);
	return sum_lanes(s);
}

static float
l1_half_portable(const uint16_t *a, const uint16_t *b, int n)
{
	float		s[PORTABLE_LANES] = {0};

	for (int i = 0; i < n; i++)
		s[i % PORTABLE_LANES] += fabsf(omen_half_to_float(a[i]) - omen_half_to_float(b[i]));
	return sum_lanes(s);
}

static void
cos_parts_half_portable(const uint16_t *a, const uint16_t *b, int n,
						float *dot, float *norma, float *normb)
{
	float		d[PORTABLE_LANES] = {0};
	float		na[PORTABLE_LANES] = {0};
	float		nb[PORTABLE_LANES] = {0};

	for (int i = 0; i < n; i++)
	{
		float		x = omen_half_to_float(a[i]);
		float		y = omen_half_to_float(b[i]);

		d[i % PORTABLE_LANES] += x * y;
		na[i % PORTABLE_LANES] += x * x;
		nb[i % PORTABLE_LANES] += y * y;
	}
	*dot = sum_lanes(d);
	*norma = sum_lanes(na);
	*normb = sum_lanes(nb);
}

static const OmenKernelSet portable_kernels = {
	"portable", l2sq_portable, dot_portable, l1_portable, cos_parts_portable,
	l2sq_u8_portable, dot_u8_portable, sparse_l2sq_portable,
	sparse_dot_portable, hamming_portable, jaccard_portable,
	l2sq_half_portable, dot_half_portable, l1_half_portable,
	cos_parts_half_portable
};

#ifdef OMEN_HAVE_X86_SIMD

/*
 * AVX2+FMA+F16C variant (F16C, which every AVX2 CPU has, for the half
 * kernels): 4 accumulators of 8 floats (32 floats a pass), then
 * single registers, then one masked load for the last 1..7 floats.  Masked
 * lanes read as 0 and never fault, so the tail reads nothing past n.
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

static inline AVX2_TARGET float
avx2_hsum4(__m256 s0, __m256 s1, __m256 s2, __m256 s3)
{
	return avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1),
								   _mm256_add_ps(s2, s3)));
}

static AVX2_TARGET float
l2sq_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__m256i		m = avx2_tail_mask(n - i);

		d1 = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
						   _mm256_maskload_ps(b + i, m));
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

static AVX2_TARGET float
dot_avx2(const float *a, const float *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	if (i < n)
	{
		__m256i		m = avx2_tail_mask(n - i);

		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m),
							 _mm256_maskload_ps(b + i, m), s1);
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

static AVX2_TARGET float
l1_avx2(const float *a, const float *b, int n)
{
	/* clearing the sign bit is fabsf */
	const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_add_ps(s0, _mm256_and_ps(d0, abs_mask));
		s1 = _mm256_add_ps(s1, _mm256_and_ps(d1, abs_mask));
		s2 = _mm256_add_ps(s2, _mm256_and_ps(d2, abs_mask));
		s3 = _mm256_add_ps(s3, _mm256_and_ps(d3, abs_mask));
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_add_ps(s0, _mm256_and_ps(d0, abs_mask));
	}
	if (i < n)
	{
		__m256i		m = avx2_tail_mask(n - i);

		d1 = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
						   _mm256_maskload_ps(b + i, m));
		s1 = _mm256_add_ps(s1, _mm256_and_ps(d1, abs_mask));
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

/* Three sums share the loads; 2 accumulators each keeps 6 chains in flight. */
static AVX2_TARGET void
cos_parts_avx2(const float *a, const float *b, int n,
			   float *dot, float *norma, float *normb)
{
	__m256		d0 = _mm256_setzero_ps(),
				d1 = _mm256_setzero_ps();
	__m256		na0 = _mm256_setzero_ps(),
				na1 = _mm256_setzero_ps();
	__m256		nb0 = _mm256_setzero_ps(),
				nb1 = _mm256_setzero_ps();
	__m256		x0,
				x1,
				y0,
				y1;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		x0 = _mm256_loadu_ps(a + i);
		x1 = _mm256_loadu_ps(a + i + 8);
		y0 = _mm256_loadu_ps(b + i);
		y1 = _mm256_loadu_ps(b + i + 8);
		d0 = _mm256_fmadd_ps(x0, y0, d0);
		d1 = _mm256_fmadd_ps(x1, y1, d1);
		na0 = _mm256_fmadd_ps(x0, x0, na0);
		na1 = _mm256_fmadd_ps(x1, x1, na1);
		nb0 = _mm256_fmadd_ps(y0, y0, nb0);
		nb1 = _mm256_fmadd_ps(y1, y1, nb1);
	}
	if (i + 8 <= n)
	{
		x0 = _mm256_loadu_ps(a + i);
		y0 = _mm256_loadu_ps(b + i);
		d0 = _mm256_fmadd_ps(x0, y0, d0);
		na0 = _mm256_fmadd_ps(x0, x0, na0);
		nb0 = _mm256_fmadd_ps(y0, y0, nb0);
		i += 8;
	}
	if (i < n)
	{
		__m256i		m = avx2_tail_mask(n - i);

		x1 = _mm256_maskload_ps(a + i, m);
		y1 = _mm256_maskload_ps(b + i, m);
		d1 = _mm256_fmadd_ps(x1, y1, d1);
		na1 = _mm256_fmadd_ps(x1, x1, na1);
		nb1 = _mm256_fmadd_ps(y1, y1, nb1);
	}
	*dot = avx2_hsum(_mm256_add_ps(d0, d1));
	*norma = avx2_hsum(_mm256_add_ps(na0, na1));
	*normb = avx2_hsum(_mm256_add_ps(nb0, nb1));
}

/*
 * Coded kernels: 8 codes widen to 8 floats and decode with one FMA.  The
 * last 1..7 codes are copied to a zeroed buffer, so nothing past n is read;
 * the tail mask zeroes the differences of the lanes beyond n.
 */
static inline AVX2_TARGET __m256
avx2_decode8(const unsigned char *c, __m256 offset, __m256 scale)
{
	__m256i		w = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *) c));

	return _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(w), offset);
}

static AVX2_TARGET float
l2sq_u8_avx2(const float *q, const unsigned char *code, float offset,
			 float scale, int n)
{
	const __m256 o = _mm256_set1_ps(offset);
	const __m256 sc = _mm256_set1_ps(scale);
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), avx2_decode8(code + i, o, sc));
		d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), avx2_decode8(code + i + 8, o, sc));
		d2 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 16), avx2_decode8(code + i + 16, o, sc));
		d3 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 24), avx2_decode8(code + i + 24, o, sc));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), avx2_decode8(code + i, o, sc));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__m256i		m = avx2_tail_mask(n - i);
		unsigned char tail[8] = {0};

		memcpy(tail, code + i, n - i);
		d1 = _mm256_sub_ps(_mm256_maskload_ps(q + i, m), avx2_decode8(tail, o, sc));
		d1 = _mm256_and_ps(d1, _mm256_castsi256_ps(m));
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

static AVX2_TARGET float
dot_u8_avx2(const float *q, const unsigned char *code, float offset,
			float scale, int n)
{
	const __m256 o = _mm256_set1_ps(offset);
	const __m256 sc = _mm256_set1_ps(scale);
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), avx2_decode8(code + i, o, sc), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), avx2_decode8(code + i + 8, o, sc), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), avx2_decode8(code + i + 16, o, sc), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), avx2_decode8(code + i + 24, o, sc), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), avx2_decode8(code + i, o, sc), s0);
	if (i < n)
	{
		unsigned char tail[8] = {0};

		/* masked-out query lanes are 0, so their products are too */
		memcpy(tail, code + i, n - i);
		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i, avx2_tail_mask(n - i)),
							 avx2_decode8(tail, o, sc), s1);
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

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
	return sparse_merge(SPARSE_L2, 1, ai, ax, an, bi, bx, bn);
}

static FMA_POPCNT_TARGET float
sparse_dot_fma(const int32_t *ai, const float *ax, int an,
			   const int32_t *bi, const float *bx, int bn)
{
	return sparse_merge(SPARSE_DOT, 1, ai, ax, an, bi, bx, bn);
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
 * Half kernels: F16C widens 8 halves to 8 floats in one instruction.  The
 * last 1..7 halves are copied to a zeroed buffer, so nothing past n is
 * read; zero halves add nothing to any of the sums.
 */
static inline AVX2_TARGET __m256
avx2_half8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
}

static inline AVX2_TARGET __m256
avx2_half_tail(const uint16_t *p, int r)
{
	uint16_t	tail[8] = {0};

	memcpy(tail, p, sizeof(uint16_t) * r);
	return avx2_half8(tail);
}

static AVX2_TARGET float
l2sq_half_avx2(const uint16_t *a, const uint16_t *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(avx2_half8(a + i), avx2_half8(b + i));
		d1 = _mm256_sub_ps(avx2_half8(a + i + 8), avx2_half8(b + i + 8));
		d2 = _mm256_sub_ps(avx2_half8(a + i + 16), avx2_half8(b + i + 16));
		d3 = _mm256_sub_ps(avx2_half8(a + i + 24), avx2_half8(b + i + 24));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(avx2_half8(a + i), avx2_half8(b + i));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		d1 = _mm256_sub_ps(avx2_half_tail(a + i, n - i),
						   avx2_half_tail(b + i, n - i));
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

static AVX2_TARGET float
dot_half_avx2(const uint16_t *a, const uint16_t *b, int n)
{
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		s0 = _mm256_fmadd_ps(avx2_half8(a + i), avx2_half8(b + i), s0);
		s1 = _mm256_fmadd_ps(avx2_half8(a + i + 8), avx2_half8(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(avx2_half8(a + i + 16), avx2_half8(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(avx2_half8(a + i + 24), avx2_half8(b + i + 24), s3);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(avx2_half8(a + i), avx2_half8(b + i), s0);
	if (i < n)
		s1 = _mm256_fmadd_ps(avx2_half_tail(a + i, n - i),
							 avx2_half_tail(b + i, n - i), s1);
	return avx2_hsum4(s0, s1, s2, s3);
}

static AVX2_TARGET float
l1_half_avx2(const uint16_t *a, const uint16_t *b, int n)
{
	const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	__m256		s0 = _mm256_setzero_ps();
	__m256		s1 = _mm256_setzero_ps();
	__m256		s2 = _mm256_setzero_ps();
	__m256		s3 = _mm256_setzero_ps();
	__m256		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		d0 = _mm256_sub_ps(avx2_half8(a + i), avx2_half8(b + i));
		d1 = _mm256_sub_ps(avx2_half8(a + i + 8), avx2_half8(b + i + 8));
		d2 = _mm256_sub_ps(avx2_half8(a + i + 16), avx2_half8(b + i + 16));
		d3 = _mm256_sub_ps(avx2_half8(a + i + 24), avx2_half8(b + i + 24));
		s0 = _mm256_add_ps(s0, _mm256_and_ps(d0, abs_mask));
		s1 = _mm256_add_ps(s1, _mm256_and_ps(d1, abs_mask));
		s2 = _mm256_add_ps(s2, _mm256_and_ps(d2, abs_mask));
		s3 = _mm256_add_ps(s3, _mm256_and_ps(d3, abs_mask));
	}
	for (; i + 8 <= n; i += 8)
	{
		d0 = _mm256_sub_ps(avx2_half8(a + i), avx2_half8(b + i));
		s0 = _mm256_add_ps(s0, _mm256_and_ps(d0, abs_mask));
	}
	if (i < n)
	{
		d1 = _mm256_sub_ps(avx2_half_tail(a + i, n - i),
						   avx2_half_tail(b + i, n - i));
		s1 = _mm256_add_ps(s1, _mm256_and_ps(d1, abs_mask));
	}
	return avx2_hsum4(s0, s1, s2, s3);
}

static AVX2_TARGET void
cos_parts_half_avx2(const uint16_t *a, const uint16_t *b, int n,
					float *dot, float *norma, float *normb)
{
	__m256		d0 = _mm256_setzero_ps(),
				d1 = _mm256_setzero_ps();
	__m256		na0 = _mm256_setzero_ps(),
				na1 = _mm256_setzero_ps();
	__m256		nb0 = _mm256_setzero_ps(),
				nb1 = _mm256_setzero_ps();
	__m256		x0,
				x1,
				y0,
				y1;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		x0 = avx2_half8(a + i);
		x1 = avx2_half8(a + i + 8);
		y0 = avx2_half8(b + i);
		y1 = avx2_half8(b + i + 8);
		d0 = _mm256_fmadd_ps(x0, y0, d0);
		d1 = _mm256_fmadd_ps(x1, y1, d1);
		na0 = _mm256_fmadd_ps(x0, x0, na0);
		na1 = _mm256_fmadd_ps(x1, x1, na1);
		nb0 = _mm256_fmadd_ps(y0, y0, nb0);
		nb1 = _mm256_fmadd_ps(y1, y1, nb1);
	}
	if (i + 8 <= n)
	{
		x0 = avx2_half8(a + i);
		y0 = avx2_half8(b + i);
		d0 = _mm256_fmadd_ps(x0, y0, d0);
		na0 = _mm256_fmadd_ps(x0, x0, na0);
		nb0 = _mm256_fmadd_ps(y0, y0, nb0);
		i += 8;
	}
	if (i < n)
	{
		x1 = avx2_half_tail(a + i, n - i);
		y1 = avx2_half_tail(b + i, n - i);
		d1 = _mm256_fmadd_ps(x1, y1, d1);
		na1 = _mm256_fmadd_ps(x1, x1, na1);
		nb1 = _mm256_fmadd_ps(y1, y1, nb1);
	}
	*dot = avx2_hsum(_mm256_add_ps(d0, d1));
	*norma = avx2_hsum(_mm256_add_ps(na0, na1));
	*normb = avx2_hsum(_mm256_add_ps(nb0, nb1));
}

static const OmenKernelSet avx2_kernels = {
	"avx2", l2sq_avx2, dot_avx2, l1_avx2, cos_parts_avx2,
	l2sq_u8_avx2, dot_u8_avx2, sparse_l2sq_fma, sparse_dot_fma,
	hamming_popcnt, jaccard_popcnt,
	l2sq_half_avx2, dot_half_avx2, l1_half_avx2, cos_parts_half_avx2
};

/*
 * AVX-512F variant: same shape with 16-float registers (64 floats a pass);
 * the tail is one zero-masking load of 1..15 floats, which does not fault
 * on masked-out lanes.  avx2 and fma are enabled too because the compiler
 * may use them for the surrounding scalar code; the variant is only offered
 * when the CPU has them.
 */
#define AVX512_TARGET __attribute__((target("avx512f,avx2,fma,f16c")))

static inline AVX512_TARGET __mmask16
avx512_tail_mask(int r)
{
	return (__mmask16) ((1u << r) - 1);
}

static inline AVX512_TARGET float
avx512_hsum4(__m512 s0, __m512 s1, __m512 s2, __m512 s3)
{
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
											  _mm512_add_ps(s2, s3)));
}

static AVX512_TARGET float
l2sq_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__mmask16	m = avx512_tail_mask(n - i);

		d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
						   _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET float
dot_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < n)
	{
		__mmask16	m = avx512_tail_mask(n - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
							 _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET float
l1_avx512(const float *a, const float *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
		s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
		s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
	}
	if (i < n)
	{
		__mmask16	m = avx512_tail_mask(n - i);

		d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
						   _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET void
cos_parts_avx512(const float *a, const float *b, int n,
				 float *dot, float *norma, float *normb)
{
	__m512		d0 = _mm512_setzero_ps(),
				d1 = _mm512_setzero_ps();
	__m512		na0 = _mm512_setzero_ps(),
				na1 = _mm512_setzero_ps();
	__m512		nb0 = _mm512_setzero_ps(),
				nb1 = _mm512_setzero_ps();
	__m512		x0,
				x1,
				y0,
				y1;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		x0 = _mm512_loadu_ps(a + i);
		x1 = _mm512_loadu_ps(a + i + 16);
		y0 = _mm512_loadu_ps(b + i);
		y1 = _mm512_loadu_ps(b + i + 16);
		d0 = _mm512_fmadd_ps(x0, y0, d0);
		d1 = _mm512_fmadd_ps(x1, y1, d1);
		na0 = _mm512_fmadd_ps(x0, x0, na0);
		na1 = _mm512_fmadd_ps(x1, x1, na1);
		nb0 = _mm512_fmadd_ps(y0, y0, nb0);
		nb1 = _mm512_fmadd_ps(y1, y1, nb1);
	}
	if (i + 16 <= n)
	{
		x0 = _mm512_loadu_ps(a + i);
		y0 = _mm512_loadu_ps(b + i);
		d0 = _mm512_fmadd_ps(x0, y0, d0);
		na0 = _mm512_fmadd_ps(x0, x0, na0);
		nb0 = _mm512_fmadd_ps(y0, y0, nb0);
		i += 16;
	}
	if (i < n)
	{
		__mmask16	m = avx512_tail_mask(n - i);

		x1 = _mm512_maskz_loadu_ps(m, a + i);
		y1 = _mm512_maskz_loadu_ps(m, b + i);
		d1 = _mm512_fmadd_ps(x1, y1, d1);
		na1 = _mm512_fmadd_ps(x1, x1, na1);
		nb1 = _mm512_fmadd_ps(y1, y1, nb1);
	}
	*dot = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
	*norma = _mm512_reduce_add_ps(_mm512_add_ps(na0, na1));
	*normb = _mm512_reduce_add_ps(_mm512_add_ps(nb0, nb1));
}

/* Coded kernels, built like the AVX2 ones with 16 codes a step. */
static inline AVX512_TARGET __m512
avx512_decode16(const unsigned char *c, __m512 offset, __m512 scale)
{
	__m512i		w = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) c));

	return _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(w), offset);
}

static AVX512_TARGET float
l2sq_u8_avx512(const float *q, const unsigned char *code, float offset,
			   float scale, int n)
{
	const __m512 o = _mm512_set1_ps(offset);
	const __m512 sc = _mm512_set1_ps(scale);
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), avx512_decode16(code + i, o, sc));
		d1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), avx512_decode16(code + i + 16, o, sc));
		d2 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 32), avx512_decode16(code + i + 32, o, sc));
		d3 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 48), avx512_decode16(code + i + 48, o, sc));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), avx512_decode16(code + i, o, sc));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		__mmask16	m = avx512_tail_mask(n - i);
		unsigned char tail[16] = {0};

		memcpy(tail, code + i, n - i);
		d1 = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, q + i),
								 avx512_decode16(tail, o, sc));
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET float
dot_u8_avx512(const float *q, const unsigned char *code, float offset,
			  float scale, int n)
{
	const __m512 o = _mm512_set1_ps(offset);
	const __m512 sc = _mm512_set1_ps(scale);
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), avx512_decode16(code + i, o, sc), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), avx512_decode16(code + i + 16, o, sc), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32), avx512_decode16(code + i + 32, o, sc), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48), avx512_decode16(code + i + 48, o, sc), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), avx512_decode16(code + i, o, sc), s0);
	if (i < n)
	{
		unsigned char tail[16] = {0};

		/* masked-out query lanes are 0, so their products are too */
		memcpy(tail, code + i, n - i);
		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(avx512_tail_mask(n - i), q + i),
							 avx512_decode16(tail, o, sc), s1);
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

/*
 * Half kernels: vcvtph2ps (AVX-512F) widens 16 halves at a time; the last
 * 1..15 go through a zeroed buffer as in the AVX2 variant.
 */
static inline AVX512_TARGET __m512
avx512_half16(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) p));
}

static inline AVX512_TARGET __m512
avx512_half_tail(const uint16_t *p, int r)
{
	uint16_t	tail[16] = {0};

	memcpy(tail, p, sizeof(uint16_t) * r);
	return avx512_half16(tail);
}

static AVX512_TARGET float
l2sq_half_avx512(const uint16_t *a, const uint16_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(avx512_half16(a + i), avx512_half16(b + i));
		d1 = _mm512_sub_ps(avx512_half16(a + i + 16), avx512_half16(b + i + 16));
		d2 = _mm512_sub_ps(avx512_half16(a + i + 32), avx512_half16(b + i + 32));
		d3 = _mm512_sub_ps(avx512_half16(a + i + 48), avx512_half16(b + i + 48));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(avx512_half16(a + i), avx512_half16(b + i));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
	}
	if (i < n)
	{
		d1 = _mm512_sub_ps(avx512_half_tail(a + i, n - i),
						   avx512_half_tail(b + i, n - i));
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET float
dot_half_avx512(const uint16_t *a, const uint16_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		s0 = _mm512_fmadd_ps(avx512_half16(a + i), avx512_half16(b + i), s0);
		s1 = _mm512_fmadd_ps(avx512_half16(a + i + 16), avx512_half16(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(avx512_half16(a + i + 32), avx512_half16(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(avx512_half16(a + i + 48), avx512_half16(b + i + 48), s3);
	}
	for (; i + 16 <= n; i += 16)
		s0 = _mm512_fmadd_ps(avx512_half16(a + i), avx512_half16(b + i), s0);
	if (i < n)
		s1 = _mm512_fmadd_ps(avx512_half_tail(a + i, n - i),
							 avx512_half_tail(b + i, n - i), s1);
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET float
l1_half_avx512(const uint16_t *a, const uint16_t *b, int n)
{
	__m512		s0 = _mm512_setzero_ps();
	__m512		s1 = _mm512_setzero_ps();
	__m512		s2 = _mm512_setzero_ps();
	__m512		s3 = _mm512_setzero_ps();
	__m512		d0,
				d1,
				d2,
				d3;
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		d0 = _mm512_sub_ps(avx512_half16(a + i), avx512_half16(b + i));
		d1 = _mm512_sub_ps(avx512_half16(a + i + 16), avx512_half16(b + i + 16));
		d2 = _mm512_sub_ps(avx512_half16(a + i + 32), avx512_half16(b + i + 32));
		d3 = _mm512_sub_ps(avx512_half16(a + i + 48), avx512_half16(b + i + 48));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
		s2 = _mm512_add_ps(s2, _mm512_abs_ps(d2));
		s3 = _mm512_add_ps(s3, _mm512_abs_ps(d3));
	}
	for (; i + 16 <= n; i += 16)
	{
		d0 = _mm512_sub_ps(avx512_half16(a + i), avx512_half16(b + i));
		s0 = _mm512_add_ps(s0, _mm512_abs_ps(d0));
	}
	if (i < n)
	{
		d1 = _mm512_sub_ps(avx512_half_tail(a + i, n - i),
						   avx512_half_tail(b + i, n - i));
		s1 = _mm512_add_ps(s1, _mm512_abs_ps(d1));
	}
	return avx512_hsum4(s0, s1, s2, s3);
}

static AVX512_TARGET void
cos_parts_half_avx512(const uint16_t *a, const uint16_t *b, int n,
					  float *dot, float *norma, float *normb)
{
	__m512		d0 = _mm512_setzero_ps(),
				d1 = _mm512_setzero_ps();
	__m512		na0 = _mm512_setzero_ps(),
				na1 = _mm512_setzero_ps();
	__m512		nb0 = _mm512_setzero_ps(),
				nb1 = _mm512_setzero_ps();
	__m512		x0,
				x1,
				y0,
				y1;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		x0 = avx512_half16(a + i);
		x1 = avx512_half16(a + i + 16);
		y0 = avx512_half16(b + i);
		y1 = avx512_half16(b + i + 16);
		d0 = _mm512_fmadd_ps(x0, y0, d0);
		d1 = _mm512_fmadd_ps(x1, y1, d1);
		na0 = _mm512_fmadd_ps(x0, x0, na0);
		na1 = _mm512_fmadd_ps(x1, x1, na1);
		nb0 = _mm512_fmadd_ps(y0, y0, nb0);
		nb1 = _mm512_fmadd_ps(y1, y1, nb1);
	}
	if (i + 16 <= n)
	{
		x0 = avx512_half16(a + i);
		y0 = avx512_half16(b + i);
		d0 = _mm512_fmadd_ps(x0, y0, d0);
		na0 = _mm512_fmadd_ps(x0, x0, na0);
		nb0 = _mm512_fmadd_ps(y0, y0, nb0);
		i += 16;
	}
	if (i < n)
	{
		x1 = avx512_half_tail(a + i, n - i);
		y1 = avx512_half_tail(b + i, n - i);
		d1 = _mm512_fmadd_ps(x1, y1, d1);
		na1 = _mm512_fmadd_ps(x1, x1, na1);
		nb1 = _mm512_fmadd_ps(y1, y1, nb1);
	}
	*dot = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
	*norma = _mm512_reduce_add_ps(_mm512_add_ps(na0, na1));
	*normb = _mm512_reduce_add_ps(_mm512_add_ps(nb0, nb1));
}

static const OmenKernelSet avx512_kernels = {
	"avx512", l2sq_avx512, dot_avx512, l1_avx512, cos_parts_avx512,
	l2sq_u8_avx512, dot_u8_avx512, sparse_l2sq_fma, sparse_dot_fma,
	hamming_popcnt, jaccard_popcnt,
	l2sq_half_avx512, dot_half_avx512, l1_half_avx512, cos_parts_half_avx512
};

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
detect_x86(int *avx2, int *avx512)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;
	uint64_t	xcr0;

	*avx2 = *avx512 = 0;
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
	if ((ebx & bit_AVX512F) && (xcr0 & XCR0_AVX512) == XCR0_AVX512)
		*avx512 = 1;
}

#endif							/* OMEN_HAVE_X86_SIMD */

omen_pair_fn omen_l2sq = l2sq_portable;
omen_pair_fn omen_dot = dot_portable;
omen_pair_fn omen_l1 = l1_portable;
omen_cos_fn omen_cos_parts = cos_parts_portable;
omen_u8_fn	omen_l2sq_u8 = l2sq_u8_portable;
omen_u8_fn	omen_dot_u8 = dot_u8_portable;
omen_sparse_fn omen_sparse_l2sq = sparse_l2sq_portable;
omen_sparse_fn omen_sparse_dot = sparse_dot_portable;
omen_hamming_fn omen_hamming = hamming_portable;
omen_jaccard_fn omen_jaccard = jaccard_portable;
omen_half_pair_fn omen_l2sq_half = l2sq_half_portable;
omen_half_pair_fn omen_dot_half = dot_half_portable;
omen_half_pair_fn omen_l1_half = l1_half_portable;
omen_half_cos_fn omen_cos_parts_half = cos_parts_half_portable;

static const OmenKernelSet *chosen = &portable_kernels;

int
omen_kernel_variants(const OmenKernelSet **out, int max)
{
	int			n = 0;

#ifdef OMEN_HAVE_X86_SIMD
	int			avx2,
				avx512;

	detect_x86(&avx2, &avx512);
#endif

	if (n < max)
		out[n++] = &portable_kernels;
#ifdef OMEN_HAVE_X86_SIMD
	if (avx2 && n < max)
		out[n++] = &avx2_kernels;
	if (avx512 && n < max)
		out[n++] = &avx512_kernels;
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
	omen_sparse_l2sq = chosen->sparse_l2sq;
	omen_sparse_dot = chosen->sparse_dot;
	omen_hamming = chosen->hamming;
	omen_jaccard = chosen->jaccard;
	omen_l2sq_half = chosen->l2sq_half;
	omen_dot_half = chosen->dot_half;
	omen_l1_half = chosen->l1_half;
	omen_cos_parts_half = chosen->cos_parts_half;
}

/*
 * Each product of two floats is exact in double, and no sum of fewer than
 * 2^31 of them overflows double (2^31 * FLT_MAX^2 is about 2.5e86).  The
 * sum is compensated (Neumaier): the low-order bits each addition loses are
 * added back at the end, so huge products that cancel do not swallow the
 * small ones.
 */
float
omen_dot_careful(const float *a, const float *b, int n)
{
	double		sum = 0.0;
	double		lost = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		x = (double) a[i] * (double) b[i];
		double		t = sum + x;

		lost += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
		sum = t;
	}
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

	for (int i = 1; i < n; i++)
	{
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
	}
	/* in double: hi - lo may exceed FLT_MAX */
	step = ((double) hi - lo) / ((1 << bits) - 1);
	memset(code, 0, OMEN_CODE_BYTES(n, bits));
	for (int i = 0; i < n; i++)
	{
		unsigned	c = step > 0 ? (unsigned) lrint((x[i] - (double) lo) / step) : 0;

		code[i / per] |= c << (bits * (i % per));
	}
	*offset = lo;
	*scale = (float) step;
}

void
omen_code_unpack(const unsigned char *code, int n, int bits,
				 unsigned char *out)
{
	int			per = 8 / bits;
	unsigned	mask = (1u << bits) - 1;

	for (int i = 0; i < n; i++)
		out[i] = (code[i / per] >> (bits * (i % per))) & mask;
}

float
omen_l1_u8(const float *q, const unsigned char *code, float offset,
		   float scale, int n)
{
	float		s[PORTABLE_LANES] = {0};
	int			i = 0;

	for (; i + PORTABLE_LANES <= n; i += PORTABLE_LANES)
		for (int j = 0; j < PORTABLE_LANES; j++)
			s[j] += fabsf(q[i + j] - (offset + scale * code[i + j]));
	for (int j = 0; i < n; i++, j++)
		s[j] += fabsf(q[i] - (offset + scale * code[i]));
	return sum_lanes(s);
}

const char *
omen_kernels_name(void)
{
	return chosen->name;
}
