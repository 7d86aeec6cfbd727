# omendb: PGXS build.  Every src/*.c is part of the module.
MODULE_big = omendb
EXTENSION = omendb
DATA = sql/omendb--0.1.0.sql sql/omendb--0.1.0--0.2.0.sql
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
HEADERS = src/vector.h
# shard_exec.c sends queries on postgres_fdw's libpq connections
PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)
# every sql/*.sql but the extension script is a pg_regress test
REGRESS = $(filter-out omendb--%,$(basename $(notdir $(sort $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=omendb
# every test/isolation/specs/*.spec is an isolation test
ISOLATION = $(basename $(notdir $(sort $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=omendb

PG_CONFIG ?= pg_config
PG_CFLAGS += -std=gnu99 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
ifdef OMEN_WERROR
PG_CFLAGS += -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else ifneq ($(filter-out test demo bench difftest fuzz,$(or $(MAKECMDGOALS),all)),)
$(error PGXS not found via '$(PG_CONFIG)': install postgresql-server-dev-15 or set PG_CONFIG (make test and make demo install it when run as root))
endif

# test/lib.sh installs what these need, builds with OMEN_WERROR=1 and installs.
# make fuzz runs each libFuzzer target of test/fuzz for FUZZ_SECONDS (or FUZZ_RUNS
# executions).
.PHONY: test demo bench difftest fuzz
test:
	PG_CONFIG='$(PG_CONFIG)' bash test/run_tests.sh
demo:
	PG_CONFIG='$(PG_CONFIG)' bash test/demo.sh
bench:
	PG_CONFIG='$(PG_CONFIG)' bash test/bench.sh
# omendb against pgvector, where pgvector is installed (test/difftest.sh); not part of make test
difftest:
	PG_CONFIG='$(PG_CONFIG)' bash test/difftest.sh
fuzz:
	$(MAKE) -f test/fuzz/Makefile PG_CONFIG='$(PG_CONFIG)' fuzz

# make prove_installcheck: the TAP tests (test/t, or PROVE_TESTS) as the calling user, who must
# not be root, against the installed build; no packages are installed.  Clusters go to tmp_check/.
PROVE_TESTS ?= test/t/*.pl
PROVE_FLAGS += --timer
EXTRA_CLEAN += tmp_check
.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

# PGXS tracks no header dependencies here: rebuild everything when one changes
$(OBJS): $(wildcard src/*.h)
