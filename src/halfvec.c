/*
 * halfvec.c
 *		The halfvec type: vectors of IEEE half floats with pgvector's text
 *		and binary forms, on-disk layout and SQL-level behaviour.
 *
 * Elements are kept as binary16 bit patterns and widened to float for any
 * arithmetic; results are rounded back to half once.  As for vector, every
 * value that reaches a HalfVector is finite: input, casts and arithmetic
 * reject NaN, infinities and values beyond half's range (65504).
 */
#include "postgres.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "distance.h"
#include "halfvec.h"
#include "vector.h"

HalfVector *
InitHalfVector(int dim)
{
	Size		size = HALFVEC_SIZE(dim);
	HalfVector *v = (HalfVector *) palloc0(size);

	SET_VARSIZE(v, size);
	v->dim = (int16) dim;
	return v;
}

void
CheckHalfvecDim(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("halfvec must have at least 1 dimension")));
	if (dim > HALFVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("halfvec cannot have more than %d dimensions",
						HALFVEC_MAX_DIM)));
}

void
CheckHalfvecElement(uint16 h)
{
	if (omen_half_is_nan(h))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in halfvec")));
	if (omen_half_is_inf(h))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in halfvec")));
}

uint16
HalfFromFloat(float f)
{
	uint16		h = omen_float_to_half(f);

	if (omen_half_is_inf(h) && !isinf(f))
	{
		char		buf[FLOAT_SHORTEST_DECIMAL_LEN];

		float_to_shortest_decimal_buf(f, buf);
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type halfvec", buf)));
	}
	return h;
}

static inline void
CheckHalfvecDims(const HalfVector *a, const HalfVector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different halfvec dimensions %d and %d",
						a->dim, b->dim)));
}

/* pgvector's white space for halfvec literals: C isspace() in the C locale */
static inline bool
halfvec_isspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
		c == '\f';
}

static inline char *
skip_space(char *p)
{
	while (halfvec_isspace(*p))
		p++;
	return p;
}

static void pg_attribute_noreturn()
syntax_error(const char *lit, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type halfvec: \"%s\"", lit),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * Text input, element by element as pgvector reads it, so that the first
 * bad element decides the error: strtof's float, then rounded to half.
 */
PG_FUNCTION_INFO_V1(halfvec_in);
Datum
halfvec_in(PG_FUNCTION_ARGS)
{
	char	   *lit = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	char	   *p = skip_space(lit);
	int			cap = 1;
	int			dim = 0;
	HalfVector *result;

	if (*p != '[')
		syntax_error(lit, "Vector contents must start with \"[\".");
	p = skip_space(p + 1);
	if (*p == ']')
		CheckHalfvecDim(0);

	/* Commas bound the element count, so one allocation is enough. */
	for (char *q = p; *q != '\0' && cap <= HALFVEC_MAX_DIM; q++)
		if (*q == ',')
			cap++;
	result = InitHalfVector(Min(cap, HALFVEC_MAX_DIM));

	for (;;)
	{
		char	   *end;
		float		val;
		uint16		h;

		if (dim == HALFVEC_MAX_DIM)
			CheckHalfvecDim(dim + 1);

		p = skip_space(p);
		if (*p == '\0')
			syntax_error(lit, NULL);

		/* the server runs with LC_NUMERIC=C */
		errno = 0;
		val = strtof(p, &end);
		if (end == p)
			syntax_error(lit, NULL);
		h = omen_float_to_half(val);
		if ((errno == ERANGE && isinf(val)) ||
			(omen_half_is_inf(h) && !isinf(val)))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("\"%s\" is out of range for type halfvec",
							pnstrdup(p, end - p))));
		CheckHalfvecElement(h);
		result->x[dim++] = h;

		p = skip_space(end);
		if (*p == ']')
			break;
		if (*p != ',')
			syntax_error(lit, NULL);
		p++;
	}

	if (*skip_space(p + 1) != '\0')
		syntax_error(lit, "Junk after closing right brace.");

	CheckVectorTypmod(typmod, dim);
	SET_VARSIZE(result, HALFVEC_SIZE(dim));
	result->dim = (int16) dim;
	PG_RETURN_HALFVEC_P(result);
}

/* Each half as the shortest decimal that reads back as the same float. */
PG_FUNCTION_INFO_V1(halfvec_out);
Datum
halfvec_out(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	/* each element takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 chars + ',' */
	char	   *buf = palloc(v->dim * FLOAT_SHORTEST_DECIMAL_LEN + 2);
	char	   *p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(omen_half_to_float(v->x[i]), p);
	}
	*p++ = ']';
	*p = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(halfvec_typmod_in);
Datum
halfvec_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *ta = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *mods;
	int			n;

	mods = ArrayGetIntegerTypmods(ta, &n);
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));
	if (mods[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type halfvec must be at least 1")));
	if (mods[0] > HALFVEC_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type halfvec cannot exceed %d",
						HALFVEC_MAX_DIM)));
	PG_RETURN_INT32(mods[0]);
}

/*
 * Wire format: int16 dim, int16 unused (0), dim halves' bits, big-endian.
 * The header fields are signed, as pgvector reads them: 0xFFFF is -1.
 */
PG_FUNCTION_INFO_V1(halfvec_recv);
Datum
halfvec_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim = (int16) pq_getmsgint(buf, sizeof(int16));
	int16		unused = (int16) pq_getmsgint(buf, sizeof(int16));
	HalfVector *result;

	CheckHalfvecDim(dim);
	CheckVectorTypmod(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));

	result = InitHalfVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (uint16) pq_getmsgint(buf, sizeof(uint16));
		CheckHalfvecElement(result->x[i]);
	}
	PG_RETURN_HALFVEC_P(result);
}

PG_FUNCTION_INFO_V1(halfvec_send);
Datum
halfvec_send(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, (uint16) v->dim);
	pq_sendint16(&buf, (uint16) v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendint16(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Cast to itself: enforces the column's typmod. */
PG_FUNCTION_INFO_V1(halfvec);
Datum
halfvec(PG_FUNCTION_ARGS)
{
	HalfVector *v = PG_GETARG_HALFVEC_P(0);

	CheckVectorTypmod(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_HALFVEC_P(v);
}
