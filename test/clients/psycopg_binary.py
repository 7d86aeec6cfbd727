"""pgvector's binary wire format through Debian's psycopg 3.

A client that speaks pgvector's binary layout (uint16 dim, uint16 unused = 0, then
dim float4s, all big-endian) must work unchanged: binary COPY in, binary COPY out
(checking the exact bytes), and binary query parameters and results through a
dumper and loader registered for the type's OID.  The same for halfvec's binary
COPY (dim halves instead of float4s).
Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; extension from OMEN_EXTENSION.
"""
import os
import struct
import sys

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

EXTENSION = os.environ.get("OMEN_EXTENSION", "omendb")

ROWS = [
    (1, [1.0, 2.0, 3.0]),
    (2, [0.5, -1.25, 1e-3]),
    (3, [3.4028234663852886e38, -0.0, 1.401298464324817e-45]),  # float4 max, -0, least subnormal
    (4, [0.1, 1e6, -3.5e-7]),
]


HALF_ROWS = [
    (1, [1.0, 2.0, 3.0]),
    (2, [0.5, -1.25, 1e-3]),
    (3, [65504.0, -0.0, 5.960464477539063e-08]),  # half max, -0, least subnormal
]


def to_half(values):
    """What the server stores: each value rounded to a half."""
    return [struct.unpack(">e", struct.pack(">e", v))[0] for v in values]


def encode_half(values):
    return struct.pack(f">HH{len(values)}e", len(values), 0, *values)


def to_float4(values):
    """What the server stores: each value rounded to float4."""
    return [struct.unpack(">f", struct.pack(">f", v))[0] for v in values]


def encode(values):
    return struct.pack(f">HH{len(values)}f", len(values), 0, *values)


def decode(data):
    dim, unused = struct.unpack_from(">HH", data)
    if unused != 0 or len(data) != 4 + 4 * dim:
        raise ValueError(f"not pgvector's binary layout: {bytes(data).hex()}")
    return list(struct.unpack_from(f">{dim}f", data, 4))


class VectorBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj):
        return encode(obj)


class VectorBinaryLoader(Loader):
    format = Format.BINARY

    def load(self, data):
        return decode(data)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def copy_in_raw(conn, rid, raw):
    """Binary COPY of one row whose vector field is the given bytes."""
    with conn.cursor() as cur:
        with cur.copy("COPY t (id, v) FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int4", "bytea"])
            copy.write_row((rid, raw))


def main():
    with psycopg.connect(autocommit=True) as conn:
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
        oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
        VectorBinaryDumper.oid = oid
        conn.adapters.register_dumper(list, VectorBinaryDumper)
        conn.adapters.register_loader(oid, VectorBinaryLoader)
        conn.execute("CREATE TEMP TABLE t (id int, v vector(3))")

        # binary COPY in, each vector written by the dumper in pgvector's layout
        with conn.cursor() as cur:
            with cur.copy("COPY t (id, v) FROM STDIN (FORMAT binary)") as copy:
                copy.set_types(["int4", oid])
                for row in ROWS:
                    copy.write_row(row)
        got = conn.execute("SELECT count(*) FROM t").fetchone()[0]
        check(got == len(ROWS), f"binary COPY in stored {got} rows, expected {len(ROWS)}")
        text = conn.execute("SELECT v::text FROM t WHERE id = 2").fetchone()[0]
        check(text == "[0.5,-1.25,0.001]", f"binary COPY in stored {text}")

        # binary COPY out: the raw field bytes are exactly the layout
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT id, v FROM t ORDER BY id) TO STDOUT (FORMAT binary)") as copy:
                copy.set_types(["int4", "bytea"])
                out = list(copy.rows())
        check([r[0] for r in out] == [r[0] for r in ROWS], f"COPY out ids {[r[0] for r in out]}")
        for (rid, values), (_, raw) in zip(ROWS, out):
            want = encode(to_float4(values))
            check(bytes(raw) == want, f"id {rid}: COPY out bytes {bytes(raw).hex()}, expected {want.hex()}")
            check(decode(raw) == to_float4(values), f"id {rid}: values differ")

        # binary parameters in, binary results out
        with conn.cursor(binary=True) as cur:
            cur.execute("INSERT INTO t VALUES (%b, %b)", (5, [4.0, 5.0, 6.0]))
            cur.execute("SELECT v, v <-> %b FROM t WHERE id = %b", ([4.0, 5.0, 6.0], 5))
            v, dist = cur.fetchone()
            check(v == [4.0, 5.0, 6.0] and dist == 0.0, f"binary round trip gave {v}, {dist}")
            cur.execute("SELECT id FROM t ORDER BY v <-> %b LIMIT 2", ([3.5, 4.5, 5.5],))
            ids = [r[0] for r in cur.fetchall()]
            check(ids == [5, 1], f"ordering by <-> gave {ids}")
            cur.execute("SELECT %b::vector <-> %b::vector", ([1.0, 2.0], [4.0, 6.0]))
            dist = cur.fetchone()[0]
            check(dist == 5.0, f"[1,2] <-> [4,6] gave {dist}, expected 5")

        # malformed binary input is refused with a data exception or protocol violation
        for raw, what in ((struct.pack(">HH2f", 3, 0, 1.0, 2.0), "short"),
                          (struct.pack(">HH3f", 3, 1, 1.0, 2.0, 3.0), "unused != 0"),
                          (struct.pack(">HH3f", 3, 0, 1.0, float("nan"), 3.0), "NaN")):
            try:
                copy_in_raw(conn, 9, raw)
            except psycopg.Error as err:
                check(err.sqlstate is not None and err.sqlstate[:2] in ("22", "08"),
                      f"{what} binary vector: SQLSTATE {err.sqlstate}")
            else:
                raise AssertionError(f"{what} binary vector was accepted")

        check_halfvec(conn)


def check_halfvec(conn):
    """Binary COPY of halfvec in and out, in pgvector's layout."""
    conn.execute("CREATE TEMP TABLE h (id int, v halfvec(3))")
    with conn.cursor() as cur:
        with cur.copy("COPY h (id, v) FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int4", "bytea"])
            for rid, values in HALF_ROWS:
                copy.write_row((rid, encode_half(values)))
    text = conn.execute("SELECT v::text FROM h WHERE id = 2").fetchone()[0]
    check(text == "[0.5,-1.25,0.0010004044]", f"halfvec binary COPY in stored {text}")
    with conn.cursor() as cur:
        with cur.copy("COPY (SELECT id, v FROM h ORDER BY id) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["int4", "bytea"])
            out = list(copy.rows())
    check([r[0] for r in out] == [r[0] for r in HALF_ROWS], f"halfvec COPY out ids {[r[0] for r in out]}")
    for (rid, values), (_, raw) in zip(HALF_ROWS, out):
        want = encode_half(to_half(values))
        check(bytes(raw) == want, f"halfvec id {rid}: COPY out bytes {bytes(raw).hex()}, expected {want.hex()}")
    for raw, what in ((struct.pack(">HH2e", 3, 0, 1.0, 2.0), "short"),
                      (struct.pack(">HH3e", 3, 1, 1.0, 2.0, 3.0), "unused != 0"),
                      (struct.pack(">HH3e", 3, 0, 1.0, float("inf"), 3.0), "infinite")):
        try:
            with conn.cursor() as cur:
                with cur.copy("COPY h (id, v) FROM STDIN (FORMAT binary)") as copy:
                    copy.set_types(["int4", "bytea"])
                    copy.write_row((9, raw))
        except psycopg.Error as err:
            check(err.sqlstate is not None and err.sqlstate[:2] in ("22", "08"),
                  f"{what} binary halfvec: SQLSTATE {err.sqlstate}")
        else:
            raise AssertionError(f"{what} binary halfvec was accepted")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # report any failure the same way
        print(f"FAIL: {type(err).__name__}: {err}", file=sys.stderr)
        print(f"python psycopg binary client (extension {EXTENSION}): FAIL")
        sys.exit(1)
    print(f"python psycopg binary client (extension {EXTENSION}): PASS")
