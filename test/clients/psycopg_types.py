"""pgvector's types through Debian's psycopg 3, in binary and in text.

For each of vector, halfvec, sparsevec and bit, a client that speaks pgvector's wire formats
works unchanged, through a dumper and a loader of each format registered for the type's OID:
COPY in (binary and text), binary COPY out (checking the exact bytes), query parameters and
results in both formats, NULLs, and malformed binary input refused.  Every distance operator
(and bit's functions) gives what the same distance computed here gives, and ordering by it the
least distances.  Binary layouts, all big-endian:
  vector     uint16 dim, uint16 unused = 0, dim float4s
  halfvec    the same with dim IEEE halves
  sparsevec  int32 dim, int32 nnz, int32 unused = 0, nnz 0-based int32 indices, nnz float4s
  bit        PostgreSQL's varbit: int32 bit count, the bits from the high bit of the first byte
Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; extension from OMEN_EXTENSION.
"""
import math
import os
import random
import struct
import sys

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

EXTENSION = os.environ.get("OMEN_EXTENSION", "omendb")


class Vector(list):
    """A vector value: a list of floats."""


class HalfVector(list):
    """A halfvec value: a list of floats."""


class SparseVector:
    """A sparsevec value: dim and {0-based index: value}, zeros left out."""

    def __init__(self, dim, elements):
        self.dim = dim
        self.elements = {i: v for i, v in elements.items() if v != 0}

    def __eq__(self, other):
        return self.dim == other.dim and self.elements == other.elements

    def __repr__(self):
        return f"SparseVector({self.dim}, {self.elements})"

    def dense(self):
        return [self.elements.get(i, 0.0) for i in range(self.dim)]


class Bits(str):
    """A bit value: a string of 0s and 1s."""


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def close(got, want, what):
    check(abs(got - want) <= 1e-5 * max(1.0, abs(want)), f"{what}: {got}, expected {want}")


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def cosine(a, b):
    return 1 - max(-1.0, min(1.0, dot(a, b) / math.sqrt(dot(a, a) * dot(b, b))))


DENSE_DISTANCES = {
    "<->": lambda a, b: math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))),
    "<#>": lambda a, b: -dot(a, b),
    "<=>": cosine,
    "<+>": lambda a, b: sum(abs(x - y) for x, y in zip(a, b)),
}


def jaccard(a, b):
    both = sum(x == y == "1" for x, y in zip(a, b))
    return 1.0 if both == 0 else 1 - both / (a.count("1") + b.count("1") - both)


BIT_DISTANCES = {
    "<~>": lambda a, b: sum(x != y for x, y in zip(a, b)),
    "<%>": jaccard,
}


class DenseFormat:
    """vector or halfvec: the struct code of an element (f or e) and the value class."""

    def __init__(self, code, cls):
        self.code = code
        self.cls = cls

    def rounded(self, v):
        """What the server stores: each value rounded to the element type."""
        return self.cls(struct.unpack(f">{self.code}", struct.pack(f">{self.code}", x))[0] for x in v)

    def encode(self, v):
        return struct.pack(f">HH{len(v)}{self.code}", len(v), 0, *v)

    def decode(self, data):
        dim, unused = struct.unpack_from(">HH", data)
        if unused != 0 or len(data) != 4 + struct.calcsize(f">{dim}{self.code}"):
            raise ValueError(f"not pgvector's binary layout: {bytes(data).hex()}")
        return self.cls(struct.unpack_from(f">{dim}{self.code}", data, 4))

    @staticmethod
    def to_text(v):
        return "[" + ",".join(repr(float(x)) for x in v) + "]"

    def from_text(self, text):
        return self.rounded(float(x) for x in text[1:-1].split(","))

    def plain(self, v):
        return list(v)


class SparseFormat:
    @staticmethod
    def rounded(s):
        return SparseVector(s.dim, {i: struct.unpack(">f", struct.pack(">f", v))[0] for i, v in s.elements.items()})

    @staticmethod
    def encode(s):
        idx = sorted(s.elements)
        return struct.pack(f">iii{len(idx)}i{len(idx)}f", s.dim, len(idx), 0, *idx, *[s.elements[i] for i in idx])

    @staticmethod
    def decode(data):
        dim, nnz, unused = struct.unpack_from(">iii", data)
        if unused != 0 or len(data) != 12 + 8 * nnz:
            raise ValueError(f"not pgvector's binary sparsevec layout: {bytes(data).hex()}")
        idx = struct.unpack_from(f">{nnz}i", data, 12)
        val = struct.unpack_from(f">{nnz}f", data, 12 + 4 * nnz)
        return SparseVector(dim, dict(zip(idx, val)))

    @staticmethod
    def to_text(s):
        # in the dict's order, which need not be the indices' order
        return "{" + ",".join(f"{i + 1}:{float(v)!r}" for i, v in s.elements.items()) + f"}}/{s.dim}"

    def from_text(self, text):
        body, dim = text.rsplit("/", 1)
        pairs = [p.split(":") for p in body[1:-1].split(",") if p]
        return self.rounded(SparseVector(int(dim), {int(i) - 1: float(v) for i, v in pairs}))

    @staticmethod
    def plain(s):
        return s.dense()


class BitFormat:
    @staticmethod
    def rounded(b):
        return b

    @staticmethod
    def encode(b):
        padded = b + "0" * (-len(b) % 8)
        return struct.pack(">i", len(b)) + bytes(int(padded[i:i + 8], 2) for i in range(0, len(padded), 8))

    @staticmethod
    def decode(data):
        (nbits,) = struct.unpack_from(">i", data)
        if len(data) != 4 + (nbits + 7) // 8:
            raise ValueError(f"not PostgreSQL's binary bit layout: {bytes(data).hex()}")
        return Bits("".join(f"{byte:08b}" for byte in bytes(data[4:]))[:nbits])

    @staticmethod
    def to_text(b):
        return str(b)

    @staticmethod
    def from_text(text):
        return Bits(text)

    @staticmethod
    def plain(b):
        return b


def random_dense(rng, dim):
    return [rng.uniform(-2, 2) for _ in range(dim)]


RNG = random.Random(20261206)
KNN_ROWS = 40
VECTOR_KNN = [Vector(random_dense(RNG, 8)) for _ in range(KNN_ROWS)]
SPARSE_KNN = [SparseVector(8, {i: x for i, x in enumerate(random_dense(RNG, 8)) if i == 0 or abs(x) < 0.7})
              for _ in range(KNN_ROWS)]
BITS_KNN = [Bits("".join(RNG.choice("0001") for _ in range(24))) for _ in range(KNN_ROWS)]

# Each type: its format, the column type of the rows, the rows, the text the server gives for
# some of them (by id), k-NN rows, their column type and distances, malformed binary values.
TYPES = [
    dict(name="vector", fmt=DenseFormat("f", Vector), column="vector(3)",
         rows=[Vector([1.0, 2.0, 3.0]), Vector([0.5, -1.25, 1e-3]),
               Vector([3.4028234663852886e38, -0.0, 1.401298464324817e-45]),  # float4 max, -0, least subnormal
               Vector([0.1, 1e6, -3.5e-7])],
         texts={2: "[0.5,-1.25,0.001]", 3: "[3.4028235e+38,-0,1e-45]"},
         knn=VECTOR_KNN, knn_column="vector", distances=DENSE_DISTANCES,
         bad=[(struct.pack(">HH2f", 3, 0, 1.0, 2.0), "short"),
              (struct.pack(">HH3f", 3, 1, 1.0, 2.0, 3.0), "unused != 0"),
              (struct.pack(">HH3f", 3, 0, 1.0, float("nan"), 3.0), "NaN")]),
    dict(name="halfvec", fmt=DenseFormat("e", HalfVector), column="halfvec(3)",
         rows=[HalfVector([1.0, 2.0, 3.0]), HalfVector([0.5, -1.25, 1e-3]),
               HalfVector([65504.0, -0.0, 5.960464477539063e-08])],  # half max, -0, least subnormal
         texts={2: "[0.5,-1.25,0.0010004044]", 3: "[65504,-0,5.9604645e-08]"},
         knn=[HalfVector(v) for v in VECTOR_KNN], knn_column="halfvec", distances=DENSE_DISTANCES,
         bad=[(struct.pack(">HH2e", 3, 0, 1.0, 2.0), "short"),
              (struct.pack(">HH3e", 3, 1, 1.0, 2.0, 3.0), "unused != 0"),
              (struct.pack(">HH3e", 3, 0, 1.0, float("inf"), 3.0), "infinite")]),
    dict(name="sparsevec", fmt=SparseFormat(), column="sparsevec",
         rows=[SparseVector(5, {0: 1.0, 2: -2.5}), SparseVector(3, {}),
               SparseVector(1000000000, {999999999: 3.4028234663852886e38, 7: 1.401298464324817e-45}),
               SparseVector(4, {3: 0.5, 1: 0.25})],  # indices out of order: sorted on the wire
         texts={1: "{1:1,3:-2.5}/5", 2: "{}/3", 3: "{8:1e-45,1000000000:3.4028235e+38}/1000000000",
                4: "{2:0.25,4:0.5}/4"},
         knn=SPARSE_KNN, knn_column="sparsevec", distances=DENSE_DISTANCES,
         bad=[(struct.pack(">iii", 3, 2, 0) + struct.pack(">2i2f", 0, 1, 1.0, 2.0)[:-4], "short"),
              (struct.pack(">iii1i1f", 3, 1, 1, 0, 1.0), "unused != 0"),
              (struct.pack(">iii2i2f", 3, 2, 0, 1, 0, 1.0, 2.0), "descending indices"),
              (struct.pack(">iii1i1f", 3, 1, 0, 3, 1.0), "index = dim"),
              (struct.pack(">iii1i1f", 3, 1, 0, 0, 0.0), "zero value"),
              (struct.pack(">iii1i1f", 3, 1, 0, 0, float("nan")), "NaN")]),
    dict(name="bit", fmt=BitFormat(), column="bit(24)",
         rows=[Bits("101100111000111100001111"), Bits("0" * 24), Bits("1" * 24)],
         texts={1: "101100111000111100001111"},
         knn=BITS_KNN, knn_column="bit(24)", distances=BIT_DISTANCES,
         bad=[(BitFormat.encode("1" * 23), "23 bits for bit(24)"),
              (struct.pack(">i", 24) + b"\xff\xff", "short")]),
]


def register(conn, t):
    """Dumpers of both formats for the type's Python class, loaders of both for its OID."""
    oid = conn.execute("SELECT %s::regtype::oid", (t["name"],)).fetchone()[0]
    fmt = t["fmt"]
    pytype = type(t["rows"][0])
    for pgformat in (Format.BINARY, Format.TEXT):
        binary = pgformat == Format.BINARY

        class TypeDumper(Dumper):
            format = pgformat

            def dump(self, obj, binary=binary):
                return fmt.encode(obj) if binary else fmt.to_text(obj).encode()

        class TypeLoader(Loader):
            format = pgformat

            def load(self, data, binary=binary):
                return fmt.decode(data) if binary else fmt.from_text(bytes(data).decode())

        TypeDumper.oid = oid
        conn.adapters.register_dumper(pytype, TypeDumper)
        conn.adapters.register_loader(oid, TypeLoader)
    return oid


def copy_in(conn, table, types, rows, binary):
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} FROM STDIN" + (" (FORMAT binary)" if binary else "")) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def check_type(conn, t):
    name, fmt, rows = t["name"], t["fmt"], t["rows"]
    oid = register(conn, t)
    stored = [fmt.rounded(v) for v in rows]

    # COPY in, binary and text, each value written by a dumper
    for binary in (True, False):
        table = f"{name}_{'binary' if binary else 'text'}"
        conn.execute(f"CREATE TEMP TABLE {table} (id int, v {t['column']})")
        copy_in(conn, table, ["int4", oid], list(enumerate(rows + [None], 1)), binary)
        texts = dict(conn.execute(f"SELECT id, v::text FROM {table} WHERE id = ANY(%s)", (list(t["texts"]),)))
        check(texts == t["texts"], f"{table}: COPY in stored {texts}, expected {t['texts']}")
        # results in either format, through the loaders
        for binary_out in (True, False):
            with conn.cursor(binary=binary_out) as cur:
                got = [r[0] for r in cur.execute(f"SELECT v FROM {table} ORDER BY id")]
            check(got == stored + [None], f"{table}: read {'binary' if binary_out else 'text'}: {got}")

    # binary COPY out: the raw field bytes are exactly the layout
    with conn.cursor() as cur:
        with cur.copy(f"COPY (SELECT id, v FROM {name}_binary ORDER BY id) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["int4", "bytea"])
            out = list(copy.rows())
    check([r[0] for r in out] == list(range(1, len(rows) + 2)), f"{name}: COPY out ids {[r[0] for r in out]}")
    for rid, (v, (_, raw)) in enumerate(zip(stored, out), 1):
        want = fmt.encode(v)
        check(bytes(raw) == want, f"{name} id {rid}: COPY out bytes {bytes(raw).hex()}, expected {want.hex()}")
    check(out[-1][1] is None, f"{name}: NULL COPY out gave {out[-1][1]}")

    # parameters in either format, NULL included
    for binary in (True, False):
        ph = "%b" if binary else "%t"
        with conn.cursor(binary=binary) as cur:
            for v in (rows[0], None):
                got = cur.execute(f"SELECT {ph}::{t['column']}", (v,)).fetchone()[0]
                want = None if v is None else fmt.rounded(v)
                check(got == want, f"{name}: {ph} parameter {v} came back as {got}")

    # malformed binary input is refused with a data exception or protocol violation
    for raw, what in t["bad"]:
        try:
            copy_in(conn, f"{name}_binary", ["int4", "bytea"], [(9, raw)], True)
        except psycopg.Error as err:
            check(err.sqlstate is not None and err.sqlstate[:2] in ("22", "08"),
                  f"{what} binary {name}: SQLSTATE {err.sqlstate}")
        else:
            raise AssertionError(f"{what} binary {name} was accepted")

    check_distances(conn, t, oid)


def check_distances(conn, t, oid):
    """Each operator's distances against the same computed here, and ordering by it."""
    name, fmt, knn = t["name"], t["fmt"], t["knn"]
    table = f"{name}_knn"
    conn.execute(f"CREATE TEMP TABLE {table} (id int, v {t['knn_column']})")
    copy_in(conn, table, ["int4", oid], list(enumerate(knn)) + [(len(knn), None)], True)
    plain = [fmt.plain(fmt.rounded(v)) for v in knn]
    q = knn[7]
    with conn.cursor(binary=True) as cur:
        for op, fn in t["distances"].items():
            want = [fn(p, plain[7]) for p in plain]
            sqlop = op.replace("%", "%%")
            got = cur.execute(f"SELECT v {sqlop} %b FROM {table} ORDER BY id", (q,)).fetchall()
            for i, (d,) in enumerate(got[:-1]):
                close(d, want[i], f"{name} row {i} {op}")
            check(got[-1][0] is None, f"{name} NULL {op} gave {got[-1][0]}")
            nearest = cur.execute(f"SELECT v {sqlop} %b FROM {table} ORDER BY v {sqlop} %b LIMIT 5",
                                  (q, q)).fetchall()
            for i, (d,) in enumerate(nearest):
                close(d, sorted(want)[i], f"{name} ORDER BY {op}: distance {i}")
        if name == "bit":
            same = cur.execute(f"""SELECT bool_and(hamming_distance(v, %b) = (v <~> %b)
                                              AND jaccard_distance(v, %b) = (v <%%> %b)) FROM {table}""",
                               (q,) * 4).fetchone()[0]
            check(same, "hamming_distance and jaccard_distance are <~> and <%>")


def main():
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
        for t in TYPES:
            check_type(conn, t)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # report any failure the same way
        print(f"FAIL: {type(err).__name__}: {err}", file=sys.stderr)
        print(f"python psycopg client (extension {EXTENSION}): FAIL")
        sys.exit(1)
    print(f"python psycopg client (extension {EXTENSION}): PASS")
