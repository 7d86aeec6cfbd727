/*
 * distance.c
 *		Distance kernels and their runtime dispatch.
 */
#include <math.h>
#include <stddef.h>

#include "distance.h"

static float
l2sq_portable(const float *a, const float *b, int n)
{
	float		s = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		d = a[i] - b[i];

		s += d * d;
	}
	return s;
}

static float
dot_portable(const float *a, const float *b, int n)
{
	float		s = 0.0f;

	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static float
l1_portable(const float *a, const float *b, int n)
{
	float		s = 0.0f;

	for (int i = 0; i < n; i++)
		s += fabsf(a[i] - b[i]);
	return s;
}

static void
cos_parts_portable(const float *a, const float *b, int n,
				   float *dot, float *norma, float *normb)
{
	float		d = 0.0f,
				na = 0.0f,
				nb = 0.0f;

	for (int i = 0; i < n; i++)
	{
		d += a[i] * b[i];
		na += a[i] * a[i];
		nb += b[i] * b[i];
	}
	*dot = d;
	*norma = na;
	*normb = nb;
}

static const OmenKernelSet portable_kernels = {
	"portable", l2sq_portable, dot_portable, l1_portable, cos_parts_portable
};

omen_pair_fn omen_l2sq = l2sq_portable;
omen_pair_fn omen_dot = dot_portable;
omen_pair_fn omen_l1 = l1_portable;
omen_cos_fn omen_cos_parts = cos_parts_portable;

static const OmenKernelSet *chosen = &portable_kernels;

int
omen_kernel_variants(const OmenKernelSet **out, int max)
{
	int			n = 0;

	if (n < max)
		out[n++] = &portable_kernels;
	return n;
}

void
omen_kernels_init(void)
{
	const OmenKernelSet *v[4];
	int			n = omen_kernel_variants(v, 4);

	/* variants are listed slowest first */
	chosen = v[n - 1];
	omen_l2sq = chosen->l2sq;
	omen_dot = chosen->dot;
	omen_l1 = chosen->l1;
	omen_cos_parts = chosen->cos_parts;
}

const char *
omen_kernels_name(void)
{
	return chosen->name;
}
