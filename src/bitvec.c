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
 * Hamming distance: the number of positions at which the bits differ.
 * Jaccard distance: 1 - |a AND b| / |a OR b|; 1 when no bit is set in both.
 * A bit string's unused trailing bits are always 0, so whole bytes can be
 * compared.
 */
double
BitDistance(bool jaccard, const unsigned char *a, const unsigned char *b,
			size_t bytes)
{
	uint64_t	ab,
				aa,
				bb;

	if (!jaccard)
		return (double) omen_hamming(a, b, bytes);
	omen_jaccard(a, b, bytes, &ab, &aa, &bb);
	if (ab == 0)
		return 1.0;
	return 1.0 - (double) ab / (double) (aa + bb - ab);
}

static double
bit_distance(FunctionCallInfo fcinfo, bool jaccard)
{
	VarBit	   *a = PG_GETARG_VARBIT_P(0);
	VarBit	   *b = PG_GETARG_VARBIT_P(1);

	check_same_length(a, b);
	return BitDistance(jaccard, VARBITS(a), VARBITS(b), VARBITBYTES(a));
}

OMEN_FMGR_FUNCTION(hamming_distance, PG_RETURN_FLOAT8, bit_distance, false)
OMEN_FMGR_FUNCTION(jaccard_distance, PG_RETURN_FLOAT8, bit_distance, true)

/* See BinaryQuantize */
PG_FUNCTION_INFO_V1(binary_quantize);
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_VARBIT_P(BinaryQuantize(v->x, v->dim));
}
