"""pgvector's sparsevec binary wire format through Debian's psycopg 3.

A client that speaks pgvector's binary sparsevec layout (int32 dim, int32 nnz, int32
unused = 0, nnz 0-based int32 indices, nnz float4 values, all big-endian) must work
unchanged: binary COPY in, binary COPY out (checking the exact bytes), and binary query
parameters and results through a dumper and loader registered for the type's OID.
Values are dicts {0-based index: value} with the dimension count alongside.
Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; extension from OMEN_EXTENSION.
"""
import os
import struct
import sys

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

from psycopg_binary import check, copy_in_raw

EXTENSION = os.environ.get("OMEN_EXTENSION", "omendb")


class Sparse:
    """A sparse vector: dim and {0-based index: value}, zeros left out."""

    def __init__(self, dim, elements):
        self.dim = dim
        self.elements = {i: v for i, v in elements.items() if v != 0}

    def __eq__(self, other):
        return self.dim == other.dim and self.elements == other.elements

    def __repr__(self):
        return f"Sparse({self.dim}, {self.elements})"


ROWS = [
    (1, Sparse(5, {0: 1.0, 2: -2.5})),
    (2, Sparse(3, {})),
    (3, Sparse(1000000000, {999999999: 3.4028234663852886e38, 7: 1.401298464324817e-45})),
    (4, Sparse(4, {3: 0.5, 1: 0.25})),  # indices out of order: sorted on the wire
]


def to_float4(x):
    return struct.unpack(">f", struct.pack(">f", x))[0]


def encode(s):
    idx = sorted(s.elements)
    return struct.pack(f">iii{len(idx)}i{len(idx)}f", s.dim, len(idx), 0, *idx,
                       *[s.elements[i] for i in idx])


def decode(data):
    dim, nnz, unused = struct.unpack_from(">iii", data)
    if unused != 0 or len(data) != 12 + 8 * nnz:
        raise ValueError(f"not pgvector's binary sparsevec layout: {bytes(data).hex()}")
    idx = struct.unpack_from(f">{nnz}i", data, 12)
    val = struct.unpack_from(f">{nnz}f", data, 12 + 4 * nnz)
    return Sparse(dim, dict(zip(idx, val)))


def rounded(s):
    return Sparse(s.dim, {i: to_float4(v) for i, v in s.elements.items()})


class SparseBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj):
        return encode(obj)


class SparseBinaryLoader(Loader):
    format = Format.BINARY

    def load(self, data):
        return decode(data)


def main():
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
        oid = conn.execute("SELECT 'sparsevec'::regtype::oid").fetchone()[0]
        SparseBinaryDumper.oid = oid
        conn.adapters.register_dumper(Sparse, SparseBinaryDumper)
        conn.adapters.register_loader(oid, SparseBinaryLoader)
        conn.execute("CREATE TEMP TABLE t (id int, v sparsevec)")

        # binary COPY in, each value written by the dumper in pgvector's layout
        with conn.cursor() as cur:
            with cur.copy("COPY t (id, v) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", oid])
                for row in ROWS:
                    copy.write_row(row)
        texts = [r[0] for r in conn.execute("SELECT v::text FROM t ORDER BY id")]
        check(texts == ["{1:1,3:-2.5}/5", "{}/3", "{8:1e-45,1000000000:3.4028235e+38}/1000000000",
                        "{2:0.25,4:0.5}/4"], f"binary COPY in stored {texts}")

        # binary COPY out: the raw field bytes are exactly the layout
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT id, v FROM t ORDER BY id) TO STDOUT (FORMAT binary)") as copy:
                copy.set_types(["int4", "bytea"])
                out = list(copy.rows())
        for (rid, s), (_, raw) in zip(ROWS, out):
            want = encode(rounded(s))
            check(bytes(raw) == want, f"id {rid}: COPY out bytes {bytes(raw).hex()}, expected {want.hex()}")
            check(decode(raw) == rounded(s), f"id {rid}: values differ")

        # binary parameters in, binary results out
        with conn.cursor(binary=True) as cur:
            q = Sparse(5, {0: 1.0, 2: -2.0})
            cur.execute("INSERT INTO t VALUES (%b, %b)", (5, q))
            cur.execute("SELECT v, v <-> %b, v <#> %b FROM t WHERE id = %b", (q, q, 5))
            v, l2, ip = cur.fetchone()
            check(v == q and l2 == 0.0 and ip == -5.0, f"binary round trip gave {v}, {l2}, {ip}")
            cur.execute("SELECT id FROM t WHERE v::text LIKE %b ORDER BY v <-> %b LIMIT 2",
                        ("%/5", Sparse(5, {0: 1.0, 2: -2.4})))
            ids = [r[0] for r in cur.fetchall()]
            check(ids == [1, 5], f"ordering by <-> gave {ids}")

        # malformed binary input is refused with a data exception or protocol violation
        bad = ((struct.pack(">iii", 3, 2, 0) + struct.pack(">2i2f", 0, 1, 1.0, 2.0)[:-4], "short"),
               (struct.pack(">iii1i1f", 3, 1, 1, 0, 1.0), "unused != 0"),
               (struct.pack(">iii2i2f", 3, 2, 0, 1, 0, 1.0, 2.0), "descending indices"),
               (struct.pack(">iii1i1f", 3, 1, 0, 3, 1.0), "index = dim"),
               (struct.pack(">iii1i1f", 3, 1, 0, 0, 0.0), "zero value"),
               (struct.pack(">iii1i1f", 3, 1, 0, 0, float("nan")), "NaN"))
        for raw, what in bad:
            try:
                copy_in_raw(conn, 9, raw)
            except psycopg.Error as err:
                check(err.sqlstate is not None and err.sqlstate[:2] in ("22", "08"),
                      f"{what} binary sparsevec: SQLSTATE {err.sqlstate}")
            else:
                raise AssertionError(f"{what} binary sparsevec was accepted")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # report any failure the same way
        print(f"FAIL: {type(err).__name__}: {err}", file=sys.stderr)
        print(f"python psycopg sparsevec binary client (extension {EXTENSION}): FAIL")
        sys.exit(1)
    print(f"python psycopg sparsevec binary client (extension {EXTENSION}): PASS")
