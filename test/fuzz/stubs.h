/*
 * stubs.h
 *		What the fuzz targets share with the stub layer (stubs.c), which
 *		stands in for the server around the files of src/ under test.
 */
#ifndef OMEN_FUZZ_STUBS_H
#define OMEN_FUZZ_STUBS_H

#include <setjmp.h>

/*
 * Runs stmt; an ERROR raised inside it longjmps back here with its SQLSTATE
 * in fuzz_sqlerrcode, else fuzz_sqlerrcode is 0.  Allocations made inside
 * are freed afterwards.  An elog (ERRCODE_INTERNAL_ERROR) is a "can't
 * happen" and aborts, as does an ERROR whose SQLSTATE is not in allowed
 * (a zero-terminated list, or NULL for any but internal errors).
 */
extern sigjmp_buf *fuzz_jmp;
extern int	fuzz_sqlerrcode;
extern void fuzz_after(const int *allowed);

#define FUZZ_RUN(allowed, stmt) \
	do { \
		sigjmp_buf	fuzz_here; \
		fuzz_sqlerrcode = 0; \
		if (sigsetjmp(fuzz_here, 0) == 0) \
		{ \
			fuzz_jmp = &fuzz_here; \
			stmt; \
		} \
		fuzz_jmp = NULL; \
		fuzz_after(allowed); \
	} while (0)

/* Targets read what they are given into this, for AddressSanitizer. */
extern volatile char fuzz_sink;

/*
 * Splits the typmod off an input: a first byte 1 and four more give it
 * (native byte order); any other first byte means -1.
 */
extern void fuzz_typmod_prefix(const uint8 **data, size_t *size,
							   int32 *typmod);

/* ArrayGetIntegerTypmods' answer for the next call (typmod targets). */
extern const int32 *fuzz_typmods;
extern int	fuzz_ntypmods;

#endif							/* OMEN_FUZZ_STUBS_H */
