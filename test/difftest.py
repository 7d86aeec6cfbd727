#!/usr/bin/python3
"""Differential test of omendb against pgvector (`make difftest`, test/difftest.sh).

Generates seeded cases and runs each in two databases of one PostgreSQL cluster: one with
`CREATE EXTENSION omendb`, one with `CREATE EXTENSION vector` (pgvector).  Every difference of
result, row count, SQLSTATE, message, DETAIL or HINT, and every crash, is grouped by kind; each
group keeps a count and its smallest reproducer, which is run again before it is reported.

Case generators: text and COPY input (well-formed and malformed, white space, exponents,
extremes), binary input (vector_recv), type modifiers, stored values, casts from and to arrays,
every function, operator and aggregate of the type (and a catalog check that omendb has each of
pgvector's), comparisons and btree ordering, settings, index DDL, and small random tables with
an index (USING omenhnsw against USING hnsw: every operator class, small m and ef_construction,
ties, duplicates, zero, extreme and NULL vectors, inserts after the build, UPDATE, DELETE,
VACUUM, REINDEX, a few segmented indexes) queried through index scans with every iterative_scan
mode, filters, distance bounds and prepared generic plans.  The difference of an input is
traced to its cause (vertical tab, form feed, white space) where a variant without it agrees.
--replay FILE runs one reproducer from a report in both databases.

By design, and so normalised or not reported (the README says the same):
  D1  names: the access method omenhnsw is pgvector's hnsw, its settings omenhnsw.* are hnsw.*,
      the extension omendb is vector; messages are compared with the names mapped.
  D2  the default iterative_scan is strict_order in omendb and off in pgvector: index cases set
      it explicitly in both; SHOW of the default is counted as documented.
  D3  omenhnsw indexes a vector column without a type modifier (dimensions are checked per row);
      pgvector refuses it ("column does not have dimensions").
  D4  an omenhnsw index holds every dimension the type allows (16,000), hnsw up to 2000.
  D5  pgvector's objects for a type omendb does not define (halfvec, sparsevec where absent),
      ivfflat, and hnsw's support functions are absent; the catalog check skips them.
  D6  distances are summed in another order (SIMD kernels): float results of distances,
      norms and aggregates are compared with a relative tolerance (1e-5 and 1e-6); an inner
      product of two vector literals, whose terms may cancel, within float4 rounding of the
      sum of its terms' magnitudes (2 n FLT_EPSILON times sum |a_i b_i|).
  D7  an inner product whose terms overflow float4 is the true sum rounded to float4 in omendb
      (+-Infinity only when that sum is out of range, never NaN); pgvector gives NaN or an
      infinity depending on its summation order.
  D8  combining two avg/sum states that counted no rows gives a state of no rows in omendb (so
      a parallel avg over an empty table is NULL); pgvector raises "vector must have at least
      1 dimension".
  D9  pgvector's settings hnsw.* are not defined by omendb (so that pgvector's library can load in
      the same backend): SET of an invalid value is accepted as a placeholder, and the scan warns
      and uses the omenhnsw.* value instead.
  D10 row counts and orders that depend on which elements a search reaches.  Under strict_order
      both engines drop a row that the graph leads to only after a farther one was returned
      (nodes reached through farther ones, at small ef_search and m), so the rows a
      strict_order scan returns are compared as a mean, like those of iterative_scan off.  With
      iterative_scan off both return the heap rows of ef_search elements, and an element holds
      up to 10 rows: in pgvector rows whose stored values are equal (under cosine, once
      normalized), in omendb equal vectors or, under cosine, vectors of one direction whose
      sums of squares float4 holds; which of several elements at one distance a search reaches
      first differs too.  Such a scan must return at least the rows of ef_search elements (per
      query, where no row was deleted or updated).  Rows that share a cosine element come out
      together at its distance, which for a query near float4's limit may be another row's
      (Infinity or NaN against 1, where only one row's dot product overflows).
  D11 an iterative scan under a distance bound (WHERE v <-> q < r, handed to the scan by the
      planner) stops searching a segment once a whole batch lies past the bound, where pgvector
      goes on until LIMIT or max_scan_tuples; a node within the bound that the graph leads to
      only through nodes past it is then not returned.  Rows returned under a bound are
      compared as a mean, with the recall margin.
Index answers are approximate, and pgvector's graph is random per backend: ANN results are
compared with the exact (sequential scan) answer, not with each other.  A per-query flag is
reported only when the case reproduces it on a second run; recall below exact at ef_search
smaller than the table is compared as a mean over many queries, and so is the number of rows
a scan returns where that depends on which nodes the graph visits (iterative_scan off with
ef_search below LIMIT, strict_order, or max_scan_tuples set; D10): such a case is reported only
when omendb's mean rows per row asked for, over the run, falls below pgvector's for its kind of
query.
"""

import argparse
import copy
import math
import os
import random
import re
import struct
import sys
import time
import traceback

import psycopg
from psycopg import pq

# ----------------------------------------------------------------------------------------------
# engines and outcomes
# ----------------------------------------------------------------------------------------------

ENGINES = ("omendb", "pgvector")
AM = {"omendb": "omenhnsw", "pgvector": "hnsw"}
GUC = {"omendb": "omenhnsw", "pgvector": "hnsw"}
LOST = ("57P01", "57P02", "57P03", "08000", "08003", "08006")


class Crash(Exception):
    pass


class Engine:
    """One database, one connection in autocommit, statements sent through libpq as they are."""

    def __init__(self, name, dbname, timeout_ms):
        self.name = name
        self.dbname = dbname
        self.timeout_ms = timeout_ms
        self.conn = None
        self.warnings = []

    def connect(self, wait=90):
        deadline = time.time() + wait
        while True:
            try:
                self.conn = psycopg.Connection.connect(dbname=self.dbname, autocommit=True)
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        self.pg = self.conn.pgconn
        self.pg.notice_handler = self._notice
        self.exec("SET statement_timeout = %d" % self.timeout_ms)
        # load the library, so that its settings are defined before any SET
        self.exec("SELECT '[1]'::vector")
        r = self.exec("SELECT 'vector'::regtype::oid")
        self.vector_oid = int(r[1][0][0])

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass

    def _notice(self, res):
        sev = res.error_field(pq.DiagnosticField.SEVERITY_NONLOCALIZED)
        if sev and sev.decode() == "WARNING":
            msg = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY)
            self.warnings.append(msg.decode(errors="replace") if msg else "")

    def exec(self, sql, params=None, binary_result=False, copy_data=None):
        """Run one statement; the outcome is ('ok', rows, warnings) or ('err', sqlstate,
        message, detail, hint, warnings).  A lost connection raises Crash.  copy_data is
        what a COPY FROM STDIN reads."""
        self.warnings = []
        try:
            if params is None and not binary_result:
                res = self.pg.exec_(sql.encode())
                if res.status == pq.ExecStatus.COPY_IN:
                    self.pg.put_copy_data((copy_data or "").encode())
                    self.pg.put_copy_end()
                    res = self.pg.get_result()
                    while self.pg.get_result() is not None:
                        pass
            else:
                vals = [p[0] for p in (params or [])]
                types = [self.vector_oid if p[1] == "vector" else p[1] for p in (params or [])]
                fmts = [p[2] for p in (params or [])]
                res = self.pg.exec_params(sql.encode(), vals, types, fmts,
                                          result_format=1 if binary_result else 0)
        except psycopg.OperationalError as e:
            raise Crash(str(e))
        st = res.status
        if st in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY):
            rows = []
            for r in range(res.ntuples):
                row = []
                for c in range(res.nfields):
                    v = res.get_value(r, c)
                    if v is None:
                        row.append(None)
                    elif binary_result:
                        row.append(v.hex())
                    else:
                        row.append(v.decode(errors="replace"))
                rows.append(tuple(row))
            return ("ok", tuple(rows), tuple(self.warnings))

        def f(code):
            v = res.error_field(code)
            return v.decode(errors="replace") if v is not None else None
        sqlstate = f(pq.DiagnosticField.SQLSTATE)
        if sqlstate is None or sqlstate in LOST or self.pg.status != pq.ConnStatus.OK:
            raise Crash("%s %s" % (sqlstate, f(pq.DiagnosticField.MESSAGE_PRIMARY)
                                   or self.pg.error_message.decode(errors="replace")))
        return ("err", sqlstate, f(pq.DiagnosticField.MESSAGE_PRIMARY),
                f(pq.DiagnosticField.MESSAGE_DETAIL), f(pq.DiagnosticField.MESSAGE_HINT),
                tuple(self.warnings))


def render(sql, engine):
    """A statement written with {am} and {g} (access method, settings prefix) for one engine."""
    return sql.replace("{am}", AM[engine]).replace("{g}", GUC[engine])


def norm_text(s, engine):
    """D1: omendb's names read as pgvector's."""
    if s is None or engine != "omendb":
        return s
    s = re.sub(r"\bomenhnsw\b", "hnsw", s)
    s = re.sub(r"\bomendb\b", "vector", s)
    return s


def sig(msg):
    """A message as a template: numbers and quoted parts replaced, for grouping."""
    if msg is None:
        return None
    msg = re.sub(r'"[^"]*"', '"…"', msg)
    msg = re.sub(r"[-+]?\d+(\.\d+)?([eE][-+]?\d+)?", "N", msg)
    return msg


# ----------------------------------------------------------------------------------------------
# float helpers
# ----------------------------------------------------------------------------------------------

def f32(x):
    """x rounded to float4 (inf where it overflows)."""
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def fmt32(x):
    """A float4 value as text that strtof reads back exactly."""
    if x == 0:
        return "0" if math.copysign(1, x) > 0 else "-0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def parse_float(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def parse_vector(s):
    if not isinstance(s, str) or not s.startswith("[") or not s.endswith("]"):
        return None
    try:
        return [float(x) for x in s[1:-1].split(",")]
    except ValueError:
        return None


def close(a, b, tol):
    if a == b:
        return True
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def cell_kind(s):
    if s is None:
        return "NULL"
    v = parse_float(s)
    if v is not None:
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return "number"
    if parse_vector(s) is not None:
        return "vector"
    return "text"


def cells_equal(a, b, tol):
    """Equal, or (D6) floats or vectors equal within tol."""
    if a == b:
        return True
    if a is None or b is None or tol is None:
        return False
    x, y = parse_float(a), parse_float(b)
    if x is not None and y is not None:
        return close(x, y, tol)
    x, y = parse_vector(a), parse_vector(b)
    if x is not None and y is not None and len(x) == len(y):
        return all(close(p, q, tol) for p, q in zip(x, y))
    return False


def result_sig(ro, rp):
    """What differs between two result sets, as a short text for grouping."""
    if len(ro) != len(rp):
        return "row count %s vs %s" % ("N" if len(ro) else "0", "N" if len(rp) else "0")
    for a, b in zip(ro, rp):
        for x, y in zip(a, b):
            if x != y:
                return "%s vs %s" % (cell_kind(x), cell_kind(y))
    return "value"


# ----------------------------------------------------------------------------------------------
# random values
# ----------------------------------------------------------------------------------------------

WS = [" ", "\t", "\n", "\r", "\x0b", "\x0c"]
EXTREME_TEXT = ["3.4028235e38", "3.4028236e38", "3.4028234e38", "3.5e38", "-3.4028235e38", "1e39",
                "-1e39", "1.4e-45", "1e-45", "7e-46", "1e-46", "-1e-46", "1e-38", "1.17549435e-38",
                "0", "-0", "0.0", "-0.0", "1e400", "-1e400", "1e-400", "4.9e-324"]
SPECIAL_TEXT = ["inf", "-inf", "Infinity", "-Infinity", "infinity", "INF", "nan", "NaN", "-nan",
                "+inf", "+Infinity"]
JUNK_TEXT = ["", "a", "1a", "1 2", "--1", "1e", "1e+", "+", "-", ".", "e5", "1..2", "1,", "0x",
             "1_000", "١", "1e5x", "true", "null", "NULL", "'1'", "\"1\"", "1/2"]
HEX_TEXT = ["0x10", "0x1p3", "-0x1.8p1", "0X1P-2", "0x1p128", "0x1p-150"]


def rand_number_text(rng):
    r = rng.random()
    if r < 0.30:
        return str(rng.randint(-100, 100))
    if r < 0.50:
        return "%.*f" % (rng.randint(0, 9), rng.uniform(-1000, 1000))
    if r < 0.68:
        mant = rng.choice(["1", "-1", "2.5", "-3.75", "9.999999", "1.", ".5", "-.5", "+2",
                           "%.6g" % rng.uniform(-10, 10)])
        return "%s%s%s%d" % (mant, rng.choice("eE"), rng.choice(["", "+", "-"]),
                             rng.randint(0, 50))
    if r < 0.80:
        return rng.choice(EXTREME_TEXT)
    if r < 0.87:
        return rng.choice(SPECIAL_TEXT)
    if r < 0.93:
        return rng.choice(HEX_TEXT)
    return rng.choice(JUNK_TEXT)


def rand_ws(rng):
    if rng.random() < 0.6:
        return ""
    return "".join(rng.choice(WS) for _ in range(rng.randint(1, 3)))


def rand_vector_text(rng):
    """A vector's text form, well-formed or not."""
    n = rng.choice([0, 1, 1, 2, 3, 3, 4, 5, 8])
    nums = [rand_number_text(rng) if rng.random() < 0.3 else str(rng.randint(-9, 9))
            for _ in range(n)]
    body = ",".join(rand_ws(rng) + x + rand_ws(rng) for x in nums)
    s = rand_ws(rng) + "[" + body + "]" + rand_ws(rng)
    r = rng.random()
    if r < 0.55:
        return s
    mut = rng.choice(["nobra", "noket", "extra", "junk", "comma", "dcomma", "nested", "brace",
                      "empty", "lead", "space_in", "null_byte_like", "paren"])
    if mut == "nobra":
        return s.replace("[", "", 1)
    if mut == "noket":
        return s.replace("]", "", 1)
    if mut == "extra":
        return s + "]"
    if mut == "junk":
        return s + rng.choice(["x", " x", "1", ",", "[1]", "\x0b"])
    if mut == "comma":
        return s.replace("]", ",]", 1)
    if mut == "dcomma":
        return s.replace(",", ",,", 1) if "," in s else "[,]"
    if mut == "nested":
        return "[" + s + "]"
    if mut == "brace":
        return s.replace("[", "{").replace("]", "}")
    if mut == "empty":
        return rng.choice(["", " ", "[]", "[ ]", "[\t]", "[", "]"])
    if mut == "lead":
        return rng.choice(["x", "1", ",", "\x0b"]) + s
    if mut == "space_in":
        return s.replace(",", " ", 1) if "," in s else s.replace("[", "[ ", 1)
    if mut == "paren":
        return s.replace("[", "(").replace("]", ")")
    return s.replace("]", "\\]")


def sql_lit(s):
    """A SQL string literal for s."""
    if any(ord(c) < 0x20 or c == "\\" for c in s):
        out = []
        for c in s:
            if c == "\\":
                out.append("\\\\")
            elif c == "'":
                out.append("''")
            elif ord(c) < 0x20:
                out.append("\\x%02x" % ord(c))
            else:
                out.append(c)
        return "E'" + "".join(out) + "'"
    return "'" + s.replace("'", "''") + "'"


def rand_elem(rng, style="mixed"):
    """A float4 value for a well-formed vector."""
    if style == "ints":
        return float(rng.randint(-3, 3))
    if style == "small":
        return f32(rng.uniform(-16, 16))
    if style == "huge":
        # near float4's limits, where sums and products overflow or underflow
        return f32(rng.choice([1, -1]) * 10 ** rng.choice([rng.uniform(15, 38.53),
                                                           rng.uniform(-45, -15),
                                                           rng.uniform(-2, 2)]))
    r = rng.random()
    if r < 0.45:
        return float(rng.randint(-5, 5))
    if r < 0.80:
        return f32(rng.uniform(-16, 16))
    if r < 0.90:
        return f32(rng.choice([1, -1]) * 10 ** rng.uniform(-40, 38.5))
    return f32(rng.choice([0.0, -0.0, 3.4028234e38, -3.4028234e38, 1e30, -1e30, 1e20, 1e-30,
                           1.4e-45, 1e-38, 2e38, -2e38]))


def rand_vec(rng, dim, style="mixed"):
    return [rand_elem(rng, style) for _ in range(dim)]


def vec_text(v):
    return "[" + ",".join(fmt32(x) for x in v) + "]"


def vec_lit(v):
    return "'" + vec_text(v) + "'"


# ----------------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------------

class Case:
    """Statements run in order in both databases; every outcome is compared.

    tag: the feature.  group: the group of its differences (default: the tag without a
    parenthesised part).  variants: (cause, case) pairs: when a variant shows no difference,
    the cause is named in the group.  tol: relative float tolerance (D6), None for exact.
    cleanup: statements run afterwards, not compared.  binary: (statement index, params)
    for a statement sent with binary parameters."""

    def __init__(self, tag, stmts, tol=None, cleanup=(), params=None, binary_result=False,
                 show=None, copy_data=None, group=None, variants=()):
        self.tag = tag
        self.group = group or re.sub(r" \(.*\)$", "", tag)
        self.variants = list(variants)
        self.copy_data = copy_data
        self.stmts = list(stmts)
        self.tol = tol
        self.cleanup = list(cleanup)
        self.params = params
        self.binary_result = binary_result
        self.show = show

    def text(self):
        s = ";\n".join(self.stmts) + ";"
        if self.copy_data is not None:
            s = s.replace("FROM STDIN;", "FROM STDIN;\n" + self.copy_data + "\\.")
        if self.show:
            s = self.show + "\n" + s
        return s


# Input features that may cause a difference alone: a variant of the input without the
# feature tells whether it does.
INPUT_CAUSES = [("vertical tab", lambda s: s.replace("\x0b", " ")),
                ("form feed", lambda s: s.replace("\x0c", " ")),
                ("any white space", lambda s: re.sub(r"[\t\n\r\x0b\x0c ]", "", s))]


def gen_text_input(rng):
    s = rand_vector_text(rng)
    r = rng.random()
    tm = rng.choice([1, 2, 3, 4, 5])
    vtm = rng.choice([-1, -1, 0, 1, 2, 3, 16001])

    def make(s, cause=None):
        lit = sql_lit(s)
        g = "input" + (" [%s]" % cause if cause else "")
        if r < 0.55:
            return Case("input: text", ["SELECT %s::vector" % lit], group=g)
        if r < 0.75:
            return Case("input: text with typmod", ["SELECT %s::vector(%d)" % (lit, tm)], group=g)
        if r < 0.85:
            return Case("input: vector_in()", ["SELECT vector_in(%s, 0, %d)" % (lit, vtm)], group=g)
        if r < 0.93:
            return Case("input: text, binary output", ["SELECT %s::vector" % lit],
                        binary_result=True, group=g)
        return Case("input: COPY", ["CREATE TEMP TABLE copy_t (v vector)",
                                    "COPY copy_t FROM STDIN", "SELECT v FROM copy_t"],
                    copy_data=copy_escape(s), cleanup=["DROP TABLE IF EXISTS copy_t"], group=g)
    case = make(s)
    for cause, f in INPUT_CAUSES:
        if f(s) != s:
            case.variants.append((cause, make(f(s)), make(s, cause)))
    return case


def copy_escape(s):
    """A value as one line of COPY's text format."""
    out = s.replace("\\", "\\\\")
    for c, e in (("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\x0b", "\\v"), ("\x0c", "\\f")):
        out = out.replace(c, e)
    return out + "\n"


def gen_long_input(rng):
    n = rng.choice([15999, 16000, 16001, 65535, 65536])
    e = rng.choice(["1", "0", "1.5", "-2e-3"])
    lit = "('[' || repeat('%s,', %d) || '%s]')" % (e, n - 1, e)
    r = rng.random()
    if r < 0.5:
        return Case("input: many dimensions", ["SELECT vector_dims(%s::vector)" % lit])
    return Case("input: many dimensions",
                ["SELECT vector_dims(array_fill(%s::real, ARRAY[%d])::vector)" % (e, n)])


def gen_binary_input(rng):
    dim = rng.choice([0, 1, 2, 3, 3, 4, -1, 16000, 16001, 32767])
    unused = rng.choice([0, 0, 0, 0, 1, -1, 256])
    vals = []
    ndim = max(0, dim) if dim < 20 else 2
    for _ in range(ndim):
        vals.append(rng.choice([1.0, -2.5, 0.0, -0.0, float("nan"), float("inf"), float("-inf"),
                                1e-45, 3.4028234e38, rng.uniform(-9, 9)]))
    data = struct.pack(">hh", dim, unused) + b"".join(struct.pack(">f", v) for v in vals)
    r = rng.random()
    if r < 0.2 and data:
        data = data[:rng.randint(0, len(data) - 1)]
    elif r < 0.3:
        data += b"\x00" * rng.randint(1, 4)
    typmod = rng.choice([None, None, None, 1, 2, 3])
    cast = "$1::vector(%d)::text" % typmod if typmod else "$1::text"
    params = [(data, "vector", 1)]
    show = "-- $1 is sent as a binary parameter of type vector: bytes %s" % (data.hex() or "(empty)")
    return Case("input: binary (vector_recv)", ["SELECT %s" % cast], params=params, show=show)


def gen_typmod(rng):
    n = rng.choice(["-1", "0", "1", "3", "16000", "16001", "2147483647", "'a'", "3, 4", "1.5", ""])
    v = rng.choice(["'[1,2,3]'", "'[1]'", "NULL"])
    r = rng.random()
    if r < 0.3:
        return Case("typmod: cast", ["SELECT %s::vector(%s)" % (v, n)], group="typmod")
    if r < 0.5:
        return Case("typmod: column", ["CREATE TEMP TABLE tm (v vector(%s))" % n,
                                       "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                       "WHERE attrelid = 'tm'::regclass AND attname = 'v'"],
                    cleanup=["DROP TABLE IF EXISTS tm"], group="typmod")
    if r < 0.7:
        arr = rng.choice(["'{3}'", "'{-1}'", "'{0}'", "'{16001}'", "'{a}'", "'{3,4}'", "'{}'",
                          "'{NULL}'", "'{\" 3\"}'", "'{3 }'"])
        return Case("typmod: vector_typmod_in()", ["SELECT vector_typmod_in(%s::cstring[])" % arr],
                    group="typmod")
    if r < 0.8:
        return Case("typmod: format_type",
                    ["SELECT format_type('vector'::regtype, %s)" % rng.choice(["-1", "0", "3", "16000", "20000", "NULL"])],
                    group="typmod")
    return Case("typmod: vector(v, typmod, explicit)",
                ["SELECT vector(%s::vector, %s, %s)" % (v, rng.choice(["-1", "0", "2", "3", "16001", "-5"]),
                                                        rng.choice(["true", "false"]))],
                group="typmod")


ARRAY_TYPES = ["integer[]", "real[]", "double precision[]", "numeric[]"]


def rand_array_elem(rng, atype):
    r = rng.random()
    if r < 0.08:
        return "NULL"
    if atype == "integer[]":
        return str(rng.choice([0, 1, -1, 7, 2147483647, -2147483648, rng.randint(-99, 99), 16777217]))
    if r < 0.5:
        return str(rng.randint(-9, 9))
    if r < 0.7:
        return "%.9g" % rng.uniform(-100, 100)
    c = ["NaN", "Infinity", "-Infinity", "1e38", "3.4028235e38", "3.5e38", "4e38", "-4e38",
         "1e-45", "1e-46", "1e-50", "1e300", "1e-300", "16777217", "0.1"]
    if atype == "numeric[]":
        c += ["1e1000", "-1e1000", "123456789012345678901234567890", "0.000000000000000000000001"]
    return rng.choice(c)


def gen_cast_from_array(rng):
    atype = rng.choice(ARRAY_TYPES)
    n = rng.choice([0, 1, 2, 3, 3, 4, 5])
    elems = [rand_array_elem(rng, atype) for _ in range(n)]
    r = rng.random()
    if r < 0.1 and n >= 2:
        arr = "'{{%s},{%s}}'::%s" % (elems[0].replace("NULL", "1"), elems[1].replace("NULL", "1"), atype)
    else:
        arr = "'{%s}'::%s" % (",".join(elems), atype)
    tm = rng.choice(["", "", "(1)", "(2)", "(3)", "(4)"])
    r = rng.random()
    tag = "cast: %s to vector" % atype
    if r < 0.6:
        return Case(tag, ["SELECT %s::vector%s" % (arr, tm)])
    if r < 0.8:
        return Case(tag + " (array_to_vector)",
                    ["SELECT array_to_vector(%s, %s, %s)" % (arr, rng.choice(["-1", "2", "3", "0"]),
                                                              rng.choice(["true", "false"]))])
    return Case(tag + " (assignment)", ["CREATE TEMP TABLE ca (v vector%s)" % tm,
                                        "INSERT INTO ca VALUES (%s)" % arr, "SELECT v FROM ca"],
                cleanup=["DROP TABLE IF EXISTS ca"])


def gen_cast_to(rng):
    v = vec_lit(rand_vec(rng, rng.randint(1, 4)))
    target = rng.choice(["real[]", "real[]", "double precision[]", "integer[]", "numeric[]", "text",
                         "text[]", "bytea", "float4", "vector(2)", "vector(3)", "halfvec", "json"])
    r = rng.random()
    if r < 0.7:
        return Case("cast: vector to %s" % target, ["SELECT %s::vector::%s" % (v, target)])
    if r < 0.85:
        return Case("cast: vector to real[] (vector_to_float4)",
                    ["SELECT vector_to_float4(%s, %s, %s)" % (v, rng.choice(["-1", "2", "3"]),
                                                               rng.choice(["true", "false"]))])
    return Case("cast: vector to %s, implicit" % target,
                ["SELECT array_length(%s::vector, 1)" % v])


def rand_operand(rng, dim):
    r = rng.random()
    if r < 0.05:
        return "NULL::vector"
    if r < 0.12:
        dim = rng.choice([1, 2, 3, 4, 5])
    style = rng.choice(["mixed", "ints", "small", "huge"])
    return vec_lit(rand_vec(rng, dim, style)) + "::vector"


BINARY_FUNCS = ["l2_distance", "inner_product", "cosine_distance", "l1_distance",
                "vector_l2_squared_distance", "vector_negative_inner_product", "vector_add",
                "vector_sub", "vector_mul", "vector_concat", "vector_cmp", "vector_lt", "vector_le",
                "vector_eq", "vector_ne", "vector_ge", "vector_gt"]
BINARY_OPS = ["<->", "<#>", "<=>", "<+>", "+", "-", "*", "||", "<", "<=", "=", "<>", ">=", ">"]
DIST_FUNCS = {"l2_distance", "inner_product", "cosine_distance", "l1_distance",
              "vector_l2_squared_distance", "vector_negative_inner_product",
              "<->", "<#>", "<=>", "<+>", "vector_norm"}


def gen_function(rng):
    dim = rng.choice([1, 2, 3, 4, 5, 8, 17])
    a = rand_operand(rng, dim)
    b = rand_operand(rng, dim)
    r = rng.random()
    if r < 0.4:
        f = rng.choice(BINARY_FUNCS)
        expr, tag = "%s(%s, %s)" % (f, a, b), "function: " + f
    elif r < 0.75:
        op = rng.choice(BINARY_OPS)
        expr, tag = "%s %s %s" % (a, op, b), "operator: " + op
        f = op
    else:
        f = rng.choice(["vector_dims", "vector_norm", "l2_normalize", "subvector"])
        tag = "function: " + f
        if f == "subvector":
            args = rng.choice([(1, 1), (1, dim), (2, 2), (0, 2), (-1, 3), (dim, 1), (dim + 1, 1),
                               (1, 0), (1, -1), (2147483647, 1), (2, 2147483647), (-2147483648, 1),
                               (-2147483647, 2147483647), (rng.randint(-3, 9), rng.randint(-3, 9))])
            expr = "subvector(%s, %d, %d)" % (a, args[0], args[1])
        else:
            expr = "%s(%s)" % (f, a)
    tol = 1e-5 if f in DIST_FUNCS else None
    return Case(tag, ["SELECT %s" % expr], tol=tol)


def gen_aggregate(rng):
    dim = rng.choice([1, 2, 3, 5])
    rows = []
    for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
        if rng.random() < 0.1:
            rows.append("(NULL)")
        else:
            d = dim if rng.random() < 0.92 else rng.choice([1, 2, 4])
            rows.append("(%s::vector)" % vec_lit(rand_vec(rng, d, rng.choice(["mixed", "small", "ints", "huge"]))))
    src = "(VALUES %s) s(v)" % ", ".join(rows) if rows else "(SELECT NULL::vector WHERE false) s(v)"
    agg = rng.choice(["sum", "avg", "avg", "sum"])
    return Case("aggregate: " + agg, ["SELECT %s(v) FROM %s" % (agg, src)], tol=1e-6)


def gen_agg_state(rng):
    def state():
        return rng.choice(["'{0}'", "'{}'", "'{1,2}'", "'{2,1,1}'", "'{{1}}'", "'{NULL}'",
                           "'{1,NULL}'", "'{-1,1}'", "'{0,0}'", "'{3,1e300,2}'", "'{NaN,1}'",
                           "'{1,Infinity}'", "'{2,4,6}'", "'{1.5,1}'", "'{1e300,1}'"]) + "::float8[]"
    v = vec_lit(rand_vec(rng, rng.choice([1, 2]), "small")) + "::vector"
    f = rng.choice(["vector_accum", "vector_combine", "vector_avg"])
    if f == "vector_accum":
        expr = "vector_accum(%s, %s)" % (state(), v)
    elif f == "vector_combine":
        expr = "vector_combine(%s, %s)" % (state(), state())
    else:
        expr = "vector_avg(%s)" % state()
    return Case("aggregate state: " + f, ["SELECT %s" % expr], tol=1e-6)


def gen_btree(rng):
    vals = set()
    for _ in range(rng.randint(2, 9)):
        d = rng.randint(1, 3)
        vals.add(vec_text([float(rng.choice([-1, 0, 1, 2])) if rng.random() < 0.8 else rand_elem(rng)
                           for _ in range(d)]))
    vals = list(vals)
    rng.shuffle(vals)
    src = "(VALUES %s) s(v)" % ", ".join("('%s'::vector)" % x for x in vals)
    r = rng.random()
    if r < 0.4:
        return Case("btree: ORDER BY", ["SELECT string_agg(v::text, ' ' ORDER BY v) FROM %s" % src])
    if r < 0.6:
        return Case("btree: DISTINCT/GROUP BY",
                    ["SELECT string_agg(v::text, ' ' ORDER BY v) FROM (SELECT v FROM %s GROUP BY v) g" % src])
    if r < 0.8:
        return Case("btree: index", [
            "CREATE TEMP TABLE bt (v vector)",
            "INSERT INTO bt SELECT v FROM %s" % src,
            "CREATE INDEX bt_i ON bt (v)",
            "SET enable_seqscan = off",
            "SELECT string_agg(v::text, ' ') FROM (SELECT v FROM bt WHERE v >= '%s' ORDER BY v) q" % vals[0]],
            cleanup=["DROP TABLE IF EXISTS bt", "RESET enable_seqscan"])
    return Case("btree: min/max", ["SELECT min(v), max(v) FROM %s" % src])


SETTINGS = {
    "ef_search": ["0", "1", "40", "1000", "1001", "-1", "'abc'", "40.5", "'100'", "2147483648"],
    "iterative_scan": ["off", "relaxed_order", "strict_order", "on", "strict", "'RELAXED_ORDER'",
                       "'off '", "true", "0", "default"],
    "max_scan_tuples": ["0", "1", "-1", "20000", "2147483647", "2147483648", "'1e3'", "1.5"],
    "scan_mem_multiplier": ["0", "0.5", "1", "2.5", "1000", "1001", "'x'"],
}


def gen_setting(rng):
    name = rng.choice(list(SETTINGS))
    val = rng.choice(SETTINGS[name])
    stmts = ["SET {g}.%s = %s" % (name, val), "SHOW {g}.%s" % name,
             "SELECT current_setting('{g}.%s', true)" % name]
    return Case("setting: hnsw.%s" % name, stmts, cleanup=["RESET ALL"])


def gen_setting_migration(rng):
    """A pgvector application's setting names in both databases (issue 18, section 5)."""
    name = rng.choice(list(SETTINGS))
    val = rng.choice(SETTINGS[name][:4])
    return Case("setting under its pgvector name in both: hnsw.%s" % name,
                ["SET hnsw.%s = %s" % (name, val), "SHOW hnsw.%s" % name],
                cleanup=["RESET ALL"], group="setting under its pgvector name in both")


def gen_index_ddl(rng):
    """CREATE INDEX: a valid one, or one with a single fault."""
    dim, typ = 3, "vector(3)"
    opc = rng.choice(["vector_l2_ops", "vector_ip_ops", "vector_cosine_ops", "vector_l1_ops"])
    m, efc = rng.choice([(2, 4), (4, 8), (16, 64), (100, 1000), (None, None), (5, None), (None, 40)])
    col, extra, uniq = "v %s" % opc, "", ""
    rows = rng.choice([0, 0, 1, 3])
    fault = rng.choice(["none", "m", "efc", "efc<2m", "option", "opclass", "dims", "notypmod",
                        "column", "multi", "include", "unique", "partial", "expression"])
    if fault == "m":
        m = rng.choice([0, 1, 101, -1])
    elif fault == "efc":
        efc, m = rng.choice([3, 1001, 0]), None
    elif fault == "efc<2m":
        m, efc = rng.choice([(2, 3), (3, 5), (16, 31), (100, 199)])
    elif fault == "option":
        extra = rng.choice(["lists = 10", "m = 'x'", "ef_construction = 1.5", "foo = 1", "m = ''"])
    elif fault == "opclass":
        col = "v %s" % rng.choice(["vector_ops", "bit_hamming_ops", "float8_ops", "nosuch_ops"])
    elif fault == "dims":
        dim = rng.choice([2000, 2001, 2018, 2019, 4000])
        typ = "vector(%d)" % dim
    elif fault == "notypmod":
        typ = "vector"
    elif fault == "column":
        col = "id"
    elif fault == "multi":
        col = "v %s, v %s" % (opc, opc)
    elif fault == "include":
        col = "v %s) INCLUDE (id" % opc
    elif fault == "unique":
        uniq = "UNIQUE "
    elif fault == "partial":
        extra = None
    elif fault == "expression":
        col = "(v::vector(3)) %s" % opc
    opts = []
    if m is not None:
        opts.append("m = %d" % m)
    if efc is not None:
        opts.append("ef_construction = %d" % efc)
    if extra:
        opts.append(extra)
    w = " WITH (%s)" % ", ".join(opts) if opts else ""
    part = " WHERE id > 1" if extra is None else ""
    stmts = ["CREATE TABLE ddl_t (id int, v %s)" % typ]
    if rows:
        stmts.append("INSERT INTO ddl_t SELECT i, array_fill(i::real, ARRAY[%d])::vector "
                     "FROM generate_series(1, %d) i" % (dim, rows))
    stmts.append("CREATE %sINDEX ddl_i ON ddl_t USING {am} (%s)%s%s" % (uniq, col, w, part))
    return Case("index DDL: " + fault, stmts, cleanup=["DROP TABLE IF EXISTS ddl_t"],
                group="index DDL")


def gen_assign(rng):
    """Values stored in a column with dimensions: INSERT, UPDATE, COPY."""
    dim = rng.choice([1, 2, 3])
    v = rand_vec(rng, rng.choice([dim, dim, dim - 1 if dim > 1 else 2, dim + 1]), "small")
    how = rng.choice(["insert", "update", "copy", "array"])
    stmts = ["CREATE TEMP TABLE asg (id int, v vector(%d))" % dim]
    copy_data = None
    if how == "insert":
        stmts.append("INSERT INTO asg VALUES (1, %s)" % vec_lit(v))
    elif how == "update":
        stmts += ["INSERT INTO asg VALUES (1, NULL)", "UPDATE asg SET v = %s" % vec_lit(v)]
    elif how == "copy":
        stmts.append("COPY asg FROM STDIN")
        copy_data = "1\t%s\n" % vec_text(v)
    else:
        stmts.append("INSERT INTO asg VALUES (1, ARRAY[%s])" % ",".join(fmt32(x) for x in v))
    stmts.append("SELECT v FROM asg")
    return Case("stored value: " + how, stmts, copy_data=copy_data,
                cleanup=["DROP TABLE IF EXISTS asg"], group="stored value")


def gen_order(rng):
    """Comparison operators and vector_cmp on pairs that share prefixes, and NULLs."""
    base = [float(rng.choice([-1, 0, 1, 2])) for _ in range(rng.randint(1, 4))]
    a = list(base)
    b = list(base[:rng.randint(0, len(base))]) + [float(rng.choice([-1, 0, 1])) for _ in range(rng.randint(0, 2))]
    if not b:
        b = [0.0]
    if rng.random() < 0.3:
        b = [-0.0 if x == 0 else x for x in b]
    op = rng.choice(["<", "<=", "=", "<>", ">=", ">"])
    if rng.random() < 0.3:
        return Case("comparison: vector_cmp", ["SELECT vector_cmp(%s::vector, %s::vector)" % (vec_lit(a), vec_lit(b))])
    return Case("comparison: " + op, ["SELECT %s::vector %s %s::vector" % (vec_lit(a), op, vec_lit(b))])


GENERATORS = [
    (gen_text_input, 18),
    (gen_long_input, 1),
    (gen_binary_input, 8),
    (gen_typmod, 5),
    (gen_cast_from_array, 10),
    (gen_cast_to, 4),
    (gen_function, 22),
    (gen_aggregate, 6),
    (gen_agg_state, 3),
    (gen_btree, 5),
    (gen_setting, 4),
    (gen_setting_migration, 1),
    (gen_index_ddl, 4),
    (gen_assign, 3),
    (gen_order, 4),
]

# ----------------------------------------------------------------------------------------------
# documented differences (by design): a predicate on (case, omendb outcome, pgvector outcome)
# ----------------------------------------------------------------------------------------------

def doc_no_typmod_index(case, i, oo, op):
    """D3: omenhnsw indexes a column without dimensions; pgvector refuses."""
    return (op[0] == "err" and op[2] == "column does not have dimensions" and oo[0] == "ok")


def doc_dims(case, i, oo, op):
    """D4: omenhnsw holds every dimension the type allows, hnsw 2000."""
    return (op[0] == "err" and op[2] and "cannot have more than 2000 dimensions" in op[2]
            and oo[0] == "ok")


def doc_hnsw_placeholder(case, i, oo, op):
    """D9: SET hnsw.x = <invalid> is a placeholder in omendb; pgvector checks the value.  So a
    later SHOW hnsw.x differs too."""
    t = case.stmts[i].strip().upper()
    if t.startswith("SET HNSW."):
        return oo[0] == "ok" and op[0] == "err" and op[1] == "22023"
    m = re.match(r"SHOW (HNSW\.\w+)", t)
    if not (m and oo[0] == op[0] == "ok"):
        return False
    ro, rp = case.outcomes
    return any(case.stmts[j].strip().upper().startswith("SET " + m.group(1))
               and ro[j][0] == "ok" and rp[j][0] == "err" for j in range(i))


def doc_other_types(case, i, oo, op):
    """D5: pgvector's other types and access methods (halfvec, bit, ivfflat...)."""
    if getattr(case, "d5", False):
        return oo != op
    if oo[0] != "err" or oo[1] not in ("42704", "42883", "42846", "22023"):
        return False
    t = case.stmts[i]
    return any(w in t for w in ("halfvec", "bit_hamming_ops", "lists =")) or (
        op[0] == "err" and "ivfflat" in (op[2] or ""))


def doc_iterative_default(case, i, oo, op):
    """D2: the default iterative_scan: no earlier statement of the case set it in either
    engine but with DEFAULT or RESET."""
    if not (oo[0] == op[0] == "ok" and "iterative_scan" in case.stmts[i]
            and oo[1] == (("strict_order",),) and op[1] == (("off",),)):
        return False
    ro, rp = case.outcomes
    for j in range(i):
        st = case.stmts[j].upper()
        if "ITERATIVE_SCAN" in st and st.startswith("SET") and "DEFAULT" not in st:
            if ro[j][0] == "ok" or rp[j][0] == "ok":
                return False
    return True


def doc_inner_product_overflow(case, i, oo, op):
    """D7: an overflowing inner product is the true sum rounded, never NaN, in omendb."""
    t = case.stmts[i]
    if not (oo[0] == op[0] == "ok" and len(oo[1]) == len(op[1])
            and any(w in t for w in ("inner_product", "<#>"))):
        return False
    differs = False
    for ro, rp in zip(oo[1], op[1]):
        if len(ro) != len(rp):
            return False
        for a, b in zip(ro, rp):
            if a == b:
                continue
            if b is None or a is None or b.lower() not in ("nan", "infinity", "-infinity"):
                return False
            if a.lower() == "nan":
                return False
            differs = True
    return differs


VECTOR_LITERAL = re.compile(r"'\[([^\]']*)\]'::vector")


def doc_inner_product_rounding(case, i, oo, op):
    """D6: an inner product of two vector literals whose results differ by no more than float4
    rounding of the sum of its terms' magnitudes allows: the order of summation decides how
    cancelling terms round, and neither engine's order gives the exact sum."""
    t = case.stmts[i]
    if not (oo[0] == op[0] == "ok" and len(oo[1]) == len(op[1]) == 1
            and len(oo[1][0]) == len(op[1][0]) == 1
            and any(w in t for w in ("inner_product(", "<#>"))):
        return False
    lits = VECTOR_LITERAL.findall(t)
    if len(lits) != 2:
        return False
    try:
        a = [float(x) for x in lits[0].split(",")]
        b = [float(x) for x in lits[1].split(",")]
        ro, rp = float(oo[1][0][0]), float(op[1][0][0])
    except (TypeError, ValueError):
        return False
    if len(a) != len(b) or not (math.isfinite(ro) and math.isfinite(rp)):
        return False
    mags = sum(abs(x * y) for x, y in zip(a, b))
    return ro != rp and abs(ro - rp) <= 2 * len(a) * 1.1920929e-07 * mags


def doc_empty_combine(case, i, oo, op):
    """D8: two avg/sum states of no rows combine to no rows in omendb; pgvector errors."""
    t = case.stmts[i]
    return (op[0] == "err" and op[2] == "vector must have at least 1 dimension"
            and oo[0] == "ok" and "_combine(" in t)


DOCUMENTED = [
    ("D2", "the default iterative_scan is strict_order in omendb, off in pgvector",
     doc_iterative_default),
    ("D3", "omenhnsw indexes a vector column without a type modifier; pgvector refuses it",
     doc_no_typmod_index),
    ("D4", "omenhnsw holds every dimension the type allows (16,000), hnsw up to 2000",
     doc_dims),
    ("D5", "pgvector's objects for types omendb does not define, and ivfflat, are not in omendb",
     doc_other_types),
    ("D6", "an inner product within float4 rounding of the sum of its terms' magnitudes",
     doc_inner_product_rounding),
    ("D7", "an overflowing inner product is the true sum rounded (never NaN) in omendb",
     doc_inner_product_overflow),
    ("D8", "two avg/sum states of no rows combine to no rows in omendb; pgvector errors",
     doc_empty_combine),
    ("D9", "SET hnsw.x to an invalid value is accepted as a placeholder in omendb (the scan "
     "warns); pgvector refuses it", doc_hnsw_placeholder),
]


# ----------------------------------------------------------------------------------------------
# running and comparing plain cases
# ----------------------------------------------------------------------------------------------

class Tester:
    def __init__(self, args):
        self.args = args
        self.eng = {"omendb": Engine("omendb", args.omen_db, args.timeout * 1000),
                    "pgvector": Engine("pgvector", args.pgv_db, args.timeout * 1000)}
        for e in self.eng.values():
            e.connect()
        self.groups = {}        # key -> {"count", "cases": [(len, case, detail)]}
        self.documented = {}    # id -> count
        self.stats = {"cases": 0, "statements": 0, "index cases": 0, "index queries": 0,
                      "not reproduced": 0, "skipped plans": 0}
        self.recall = {}        # (opclass, mode) -> [n, sum omen, sum pgv]
        self.recall_worst = {}
        self.table_no = 0

    def reconnect(self):
        for e in self.eng.values():
            e.close()
        time.sleep(2)
        for e in self.eng.values():
            e.connect()

    def run_engine(self, case, name):
        """Outcomes of a case's statements in one engine; a crash ends the list."""
        e = self.eng[name]
        out = []
        try:
            for i, s in enumerate(case.stmts):
                params = case.params if case.params and i == len(case.stmts) - 1 else None
                out.append(e.exec(render(s, name), params, case.binary_result, case.copy_data))
            for s in case.cleanup:
                e.exec(render(s, name))
        except Crash as c:
            out.append(("crash", str(c)))
        return out

    def run_case(self, case):
        """Both engines' outcomes; reconnects after a crash."""
        res = {}
        crashed = False
        for name in ENGINES:
            res[name] = self.run_engine(case, name)
            if res[name] and res[name][-1][0] == "crash":
                crashed = True
                self.reconnect()
        self.stats["statements"] += len(case.stmts)
        return res, crashed

    def compare(self, case, res):
        """The differences of a case: a list of (group key, detail text)."""
        diffs = []
        ro, rp = res["omendb"], res["pgvector"]
        for name in ENGINES:
            if res[name] and res[name][-1][0] == "crash":
                i = len(res[name]) - 1
                diffs.append((("CRASH", name, case.group, "crash"),
                              "%s lost its connection at statement %d: %s" % (name, i + 1, res[name][-1][1])))
                return diffs
        case.outcomes = (ro, rp)
        for i, (oo, op) in enumerate(zip(ro, rp)):
            d = self.compare_outcome(case, i, oo, op)
            if d:
                diffs.append(d)
                break
        return diffs

    def compare_outcome(self, case, i, oo, op):
        tag = case.group
        for did, _, pred in DOCUMENTED:
            if pred(case, i, oo, op):
                self.documented[did] = self.documented.get(did, 0) + 1
                return None
        if oo[0] == "ok" and op[0] == "ok":
            rows_o, rows_p = oo[1], op[1]
            same = len(rows_o) == len(rows_p) and all(
                len(a) == len(b) and all(cells_equal(x, y, case.tol) for x, y in zip(a, b))
                for a, b in zip(rows_o, rows_p))
            if (case.stmts[i].startswith("SHOW") or "current_setting" in case.stmts[i]):
                rows_o = tuple(tuple(norm_text(x, "omendb") for x in r) for r in rows_o)
                same = rows_o == rows_p
            wo = tuple(norm_text(w, "omendb") for w in oo[2])
            if not same:
                return ((tag, "result", result_sig(rows_o, rows_p), ""), self.describe(case, i, oo, op))
            if wo != op[2]:
                return ((tag, "warning", sig("; ".join(wo)), sig("; ".join(op[2]))),
                        self.describe(case, i, oo, op))
            return None
        if oo[0] != op[0]:
            so = oo[1] if oo[0] == "err" else "OK"
            sp = op[1] if op[0] == "err" else "OK"
            mo = sig(oo[2]) if oo[0] == "err" else ""
            mp = sig(op[2]) if op[0] == "err" else ""
            return ((tag, "error vs success", "%s %s" % (so, mo), "%s %s" % (sp, mp)),
                    self.describe(case, i, oo, op))
        # both errors
        mo, mp = norm_text(oo[2], "omendb"), op[2]
        if oo[1] != op[1]:
            return ((tag, "SQLSTATE", "%s %s" % (oo[1], sig(mo)), "%s %s" % (op[1], sig(mp))),
                    self.describe(case, i, oo, op))
        if mo != mp:
            return ((tag, "message", sig(mo), sig(mp)), self.describe(case, i, oo, op))
        if norm_text(oo[3], "omendb") != op[3]:
            return ((tag, "DETAIL", oo[3], op[3]), self.describe(case, i, oo, op))
        if norm_text(oo[4], "omendb") != op[4]:
            return ((tag, "HINT", oo[4], op[4]), self.describe(case, i, oo, op))
        return None

    @staticmethod
    def fmt_outcome(o, as_rows=False):
        """An outcome as one line; as_rows: a result as its row count and rows, always."""
        return re.sub(r"[\x00-\x08\x0b-\x1f]", lambda m: "\\x%02x" % ord(m.group()),
                      Tester._fmt_outcome(o, as_rows))

    @staticmethod
    def _fmt_outcome(o, as_rows):
        if o[0] == "ok":
            rows = o[1]
            if len(rows) == 1 and len(rows[0]) == 1 and not as_rows:
                t = "%s" % (rows[0][0],)
            else:
                t = "%d row%s: %s" % (len(rows), "" if len(rows) == 1 else "s",
                                      "; ".join("|".join("NULL" if x is None else x for x in r)
                                                for r in rows[:12]))
            if len(t) > 400:
                t = t[:400] + "…"
            if o[2]:
                t += "  (WARNING: %s)" % "; ".join(o[2])
            return t
        if o[0] == "crash":
            return "CONNECTION LOST: " + o[1]
        t = "ERROR %s: %s" % (o[1], o[2])
        if o[3]:
            t += " DETAIL: %s" % o[3]
        if o[4]:
            t += " HINT: %s" % o[4]
        if o[5]:
            t += "  (WARNING: %s)" % "; ".join(o[5])
        return t

    def describe(self, case, i, oo, op):
        return "statement %d: %s\n  omendb:   %s\n  pgvector: %s" % (
            i + 1, case.stmts[i],
            self.fmt_outcome(oo), self.fmt_outcome(op))

    def record(self, key, case, detail, rerun, sub=None):
        g = self.groups.setdefault(key, {"count": 0, "cases": [], "sub": {}})
        g["count"] += 1
        if sub:
            g["sub"][sub] = g["sub"].get(sub, 0) + 1
        g["cases"].append((len(case.text()), case, detail, rerun))
        g["cases"].sort(key=lambda x: x[0])
        del g["cases"][4:]

    def run_plain(self, case):
        self.stats["cases"] += 1
        res, _ = self.run_case(case)
        diffs = self.compare(case, res)
        if diffs and diffs[0][0][0] != "CRASH":
            # a variant without some feature that shows no difference names the cause
            for cause, without, named in case.variants:
                res2, _ = self.run_case(without)
                d2 = self.compare(without, res2)
                if not d2 or d2[0][0][1:] != diffs[0][0][1:]:
                    case = named
                    diffs = self.compare(case, res)
                    break
        for key, detail in diffs:
            self.record(key, case, detail, self.rerun_plain, sub=case.tag)

    def rerun_plain(self, case, key):
        res, _ = self.run_case(case)
        return [d for d in self.compare(case, res) if d[0] == key]


# ----------------------------------------------------------------------------------------------
# index cases: small random tables, index scans against the exact answer
# ----------------------------------------------------------------------------------------------

OPCLASSES = {"vector_l2_ops": "<->", "vector_ip_ops": "<#>", "vector_cosine_ops": "<=>",
             "vector_l1_ops": "<+>"}


class IndexCase:
    """A table, an index built before, between or after the inserts, optional deletes and
    VACUUM, then queries.  Runs in both engines and in each engine's exact seq scan."""

    def __init__(self, rng, variant="normal"):
        self.variant = variant
        self.opclass = rng.choice(list(OPCLASSES))
        self.op = OPCLASSES[self.opclass]
        self.dim = rng.choice([1, 2, 2, 3, 4, 8])
        n = rng.choice([1, 2, 3, 5, 8, 12, 20, 30, 45, 60])
        self.style = rng.choice(["small", "ints", "dups", "extreme", "mixed", "zeros"])
        rows = []
        pool = [rand_vec(rng, self.dim, "ints") for _ in range(3)]
        for i in range(1, n + 1):
            r = rng.random()
            if r < 0.06:
                v = None
            elif self.style == "dups" and r < 0.7:
                v = list(rng.choice(pool))
            elif self.style == "zeros" and r < 0.4:
                v = [0.0] * self.dim
            elif self.style == "extreme" and r < 0.4:
                v = [f32(rng.choice([1, -1]) * rng.choice([1e20, 1e30, 3e38, 1e-30, 2e38]))
                     for _ in range(self.dim)]
            else:
                v = rand_vec(rng, self.dim, {"mixed": "mixed", "extreme": "small",
                                             "zeros": "ints"}.get(self.style, self.style))
            rows.append((i, v))
        self.rows = rows
        self.m = rng.choice([2, 2, 3, 4, 5, 8, 16])
        self.efc = max(4, 2 * self.m, rng.choice([4, 8, 10, 16, 40, 64]))
        self.build_at = rng.choice([0, n // 2, n, n])       # rows inserted before CREATE INDEX
        self.deletes = []
        if rng.random() < 0.3 and n >= 3:
            self.deletes = sorted(rng.sample([i for i, _ in rows], rng.randint(1, n // 2)))
        self.updates = []
        if rng.random() < 0.15:
            alive = [i for i, _ in rows if i not in self.deletes]
            for i in rng.sample(alive, min(len(alive), rng.randint(1, 4))):
                self.updates.append((i, None if rng.random() < 0.1 else rand_vec(rng, self.dim, "small")))
        self.vacuum = bool(self.deletes or self.updates) and rng.random() < 0.8
        self.reindex = rng.random() < 0.05
        self.queries = []
        for _ in range(rng.randint(2, 5)):
            self.queries.append(self.rand_query(rng, n))

    def rand_query(self, rng, n):
        r = rng.random()
        if r < 0.08:
            q = "(SELECT NULL::vector)"
        elif r < 0.15:
            q = vec_lit([0.0] * self.dim)
        elif r < 0.45:
            live = [v for _, v in self.rows if v is not None]
            q = vec_lit(rng.choice(live)) if live else vec_lit(rand_vec(rng, self.dim, "small"))
        elif r < 0.50:
            q = vec_lit(rand_vec(rng, self.dim + rng.choice([-1, 1]) if self.dim > 1 else 2, "small"))
        else:
            q = vec_lit(rand_vec(rng, self.dim, rng.choice(["small", "ints", "mixed"])))
        mode = rng.choice(["off", "relaxed_order", "strict_order"])
        ef = rng.choice([1, 2, 5, 10, 40, 100, 1000])
        mst = rng.choice([None, None, None, 1, 5, 20, 100])
        k = rng.choice([1, 3, 5, 10, n, n + 5])
        filt = rng.choice([None, None, None, "id % 2 = 0", "id % 5 = 1", "id > %d" % (n // 2),
                           "bound"])
        if filt == "bound":
            # a distance bound, which omendb's planner hook hands to the scan
            filt = "v %s %s %s %s" % (self.op, q, rng.choice(["<", "<="]),
                                      rng.choice(["0", "0.5", "1", "2", "5", "10", "-1", "-10",
                                                  "1e30", "'Infinity'", "'NaN'"]))
        prepared = rng.random() < 0.15
        return {"q": q, "mode": mode, "ef": ef, "mst": mst, "k": max(1, k), "filter": filt,
                "prepared": prepared, "dist": rng.random() < 0.75}

    def setup_stmts(self, t):
        s = ["CREATE TABLE %s (id int, v vector(%d))" % (t, self.dim)]

        def ins(rows):
            if rows:
                s.append("INSERT INTO %s VALUES %s" % (
                    t, ", ".join("(%d, %s)" % (i, vec_lit(v) if v is not None else "NULL")
                                 for i, v in rows)))
        ins(self.rows[:self.build_at])
        s.append("CREATE INDEX %s_i ON %s USING {am} (v %s) WITH (m = %d, ef_construction = %d)"
                 % (t, t, self.opclass, self.m, self.efc))
        ins(self.rows[self.build_at:])
        if self.deletes:
            s.append("DELETE FROM %s WHERE id IN (%s)" % (t, ",".join(map(str, self.deletes))))
        for i, v in self.updates:
            s.append("UPDATE %s SET v = %s WHERE id = %d" % (t, vec_lit(v) if v else "NULL", i))
        if self.vacuum:
            s.append("VACUUM %s" % t)
        if self.reindex:
            s.append("REINDEX INDEX %s_i" % t)
        return s

    def final_rows(self):
        """id -> vector after the updates (deleted rows included)."""
        d = dict(self.rows)
        d.update(dict(self.updates))
        return d

    def query_sql(self, t, q, param=None, dist=None):
        """The query; with param ("$1"), the query vector is that parameter.  It selects the
        distance unless q["dist"] is false (then the distance is only ORDER BY's)."""
        qv = param or q["q"]
        where = " WHERE %s" % q["filter"].replace(q["q"], qv) if q["filter"] else ""
        sel = "id, v %s %s" % (self.op, qv) if (q.get("dist", True) if dist is None else dist) else "id"
        return "SELECT %s FROM %s%s ORDER BY v %s %s LIMIT %d" % (
            sel, t, where, self.op, qv, q["k"])

    def query_stmts(self, t, q):
        """What runs the query: the statement, or PREPARE (generic plan) and EXECUTE."""
        if not q.get("prepared"):
            return [], self.query_sql(t, q)
        arg = "NULL::vector" if "NULL::vector" in q["q"] else q["q"]
        return (["SET plan_cache_mode = force_generic_plan",
                 "PREPARE pq(vector) AS " + self.query_sql(t, q, "$1")],
                "EXECUTE pq(%s)" % arg)

    def settings(self, q, prefix="{g}"):
        s = ["SET %s.ef_search = %d" % (prefix, q["ef"]),
             "SET %s.iterative_scan = %s" % (prefix, q["mode"])]
        if q["mst"]:
            s.append("SET %s.max_scan_tuples = %d" % (prefix, q["mst"]))
        return s

    def script(self, t, qi=None):
        """The SQL of the case (or of one query of it) for a reproducer."""
        lines = self.setup_stmts(t)
        qs = self.queries if qi is None else [self.queries[qi]]
        for q in qs:
            pre, sql = self.query_stmts(t, q)
            lines += ["RESET ALL"] + self.settings(q) + ["SET enable_seqscan = off"] + pre + [sql]
            if pre:
                lines.append("DEALLOCATE pq")
        return ";\n".join(lines) + ";\n-- {am} is omenhnsw / hnsw, {g} is omenhnsw / hnsw"


class SegmentCase(IndexCase):
    """A table of a few thousand 64-d rows made by SQL, indexed under maintenance_work_mem =
    1MB: omenhnsw builds it as several segments.  Inserts after the build, deletes."""

    kind = "segmented"
    no_shrink = True

    def __init__(self, rng):
        self.variant = "normal"
        self.opclass = rng.choice(list(OPCLASSES))
        self.op = OPCLASSES[self.opclass]
        self.dim = 64
        self.n = rng.choice([3000, 6000])
        self.extra = rng.choice([0, 0, 300])
        self.m = rng.choice([4, 8])
        self.efc = rng.choice([16, 32])
        self.deletes = [i for i in range(1, self.n + self.extra + 1) if i % 7 == 0] \
            if rng.random() < 0.3 else []
        self.vacuum = bool(self.deletes)
        self.updates = []
        self.reindex = False
        self.rows = [(i, [1.0]) for i in range(1, self.n + self.extra + 1)]
        self.queries = []
        for _ in range(rng.randint(2, 4)):
            q = self.rand_query(rng, self.n)
            if "NULL" not in q["q"]:
                q["q"] = vec_lit(rand_vec(rng, self.dim, "small"))
            q["k"] = rng.choice([1, 5, 10, 40, 100])
            if q["filter"] and q["filter"].startswith("v "):
                q["filter"] = None
            self.queries.append(q)

    def final_rows(self):
        return dict(self.rows)

    def setup_stmts(self, t):
        gen = ("INSERT INTO %s SELECT i, (SELECT array_agg(round((sin(i * 0.7 + j * 1.3) * 8)::numeric, 1)::real) "
               "FROM generate_series(1, %d) j)::vector FROM generate_series(%%d, %%d) i" % (t, self.dim))
        s = ["CREATE TABLE %s (id int, v vector(%d))" % (t, self.dim), gen % (1, self.n),
             "SET maintenance_work_mem = '1MB'",
             "CREATE INDEX %s_i ON %s USING {am} (v %s) WITH (m = %d, ef_construction = %d)"
             % (t, t, self.opclass, self.m, self.efc),
             "RESET maintenance_work_mem"]
        if self.extra:
            s.append(gen % (self.n + 1, self.n + self.extra))
        if self.deletes:
            s += ["DELETE FROM %s WHERE id %% 7 = 0" % t, "VACUUM %s" % t]
        return s


def dkey(s):
    """Sort key of a distance as PostgreSQL orders float8: numbers, then NaN, then NULL."""
    if s is None:
        return (2, 0.0)
    x = float(s)
    if math.isnan(x):
        return (1, 0.0)
    return (0, x)


def dle(a, b, tol=1e-5):
    if a[0] != b[0]:
        return a[0] < b[0]
    if a[0] != 0:
        return True
    return a[1] <= b[1] or close(a[1], b[1], tol)


def one_direction(a, b):
    """Whether vectors a and b (lists, or None) are positive multiples of each other."""
    if not a or not b or len(a) != len(b):
        return False
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    if na == 0 or nb == 0 or not math.isfinite(na) or not math.isfinite(nb):
        return False
    return all(abs(x / na - y / nb) <= 1e-6 for x, y in zip(a, b))


def index_rows_wanted(ic, q, exact):
    """The rows an index scan may return, nearest first: the live rows that pass the filter
    and that the index holds (not NULL; under cosine, no zero vectors), from the exact answer
    without LIMIT (id, distance)."""
    vec = ic.final_rows()
    dels = set(ic.deletes)
    out = []
    for rid, d in exact:
        i = int(rid)
        v = vec.get(i)
        if i in dels or v is None:
            continue
        if ic.opclass == "vector_cosine_ops" and all(x == 0 for x in v):
            continue
        out.append((rid, d))
    return out


def query_class(ic, q, full):
    """The kind of an index query, for grouping: the known causes apart from ordinary ones."""
    if "NULL::vector" in q["q"]:
        return "NULL query"
    qv = parse_vector(q["q"].strip("'")) or []
    if ic.opclass == "vector_cosine_ops" and all(x == 0 for x in qv):
        return "zero query under cosine"

    def odd(x):
        return x != 0 and (abs(x) > 1e15 or abs(x) < 1e-15)
    vals = [x for v in ic.final_rows().values() if v is not None for x in v] + qv
    if any(odd(x) for x in vals) or any(r[1] is not None and not math.isfinite(float(r[1]))
                                        for r in full):
        return "extreme values"
    if ic.deletes or ic.updates:
        return "after DELETE or UPDATE"
    if q["mst"]:
        return "max_scan_tuples"
    if q["filter"] and q["filter"].startswith("v "):
        return "distance bound"
    if q["filter"]:
        return "filtered"
    return "ordinary"


def run_index_case(tester, ic):
    """Flags of one run of an index case: a list of (key, detail, query number).  Adds the
    recall of unfiltered queries to tester.recall."""
    tester.table_no += 1
    t = "ix%d" % tester.table_no
    results = {}
    setup = ic.setup_stmts(t)
    prefix = "hnsw" if ic.variant == "migration" else "{g}"
    for name in ENGINES:
        e = tester.eng[name]
        out = {"setup": [], "queries": [], "verify": None}
        try:
            for s in setup:
                out["setup"].append(e.exec(render(s, name)))
            if name == "omendb" and all(o[0] == "ok" for o in out["setup"]):
                out["verify"] = e.exec("SELECT * FROM omenhnsw_verify('%s_i')" % t)
            for q in ic.queries:
                e.exec("RESET ALL")
                for s in ic.settings(q, prefix):
                    e.exec(render(s, name))
                e.exec("SET enable_seqscan = off")
                pre, sql = ic.query_stmts(t, q)
                for s in pre:
                    e.exec(render(s, name))
                sql = render(sql, name)
                plan = e.exec("EXPLAIN (COSTS OFF) " + sql)
                got = e.exec(sql)
                if pre:
                    e.exec("DEALLOCATE pq")
                e.exec("RESET ALL")
                e.exec("SET enable_indexscan = off")
                e.exec("SET enable_bitmapscan = off")
                exact = e.exec(render(ic.query_sql(t, dict(q, k=1000000), dist=True), name))
                e.exec("RESET ALL")
                out["queries"].append((plan, got, exact))
            e.exec("DROP TABLE IF EXISTS %s" % t)
        except Crash as c:
            tester.reconnect()
            for n2 in ENGINES:
                try:
                    tester.eng[n2].exec("DROP TABLE IF EXISTS %s" % t)
                except Crash:
                    pass
            return [(("CRASH", name, "index: " + ic.opclass, "crash"),
                     "%s lost its connection: %s" % (name, c), None)]
        results[name] = out
    tester.stats["index queries"] += len(ic.queries)
    flags = []
    o, p = results["omendb"], results["pgvector"]
    for i, (so, sp) in enumerate(zip(o["setup"], p["setup"])):
        if so[0] != sp[0] or (so[0] == "err" and (so[1] != sp[1] or norm_text(so[2], "omendb") != sp[2])):
            flags.append((("index: build", "error vs success" if so[0] != sp[0] else "message",
                           "%s %s" % (so[0], sig(so[2]) if so[0] == "err" else ""),
                           "%s %s" % (sp[0], sig(sp[2]) if sp[0] == "err" else "")),
                          "setup statement %d\n  omendb:   %s\n  pgvector: %s"
                          % (i + 1, Tester.fmt_outcome(so), Tester.fmt_outcome(sp)), None))
            return flags
        if so[0] == "err":
            return flags
    if o["verify"] and o["verify"][0] == "ok" and o["verify"][1]:
        msgs = [r[0] for r in o["verify"][1]]
        flags.append((("index: omenhnsw_verify", "omendb only", sig(msgs[0]), ""),
                      "SELECT * FROM omenhnsw_verify('t_i') after the setup:\n  %s"
                      % "\n  ".join(msgs[:5]), -1))
    n_total = len(ic.rows) + len(ic.updates)
    for qi, q in enumerate(ic.queries):
        (plan_o, got_o, ex_o), (plan_p, got_p, ex_p) = o["queries"][qi], p["queries"][qi]
        where = "query: ef_search %d, iterative_scan %s%s, LIMIT %d" % (
            q["ef"], q["mode"], ", max_scan_tuples %d" % q["mst"] if q["mst"] else "", q["k"])
        both = "\n  omendb:   %s\n  pgvector: %s" % (Tester.fmt_outcome(got_o, True),
                                                   Tester.fmt_outcome(got_p, True))
        if got_o[0] != "ok" or got_p[0] != "ok":
            tag = "index" if ic.variant == "normal" else "index, settings under their hnsw.* names"
            if got_o[0] != got_p[0] or got_o[1] != got_p[1] or norm_text(got_o[2], "omendb") != got_p[2] \
                    or norm_text(got_o[3], "omendb") != got_p[3]:
                kind = "error vs success" if got_o[0] != got_p[0] else (
                    "SQLSTATE" if got_o[1] != got_p[1] else "message")
                flags.append(((tag + ": query", kind,
                               "%s %s" % (got_o[0], sig(got_o[2]) if got_o[0] == "err" else ""),
                               "%s %s" % (got_p[0], sig(got_p[2]) if got_p[0] == "err" else "")),
                              where + both, qi))
            continue
        uses_o = plan_o[0] == "ok" and any("Index Scan" in r[0] for r in plan_o[1])
        uses_p = plan_p[0] == "ok" and any("Index Scan" in r[0] for r in plan_p[1])
        if not (uses_o and uses_p) or ex_o[0] != "ok":
            tester.stats["skipped plans"] += 1
            continue
        null_query = "NULL::vector" in q["q"]
        full = index_rows_wanted(ic, q, [(r[0], r[1]) for r in ex_o[1]])
        qclass = query_class(ic, q, full)
        if ic.variant == "normal":
            tag = "index: " + qclass
        else:
            tag = "index, settings under their hnsw.* names"
        want = min(q["k"], len(full))
        allowed = {r[0] for r in full}

        def check(rows, exact):
            exd = {r[0]: r[1] for r in exact}
            bad = []
            if rows and len(rows[0]) == 1:
                rows = [(r[0], exd.get(r[0])) for r in rows]
            elif any(r[0] in exd and not cells_equal(r[1], exd[r[0]], 1e-6) for r in rows):
                bad.append("returns a distance other than the row's")
            ids = [r[0] for r in rows]
            if len(set(ids)) != len(ids):
                bad.append("returns a row twice")
            if any(i not in allowed for i in ids):
                bad.append("returns a row that is deleted, filtered out or not indexed")
            if len(rows) > q["k"]:
                bad.append("returns more rows than LIMIT")
            # (D10) rows that share a cosine element come out together, at its distance
            vec = ic.final_rows()
            ordered = all(dle(dkey(rows[j][1]), dkey(rows[j + 1][1])) or
                          (ic.opclass == "vector_cosine_ops" and
                           one_direction(vec.get(int(rows[j][0])), vec.get(int(rows[j + 1][0]))))
                          for j in range(len(rows) - 1))
            if q["mode"] != "relaxed_order" and not ordered and not null_query:
                bad.append("returns rows out of distance order")
            rec = None
            if want and not null_query:
                kth = dkey(full[want - 1][1])
                good = sum(1 for r in rows if r[0] in allowed and dle(dkey(r[1]), kth))
                rec = min(1.0, good / want)
            return bad, rec
        bo, rec_o = check(got_o[1], ex_o[1])
        bp, rec_p = check(got_p[1], ex_p[1] if ex_p[0] == "ok" else ())
        for b in bo:
            if b not in bp:
                flags.append(((tag, "wrong rows", b, ""), where + both, qi))
        cnt_o, cnt_p = len(got_o[1]), len(got_p[1])
        # ef_search >= every element ever inserted: a connected graph is searched whole
        exhaustive = q["ef"] >= n_total and (q["mode"] != "off" or not q["filter"]) and not q["mst"]
        if exhaustive:
            if cnt_o < want and cnt_p > cnt_o:
                flags.append(((tag, "fewer rows than pgvector", "ef_search >= rows", ""),
                              where + "\n  %d rows expected" % want + both, qi))
            elif rec_o is not None and rec_p is not None and rec_o < 1 and rec_p >= 1:
                flags.append(((tag, "misses nearest rows that pgvector returns",
                               "ef_search >= rows", ""),
                              where + "\n  recall omendb %.2f, pgvector %.2f" % (rec_o, rec_p) + both, qi))
        elif q["mst"]:
            # the bound cuts the search wherever the graph has led it: a mean
            rows_mean(tester, (tag, "max_scan_tuples set, rows returned / rows asked for"),
                      cnt_o, cnt_p, want, ic, qi)
        elif q["mode"] != "off" and q["filter"] and q["filter"].startswith("v "):
            # (D11) omendb stops where a whole batch lies past the bound: a mean
            rows_mean(tester, (tag, "%s under a distance bound, rows returned / rows asked for"
                               % q["mode"]), cnt_o, cnt_p, want, ic, qi)
        elif q["mode"] == "relaxed_order":
            # relaxed_order drops nothing: it goes on until LIMIT
            if cnt_o < want and cnt_p > cnt_o:
                flags.append(((tag, "fewer rows than pgvector", "", ""),
                              where + "\n  %d rows expected" % want + both, qi))
        elif q["mode"] == "strict_order":
            # (D10) a row the graph leads to only after farther ones were returned is dropped,
            # in both engines: a mean
            rows_mean(tester, (tag, "strict_order, rows returned / rows asked for"),
                      cnt_o, cnt_p, want, ic, qi)
        elif not q["filter"]:
            # ef_search nodes, of which deleted or unindexed rows drop out: a mean
            rows_mean(tester, (tag, "iterative_scan off, rows returned / rows asked for"),
                      cnt_o, cnt_p, want, ic, qi)
        elif want and qclass in ("filtered", "distance bound") and ic.variant == "normal":
            # which rows a filter keeps from the first ef_search depends on the graph: a mean
            key = ("filtered queries, iterative_scan off", "rows returned / rows asked for")
            st = tester.recall.setdefault(key, [0, 0.0, 0.0, None])
            st[0] += 1
            st[1] += cnt_o / want
            st[2] += cnt_p / want
            if cnt_o < cnt_p and (st[3] is None or (cnt_p - cnt_o) / want > st[3][0]):
                st[3] = ((cnt_p - cnt_o) / want, ic, qi)
        if q["mode"] == "off" and not q["filter"] and not q["mst"] and not exhaustive \
                and not (ic.deletes or ic.updates) and cnt_o < min(q["ef"], want):
            # every element holds a live row: a scan returns the rows of ef_search of them (D10)
            flags.append(((tag, "fewer rows than ef_search elements hold", "iterative_scan off",
                           ""), where + both, qi))
        if ic.variant != "normal" and qclass in ("NULL query", "zero query under cosine",
                                                   "extreme values"):
            flags = [f for f in flags if f[2] != qi]
        if ic.variant != "normal":
            flags = [(f[0][:2] + ("",) * (len(f[0]) - 2), f[1], f[2]) if f[0][0] == tag else f
                     for f in flags]
        if rec_o is not None and rec_p is not None and qclass == "ordinary" and ic.variant == "normal":
            key = (ic.opclass + (" (segmented)" if getattr(ic, "kind", "") == "segmented" else ""),
                   q["mode"] if q["ef"] < n_total else "ef_search >= rows")
            st = tester.recall.setdefault(key, [0, 0.0, 0.0, None])
            st[0] += 1
            st[1] += rec_o
            st[2] += rec_p
            if rec_o < rec_p and (st[3] is None or rec_p - rec_o > st[3][0]):
                st[3] = (rec_p - rec_o, ic, qi)
    return flags


def rows_mean(tester, key, cnt_o, cnt_p, want, ic, qi):
    """Adds one query to the mean rows returned per row asked for under key."""
    if not want:
        return
    st = tester.recall.setdefault(key, [0, 0.0, 0.0, None])
    st[0] += 1
    st[1] += min(1.0, cnt_o / want)
    st[2] += min(1.0, cnt_p / want)
    if cnt_o < cnt_p and (st[3] is None or (cnt_p - cnt_o) / want > st[3][0]):
        st[3] = ((cnt_p - cnt_o) / want, ic, qi)


def index_subset(ic, keep, qi):
    """A copy of an index case with only the rows whose ids are in keep and query qi."""
    c = copy.copy(ic)
    pos = {i: n for n, (i, _) in enumerate(ic.rows)}
    c.rows = [r for r in ic.rows if r[0] in keep]
    c.build_at = sum(1 for i, _ in c.rows if pos[i] < ic.build_at)
    c.deletes = [i for i in ic.deletes if i in keep]
    c.updates = [u for u in ic.updates if u[0] in keep]
    c.vacuum = ic.vacuum and bool(c.deletes or c.updates)
    c.queries = [ic.queries[qi]] if qi is not None and qi >= 0 else []
    return c


def shrink_index_case(tester, ic, qi, key, budget):
    """Fewer rows for an index case's flagged query (qi; -1 for omenhnsw_verify), as long as
    the flag stays: a greedy delta debugging over the rows.  Returns (case, query number)."""
    def still(c):
        return any(f[0] == key for f in run_index_case(tester, c))
    ids = [i for i, _ in ic.rows]
    best = index_subset(ic, set(ids), qi)
    if not still(best):
        return ic, qi
    runs = 1
    chunk = max(1, len(ids) // 2)
    while chunk >= 1 and runs < budget:
        j = 0
        while j < len(ids) and runs < budget:
            trial = ids[:j] + ids[j + chunk:]
            if trial:
                c = index_subset(ic, set(trial), qi)
                runs += 1
                if still(c):
                    ids, best = trial, c
                    continue
            j += chunk
        if chunk == 1:
            break
        chunk //= 2
    return best, (0 if qi is not None and qi >= 0 else qi)


class IndexRepro:
    """An index case's flagged query, as something the report can show and run again."""

    def __init__(self, ic, qi):
        self.ic = ic
        self.qi = qi
        self.tag = "index"

    def text(self):
        if self.qi == -1:
            return ";\n".join(self.ic.setup_stmts("t")) + ";\nSELECT * FROM omenhnsw_verify('t_i');"
        return self.ic.script("t", self.qi)


# ----------------------------------------------------------------------------------------------
# main loop and report
# ----------------------------------------------------------------------------------------------

def pick(rng, table):
    total = sum(w for _, w in table)
    r = rng.random() * total
    for g, w in table:
        r -= w
        if r < 0:
            return g
    return table[-1][0]


def catalog_cases(tester):
    """One case per function, operator and operator class of pgvector's extension: does
    omendb have it?  D5: those of a type omendb does not define, of ivfflat, and hnsw's
    support functions."""
    absent = [x for x in ("halfvec", "sparsevec")
              if tester.eng["omendb"].exec("SELECT to_regtype('%s')" % x)[1][0][0] is None]
    OTHER_TYPES = re.compile(r"\b(%s)\b" % "|".join(
        absent + ["ivfflat\\w*", "hnswhandler", "\\w+_support", "vector_spherical_distance"]))
    e = tester.eng["pgvector"]
    cases = []
    r = e.exec("SELECT p.oid::regprocedure::text, format_type(p.prorettype, NULL), p.prokind "
               "FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND "
               "d.objid = p.oid JOIN pg_extension x ON x.oid = d.refobjid "
               "WHERE x.extname = 'vector' ORDER BY 1")
    for sig_, ret, kind in r[1]:
        c = Case("catalog: function", ["SELECT %s::regprocedure::text" % sql_lit(sig_)],
                 group="catalog: function in pgvector, not in omendb")
        c.d5 = bool(OTHER_TYPES.search(sig_ + " " + ret))
        cases.append(c)
    r = e.exec("SELECT o.oid::regoperator::text FROM pg_operator o JOIN pg_depend d ON "
               "d.classid = 'pg_operator'::regclass AND d.objid = o.oid JOIN pg_extension x "
               "ON x.oid = d.refobjid WHERE x.extname = 'vector' ORDER BY 1")
    for (sig_,) in r[1]:
        c = Case("catalog: operator", ["SELECT %s::regoperator::text" % sql_lit(sig_)],
                 group="catalog: operator in pgvector, not in omendb")
        c.d5 = bool(OTHER_TYPES.search(sig_))
        cases.append(c)
    r = e.exec("SELECT c.opcname, a.amname, format_type(c.opcintype, NULL) FROM pg_opclass c "
               "JOIN pg_am a ON a.oid = c.opcmethod JOIN pg_depend d ON d.classid = "
               "'pg_opclass'::regclass AND d.objid = c.oid JOIN pg_extension x ON "
               "x.oid = d.refobjid WHERE x.extname = 'vector' ORDER BY 1, 2")
    for opc, am, typ in r[1]:
        amx = "{am}" if am == "hnsw" else am
        c = Case("catalog: operator class", [
            "SELECT c.opcname FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod "
            "WHERE c.opcname = '%s' AND a.amname = '%s'" % (opc, amx)],
            group="catalog: operator class in pgvector, not in omendb")
        c.d5 = am == "ivfflat" or bool(OTHER_TYPES.search(opc + " " + typ))
        cases.append(c)
    return cases


def run(tester, seed, seconds, log):
    master = random.Random(seed)
    deadline = time.time() + seconds
    for case in catalog_cases(tester):
        tester.run_plain(case)
    last = time.time()
    while time.time() < deadline:
        cseed = master.getrandbits(48)
        rng = random.Random(cseed)
        r = rng.random()
        try:
            if r < 0.16:
                variant = "migration" if rng.random() < 0.1 else "normal"
                ic = SegmentCase(rng) if rng.random() < 0.03 else IndexCase(rng, variant)
                tester.stats["index cases"] += 1
                if getattr(ic, "kind", "") == "segmented":
                    tester.stats["segmented"] = tester.stats.get("segmented", 0) + 1
                for key, detail, qi in run_index_case(tester, ic):
                    rep = IndexRepro(ic, qi if qi is not None else None)
                    tester.record(key, rep, detail, ("index", ic, cseed), sub=ic.opclass)
            else:
                case = pick(rng, GENERATORS)(rng)
                tester.run_plain(case)
        except Exception:
            log("internal error in case %d:\n%s" % (cseed, traceback.format_exc()))
            tester.stats["internal errors"] = tester.stats.get("internal errors", 0) + 1
            try:
                tester.reconnect()
            except Exception:
                pass
        if time.time() - last > 60:
            last = time.time()
            log("%d cases (%d index cases), %d difference groups so far" % (
                tester.stats["cases"] + tester.stats["index cases"], tester.stats["index cases"],
                len(tester.groups)))


def confirm(tester, log):
    """Run each group's smallest reproducers again; keep the first that reproduces."""
    confirmed, unconfirmed = {}, {}
    for key, g in tester.groups.items():
        ok = None
        for length, case, detail, how in g["cases"]:
            try:
                if isinstance(how, tuple) and how[0] == "index":
                    again = [f for f in run_index_case(tester, how[1]) if f[0] == key]
                    if again and key[0] != "CRASH" and not getattr(how[1], "no_shrink", False):
                        small, sqi = shrink_index_case(tester, how[1], case.qi, key, 60)
                        if small is not how[1]:
                            again2 = [f for f in run_index_case(tester, small) if f[0] == key]
                            if again2:
                                case, detail = IndexRepro(small, sqi), again2[0][1]
                                again = again2
                        elif "pgvector" in key[1]:
                            # pgvector's graph differs from build to build: once more
                            again = [f for f in run_index_case(tester, how[1]) if f[0] == key]
                else:
                    again = tester.rerun_plain(case, key)
            except Exception:
                log("internal error re-running a case:\n%s" % traceback.format_exc())
                again = []
            if again:
                ok = (case, detail)
                break
        if ok:
            confirmed[key] = (g["count"], ok[0], ok[1])
        else:
            unconfirmed[key] = (g["count"], g["cases"][0][1], g["cases"][0][2])
    return confirmed, unconfirmed


def quality_groups(tester, margin, min_queries):
    """Means where omendb falls behind: recall, and rows returned under a distance bound
    (D11), by more than margin; other rows returned at all."""
    out = []
    for key, (n, so, sp, worst) in sorted(tester.recall.items()):
        m = 0.0 if "rows returned" in key[1] and "distance bound" not in key[1] else margin
        if n >= min_queries and so / n < sp / n - m:
            out.append((key, n, so / n, sp / n, worst))
    return out


def report(tester, args, confirmed, unconfirmed, quality, elapsed):
    L = []
    L.append("# omendb differential test against pgvector")
    L.append("")
    L.append("seed %d, %d s, %s UTC; %d plain cases (%d statements), %d index cases (%d queries); "
             "%d of them segmented; "
             "%d index queries skipped (a plan without an index scan); %d internal errors"
             % (args.seed, elapsed, time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                tester.stats["cases"], tester.stats["statements"], tester.stats["index cases"],
                tester.stats["index queries"], tester.stats.get("segmented", 0),
                tester.stats["skipped plans"],
                tester.stats.get("internal errors", 0)))
    crashes = {k: v for k, v in confirmed.items() if k[0] == "CRASH"}
    diffs = {k: v for k, v in confirmed.items() if k[0] != "CRASH"}
    L.append("")
    L.append("Each group: its kind, how many cases showed it, the smallest reproducer that did so "
             "again on a second run, and both answers. In index reproducers `{am}` is omenhnsw "
             "(omendb) or hnsw (pgvector), `{g}` the settings prefix; `DIFFTEST_REPLAY=file.sql "
             "make difftest` runs one in both.")
    L.append("")
    L.append("%d crash groups, %d difference groups (%d cases), %d quality groups; "
             "%d groups not reproduced on a second run"
             % (len(crashes), len(diffs), sum(v[0] for v in diffs.values()), len(quality),
                len(unconfirmed)))

    def show(title, groups):
        L.append("")
        L.append("## " + title)
        if not groups:
            L.append("")
            L.append("none")
        for key, (count, case, detail) in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[1][0])):
            sub = tester.groups[key]["sub"]
            L.append("")
            what = key[1] if key[0] != "CRASH" else "crash in " + key[1]
            desc = " / ".join(x for x in key[2:] if x)
            if key[0] != "CRASH" and key[1] not in ("result",) and key[3] != "":
                desc = "omendb: %s / pgvector: %s" % (key[2], key[3])
            L.append("### %s: %s (%s) — %d case%s" % (
                key[0] if key[0] != "CRASH" else key[2], what, desc, count, "" if count == 1 else "s"))
            if sub:
                L.append("")
                L.append("by kind: " + ", ".join("%s %d" % kv for kv in sorted(sub.items())))
            L.append("")
            L.append("```sql")
            L.append(case.text())
            L.append("```")
            L.append("```")
            L.append(detail)
            L.append("```")
    show("Crashes", crashes)
    show("Differences", diffs)
    L.append("")
    L.append("## Index quality (mean recall against the exact answer, unfiltered queries on "
             "ordinary data; where a row count depends on the graph, rows returned per row asked for)")
    L.append("")
    L.append("| index, mode | queries | omendb | pgvector |")
    L.append("|---|---|---|---|")
    for key, (n, so, sp, worst) in sorted(tester.recall.items()):
        L.append("| %s, %s | %d | %.3f | %.3f |" % (key[0], key[1], n, so / n, sp / n))
    if quality:
        L.append("")
        L.append("omendb's mean recall is lower than pgvector's by more than %.2f, or its mean rows "
                 "returned lower at all (at least %d queries), in:"
                 % (args.recall_margin, args.min_queries))
        for key, n, ro, rp, worst in quality:
            L.append("")
            L.append("### %s, %s: recall %.3f vs %.3f over %d queries" % (key[0], key[1], ro, rp, n))
            if worst:
                L.append("")
                L.append("The query where omendb fell furthest behind (ANN results vary between builds):")
                L.append("```sql")
                L.append(worst[1].script("t", worst[2]))
                L.append("```")
    L.append("")
    L.append("## Documented differences seen (by design, not failures)")
    L.append("")
    for did, text, _ in DOCUMENTED:
        L.append("- %s %s: %d" % (did, text, tester.documented.get(did, 0)))
    if unconfirmed:
        L.append("")
        L.append("## Not reproduced on a second run (chance; not failures)")
        for key, (count, case, detail) in unconfirmed.items():
            L.append("")
            L.append("- %s — %d case(s)" % (" / ".join(x for x in key if x), count))
    return "\n".join(L) + "\n"


def replay(tester, path):
    """Run a reproducer (statements ending in ";" at the end of a line, {am} and {g} as in
    the report) in both databases and print each statement's two answers."""
    text = re.sub(r"(?m)^\s*--.*$", "", open(path).read())
    stmts, cur, quoted = [], [], False
    for j, c in enumerate(text):
        if c == "'":
            quoted = not quoted
        if c == ";" and not quoted:
            stmts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    stmts.append("".join(cur).strip())
    tables = re.findall(r"(?i)CREATE (?:TEMP )?TABLE (\w+)", text)
    drops = ["DROP TABLE IF EXISTS %s" % t for t in tables]
    case = Case("replay", [x for x in stmts if x], cleanup=drops + ["RESET ALL"])
    for name in ENGINES:
        for d in drops:
            tester.eng[name].exec(d)
    res, _ = tester.run_case(case)
    for i, stmt in enumerate(case.stmts):
        print(stmt + ";")
        for name in ENGINES:
            if i < len(res[name]):
                print("  %-9s %s" % (name + ":", Tester.fmt_outcome(res[name][i])))
    return 1 if tester.compare(case, res) else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("DIFFTEST_SECONDS", 300)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("DIFFTEST_SEED") or 0) or None)
    ap.add_argument("--omen-db", default="difftest_omen")
    ap.add_argument("--pgv-db", default="difftest_pgv")
    ap.add_argument("--timeout", type=int, default=60, help="statement_timeout, seconds")
    ap.add_argument("--recall-margin", type=float, default=0.05)
    ap.add_argument("--min-queries", type=int, default=30)
    ap.add_argument("--out", default=os.environ.get("DIFFTEST_OUT", ""))
    ap.add_argument("--replay", default=os.environ.get("DIFFTEST_REPLAY", ""),
                    help="run this reproducer in both databases instead of generating cases")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2 ** 31)

    def log(msg):
        print("difftest: " + msg, file=sys.stderr, flush=True)
    tester = Tester(args)
    if args.replay:
        return replay(tester, args.replay)
    log("seed %d (DIFFTEST_SEED=%d reproduces this run), %d s" % (args.seed, args.seed, args.seconds))
    t0 = time.time()
    run(tester, args.seed, args.seconds, log)
    elapsed = time.time() - t0
    log("re-running the reproducers of %d groups" % len(tester.groups))
    confirmed, unconfirmed = confirm(tester, log)
    quality = quality_groups(tester, args.recall_margin, args.min_queries)
    text = report(tester, args, confirmed, unconfirmed, quality, elapsed)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        log("report written to " + args.out)
    failed = len(confirmed) + len(quality)
    log("%d groups of differences or crashes" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
