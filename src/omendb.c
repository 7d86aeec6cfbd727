/*
 * omendb.c
 *		Module entry: kernel dispatch and GUCs.
 */
#include "postgres.h"

#include "fmgr.h"

#include "distance.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	omen_kernels_init();
}
