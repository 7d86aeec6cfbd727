/*
 * kernel_test.c
 *		Checks every distance kernel variant this machine can run against a
 *		double-precision reference, the half-float conversions against a
 *		scalar reference, and (with --bench) measures throughput.
 *
 * Build and run (no PostgreSQL needed):
 *		cc -O2 -Isrc -o test/.build/kernel_test test/kernel_test.c src/distance.c -lm
 *		test/.build/kernel_test [--bench]
 *
 * Prints one line per failing check and, last, "kernels: N passed, N failed";
 * exits non-zero if any check failed.
 */
#include <float.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "distance.h"

/*
 * Tolerance.  Rounding errors of a float sum of n terms behave like a random
 * walk: about sqrt(n) * FLT_EPSILON times the sum of the absolute values of
 * the terms.  (The worst case is n * FLT_EPSILON, but deterministic kernels
 * on pseudo-random data stay near the typical case: the largest error seen
 * here is under a tenth of the bound below.)  The "+ 2" covers the couple of
 * roundings inside each term, the factor 4 is headroom.  The error is
 * measured against the sum of |terms|, not against the result, because a
 * dot product can cancel to nearly 0 while its rounding errors do not.
 * Dropping or repeating an element may hide within this bound for long
 * vectors, so the integer data set, for which every partial sum is exact,
 * is checked with tolerance 0.
 */
static double
tolerance(int n)
{
	return 4.0 * (sqrt((double) n) + 2.0) * FLT_EPSILON;
}

/* Value ranges of the generated vectors. */
enum
{
	RANGE_UNIT,					/* uniform in [-1, 1] */
	RANGE_BYTE,					/* uniform in [0, 255], like pixel data */
	RANGE_MIXED,				/* [-1, 1] scaled by 10^-3 .. 10^3 */
	RANGE_INT,					/* integers in [-8, 8]: every sum exact */
	NUM_RANGES
};

static const char *const range_names[NUM_RANGES] = {
	"unit", "byte", "mixed", "int"
};

/* lengths beyond 1..100 */
static const int long_lengths[] = {
	127, 128, 129, 255, 256, 257, 511, 512, 513, 784, 1000, 1023, 1024,
	1536, 2000, 3072, 4096, 16000
};

#define NUM_LONG (int) (sizeof(long_lengths) / sizeof(long_lengths[0]))
#define MAX_LEN 16000
#define MAX_OFFSET 15

static int	passed;
static int	failed;

/* splitmix64: deterministic, so failures reproduce */
static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	uint64_t	z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static double
rng_unit(void)
{
	return (double) (rng_next() >> 11) / 9007199254740992.0;
}

static void
fill(float *x, int n, int range)
{
	static const double scales[] = {1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3};

	for (int i = 0; i < n; i++)
	{
		switch (range)
		{
			case RANGE_UNIT:
				x[i] = (float) (2.0 * rng_unit() - 1.0);
				break;
			case RANGE_BYTE:
				x[i] = (float) (255.0 * rng_unit());
				break;
			case RANGE_MIXED:
				x[i] = (float) ((2.0 * rng_unit() - 1.0) * scales[rng_next() % 7]);
				break;
			default:
				x[i] = (float) ((int) (rng_next() % 17) - 8);
				break;
		}
	}
}

/* Exact results and sums of |terms| of all kernels, in double. */
typedef struct Reference
{
	double		l2sq,
				dot,
				l1,
				norma,
				normb;
	double		abs_dot;		/* sum |a*b| */
} Reference;

static void
reference(const float *a, const float *b, int n, Reference *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < n; i++)
	{
		double		x = a[i],
					y = b[i];

		r->l2sq += (x - y) * (x - y);
		r->dot += x * y;
		r->abs_dot += fabs(x * y);
		r->l1 += fabs(x - y);
		r->norma += x * x;
		r->normb += y * y;
	}
}

/* One check: |got - ref| within tol times the sum of |terms|. */
static void
check(const char *variant, const char *kernel, const char *what, int n,
	  double got, double ref, double abs_sum, double tol)
{
	double		err = fabs(got - ref);

	if (err <= tol * abs_sum)
	{
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s %s n=%d %s: got %.9g, expected %.9g (error %.3g, allowed %.3g)\n",
		   variant, kernel, n, what, got, ref, err, tol * abs_sum);
}

/* Every kernel of variant k on a and b. */
static void
check_all(const OmenKernelSet *k, const float *a, const float *b, int n,
		  double tol, const char *what)
{
	Reference	r;
	float		dot,
				norma,
				normb;

	reference(a, b, n, &r);
	check(k->name, "l2sq", what, n, k->l2sq(a, b, n), r.l2sq, r.l2sq, tol);
	check(k->name, "dot", what, n, k->dot(a, b, n), r.dot, r.abs_dot, tol);
	check(k->name, "l1", what, n, k->l1(a, b, n), r.l1, r.l1, tol);
	k->cos_parts(a, b, n, &dot, &norma, &normb);
	check(k->name, "cos_parts.dot", what, n, dot, r.dot, r.abs_dot, tol);
	check(k->name, "cos_parts.norma", what, n, norma, r.norma, r.norma, tol);
	check(k->name, "cos_parts.normb", what, n, normb, r.normb, r.normb, tol);
}

/*
 * The kernels over 4-bit codes as they are packed give what the 8-bit ones
 * give over the same codes unpacked, bit for bit: they decode each element
 * alike and add in the same order.  So do the careful inner product and the
 * L1 distance.
 */
static void
check_packed_u4(const OmenKernelSet *k, const float *a,
				const unsigned char *packed, const unsigned char *code, int n,
				float offset, float scale, const char *what)
{
	check(k->name, "l2sq_u4 packed", what, n,
		  k->l2sq_u4(a, packed, offset, scale, n),
		  k->l2sq_u8(a, code, offset, scale, n), 0, 0);
	check(k->name, "dot_u4 packed", what, n,
		  k->dot_u4(a, packed, offset, scale, n),
		  k->dot_u8(a, code, offset, scale, n), 0, 0);
	check(k->name, "dot_code_careful u4", what, n,
		  omen_dot_code_careful(a, packed, 4, offset, scale, n),
		  omen_dot_code_careful(a, code, 8, offset, scale, n), 0, 0);
	check(k->name, "l1_u4 packed", what, n,
		  omen_l1_u4(a, packed, offset, scale, n),
		  omen_l1_u8(a, code, offset, scale, n), 0, 0);
}

/*
 * omen_code_tightness of b's code (packed, and unpacked in code): what it
 * claims holds, and is looser than b's error, taken in long double, by at
 * most two of its steps.
 */
static void
check_tightness(const char *variant, const char *what, const float *b, int n,
				int bits, const unsigned char *packed,
				const unsigned char *code, float offset, float scale)
{
	uint16_t	tight = omen_code_tightness(b, n, bits, packed, offset, scale);
	long double err2 = 0;
	double		step = sqrt((double) n) * scale / 2 / OMEN_TIGHT_MAX;
	double		claim = (OMEN_TIGHT_MAX - tight) * step;
	char		name[32];

	for (int i = 0; i < n; i++)
	{
		long double d = b[i] - ((long double) offset + (long double) scale * code[i]);

		err2 += d * d;
	}
	/* claim - error within [0, 2 steps]: off by one step either way */
	snprintf(name, sizeof(name), "tightness_u%d", bits);
	check(variant, name, what, n, claim - (double) sqrtl(err2) - step, 0,
		  step, 1.0);
}

/*
 * The coded kernels of variant k at each code width: a against b's codes,
 * compared with the exact distances to b as the codes decode it; and the
 * coding itself, each decoded element within scale / 2 of b's.
 */
static void
check_u8(const OmenKernelSet *k, const float *a, const float *b, int n,
		 double tol, const char *what)
{
	static const int widths[] = {8, 4, 2, 1};
	unsigned char *packed = malloc(OMEN_CODE_BYTES(n, 8));
	unsigned char *code = malloc(n);

	for (int w = 0; w < (int) (sizeof(widths) / sizeof(widths[0])); w++)
	{
		int			bits = widths[w];
		char		name[32];
		float		offset,
					scale;
		double		l2sq = 0,
					dot = 0,
					l1 = 0,
					abs_l2sq = 0,
					abs_dot = 0,
					abs_l1 = 0,
					worst = 0;

		omen_quantize(b, n, bits, packed, &offset, &scale);
		omen_code_unpack(packed, n, bits, code);
		for (int i = 0; i < n; i++)
		{
			double		x = (double) offset + (double) scale * code[i];

			/* the kernels expand x, so offset and scale terms count apart */
			double		absx = fabs(offset) + (double) scale * code[i];

			l2sq += (a[i] - x) * (a[i] - x);
			dot += a[i] * x;
			l1 += fabs(a[i] - x);
			abs_l2sq += (fabs(a[i]) + absx) * (fabs(a[i]) + absx);
			abs_dot += fabs(a[i]) * absx;
			abs_l1 += fabs(a[i]) + absx;
			worst = fmax(worst, fabs(x - b[i]));
		}
		snprintf(name, sizeof(name), "l2sq_u%d", bits);
		check(k->name, name, what, n, k->l2sq_u8(a, code, offset, scale, n),
			  l2sq, abs_l2sq, tol);
		snprintf(name, sizeof(name), "dot_u%d", bits);
		check(k->name, name, what, n, k->dot_u8(a, code, offset, scale, n),
			  dot, abs_dot, tol);
		snprintf(name, sizeof(name), "l1_u%d", bits);
		check(k->name, name, what, n, omen_l1_u8(a, code, offset, scale, n),
			  l1, abs_l1, tol);
		if (bits == 4)
			check_packed_u4(k, a, packed, code, n, offset, scale, what);
		/* float rounding of offset + scale * code adds a few ulps of each */
		snprintf(name, sizeof(name), "quantize_u%d", bits);
		check(k->name, name, what, n, worst, 0,
			  scale * 0.5 + 1e-6 * (fabs(offset) + ((1 << bits) - 1) * scale),
			  1.0);
		check_tightness(k->name, what, b, n, bits, packed, code, offset, scale);
	}
	free(packed);
	free(code);
}

/* 64-byte aligned buffer with room for MAX_OFFSET extra floats */
static float *
alloc_floats(int n, void **raw)
{
	*raw = malloc((n + MAX_OFFSET + 16) * sizeof(float));
	if (*raw == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return (float *) (((uintptr_t) *raw + 63) & ~(uintptr_t) 63);
}

static void
test_lengths(const OmenKernelSet *const *v, int nv)
{
	void	   *raw_a,
			   *raw_b;
	float	   *a = alloc_floats(MAX_LEN, &raw_a);
	float	   *b = alloc_floats(MAX_LEN, &raw_b);

	for (int range = 0; range < NUM_RANGES; range++)
	{
		for (int li = 0; li < 100 + NUM_LONG; li++)
		{
			int			n = li < 100 ? li + 1 : long_lengths[li - 100];
			double		tol = range == RANGE_INT ? 0.0 : tolerance(n);

			rng_state = (uint64_t) range * 1000003 + n;
			fill(a, n, range);
			fill(b, n, range);
			for (int k = 0; k < nv; k++)
			{
				check_all(v[k], a, b, n, tol, range_names[range]);
				check_u8(v[k], a, b, n, tolerance(n), range_names[range]);
			}
		}
	}
	free(raw_a);
	free(raw_b);
}

/* Unaligned inputs: a and b start 1..15 floats past a 64-byte boundary. */
static void
test_alignment(const OmenKernelSet *const *v, int nv)
{
	static const int lengths[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 100, 784, 1536};
	void	   *raw_a,
			   *raw_b;
	float	   *a = alloc_floats(MAX_LEN, &raw_a);
	float	   *b = alloc_floats(MAX_LEN, &raw_b);
	char		what[32];

	for (int off = 1; off <= MAX_OFFSET; off++)
	{
		/* b's offset differs from a's so that the two never line up */
		int			off_b = (off * 7) % (MAX_OFFSET + 1);

		for (int li = 0; li < (int) (sizeof(lengths) / sizeof(lengths[0])); li++)
		{
			int			n = lengths[li];

			snprintf(what, sizeof(what), "unit offset %d/%d", off, off_b);
			rng_state = (uint64_t) off * 7919 + n;
			fill(a + off, n, RANGE_UNIT);
			fill(b + off_b, n, RANGE_UNIT);
			for (int k = 0; k < nv; k++)
				check_all(v[k], a + off, b + off_b, n, tolerance(n), what);
		}
	}
	free(raw_a);
	free(raw_b);
}

/* bytes rounded up to whole pages */
static size_t
guarded_size(size_t bytes)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);

	return ((bytes + page - 1) / page) * page;
}

/* data bytes (whole pages) followed by an unreadable page */
static char *
map_guarded(size_t data)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	char	   *map = mmap(NULL, data + page, PROT_READ | PROT_WRITE,
						   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (map == MAP_FAILED || mprotect(map + data, page, PROT_NONE) != 0)
	{
		perror("mmap");
		exit(2);
	}
	return map;
}

static void
unmap_guarded(char *map, size_t data)
{
	munmap(map, data + (size_t) sysconf(_SC_PAGESIZE));
}

/*
 * Inputs ending right before an unreadable page: a tail that reads past n
 * crashes the test instead of passing by luck.
 */
static void
test_guard_pages(const OmenKernelSet *const *v, int nv)
{
	size_t		data = guarded_size(MAX_LEN * sizeof(float));
	char	   *map[2];
	float	   *end[2];

	for (int i = 0; i < 2; i++)
	{
		map[i] = map_guarded(data);
		end[i] = (float *) (map[i] + data);
	}
	for (int li = 0; li < 100 + NUM_LONG; li++)
	{
		int			n = li < 100 ? li + 1 : long_lengths[li - 100];
		float	   *a = end[0] - n;
		float	   *b = end[1] - n;

		unsigned char *packed = (unsigned char *) end[1] - (n + 1) / 2;
		unsigned char code[MAX_LEN];
		float		offset,
					scale;

		rng_state = (uint64_t) n * 104729;
		fill(a, n, RANGE_INT);
		fill(b, n, RANGE_INT);
		for (int k = 0; k < nv; k++)
			check_all(v[k], a, b, n, 0.0, "int at page end");

		/*
		 * a 4-bit code of b in its (n + 1) / 2 bytes at the page end, over
		 * b's last bytes, which are not read again
		 */
		omen_quantize(b, n, 4, code, &offset, &scale);
		memmove(packed, code, (n + 1) / 2);
		omen_code_unpack(packed, n, 4, code);
		for (int k = 0; k < nv; k++)
			check_packed_u4(v[k], a, packed, code, n, offset, scale,
							"4-bit code at page end");
	}
	for (int i = 0; i < 2; i++)
		unmap_guarded(map[i], data);
}

/*
 * The sparse merge kernels against a scalar reference: the same terms
 * added in ascending index order to one float sum, with fmaf for the
 * variants that fuse (all but portable), as pgvector does when compiled
 * for a CPU with FMA.  The results must be identical, which also proves
 * the merge visits every index of the union once.
 */
static float
sparse_reference(int metric, int fused, const float *xa, const float *xb,
				 int dim)
{
	float		s = 0.0f;

	for (int i = 0; i < dim; i++)
	{
		float		x = xa[i],
					y = xb[i],
					d = x - y;

		if (metric == 2)
			s += fabsf(d);
		else if (x == 0.0f && y == 0.0f)
			continue;
		else if (metric == 0)
			s = fused ? fmaf(d, d, s) : s + d * d;
		else if (x != 0.0f && y != 0.0f)
			s = fused ? fmaf(x, y, s) : s + x * y;
	}
	return s;
}

/* nnz distinct indices below dim, ascending, with their values */
static void
fill_sparse(int32_t *idx, float *val, float *dense, int nnz, int dim,
			int range)
{
	int			n = 0;

	memset(dense, 0, dim * sizeof(float));
	/* dim >= 2 * nnz: rejection sampling ends quickly */
	while (n < nnz)
	{
		int			i = (int) (rng_next() % dim);

		if (dense[i] != 0.0f)
			continue;
		do
			fill(&dense[i], 1, range);
		while (dense[i] == 0.0f);
		n++;
	}
	n = 0;
	for (int i = 0; i < dim; i++)
		if (dense[i] != 0.0f)
		{
			idx[n] = i;
			val[n++] = dense[i];
		}
}

static void
test_sparse(const OmenKernelSet *const *v, int nv)
{
	static const int big[] = {100, 1000, 16000};
	int			maxdim = 2 * 16000 + 7;
	int32_t    *ai = malloc(16000 * sizeof(int32_t));
	int32_t    *bi = malloc(16000 * sizeof(int32_t));
	float	   *ax = malloc(16000 * sizeof(float));
	float	   *bx = malloc(16000 * sizeof(float));
	float	   *da = malloc(maxdim * sizeof(float));
	float	   *db = malloc(maxdim * sizeof(float));

	for (int range = 0; range < NUM_RANGES; range++)
		for (int t = 0; t < 20 * 20 + 3; t++)
		{
			/* every pair of nnz in 0..19, then long ones */
			int			an = t < 400 ? t / 20 : big[t - 400];
			int			bn = t < 400 ? t % 20 : big[t - 400] / 2 + 1;
			int			dim = 2 * (an > bn ? an : bn) + 1 + t % 7;

			rng_state = (uint64_t) range * 7777 + t;
			fill_sparse(ai, ax, da, an, dim, range);
			fill_sparse(bi, bx, db, bn, dim, range);
			for (int k = 0; k < nv; k++)
			{
				int			fused = strcmp(v[k]->name, "portable") != 0;

				check(v[k]->name, "sparse_l2sq", range_names[range], an,
					  v[k]->sparse_l2sq(ai, ax, an, bi, bx, bn),
					  sparse_reference(0, fused, da, db, dim), 0, 0);
				check(v[k]->name, "sparse_dot", range_names[range], an,
					  v[k]->sparse_dot(ai, ax, an, bi, bx, bn),
					  sparse_reference(1, fused, da, db, dim), 0, 0);
			}
			check("any", "sparse_l1", range_names[range], an,
				  omen_sparse_l1(ai, ax, an, bi, bx, bn),
				  sparse_reference(2, 0, da, db, dim), 0, 0);
		}
	free(ai);
	free(bi);
	free(ax);
	free(bx);
	free(da);
	free(db);
}

/*
 * The popcount kernels against a bit-by-bit count, on bit strings of every
 * length up to 130 bytes and some long ones (64,000 bits is pgvector's
 * index limit), each ending right before an unreadable page.
 */
static void
test_bits(const OmenKernelSet *const *v, int nv)
{
	static const int long_bytes[] = {255, 256, 1000, 8000, 8001};
	size_t		data = guarded_size(8001);
	char	   *map[2];

	map[0] = map_guarded(data);
	map[1] = map_guarded(data);
	for (int t = 0; t < 131 + 5; t++)
	{
		size_t		bytes = t < 131 ? (size_t) t : (size_t) long_bytes[t - 131];
		unsigned char *a = (unsigned char *) map[0] + data - bytes;
		unsigned char *b = (unsigned char *) map[1] + data - bytes;
		uint64_t	ham = 0,
					nab = 0,
					na = 0,
					nb = 0;

		rng_state = (uint64_t) t * 31337;
		for (size_t i = 0; i < bytes; i++)
		{
			/* sparse, dense and random bytes */
			uint64_t	r = rng_next();

			a[i] = (unsigned char) (t % 3 == 0 ? r & (r >> 8) & (r >> 16) :
									t % 3 == 1 ? r | (r >> 8) : r);
			b[i] = (unsigned char) (r >> 24);
			for (int bit = 0; bit < 8; bit++)
			{
				int			x = (a[i] >> bit) & 1,
							y = (b[i] >> bit) & 1;

				ham += x != y;
				nab += x & y;
				na += x;
				nb += y;
			}
		}
		for (int k = 0; k < nv; k++)
		{
			uint64_t	gab,
						ga,
						gb;

			check(v[k]->name, "hamming", "bytes", (int) bytes,
				  (double) v[k]->hamming(a, b, bytes), (double) ham, 0, 0);
			v[k]->jaccard(a, b, bytes, &gab, &ga, &gb);
			check(v[k]->name, "jaccard.ab", "bytes", (int) bytes,
				  (double) gab, (double) nab, 0, 0);
			check(v[k]->name, "jaccard.aa", "bytes", (int) bytes,
				  (double) ga, (double) na, 0, 0);
			check(v[k]->name, "jaccard.bb", "bytes", (int) bytes,
				  (double) gb, (double) nb, 0, 0);
		}
	}
	unmap_guarded(map[0], data);
	unmap_guarded(map[1], data);
}

/*
 * Half floats.  The reference decodes a half with ldexp and encodes a float
 * by finding the nearest half by binary search over the ordered positive
 * half values, ties to the even bit pattern; nothing is shared with the
 * code under test.
 */
static double
ref_half_to_double(uint16_t h)
{
	int			exp = (h >> 10) & 0x1F;
	int			man = h & 0x3FF;
	double		mag;

	if (exp == 0x1F)
		mag = man ? NAN : INFINITY;
	else if (exp == 0)
		mag = ldexp(man, -24);
	else
		mag = ldexp(1024 + man, exp - 25);
	return (h & 0x8000) ? -mag : mag;
}

static uint16_t
ref_float_to_half(float f)
{
	double		x = fabs((double) f);
	uint16_t	sign = signbit(f) ? 0x8000 : 0;
	int			lo = 0,
				hi = 0x7BFF;

	if (isnan(f))
		return 0;				/* not compared: callers check NaN apart */
	if (x >= 65520.0)
		return sign | 0x7C00;
	if (x >= 65504.0)
		return sign | 0x7BFF;
	/* the largest positive half <= x */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (ref_half_to_double((uint16_t) mid) <= x)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (ref_half_to_double((uint16_t) lo) < x)
	{
		double		below = x - ref_half_to_double((uint16_t) lo);
		double		above = ref_half_to_double((uint16_t) (lo + 1)) - x;

		if (above < below || (above == below && (lo & 1)))
			lo++;
	}
	return sign | (uint16_t) lo;
}

static void
check_half_bits(const char *what, float f, uint16_t got, uint16_t want)
{
	if (got == want)
	{
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s: %.9g became 0x%04x, expected 0x%04x\n", what, f, got, want);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("f16c"))) static uint16_t
f16c_float_to_half(float f)
{
	return (uint16_t) _cvtss_sh(f, 0);
}
#endif

static void
check_to_half(float f)
{
	uint16_t	got = omen_float_to_half(f);

	if (isnan(f))
	{
		check_half_bits("float_to_half NaN", f,
						omen_half_is_nan(got) ? 1 : 0, 1);
		return;
	}
	check_half_bits("float_to_half", f, got, ref_float_to_half(f));
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	if (__builtin_cpu_supports("f16c"))
		check_half_bits("float_to_half vs F16C", f, got, f16c_float_to_half(f));
#endif
}

/*
 * Every half decodes exactly and encodes back to itself; the midpoints
 * between neighbouring halves (ties), the floats next to them and random
 * float bit patterns encode like the reference.
 */
static void
test_half_conversions(void)
{
	for (uint32_t i = 0; i <= 0xFFFF; i++)
	{
		uint16_t	h = (uint16_t) i;
		float		f = omen_half_to_float(h);
		double		ref = ref_half_to_double(h);

		if (isnan(ref))
			check_half_bits("half_to_float NaN", f, isnan(f) ? 1 : 0, 1);
		else
		{
			check_half_bits("half_to_float", f, (double) f == ref ? 1 : 0, 1);
			check_to_half(f);
		}
		if ((h & 0x7FFF) < 0x7BFF)
		{
			/* halfway to the next half away from zero, and either side */
			double		mid = (ref + ref_half_to_double((uint16_t) (h + 1))) / 2;
			float		m = (float) mid;

			check_to_half(m);
			check_to_half(nextafterf(m, 0.0f));
			check_to_half(nextafterf(m, m * 2.0f));
		}
	}
	check_to_half(65519.996f);
	check_to_half(65520.0f);
	check_to_half(-65520.0f);
	check_to_half(INFINITY);
	check_to_half(-INFINITY);
	check_to_half(NAN);
	check_to_half(FLT_MAX);
	check_to_half(1e-45f);
	rng_state = 16;
	for (int i = 0; i < 2000000; i++)
	{
		uint32_t	bits = (uint32_t) rng_next();
		float		f;

		memcpy(&f, &bits, sizeof(f));
		check_to_half(f);
	}
}

/*
 * Each variant's narrow_half rounds like omen_float_to_half (which the
 * conversion test holds to the reference): every half widened, the floats
 * at and next to the midpoints between halves, the limits, and random bit
 * patterns, NaNs included (a NaN stays a NaN), in one long array; and at
 * every length up to 100 and at 16,000 it writes nothing past n.
 */
static void
test_narrow_half(const OmenKernelSet *const *v, int nv)
{
	static const float limits[] = {65519.996f, 65520.0f, -65520.0f, FLT_MAX,
	1e-45f, INFINITY, -INFINITY, NAN};
	int			cap = 0x10000 * 4 + 8 + 1000000;
	float	   *x = malloc(sizeof(float) * cap);
	uint16_t   *out = malloc(sizeof(uint16_t) * (cap + 1));
	int			n = 0;

	for (uint32_t i = 0; i <= 0xFFFF; i++)
	{
		float		f = omen_half_to_float((uint16_t) i);

		x[n++] = f;
		if ((i & 0x7FFF) < 0x7BFF)
		{
			float		m = (float) ((ref_half_to_double((uint16_t) i) +
									  ref_half_to_double((uint16_t) (i + 1))) / 2);

			x[n++] = m;
			x[n++] = nextafterf(m, 0.0f);
			x[n++] = nextafterf(m, m * 2.0f);
		}
	}
	for (int i = 0; i < (int) (sizeof(limits) / sizeof(limits[0])); i++)
		x[n++] = limits[i];
	rng_state = 61;
	while (n < cap)
	{
		uint32_t	bits = (uint32_t) rng_next();

		memcpy(&x[n++], &bits, sizeof(float));
	}
	for (int k = 0; k < nv; k++)
	{
		int			bad = 0;

		v[k]->narrow_half(x, n, out);
		for (int i = 0; i < n; i++)
		{
			uint16_t	want = omen_float_to_half(x[i]);
			int			ok = isnan(x[i]) ? omen_half_is_nan(out[i]) : out[i] == want;

			if (ok)
				passed++;
			else if (bad++ < 5)
			{
				failed++;
				printf("FAIL %s narrow_half %.9g: got 0x%04x, expected 0x%04x\n",
					   v[k]->name, x[i], out[i], want);
			}
			else
				failed++;
		}
		for (int li = 0; li <= 101; li++)
		{
			int			len = li <= 100 ? li : 16000;

			out[len] = 0xABCD;
			v[k]->narrow_half(x + 7, len, out);
			if (out[len] == 0xABCD && (len == 0 || out[len - 1] == omen_float_to_half(x[6 + len])))
				passed++;
			else
			{
				failed++;
				printf("FAIL %s narrow_half n=%d: wrote past the end or missed the last\n",
					   v[k]->name, len);
			}
		}
	}
	free(x);
	free(out);
}

/*
 * omen_code_unpack leaves element i of a code of 8, 4, 2 or 1 bits in byte i,
 * the element being the bits from (i % per) * bits up of packed byte
 * i / per: at every length up to 100 and at 200, 784 and 16,000 (blocks
 * and a tail at every width), over random bytes, and it writes nothing
 * past n.
 */
static void
test_unpack(void)
{
	static const int widths[] = {8, 4, 2, 1};
	int			cap = 16000;
	unsigned char *packed = malloc(cap);
	unsigned char *out = malloc(cap + 1);

	rng_state = 67;
	for (int i = 0; i < cap; i++)
		packed[i] = (unsigned char) rng_next();
	for (int w = 0; w < (int) (sizeof(widths) / sizeof(widths[0])); w++)
	{
		int			bits = widths[w];
		int			per = 8 / bits;

		for (int li = 0; li <= 103; li++)
		{
			int			len = li <= 100 ? li : li == 101 ? 200 : li == 102 ? 784 : cap;
			int			bad = 0;

			out[len] = 0xAB;
			omen_code_unpack(packed, len, bits, out);
			for (int i = 0; i < len; i++)
				bad += out[i] != ((packed[i / per] >> (bits * (i % per))) &
								  ((1 << bits) - 1));
			if (bad == 0 && out[len] == 0xAB)
				passed++;
			else
			{
				failed++;
				printf("FAIL unpack bits=%d n=%d: %d elements wrong%s\n", bits,
					   len, bad, out[len] == 0xAB ? "" : ", wrote past the end");
			}
		}
	}
	free(packed);
	free(out);
}

/*
 * Every half kernel of variant k on a and b, and the half code kernels on a
 * widened and b, against the double reference.
 */
static void
check_half(const OmenKernelSet *k, const uint16_t *a, const uint16_t *b,
		   int n, double tol, const char *what)
{
	float	   *fa = malloc(sizeof(float) * (n + 1));
	float	   *fb = malloc(sizeof(float) * (n + 1));
	Reference	r;
	float		dot,
				norma,
				normb;

	for (int i = 0; i < n; i++)
	{
		fa[i] = (float) ref_half_to_double(a[i]);
		fb[i] = (float) ref_half_to_double(b[i]);
	}
	reference(fa, fb, n, &r);
	check(k->name, "l2sq_half", what, n, k->l2sq_half(a, b, n), r.l2sq, r.l2sq, tol);
	check(k->name, "dot_half", what, n, k->dot_half(a, b, n), r.dot, r.abs_dot, tol);
	check(k->name, "l1_half", what, n, k->l1_half(a, b, n), r.l1, r.l1, tol);
	k->cos_parts_half(a, b, n, &dot, &norma, &normb);
	check(k->name, "cos_parts_half.dot", what, n, dot, r.dot, r.abs_dot, tol);
	check(k->name, "cos_parts_half.norma", what, n, norma, r.norma, r.norma, tol);
	check(k->name, "cos_parts_half.normb", what, n, normb, r.normb, r.normb, tol);
	/* a float query against halves as codes: the same sums */
	check(k->name, "l2sq_h16", what, n, k->l2sq_h16(fa, b, n), r.l2sq, r.l2sq, tol);
	check(k->name, "dot_h16", what, n, k->dot_h16(fa, b, n), r.dot, r.abs_dot, tol);
	check(k->name, "l1_h16", what, n, k->l1_h16(fa, b, n), r.l1, r.l1, tol);
	k->cos_parts_h16(fa, b, n, &dot, &norma, &normb);
	check(k->name, "cos_parts_h16.dot", what, n, dot, r.dot, r.abs_dot, tol);
	check(k->name, "cos_parts_h16.normq", what, n, norma, r.norma, r.norma, tol);
	check(k->name, "cos_parts_h16.normx", what, n, normb, r.normb, r.normb, tol);
	/* widening is exact: every element equals the reference's */
	fa[n] = 12345.0f;
	k->widen_half(b, n, fa);
	for (int i = 0; i < n; i++)
		check(k->name, "widen_half", what, n, fa[i], fb[i], fabs(fb[i]), 0.0);
	check(k->name, "widen_half past the end", what, n, fa[n], 12345.0f, 12345.0f, 0.0);
	free(fa);
	free(fb);
}

static void
fill_half(uint16_t *x, int n, int range)
{
	float		f;

	for (int i = 0; i < n; i++)
	{
		fill(&f, 1, range);
		x[i] = ref_float_to_half(f);
	}
}

/*
 * Half kernels at every length from 1 to 100 and the long ones, each input
 * ending right before an unreadable page (a tail that reads past n
 * crashes), and at every start offset of 1..15 halves.
 */
static void
test_half_kernels(const OmenKernelSet *const *v, int nv)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	size_t		data = ((MAX_LEN * sizeof(uint16_t) + page - 1) / page) * page;
	char	   *map[2];
	uint16_t   *end[2];
	char		what[32];

	for (int i = 0; i < 2; i++)
	{
		map[i] = mmap(NULL, data + page, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (map[i] == MAP_FAILED || mprotect(map[i] + data, page, PROT_NONE) != 0)
		{
			perror("mmap");
			exit(2);
		}
		end[i] = (uint16_t *) (map[i] + data);
	}
	for (int range = 0; range < NUM_RANGES; range++)
		for (int li = 0; li < 100 + NUM_LONG; li++)
		{
			int			n = li < 100 ? li + 1 : long_lengths[li - 100];
			uint16_t   *a = end[0] - n;
			uint16_t   *b = end[1] - n;

			rng_state = (uint64_t) range * 7777 + n;
			fill_half(a, n, range);
			fill_half(b, n, range);
			snprintf(what, sizeof(what), "%s at page end", range_names[range]);
			for (int k = 0; k < nv; k++)
				check_half(v[k], a, b, n, range == RANGE_INT ? 0.0 : tolerance(n), what);
		}
	for (int off = 1; off <= MAX_OFFSET; off++)
	{
		int			n = 100 + off;
		uint16_t   *a = end[0] - n - off;
		uint16_t   *b = end[1] - n - (off * 7) % (MAX_OFFSET + 1);

		rng_state = (uint64_t) off * 31;
		fill_half(a, n, RANGE_UNIT);
		fill_half(b, n, RANGE_UNIT);
		snprintf(what, sizeof(what), "unit offset %d", off);
		for (int k = 0; k < nv; k++)
			check_half(v[k], a, b, n, tolerance(n), what);
	}
	for (int i = 0; i < 2; i++)
		munmap(map[i], data + page);
}

static void
on_segv(int sig)
{
	static const char msg[] = "FAIL: SIGSEGV, a kernel read outside its input\n";

	/* only async-signal-safe calls here */
	(void) sig;
	(void) write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static void
expect_chosen(const char *env, const char *want, const char *why)
{
	if (env != NULL)
		setenv("OMEN_KERNELS", env, 1);
	else
		unsetenv("OMEN_KERNELS");
	omen_kernels_init();
	if (strcmp(omen_kernels_name(), want) == 0)
	{
		passed++;
		return;
	}
	failed++;
	printf("FAIL dispatch (%s): OMEN_KERNELS=%s chose %s, expected %s\n",
		   why, env ? env : "(unset)", omen_kernels_name(), want);
}

/* What the compiler's runtime and the kernel report for this machine. */
static const char *
expected_best(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	int			avx512 = 0;
	FILE	   *f;

	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ||
		!__builtin_cpu_supports("f16c"))
		return "portable";
	if (!__builtin_cpu_supports("avx512f"))
		return "avx2";

	/*
	 * Linux lists avx512f only if it saves the ZMM state; where there is no
	 * /proc, trust the cpuid bits.
	 */
	f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return "avx512";
	{
		char		line[8192];

		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "flags", 5) == 0 && strstr(line, " avx512f") != NULL)
				avx512 = 1;
	}
	fclose(f);
	if (!avx512)
		return "avx2";
	return __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512vnni") ? "avx512vnni" : "avx512";
#else
	return "portable";
#endif
}

static void
test_dispatch(const OmenKernelSet *const *v, int nv)
{
	static const char *const names[] = {"portable", "avx2", "avx512", "avx512vnni"};
	const char *best = v[nv - 1]->name;
	const char *expect = expected_best();

	if (strcmp(best, expect) == 0)
		passed++;
	else
	{
		failed++;
		printf("FAIL dispatch: fastest variant found is %s, this CPU and OS support %s\n",
			   best, expect);
	}
	if (strcmp(v[0]->name, "portable") == 0)
		passed++;
	else
	{
		failed++;
		printf("FAIL dispatch: first variant is %s, not portable\n", v[0]->name);
	}

	expect_chosen(NULL, best, "default");
	if (omen_l2sq == v[nv - 1]->l2sq && omen_dot == v[nv - 1]->dot &&
		omen_l1 == v[nv - 1]->l1 && omen_cos_parts == v[nv - 1]->cos_parts &&
		omen_l2sq_u8 == v[nv - 1]->l2sq_u8 &&
		omen_dot_u8 == v[nv - 1]->dot_u8 &&
		omen_l2sq_u4 == v[nv - 1]->l2sq_u4 &&
		omen_dot_u4 == v[nv - 1]->dot_u4 &&
		omen_sparse_l2sq == v[nv - 1]->sparse_l2sq &&
		omen_sparse_dot == v[nv - 1]->sparse_dot &&
		omen_hamming == v[nv - 1]->hamming &&
		omen_jaccard == v[nv - 1]->jaccard &&
		omen_l2sq_half == v[nv - 1]->l2sq_half &&
		omen_dot_half == v[nv - 1]->dot_half &&
		omen_l1_half == v[nv - 1]->l1_half &&
		omen_cos_parts_half == v[nv - 1]->cos_parts_half &&
		omen_dot_codes == v[nv - 1]->dot_codes &&
		omen_dot_codes4 == v[nv - 1]->dot_codes4 &&
		omen_query_u4 == v[nv - 1]->query_u4)
		passed++;
	else
	{
		failed++;
		printf("FAIL dispatch: function pointers are not those of %s\n", best);
	}
	for (int i = 0; i < (int) (sizeof(names) / sizeof(names[0])); i++)
	{
		const char *want = best;

		/* a name this machine cannot run falls back to the best */
		for (int k = 0; k < nv; k++)
			if (strcmp(v[k]->name, names[i]) == 0)
				want = names[i];
		expect_chosen(names[i], want, "forced");
	}
	expect_chosen("bogus", best, "unknown name");
	expect_chosen("", best, "empty name");
	unsetenv("OMEN_KERNELS");
	omen_kernels_init();
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* keeps the compiler from dropping the benchmarked calls */
static volatile float bench_sink;

enum
{
	BENCH_L2SQ,
	BENCH_COS_PARTS,
	NUM_BENCH
};

static const char *const bench_names[NUM_BENCH] = {
	"l2sq", "cos_parts"
};

/*
 * Distances per second of one kernel against a working set of vectors: the
 * best of 5 runs of at least 0.1 s, since other processes sharing the
 * machine only ever make a run slower.
 */
static double
bench_one(const OmenKernelSet *k, int kind, const float *q, const float *set,
		  int count, int dim)
{
	double		best = 0;

	for (int run = 0; run < 5; run++)
	{
		long		done = 0;
		double		start = now(),
					elapsed;

		do
		{
			float		acc = 0;

			for (int i = 0; i < count; i++)
			{
				const float *x = set + (size_t) i * dim;

				switch (kind)
				{
					case BENCH_L2SQ:
						acc += k->l2sq(q, x, dim);
						break;
					case BENCH_COS_PARTS:
						{
							float		dot,
										na,
										nb;

							k->cos_parts(q, x, dim, &dot, &na, &nb);
							acc += dot + na + nb;
						}
						break;
				}
			}
			bench_sink += acc;
			done += count;
			elapsed = now() - start;
		} while (elapsed < 0.1);
		if (done / elapsed > best)
			best = done / elapsed;
	}
	return best;
}

static void
bench(const OmenKernelSet *const *v, int nv)
{
	static const int dims[] = {784, 1536};
	/* 256 kB stays in L2; 20 MB does not (it may still fit in L3) */
	static const size_t sets[] = {256 * 1024, 20 * 1024 * 1024};
	float	   *q = malloc(1536 * sizeof(float));
	float	   *set = malloc(sets[1]);

	if (q == NULL || set == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	rng_state = 42;
	fill(q, 1536, RANGE_UNIT);
	fill(set, (int) (sets[1] / sizeof(float)), RANGE_UNIT);

	printf("distances per second (millions), one query against a working set\n");
	printf("%-9s %-5s %-12s %14s %14s\n", "variant", "dim", "kernel",
		   "256kB (L2)", "20MB (>L2)");
	for (int d = 0; d < 2; d++)
		for (int kind = 0; kind < NUM_BENCH; kind++)
			for (int k = 0; k < nv; k++)
			{
				printf("%-9s %-5d %-12s", v[k]->name, dims[d], bench_names[kind]);
				for (int s = 0; s < 2; s++)
				{
					int			count = (int) (sets[s] / (dims[d] * sizeof(float)));

					printf(" %14.2f",
						   bench_one(v[k], kind, q, set, count, dims[d]) / 1e6);
				}
				printf("\n");
				fflush(stdout);
			}
	free(q);
	free(set);
}

/*
 * omen_inner_product with each variant's dot kernel, on products beyond
 * float4's range: two huge products at positions i and j (every pair, so
 * they fall into the same lane and into different lanes) among small
 * integers.  Products cancelling exactly leave the small terms' exact sum;
 * otherwise the true sum is beyond float4's range and the result is the
 * infinity of its sign, never NaN.
 */
static void
test_inner_product_overflow(const OmenKernelSet *const *v, int nv)
{
	enum
	{
		N = 40
	};
	/* b[j] for the second huge product, and the expected result's sign */
	static const struct
	{
		float		bj;
		int			sign;
	}			cases[] = {
		{-1e20f, 0},			/* 1e40 - 1e40: exact cancellation */
		{-2e20f, -1},			/* 1e40 - 2e40 */
		{-5e19f, 1},			/* 1e40 - 5e39 */
	};
	float		a[N],
				b[N];
	omen_pair_fn saved = omen_dot;

	for (int k = 0; k < nv; k++)
	{
		omen_dot = v[k]->dot;
		for (int n = 2; n <= N; n++)
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					for (int c = 0; c < (int) (sizeof(cases) / sizeof(cases[0])); c++)
					{
						float		small = 0.0f;
						float		got;
						float		want;

						if (i == j)
							continue;
						for (int t = 0; t < n; t++)
						{
							a[t] = (float) (t % 5 - 2);
							b[t] = (float) (t % 3 - 1);
							if (t != i && t != j)
								small += a[t] * b[t];
						}
						a[i] = b[i] = a[j] = 1e20f;
						b[j] = cases[c].bj;
						want = cases[c].sign == 0 ? small :
							cases[c].sign * INFINITY;
						got = omen_inner_product(a, b, n);
						if (got == want)
							passed++;
						else
						{
							failed++;
							printf("FAIL %s inner product overflow n=%d i=%d j=%d b[j]=%g: got %g, expected %g\n",
								   v[k]->name, n, i, j, cases[c].bj, got, want);
						}
					}
	}
	omen_dot = saved;
}

/*
 * dot_codes is exact: every variant at every length up to 300 and at
 * 16,000 (the largest code), on random codes and on codes all 255, from
 * unaligned starts, equals the sum in 64 bits; so does dot_codes4 over the
 * same bytes as 4-bit codes packed two a byte.
 */
static void
test_dot_codes(const OmenKernelSet **v, int nv)
{
	const int	maxn = 16000;
	unsigned char *a = malloc(maxn + 64);
	unsigned char *b = malloc(maxn + 64);
	uint32_t	seed = 7;

	for (int fill = 0; fill < 2; fill++)
	{
		for (int i = 0; i < maxn + 64; i++)
		{
			seed = seed * 1103515245 + 12345;
			a[i] = fill ? 255 : (unsigned char) (seed >> 16);
			seed = seed * 1103515245 + 12345;
			b[i] = fill ? 255 : (unsigned char) (seed >> 16);
		}
		for (int t = 0; t <= 301; t++)
		{
			int			n = t <= 300 ? t : maxn;
			int			start = n % 7;
			uint64_t	want = 0;

			for (int i = 0; i < n; i++)
				want += (uint64_t) a[start + i] * b[start + 1 + i];
			for (int k = 0; k < nv; k++)
			{
				uint32_t	got = v[k]->dot_codes(a + start, b + start + 1, n);

				if (got == want)
					passed++;
				else
				{
					failed++;
					printf("FAIL %s dot_codes n=%d fill %d: got %u, expected %llu\n",
						   v[k]->name, n, fill, got, (unsigned long long) want);
				}
			}
			want = 0;
			for (int i = 0; i < n; i++)
				want += (uint64_t) ((a[start + i / 2] >> (4 * (i % 2))) & 0x0F) *
					((b[start + 1 + i / 2] >> (4 * (i % 2))) & 0x0F);
			for (int k = 0; k < nv; k++)
			{
				uint32_t	got = v[k]->dot_codes4(a + start, b + start + 1, n);

				if (got == want)
					passed++;
				else
				{
					failed++;
					printf("FAIL %s dot_codes4 n=%d fill %d: got %u, expected %llu\n",
						   v[k]->name, n, fill, got, (unsigned long long) want);
				}
			}
		}
	}
	free(a);
	free(b);
}

/* The terms of a quantized query against a 4-bit code, element by element */
static void
query_reference(const unsigned char *u, const unsigned char *code, int n,
				OmenQueryTerms *t)
{
	int			bytes = (n + 1) / 2;

	memset(t, 0, sizeof(*t));
	for (int i = 0; i < n; i++)
	{
		uint64_t	q = u[i / 2 + (i % 2) * bytes];
		uint64_t	c = omen_code_element(code, i, 4);

		t->dot += q * c;
		t->sum += c;
		t->sumsq += c * c;
	}
}

/*
 * query_u4 is exact: every variant at every length up to 300 and at 784,
 * 16,000 and 100,000, on random queries and codes and on every element at
 * its largest (255 against 15), with the code ending right before an
 * unreadable page, equals the element-by-element sums in 64 bits.
 */
static void
test_query_kernels(const OmenKernelSet **v, int nv)
{
	const int	maxn = 100000;
	size_t		data = guarded_size(maxn);
	char	   *map = map_guarded(data);
	unsigned char *u = malloc(maxn + 2);

	for (int full = 0; full < 2; full++)
	{
		for (int t = 0; t <= 303; t++)
		{
			int			n = t <= 300 ? t : t == 301 ? 784 : t == 302 ? 16000 : maxn;
			int			bytes = (n + 1) / 2;
			unsigned char *code = (unsigned char *) map + data - bytes;
			OmenQueryTerms want;

			rng_state = (uint64_t) n * 31 + full;
			for (int i = 0; i < bytes; i++)
				code[i] = full ? 0xFF : (unsigned char) rng_next();
			if (n % 2)
				code[bytes - 1] &= 0x0F;
			for (int i = 0; i < 2 * bytes; i++)
				u[i] = full ? 255 : (unsigned char) rng_next();
			if (n % 2)
				u[2 * bytes - 1] = 0;
			query_reference(u, code, n, &want);
			for (int k = 0; k < nv; k++)
			{
				OmenQueryTerms got;

				v[k]->query_u4(u, code, n, &got);
				if (got.dot == want.dot && got.sum == want.sum &&
					got.sumsq == want.sumsq)
					passed++;
				else
				{
					failed++;
					printf("FAIL %s query_u4 n=%d full %d: got %llu %llu %llu, expected %llu %llu %llu\n",
						   v[k]->name, n, full,
						   (unsigned long long) got.dot,
						   (unsigned long long) got.sum,
						   (unsigned long long) got.sumsq,
						   (unsigned long long) want.dot,
						   (unsigned long long) want.sum,
						   (unsigned long long) want.sumsq);
				}
			}
		}
	}
	unmap_guarded(map, data);
	free(u);
}

/*
 * omen_query_quantize keeps each element within half a step of the query,
 * and its sums exact, and refuses a query with an element not finite or too
 * large; omen_query_code_distance is the L2 and inner-product distance
 * between the query it quantized and the decoded 4-bit code, within float
 * rounding of the terms' magnitude, over every value range, and NaN for a
 * code too large to fit or of a finer step than the query's.
 */
static void
test_query_codes(void)
{
	static const int lengths[] = {1, 2, 3, 31, 784, 1001, 16000};
	float	   *q = malloc(sizeof(float) * MAX_LEN);
	float	   *x = malloc(sizeof(float) * MAX_LEN);
	unsigned char *code = malloc(MAX_LEN);
	unsigned char *u = malloc(OMEN_QUERY_CODE_BYTES(MAX_LEN));

	rng_state = 23;
	for (int t = 0; t < (int) (sizeof(lengths) / sizeof(lengths[0])); t++)
	{
		int			n = lengths[t];
		int			bytes = (n + 1) / 2;

		for (int range = 0; range < NUM_RANGES; range++)
		{
			OmenQueryCode qc;
			float		offset,
						scale;
			double		l2 = 0,
						ip = 0,
						mag = 0,
						sum = 0,
						sumsq = 0,
						worst = 0;

			fill(q, n, range);
			fill(x, n, range);
			omen_quantize(x, n, 4, code, &offset, &scale);
			if (!omen_query_quantize(q, n, u, &qc))
			{
				failed++;
				printf("FAIL query_quantize n=%d range %s: refused\n",
					   n, range_names[range]);
				continue;
			}
			for (int i = 0; i < n; i++)
			{
				unsigned	level = qc.u[i / 2 + (i % 2) * bytes];
				double		qv = qc.offset + qc.scale * level;
				double		xv = (double) offset + (double) scale *
					omen_code_element(code, i, 4);

				worst = fmax(worst, fabs(qv - q[i]) - qc.scale / 2);
				sum += level;
				sumsq += (double) level * level;
				l2 += (qv - xv) * (qv - xv);
				ip += qv * xv;
				mag += qv * qv + xv * xv;
			}
			check("any", "query_quantize error", range_names[range], n,
				  fmax(worst, 0), 0, fabs(qc.offset) + qc.scale * 255, 1e-6);
			check("any", "query_quantize sums", range_names[range], n,
				  fabs(qc.sum - sum) + fabs(qc.sumsq - sumsq), 0, 1, 0);
			if (n % 2)
				check("any", "query_quantize last odd 0", range_names[range], n,
					  qc.u[2 * bytes - 1], 0, 1, 0);
			for (int metric = OMEN_METRIC_L2; metric <= OMEN_METRIC_IP; metric++)
			{
				float		got = omen_query_code_distance(metric, &qc, code,
														   offset, scale);

				if (qc.scale <= scale)
					check("any", metric == OMEN_METRIC_L2 ? "query_code_distance l2" :
						  "query_code_distance ip", range_names[range], n,
						  got, metric == OMEN_METRIC_L2 ? l2 : -ip, mag, 1e-5);
				else
					check("any", "query_code_distance coarser query",
						  range_names[range], n, isnan(got), 1, 1, 0);
			}
			check("any", "query_code_distance too large", range_names[range], n,
				  isnan(omen_query_code_distance(OMEN_METRIC_L2, &qc, code,
												 offset, FLT_MAX / 1024)), 1, 1, 0);
			check("any", "query_code_distance finer code", range_names[range], n,
				  isnan(omen_query_code_distance(OMEN_METRIC_L2, &qc, code,
												 offset, qc.scale / 2)) ||
				  qc.scale == 0, 1, 1, 0);
		}
	}
	q[0] = NAN;
	check("any", "query_quantize NaN", "", 1,
		  omen_query_quantize(q, 1, u, &(OmenQueryCode) {0}), 0, 1, 0);
	q[0] = INFINITY;
	check("any", "query_quantize infinity", "", 1,
		  omen_query_quantize(q, 1, u, &(OmenQueryCode) {0}), 0, 1, 0);
	q[0] = FLT_MAX;
	check("any", "query_quantize too large", "", 1,
		  omen_query_quantize(q, 1, u, &(OmenQueryCode) {0}), 0, 1, 0);
	free(q);
	free(x);
	free(code);
	free(u);
}

/*
 * omen_bits_query takes a query of 0s and one value, element i in bit
 * i % 8 of byte i / 8 as test_unpack has 1-bit codes, and refuses any other;
 * omen_bits_code_distance is the L2 and inner-product distance of the
 * query to the decoded code within float rounding, and equals the byte
 * kernel on the unpacked code exactly for 0s and 1s against a code of
 * offset 0 and scale 1, as a bit index has.
 */
static void
test_bits_query(void)
{
	static const int lengths[] = {1, 7, 8, 9, 63, 64, 65, 100, 127, 128,
	129, 784, 1000, 16000};
	unsigned char *qc = malloc(OMEN_CODE_BYTES(MAX_LEN, 1));
	unsigned char *bc = malloc(OMEN_CODE_BYTES(MAX_LEN, 1));
	unsigned char *qq = malloc(OMEN_CODE_BYTES(MAX_LEN, 1));
	unsigned char *unpacked = malloc(MAX_LEN);
	float	   *q = malloc(sizeof(float) * MAX_LEN);

	rng_state = 29;
	for (int t = 0; t < (int) (sizeof(lengths) / sizeof(lengths[0])); t++)
	{
		int			n = lengths[t];

		for (int trial = 0; trial < 24; trial++)
		{
			/* the query's value, the code's offset and scale, a density */
			float		values[] = {1, 0.0625f, -3.5f, (float) rng_unit()};
			float		qv = values[trial % 4];
			float		o = trial < 8 ? 0 : (float) (2.0 * rng_unit() - 1.0);
			float		sc = trial < 8 ? 1 : trial < 12 ? 0 : (float) rng_unit();
			double		density = trial % 3 == 0 ? 0.5 : trial % 3 == 1 ? 0.05 : 0.95;
			float		v;
			int			ones = 0;
			double		l2 = 0,
						ip = 0,
						mag = 0;
			bool		ok;

			/* random bits of the code, query and code 0 past n */
			memset(bc, 0, OMEN_CODE_BYTES(n, 1));
			memset(qq, 0, OMEN_CODE_BYTES(n, 1));
			for (int i = 0; i < n; i++)
			{
				q[i] = rng_unit() < density ? qv : 0;
				qq[i / 8] |= (q[i] != 0) << (i % 8);
				ones += q[i] != 0;
				bc[i / 8] |= (rng_next() & 1) << (i % 8);
			}
			for (int i = 0; i < n; i++)
			{
				double		d = (double) o + (double) sc * ((bc[i / 8] >> (i % 8)) & 1);

				l2 += (q[i] - d) * (q[i] - d);
				ip += q[i] * d;
				mag += (double) q[i] * q[i] + d * d;
			}
			ok = omen_bits_query(q, n, qc, &v) &&
				v == (ones > 0 ? qv : 0) &&
				memcmp(qc, qq, OMEN_CODE_BYTES(n, 1)) == 0;
			ok = ok && fabs(omen_bits_code_distance(OMEN_METRIC_L2, qc, v, bc,
													o, sc, n) - l2) <=
				4 * FLT_EPSILON * (mag + 1);
			ok = ok && fabs(omen_bits_code_distance(OMEN_METRIC_IP, qc, v, bc,
													o, sc, n) + ip) <=
				4 * FLT_EPSILON * (mag + 1);
			if (ok && trial < 8 && qv == 1)
			{
				omen_code_unpack(bc, n, 1, unpacked);
				ok = omen_bits_code_distance(OMEN_METRIC_L2, qc, v, bc, 0, 1, n) ==
					omen_l2sq_u8(q, unpacked, 0, 1, n);
			}
			if (ok)
				passed++;
			else
			{
				failed++;
				printf("FAIL bits query n=%d trial=%d\n", n, trial);
			}
		}

		/* refused: a second value, or an element not finite */
		for (int bad = 0; bad < 3; bad++)
		{
			float		v;

			for (int i = 0; i < n; i++)
				q[i] = i % 2 ? 1 : 0;
			q[n - 1] = bad == 0 ? 2 : bad == 1 ? NAN : INFINITY;
			if (n > 1 || bad > 0 ? !omen_bits_query(q, n, qc, &v) :
				omen_bits_query(q, n, qc, &v))
				passed++;
			else
			{
				failed++;
				printf("FAIL bits query n=%d took a query it must refuse (%d)\n",
					   n, bad);
			}
		}
	}
	free(qc);
	free(bc);
	free(qq);
	free(unpacked);
	free(q);
}

/*
 * omen_code_sums counts exactly, and omen_code_pair_distance is the L2 and
 * inner-product distance of the decoded codes, within float rounding of the
 * terms' magnitude, at lengths around the sums' blocks and up to 16,000;
 * over 4-bit codes as they are packed, both give what they give over the
 * same codes unpacked, and omen_code_decode decodes them alike.
 */
static void
test_code_pairs(void)
{
	static const int lengths[] = {1, 2, 31, 255, 256, 257, 511, 512, 513,
	784, 1000, 16000};
	unsigned char *ca = malloc(MAX_LEN);
	unsigned char *cb = malloc(MAX_LEN);
	unsigned char *pa = malloc(MAX_LEN);
	unsigned char *pb = malloc(MAX_LEN);
	float	   *x = malloc(sizeof(float) * MAX_LEN);
	float	   *y = malloc(sizeof(float) * MAX_LEN);

	rng_state = 11;
	for (int t = 0; t < 2 * (int) (sizeof(lengths) / sizeof(lengths[0])); t++)
	{
		int			n = lengths[t / 2];
		int			bits = t % 2 ? 4 : 8;

		for (int range = 0; range < NUM_RANGES; range++)
		{
			OmenCodeSums a,
						b;
			float		oa,
						sa,
						ob,
						sb;
			uint64_t	sum = 0,
						sumsq = 0;
			double		l2 = 0,
						ip = 0,
						mag = 0;

			fill(x, n, range);
			omen_quantize(x, n, bits, pa, &oa, &sa);
			omen_code_unpack(pa, n, bits, ca);
			fill(x, n, range);
			omen_quantize(x, n, bits, pb, &ob, &sb);
			omen_code_unpack(pb, n, bits, cb);
			a.offset = oa;
			a.scale = sa;
			omen_code_sums(pa, n, bits, &a);
			b.offset = ob;
			b.scale = sb;
			omen_code_sums(pb, n, bits, &b);
			for (int i = 0; i < n; i++)
			{
				double		da = (double) oa + (double) sa * ca[i];
				double		db = (double) ob + (double) sb * cb[i];

				sum += ca[i];
				sumsq += (uint64_t) ca[i] * ca[i];
				l2 += (da - db) * (da - db);
				ip += da * db;
				mag += da * da + db * db;
			}
			if (a.sum == sum && a.sumsq == sumsq && a.offset == oa &&
				a.scale == sa)
				passed++;
			else
			{
				failed++;
				printf("FAIL code_sums n=%d bits %d range %s: got %u %u, expected %llu %llu\n",
					   n, bits, range_names[range], a.sum, a.sumsq,
					   (unsigned long long) sum, (unsigned long long) sumsq);
			}
			for (int metric = OMEN_METRIC_L2; metric <= OMEN_METRIC_IP; metric++)
			{
				double		want = metric == OMEN_METRIC_L2 ? l2 : -ip;
				float		got = omen_code_pair_distance(metric, n, bits, &a,
														  pa, &b, pb);
				float		back = omen_code_pair_distance(metric, n, bits, &b,
														   pb, &a, pa);
				float		unpacked = omen_code_pair_distance(metric, n, 8, &a,
															   ca, &b, cb);

				if (omen_code_pair_fits(&a, omen_code_pair_limit(n)) &&
					fabs(got - want) <= 1e-5 * mag + 1e-30 && got == back &&
					got == unpacked)
					passed++;
				else
				{
					failed++;
					printf("FAIL code_pair_distance metric %d n=%d bits %d range %s: got %g and %g (%g unpacked), expected %g\n",
						   metric, n, bits, range_names[range], got, back,
						   unpacked, want);
				}
			}
			omen_code_decode(pa, n, bits, oa, sa, x);
			omen_code_decode(ca, n, 8, oa, sa, y);
			if (memcmp(x, y, sizeof(float) * n) == 0)
				passed++;
			else
			{
				failed++;
				printf("FAIL code_decode n=%d bits %d range %s\n", n, bits,
					   range_names[range]);
			}
		}
	}
	free(ca);
	free(cb);
	free(pa);
	free(pb);
	free(x);
	free(y);
}

int
main(int argc, char **argv)
{
	const OmenKernelSet *v[OMEN_MAX_KERNEL_VARIANTS];
	int			nv = omen_kernel_variants(v, OMEN_MAX_KERNEL_VARIANTS);

	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
	{
		bench(v, nv);
		return 0;
	}

	/* failures already printed must survive a crash */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGSEGV, on_segv);

	printf("variants:");
	for (int k = 0; k < nv; k++)
		printf(" %s", v[k]->name);
	printf("\n");

	test_dispatch(v, nv);
	test_lengths(v, nv);
	test_alignment(v, nv);
	test_guard_pages(v, nv);
	test_inner_product_overflow(v, nv);
	test_sparse(v, nv);
	test_bits(v, nv);
	test_half_conversions();
	test_narrow_half(v, nv);
	test_unpack();
	test_bits_query();
	test_half_kernels(v, nv);
	test_dot_codes(v, nv);
	test_code_pairs();
	test_query_kernels(v, nv);
	test_query_codes();

	printf("kernels: %d passed, %d failed\n", passed, failed);
	return failed > 0;
}
