/*
 * type_typmod_in.c
 *		Fuzz target: a type's typmod input function (FUZZ_FUNC, e.g.
 *		vector_typmod_in) on any array of up to 8 int32s (the input's bytes,
 *		native order).  It returns a typmod or raises an ERROR with a proper
 *		SQLSTATE.
 */
#include "postgres.h"

#include "fmgr.h"

#include "stubs.h"

extern Datum FUZZ_FUNC(PG_FUNCTION_ARGS);

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	int32		mods[8];

	fuzz_ntypmods = Min(size / sizeof(int32), lengthof(mods));
	memcpy(mods, data, sizeof(int32) * fuzz_ntypmods);
	fuzz_typmods = mods;
	FUZZ_RUN(NULL,
		{
			LOCAL_FCINFO(fcinfo, 1);
			/* only handed to the stubbed ArrayGetIntegerTypmods */
			struct varlena *arr = palloc0(VARHDRSZ);

			SET_VARSIZE(arr, VARHDRSZ);
			InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
			fcinfo->args[0].value = PointerGetDatum(arr);
			(void) FUZZ_FUNC(fcinfo);
		});
	return 0;
}
