/*
 * type_input.c
 *		Fuzz target: a type's text input function (FUZZ_FUNC, e.g. vector_in)
 *		on any string, or with FUZZ_BINARY its binary receive function (e.g.
 *		vector_recv) on raw message bytes; typmod -1 or a chosen one (see
 *		fuzz_typmod_prefix).  It returns a well-formed varlena or raises an
 *		ERROR with a proper SQLSTATE, never reading past its input.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "stubs.h"

extern Datum FUZZ_FUNC(PG_FUNCTION_ARGS);

int			LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	int32		typmod;

	fuzz_typmod_prefix(&data, &size, &typmod);
	FUZZ_RUN(NULL,
		{
			LOCAL_FCINFO(fcinfo, 3);
			/* as the server passes it: exactly the input, NUL-terminated */
			char	   *copy = palloc(size + 1);
			struct varlena *result;
#ifdef FUZZ_BINARY
			StringInfoData buf;

			buf.data = copy;
			buf.len = size;
			buf.maxlen = size + 1;
			buf.cursor = 0;
#endif

			memcpy(copy, data, size);
			copy[size] = '\0';
			InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
#ifdef FUZZ_BINARY
			fcinfo->args[0].value = PointerGetDatum(&buf);
#else
			fcinfo->args[0].value = CStringGetDatum(copy);
#endif
			fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
			fcinfo->args[2].value = Int32GetDatum(typmod);
			result = (struct varlena *) DatumGetPointer(FUZZ_FUNC(fcinfo));
			/* the whole value is there: ASan checks the reads */
			for (Size i = 0; i < VARSIZE(result); i++)
				fuzz_sink ^= ((char *) result)[i];
		});
	return 0;
}
