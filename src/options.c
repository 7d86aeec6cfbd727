/*
 * options.c
 *		Reloptions of omenhnsw indexes: m, ef_construction and codes.
 */
#include "postgres.h"

#include "access/reloptions.h"

#include "options.h"
#include "page.h"

static relopt_kind omen_relopt_kind;

/* The values of codes (page.h: OmenCodesOption) */
static relopt_enum_elt_def omen_codes_values[] = {
	{"auto", OMEN_CODES_AUTO},
	{"halves", OMEN_CODES_HALVES},
	{NULL}
};

void
omen_options_init(void)
{
	omen_relopt_kind = add_reloption_kind();
	add_int_reloption(omen_relopt_kind, "m",
					  "Maximum number of links per node and level (twice that on level 0)",
					  OMEN_DEFAULT_M, OMEN_MIN_M, OMEN_MAX_M, AccessExclusiveLock);
	add_int_reloption(omen_relopt_kind, "ef_construction",
					  "Size of the candidate list while building the graph",
					  OMEN_DEFAULT_EF_CONSTRUCTION, OMEN_MIN_EF_CONSTRUCTION,
					  OMEN_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	add_enum_reloption(omen_relopt_kind, "codes",
					   "What search rows keep of each vector to search by",
					   omen_codes_values, OMEN_CODES_AUTO,
					   "Valid values are \"auto\" and \"halves\".",
					   AccessExclusiveLock);
}

bytea *
omen_amoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(OmenOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(OmenOptions, ef_construction)},
		{"codes", RELOPT_TYPE_ENUM, offsetof(OmenOptions, codes)},
	};
	OmenOptions *opts;

	opts = (OmenOptions *) build_reloptions(reloptions, validate,
											omen_relopt_kind,
											sizeof(OmenOptions),
											tab, lengthof(tab));
	return (bytea *) opts;
}

/*
 * ef_construction below 2 * m is refused when an index is built, not when
 * the options are set: as in pgvector, ALTER INDEX may set such a value and
 * the next REINDEX reports it.
 */
void
omen_check_build_options(Relation index)
{
	if (omen_option_ef_construction(index) < 2 * omen_option_m(index))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
}

int
omen_option_m(Relation index)
{
	OmenOptions *opts = (OmenOptions *) index->rd_options;

	return opts ? opts->m : OMEN_DEFAULT_M;
}

int
omen_option_ef_construction(Relation index)
{
	OmenOptions *opts = (OmenOptions *) index->rd_options;

	return opts ? opts->ef_construction : OMEN_DEFAULT_EF_CONSTRUCTION;
}

int
omen_option_codes(Relation index)
{
	OmenOptions *opts = (OmenOptions *) index->rd_options;

	return opts ? opts->codes : OMEN_CODES_AUTO;
}
