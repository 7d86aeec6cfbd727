/*
 * type_recv.c
 *		Fuzz target: a type's binary receive function (FUZZ_FUNC, e.g.
 *		vector_recv) on raw message bytes, with typmod -1 or a chosen one
 *		(see fuzz_typmod_prefix).  It returns a well-formed varlena or raises
 *		an ERROR with a proper SQLSTATE, never reading past the message.
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
			StringInfoData buf;
			struct varlena *result;

			/* as the server passes it: exactly the message, NUL-terminated */
			buf.data = palloc(size + 1);
			memcpy(buf.data, data, size);
			buf.data[size] = '\0';
			buf.len = size;
			buf.maxlen = size + 1;
			buf.cursor = 0;
			InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
			fcinfo->args[0].value = PointerGetDatum(&buf);
			fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
			fcinfo->args[2].value = Int32GetDatum(typmod);
			result = (struct varlena *) DatumGetPointer(FUZZ_FUNC(fcinfo));
			for (Size i = 0; i < VARSIZE(result); i++)
				fuzz_sink ^= ((char *) result)[i];
		});
	return 0;
}
