/*
 * stubs.c
 *		The server around the files of src/ that the fuzz targets exercise:
 *		palloc on malloc (freed after each input), ereport turning an ERROR
 *		into a longjmp back to the target, the StringInfo and pq_getmsg*
 *		routines of binary receive.  Functions the targets never reach only
 *		satisfy the linker and abort if called.
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "stubs.h"

/* the server's printf replacements are not linked: use the C library's */
#undef vsnprintf
#undef fprintf

sigjmp_buf *fuzz_jmp;
int			fuzz_sqlerrcode;
const int32 *fuzz_typmods;
int			fuzz_ntypmods;
volatile char fuzz_sink;

/*
 * AddressSanitizer's defaults (ASAN_OPTIONS overrides them).  Every chunk is
 * freed after its input and no target keeps a pointer from one input to the
 * next, so a use after free can only reach memory freed during the same
 * input, a few pages at most: a quarantine of 16 MB instead of 256 MB still
 * holds all of it, and its memory is reused while still mapped and cached
 * instead of being faulted in afresh.
 */
const char *__asan_default_options(void);

const char *
__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

/* ---- memory: every chunk on one list, freed after each input ---- */

typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	Size		size;
	/* MAXALIGNed payload follows */
} Chunk;

#define CHUNK_HDR MAXALIGN(sizeof(Chunk))

static Chunk chunks = {&chunks, &chunks, 0};

static void *
chunk_alloc(Size size, bool zero)
{
	Chunk	   *c;

	if (!AllocSizeIsValid(size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg_internal("invalid memory alloc request size %zu", size)));
	c = zero ? calloc(1, CHUNK_HDR + size) : malloc(CHUNK_HDR + size);
	if (c == NULL)
		abort();
	c->size = size;
	c->next = chunks.next;
	c->prev = &chunks;
	chunks.next->prev = c;
	chunks.next = c;
	return (char *) c + CHUNK_HDR;
}

void *
palloc(Size size)
{
	return chunk_alloc(size, false);
}

void *
palloc0(Size size)
{
	return chunk_alloc(size, true);
}

void
pfree(void *pointer)
{
	Chunk	   *c = (Chunk *) ((char *) pointer - CHUNK_HDR);

	c->prev->next = c->next;
	c->next->prev = c->prev;
	free(c);
}

void *
repalloc(void *pointer, Size size)
{
	void	   *p = palloc(size);
	Chunk	   *c = (Chunk *) ((char *) pointer - CHUNK_HDR);

	memcpy(p, pointer, Min(size, c->size));
	pfree(pointer);
	return p;
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	char	   *out = palloc(256);

	va_start(args, fmt);
	vsnprintf(out, 256, fmt, args);
	va_end(args);
	return out;
}

Size
add_size(Size s1, Size s2)
{
	if (s1 + s2 < s1)
		abort();
	return s1 + s2;
}

Size
mul_size(Size s1, Size s2)
{
	if (s1 != 0 && (s1 * s2) / s1 != s2)
		abort();
	return s1 * s2;
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return datum;
}

/* ---- ereport: levels below ERROR are dropped, ERROR longjmps ---- */

static int	cur_level;
static int	cur_code;
static char cur_msg[512];

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;
	cur_level = elevel;
	cur_code = ERRCODE_INTERNAL_ERROR;
	cur_msg[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	cur_code = sqlerrcode;
	return 0;
}

static int
keep_message(const char *fmt, va_list args)
{
	vsnprintf(cur_msg, sizeof(cur_msg), fmt, args);
	return 0;
}

#define MESSAGE_FUNC(name, keep) \
int \
name(const char *fmt,...) \
{ \
	va_list		args; \
	va_start(args, fmt); \
	if (keep) \
		keep_message(fmt, args); \
	va_end(args); \
	return 0; \
}

MESSAGE_FUNC(errmsg, true)
MESSAGE_FUNC(errmsg_internal, true)
MESSAGE_FUNC(errdetail, false)
MESSAGE_FUNC(errdetail_internal, false)
MESSAGE_FUNC(errhint, false)

/*
 * Not instrumented by AddressSanitizer: the instrumentation would unpoison
 * the stack before siglongjmp, a sigaltstack system call per ERROR, which
 * the siglongjmp interceptor does again anyway.
 */
__attribute__((no_sanitize("address"))) void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (cur_level > ERROR || fuzz_jmp == NULL)
	{
		fprintf(stderr, "%s:%d: unexpected error at level %d: %s\n",
				filename, lineno, cur_level, cur_msg);
		abort();
	}
	fuzz_sqlerrcode = cur_code;
	siglongjmp(*fuzz_jmp, 1);
}

void
fuzz_after(const int *allowed)
{
	if (fuzz_sqlerrcode != 0)
	{
		bool		ok = fuzz_sqlerrcode != ERRCODE_INTERNAL_ERROR;

		if (allowed != NULL)
		{
			ok = false;
			for (const int *a = allowed; *a != 0; a++)
				ok |= *a == fuzz_sqlerrcode;
		}
		if (!ok)
		{
			fprintf(stderr, "ERROR with unexpected SQLSTATE %s: %s\n",
					unpack_sql_state(fuzz_sqlerrcode), cur_msg);
			abort();
		}
	}
	while (chunks.next != &chunks)
		pfree((char *) chunks.next + CHUNK_HDR);
}

char *
unpack_sql_state(int sql_state)
{
	static char buf[6];

	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(sql_state);
		sql_state >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

void
float_overflow_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("value out of range: overflow")));
}

void
float_underflow_error(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("value out of range: underflow")));
}

/* ---- binary receive ---- */

void
enlargeStringInfo(StringInfo str, int needed)
{
	if (str->len + needed >= str->maxlen)
	{
		str->maxlen = str->len + needed + 1;
		str->data = repalloc(str->data, str->maxlen);
	}
}

unsigned int
pq_getmsgint(StringInfo msg, int b)
{
	unsigned int result = 0;

	if (b != 1 && b != 2 && b != 4)
		abort();
	if (msg->cursor < 0 || b > msg->len - msg->cursor)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	for (int i = 0; i < b; i++)
		result = (result << 8) | (unsigned char) msg->data[msg->cursor++];
	return result;
}

float4
pq_getmsgfloat4(StringInfo msg)
{
	union
	{
		float4		f;
		uint32		i;
	}			swap;

	swap.i = pq_getmsgint(msg, 4);
	return swap.f;
}

void
fuzz_typmod_prefix(const uint8 **data, size_t *size, int32 *typmod)
{
	*typmod = -1;
	if (*size >= 5 && (*data)[0] == 1)
	{
		memcpy(typmod, *data + 1, sizeof(int32));
		*data += 5;
		*size -= 5;
	}
	else if (*size >= 1)
	{
		*data += 1;
		*size -= 1;
	}
}

/* ---- typmod input: the int array the target chose ---- */

int32 *
ArrayGetIntegerTypmods(void *arr, int *n)
{
	int32	   *out = palloc(sizeof(int32) * Max(fuzz_ntypmods, 1));

	memcpy(out, fuzz_typmods, sizeof(int32) * fuzz_ntypmods);
	*n = fuzz_ntypmods;
	return out;
}

/* sparsevec_in sorts its indices (port.h maps qsort to pg_qsort: undo it) */
#undef qsort
void
pg_qsort(void *base, size_t nel, size_t elsize,
		 int (*cmp) (const void *, const void *))
{
	qsort(base, nel, elsize, cmp);
}

/* ---- never reached by the targets: they only satisfy the linker ---- */

#define UNREACHED(name) void name(void); void name(void) { abort(); }

UNREACHED(AggCheckCallContext)
UNREACHED(DirectFunctionCall1Coll)
UNREACHED(array_contains_nulls)
UNREACHED(construct_array)
UNREACHED(deconstruct_array)
UNREACHED(exprTypmod)
UNREACHED(float_to_shortest_decimal_buf)
UNREACHED(float_to_shortest_decimal_bufn)
UNREACHED(pg_ltoa)
UNREACHED(get_typlenbyvalalign)
UNREACHED(numeric_float4)
UNREACHED(pq_begintypsend)
UNREACHED(pq_endtypsend)
UNREACHED(pq_sendfloat4)
UNREACHED(BufferGetBlockNumber)
UNREACHED(LockBuffer)
UNREACHED(LockRelationForExtension)
UNREACHED(MarkBufferDirty)
UNREACHED(PageAddItemExtended)
UNREACHED(PageGetFreeSpace)
UNREACHED(PageInit)
UNREACHED(ReadBuffer)
UNREACHED(ReadBufferExtended)
UNREACHED(RelationGetNumberOfBlocksInFork)
UNREACHED(UnlockRelationForExtension)
UNREACHED(UnlockReleaseBuffer)

double		cpu_operator_cost = 0.0025;
char	   *BufferBlocks;
void	  **LocalBufferBlockPointers;
