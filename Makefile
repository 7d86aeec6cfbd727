# omendb: PGXS build.  Every src/*.c is part of the module.
MODULE_big = omendb
EXTENSION = omendb
DATA = sql/omendb--0.1.0.sql
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
HEADERS = src/vector.h
# every sql/*.sql but the extension script is a pg_regress test
REGRESS = $(filter-out omendb--%,$(basename $(notdir $(sort $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=omendb

PG_CONFIG ?= pg_config
PG_CFLAGS += -std=gnu99 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
ifdef OMEN_WERROR
PG_CFLAGS += -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
