/*
 * bitvec.c
 *		Distances between PostgreSQL bit strings and the binary quantization
 *		of a vector, as pgvector defines them.  No function here takes locks.
 */
#include "postgres.h"

#include "utils/varbit.h"

#include "distance.h"
#include "vector.h"

static void
check_same_length(const VarBit *a, const VarBit *b)
{
	if (VARBITLEN(a) != VARBITLEN(b))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different bit lengths %u and %u",
						VARBITLEN(a), VARBITLEN(b))));
}

/*
 * The number of positions at which the bits differ.  A bit string's unused
 * trailing bits are always 0, so whole bytes can be compared.
 */
PG_FUNCTION_INFO_V1(hamming_distance);
Datum
hamming_distance(PG_FUNCTION_ARGS)
{
	VarBit	   *a = PG_GETARG_VARBIT_P(0);
	VarBit	   *b = PG_GETARG_VARBIT_P(1);

	check_same_length(a, b);
	PG_RETURN_FLOAT8((double) omen_hamming(VARBITS(a), VARBITS(b),
										   VARBITBYTES(a)));
}

/* 1 - |a AND b| / |a OR b|; 1 when no bit is set in both. */
PG_FUNCTION_INFO_V1(jaccard_distance);
Datum
jaccard_distance(PG_FUNCTION_ARGS)
{
	VarBit	   *a = PG_GETARG_VARBIT_P(0);
	VarBit	   *b = PG_GETARG_VARBIT_P(1);
	uint64_t	ab,
				aa,
				bb;

	check_same_length(a, b);
	omen_jaccard(VARBITS(a), VARBITS(b), VARBITBYTES(a), &ab, &aa, &bb);
	if (ab == 0)
		PG_RETURN_FLOAT8(1.0);
	PG_RETURN_FLOAT8(1.0 - (double) ab / (double) (aa + bb - ab));
}

/* See BinaryQuantize */
PG_FUNCTION_INFO_V1(binary_quantize);
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_VARBIT_P(BinaryQuantize(v->x, v->dim));
}
