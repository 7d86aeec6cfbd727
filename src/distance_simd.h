/*
 * distance_simd.h
 *		The dense kernels of one SIMD variant, as a template.
 *
 * distance.c includes this once per instruction set, after defining:
 *
 *	SIMD_TARGET		the function attribute that enables the instruction set
 *	SIMD_FN(name)	name with the variant's suffix
 *	SIMD_NAME		the variant's name, a string
 *	SIMD_WIDTH		floats in a register
 *	simd_t			the register type
 *	SIMD_ZERO(), SIMD_SET1(x), SIMD_ADD(x, y), SIMD_SUB(x, y), SIMD_ABS(x)
 *	SIMD_FMADD(x, y, s)		x * y + s, rounded once
 *	SIMD_HSUM(x)			the sum of x's lanes, in a fixed order
 *	SIMD_LOAD(p), SIMD_LOAD_HALF(p), SIMD_DECODE(code, offset, scale),
 *	SIMD_DECODE_NIBBLES(code, offset, scale)
 *			SIMD_WIDTH float4s, halves, 8-bit or 4-bit codes from p, as
 *			floats
 *	SIMD_STORE(p, x)		x's SIMD_WIDTH floats to p
 *	SIMD_STORE_HALF(p, x)	x's SIMD_WIDTH floats to p as halves, rounded to
 *			nearest even as omen_float_to_half rounds
 *	SIMD_LOAD_TAIL(p, r)	the first r (1 .. SIMD_WIDTH - 1) float4s from p,
 *			the other lanes 0, reading nothing past them
 *	SIMD_FIRST(x, r)		x with the lanes from r on set to 0
 *
 * and the element kinds (ElemKind, QUERY_KIND) and terms (TERM_*) of
 * distance.c.  It defines the variant's kernels, named SIMD_FN(l2sq) and so
 * on, and its OmenKernelSet, SIMD_FN(kernels), which shares the sparse and
 * bit string kernels of distance.c and takes SIMD_FN(dot_codes) and
 * SIMD_FN(dot_codes4), which distance.c defines before including it; then
 * it undefines the parameters.
 *
 * SIMD_FN(sum) keeps 4 accumulators (4 * SIMD_WIDTH elements a pass) and
 * SIMD_FN(cos_sums) 2 for each of its three sums; then come single
 * registers, then a tail register for the last elements.  Accumulators are
 * combined in a fixed order.  The tail's lanes beyond n are 0 in both
 * operands, so they add nothing to any sum.
 */

#define SIMD_INLINE static inline SIMD_TARGET __attribute__((always_inline))

/*
 * Register k (from 0) of SIMD_WIDTH elements of kind from p + i, as floats.
 * (Pointer arithmetic, not i + k * SIMD_WIDTH: with -fwrapv an int sum
 * would cost an instruction per load.)
 */
SIMD_INLINE simd_t
SIMD_FN(load)(int kind, const void *p, int i, int k, simd_t offset,
			  simd_t scale)
{
	switch (kind)
	{
		case ELEM_F16:
		case ELEM_H16:
			return SIMD_LOAD_HALF((const uint16_t *) p + i + k * SIMD_WIDTH);
		case ELEM_U8:
			return SIMD_DECODE((const unsigned char *) p + i + k * SIMD_WIDTH,
							   offset, scale);
		case ELEM_U4:
			/* i is a multiple of SIMD_WIDTH, so even */
			return SIMD_DECODE_NIBBLES((const unsigned char *) p + i / 2 +
									   k * (SIMD_WIDTH / 2), offset, scale);
		default:
			return SIMD_LOAD((const float *) p + i + k * SIMD_WIDTH);
	}
}

/*
 * The last r elements of kind from p + i, as floats; the other lanes 0.
 * Halves and codes are copied to a zeroed buffer, so nothing past them is
 * read.
 */
SIMD_INLINE simd_t
SIMD_FN(load_tail)(int kind, const void *p, int i, int r, simd_t offset,
				   simd_t scale)
{
	switch (kind)
	{
		case ELEM_F16:
		case ELEM_H16:
			{
				uint16_t	tail[SIMD_WIDTH] = {0};

				memcpy(tail, (const uint16_t *) p + i, sizeof(uint16_t) * r);
				return SIMD_LOAD_HALF(tail);
			}
		case ELEM_U8:
			{
				unsigned char tail[SIMD_WIDTH] = {0};

				/* code 0 decodes to offset: those lanes must be cleared */
				memcpy(tail, (const unsigned char *) p + i, r);
				return SIMD_FIRST(SIMD_DECODE(tail, offset, scale), r);
			}
		case ELEM_U4:
			{
				unsigned char tail[SIMD_WIDTH] = {0};

				memcpy(tail, (const unsigned char *) p + i / 2, (r + 1) / 2);
				return SIMD_FIRST(SIMD_DECODE_NIBBLES(tail, offset, scale), r);
			}
		default:
			return SIMD_LOAD_TAIL((const float *) p + i, r);
	}
}

/* s plus term of x and y, lane by lane */
SIMD_INLINE simd_t
SIMD_FN(term)(int term, simd_t x, simd_t y, simd_t s)
{
	simd_t		d = SIMD_SUB(x, y);

	if (term == TERM_DOT)
		return SIMD_FMADD(x, y, s);
	if (term == TERM_L1)
		return SIMD_ADD(s, SIMD_ABS(d));
	return SIMD_FMADD(d, d, s);
}

/* s plus term of register k of a and b from i */
SIMD_INLINE simd_t
SIMD_FN(step)(int term, int kind, const void *a, const void *b, int i, int k,
			  simd_t offset, simd_t scale, simd_t s)
{
	return SIMD_FN(term)(term,
						 SIMD_FN(load)(QUERY_KIND(kind), a, i, k, offset, scale),
						 SIMD_FN(load)(kind, b, i, k, offset, scale), s);
}

/* The sum of term over a[i], b[i]; b's elements are of kind */
SIMD_INLINE float
SIMD_FN(sum)(int term, int kind, const void *a, const void *b, int n,
			  float offset, float scale)
{
	const simd_t o = SIMD_SET1(offset);
	const simd_t sc = SIMD_SET1(scale);
	simd_t		s0 = SIMD_ZERO();
	simd_t		s1 = SIMD_ZERO();
	simd_t		s2 = SIMD_ZERO();
	simd_t		s3 = SIMD_ZERO();
	int			i = 0;

	for (; i + 4 * SIMD_WIDTH <= n; i += 4 * SIMD_WIDTH)
	{
		s0 = SIMD_FN(step)(term, kind, a, b, i, 0, o, sc, s0);
		s1 = SIMD_FN(step)(term, kind, a, b, i, 1, o, sc, s1);
		s2 = SIMD_FN(step)(term, kind, a, b, i, 2, o, sc, s2);
		s3 = SIMD_FN(step)(term, kind, a, b, i, 3, o, sc, s3);
	}
	for (; i + SIMD_WIDTH <= n; i += SIMD_WIDTH)
		s0 = SIMD_FN(step)(term, kind, a, b, i, 0, o, sc, s0);
	if (i < n)
		s1 = SIMD_FN(term)(term,
							SIMD_FN(load_tail)(QUERY_KIND(kind), a, i, n - i, o, sc),
							SIMD_FN(load_tail)(kind, b, i, n - i, o, sc), s1);
	return SIMD_HSUM(SIMD_ADD(SIMD_ADD(s0, s1), SIMD_ADD(s2, s3)));
}

/*
 * dot, sum a^2 and sum b^2 in one pass over float4s or halves (b halves
 * and a float4s for a half code): the three sums share the loads, and 2
 * accumulators each keep 6 chains in flight.
 */
SIMD_INLINE void
SIMD_FN(cos_sums)(int kind, const void *a, const void *b, int n,
				   float *dot, float *norma, float *normb)
{
	const simd_t zero = SIMD_ZERO();
	simd_t		d0 = SIMD_ZERO(),
				d1 = SIMD_ZERO();
	simd_t		na0 = SIMD_ZERO(),
				na1 = SIMD_ZERO();
	simd_t		nb0 = SIMD_ZERO(),
				nb1 = SIMD_ZERO();
	simd_t		x0,
				x1,
				y0,
				y1;
	int			i = 0;

	for (; i + 2 * SIMD_WIDTH <= n; i += 2 * SIMD_WIDTH)
	{
		x0 = SIMD_FN(load)(QUERY_KIND(kind), a, i, 0, zero, zero);
		x1 = SIMD_FN(load)(QUERY_KIND(kind), a, i, 1, zero, zero);
		y0 = SIMD_FN(load)(kind, b, i, 0, zero, zero);
		y1 = SIMD_FN(load)(kind, b, i, 1, zero, zero);
		d0 = SIMD_FMADD(x0, y0, d0);
		d1 = SIMD_FMADD(x1, y1, d1);
		na0 = SIMD_FMADD(x0, x0, na0);
		na1 = SIMD_FMADD(x1, x1, na1);
		nb0 = SIMD_FMADD(y0, y0, nb0);
		nb1 = SIMD_FMADD(y1, y1, nb1);
	}
	if (i + SIMD_WIDTH <= n)
	{
		x0 = SIMD_FN(load)(QUERY_KIND(kind), a, i, 0, zero, zero);
		y0 = SIMD_FN(load)(kind, b, i, 0, zero, zero);
		d0 = SIMD_FMADD(x0, y0, d0);
		na0 = SIMD_FMADD(x0, x0, na0);
		nb0 = SIMD_FMADD(y0, y0, nb0);
		i += SIMD_WIDTH;
	}
	if (i < n)
	{
		x1 = SIMD_FN(load_tail)(QUERY_KIND(kind), a, i, n - i, zero, zero);
		y1 = SIMD_FN(load_tail)(kind, b, i, n - i, zero, zero);
		d1 = SIMD_FMADD(x1, y1, d1);
		na1 = SIMD_FMADD(x1, x1, na1);
		nb1 = SIMD_FMADD(y1, y1, nb1);
	}
	*dot = SIMD_HSUM(SIMD_ADD(d0, d1));
	*norma = SIMD_HSUM(SIMD_ADD(na0, na1));
	*normb = SIMD_HSUM(SIMD_ADD(nb0, nb1));
}

static SIMD_TARGET float
SIMD_FN(l2sq)(const float *a, const float *b, int n)
{
	return SIMD_FN(sum)(TERM_L2, ELEM_F32, a, b, n, 0, 0);
}

static SIMD_TARGET float
SIMD_FN(dot)(const float *a, const float *b, int n)
{
	return SIMD_FN(sum)(TERM_DOT, ELEM_F32, a, b, n, 0, 0);
}

static SIMD_TARGET float
SIMD_FN(l1)(const float *a, const float *b, int n)
{
	return SIMD_FN(sum)(TERM_L1, ELEM_F32, a, b, n, 0, 0);
}

static SIMD_TARGET void
SIMD_FN(cos_parts)(const float *a, const float *b, int n,
					float *dot, float *norma, float *normb)
{
	SIMD_FN(cos_sums)(ELEM_F32, a, b, n, dot, norma, normb);
}

static SIMD_TARGET float
SIMD_FN(l2sq_u8)(const float *q, const unsigned char *code, float offset,
				  float scale, int n)
{
	return SIMD_FN(sum)(TERM_L2, ELEM_U8, q, code, n, offset, scale);
}

static SIMD_TARGET float
SIMD_FN(dot_u8)(const float *q, const unsigned char *code, float offset,
				 float scale, int n)
{
	return SIMD_FN(sum)(TERM_DOT, ELEM_U8, q, code, n, offset, scale);
}

static SIMD_TARGET float
SIMD_FN(l2sq_u4)(const float *q, const unsigned char *code, float offset,
				  float scale, int n)
{
	return SIMD_FN(sum)(TERM_L2, ELEM_U4, q, code, n, offset, scale);
}

static SIMD_TARGET float
SIMD_FN(dot_u4)(const float *q, const unsigned char *code, float offset,
				 float scale, int n)
{
	return SIMD_FN(sum)(TERM_DOT, ELEM_U4, q, code, n, offset, scale);
}

static SIMD_TARGET float
SIMD_FN(l2sq_half)(const uint16_t *a, const uint16_t *b, int n)
{
	return SIMD_FN(sum)(TERM_L2, ELEM_F16, a, b, n, 0, 0);
}

static SIMD_TARGET float
SIMD_FN(dot_half)(const uint16_t *a, const uint16_t *b, int n)
{
	return SIMD_FN(sum)(TERM_DOT, ELEM_F16, a, b, n, 0, 0);
}

static SIMD_TARGET float
SIMD_FN(l1_half)(const uint16_t *a, const uint16_t *b, int n)
{
	return SIMD_FN(sum)(TERM_L1, ELEM_F16, a, b, n, 0, 0);
}

static SIMD_TARGET void
SIMD_FN(cos_parts_half)(const uint16_t *a, const uint16_t *b, int n,
						 float *dot, float *norma, float *normb)
{
	SIMD_FN(cos_sums)(ELEM_F16, a, b, n, dot, norma, normb);
}

static SIMD_TARGET float
SIMD_FN(l2sq_h16)(const float *q, const uint16_t *x, int n)
{
	return SIMD_FN(sum)(TERM_L2, ELEM_H16, q, x, n, 0, 0);
}

static SIMD_TARGET float
SIMD_FN(dot_h16)(const float *q, const uint16_t *x, int n)
{
	return SIMD_FN(sum)(TERM_DOT, ELEM_H16, q, x, n, 0, 0);
}

static SIMD_TARGET float
SIMD_FN(l1_h16)(const float *q, const uint16_t *x, int n)
{
	return SIMD_FN(sum)(TERM_L1, ELEM_H16, q, x, n, 0, 0);
}

static SIMD_TARGET void
SIMD_FN(cos_parts_h16)(const float *q, const uint16_t *x, int n,
						float *dot, float *normq, float *normx)
{
	SIMD_FN(cos_sums)(ELEM_H16, q, x, n, dot, normq, normx);
}

static SIMD_TARGET void
SIMD_FN(widen_half)(const uint16_t *x, int n, float *out)
{
	int			i = 0;

	for (; i + SIMD_WIDTH <= n; i += SIMD_WIDTH)
		SIMD_STORE(out + i, SIMD_LOAD_HALF(x + i));
	for (; i < n; i++)
		out[i] = omen_half_to_float(x[i]);
}

static SIMD_TARGET void
SIMD_FN(narrow_half)(const float *x, int n, uint16_t *out)
{
	int			i = 0;

	for (; i + SIMD_WIDTH <= n; i += SIMD_WIDTH)
		SIMD_STORE_HALF(out + i, SIMD_LOAD(x + i));
	for (; i < n; i++)
		out[i] = omen_float_to_half(x[i]);
}

static const OmenKernelSet SIMD_FN(kernels) = {
	SIMD_NAME, SIMD_FN(l2sq), SIMD_FN(dot), SIMD_FN(l1), SIMD_FN(cos_parts),
	SIMD_FN(l2sq_u8), SIMD_FN(dot_u8), SIMD_FN(l2sq_u4), SIMD_FN(dot_u4),
	sparse_l2sq_fma, sparse_dot_fma,
	hamming_popcnt, jaccard_popcnt,
	SIMD_FN(l2sq_half), SIMD_FN(dot_half), SIMD_FN(l1_half),
	SIMD_FN(cos_parts_half), SIMD_FN(l2sq_h16), SIMD_FN(dot_h16),
	SIMD_FN(l1_h16), SIMD_FN(cos_parts_h16), SIMD_FN(dot_codes),
	SIMD_FN(dot_codes4), SIMD_FN(query_u4),
	SIMD_FN(widen_half), SIMD_FN(narrow_half)
};

#undef SIMD_INLINE
#undef SIMD_TARGET
#undef SIMD_FN
#undef SIMD_NAME
#undef SIMD_WIDTH
#undef simd_t
#undef SIMD_ZERO
#undef SIMD_SET1
#undef SIMD_ADD
#undef SIMD_SUB
#undef SIMD_ABS
#undef SIMD_FMADD
#undef SIMD_HSUM
#undef SIMD_LOAD
#undef SIMD_STORE_HALF
#undef SIMD_LOAD_HALF
#undef SIMD_STORE
#undef SIMD_DECODE
#undef SIMD_DECODE_NIBBLES
#undef SIMD_LOAD_TAIL
#undef SIMD_FIRST
