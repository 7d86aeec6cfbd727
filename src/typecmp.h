/*
 * typecmp.h
 *		The btree support and comparison operator functions of a type, from
 *		one three-way comparison of two fmgr arguments.
 */
#ifndef OMEN_TYPECMP_H
#define OMEN_TYPECMP_H

#include "fmgr.h"

/*
 * Defines prefix_cmp (int4) and prefix_lt, _le, _eq, _ne, _ge, _gt (bool)
 * as SQL-callable functions; cmp_args(fcinfo) returns < 0, 0 or > 0 for
 * the first argument against the second.
 */
#define OMEN_COMPARISON_FUNCTIONS(prefix, cmp_args) \
	OMEN_COMPARISON_FUNCTION(prefix##_cmp, PG_RETURN_INT32, cmp_args, ) \
	OMEN_COMPARISON_FUNCTION(prefix##_lt, PG_RETURN_BOOL, cmp_args, < 0) \
	OMEN_COMPARISON_FUNCTION(prefix##_le, PG_RETURN_BOOL, cmp_args, <= 0) \
	OMEN_COMPARISON_FUNCTION(prefix##_eq, PG_RETURN_BOOL, cmp_args, == 0) \
	OMEN_COMPARISON_FUNCTION(prefix##_ne, PG_RETURN_BOOL, cmp_args, != 0) \
	OMEN_COMPARISON_FUNCTION(prefix##_ge, PG_RETURN_BOOL, cmp_args, >= 0) \
	OMEN_COMPARISON_FUNCTION(prefix##_gt, PG_RETURN_BOOL, cmp_args, > 0)

/*
 * OMEN_COMPARISON_FUNCTIONS for a dense vector type (a struct with int16
 * dim and elements x[]) read by getarg: elements compared as the floats
 * elem makes of them, then the shorter vector first, as for arrays.  Frees
 * detoasted copies, since btree and sorts call it often.
 */
#define OMEN_DENSE_COMPARISON_FUNCTIONS(prefix, type, getarg, elem) \
	static int \
	prefix##_cmp_args(FunctionCallInfo fcinfo) \
	{ \
		type	   *a = getarg(0); \
		type	   *b = getarg(1); \
		int			n = Min(a->dim, b->dim); \
		int			cmp = 0; \
		\
		for (int i = 0; i < n && cmp == 0; i++) \
		{ \
			float		x = elem(a->x[i]); \
			float		y = elem(b->x[i]); \
			\
			if (x < y) \
				cmp = -1; \
			else if (x > y) \
				cmp = 1; \
		} \
		if (cmp == 0 && a->dim != b->dim) \
			cmp = a->dim < b->dim ? -1 : 1; \
		\
		PG_FREE_IF_COPY(a, 0); \
		PG_FREE_IF_COPY(b, 1); \
		return cmp; \
	} \
	OMEN_COMPARISON_FUNCTIONS(prefix, prefix##_cmp_args)

#define OMEN_COMPARISON_FUNCTION(name, ret, cmp_args, test) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		ret(cmp_args(fcinfo) test); \
	}

#endif							/* OMEN_TYPECMP_H */
