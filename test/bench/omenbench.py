#!/usr/bin/python3
"""Data sets, ground truth and measurements for `make demo` and `make bench`.

Engine-neutral: the shell scripts pass the database, access-method GUC and SQL;
this script only talks to PostgreSQL through psycopg (libpq environment:
PGHOST, PGPORT, PGUSER) and writes results as JSON lines.

Data sets (cached as .npy under --cache, default $OMEN_DATA_DIR or
/var/tmp/omendb-data, so a second run skips the parsing and brute force):
  fashion    Fashion-MNIST as ann-benchmarks' fashion-mnist-784-euclidean:
             60,000 train images are the base, the 10,000 test images the
             queries, pixels as floats 0..255.
  synthetic  seeded gaussian mixture (1,000 clusters of varying size and
             spread), 128 dims.
  synthetic1536, synthetic3072
             embedding-like: the 1,536 and 3,072 dims of common embedding
             models; overlapping clusters in a 64-dimensional latent space,
             mapped into the full dimension with a decaying spectrum, plus
             noise in every dimension, each row scaled to length sqrt(dims).
  fashion_halfvec
             the first --synth-rows fashion_halfvec=N (default 60,000, all) base
             images of fashion and its queries, for indexes on halfvec: the
             pixels, integers 0..255, are exact in half precision, so the
             ground truth is fashion's.
  A synthetic set has --synth-rows NAME=N base points (defaults in SYNTHETIC) plus
  held-out queries and insert rows from the same distribution, all from
  --seed: the same arguments give the same set on any machine.

Recall@k counts a returned id as correct when its exact distance is within the
k-th exact distance (ann-benchmarks' rule), so duplicate points do not make a
correct answer look wrong.
"""

import argparse
import glob
import gzip
import json
import os
import re
import statistics
import sys
import threading
import time

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SYNTH_QUERIES = 1000
SYNTH_EXTRA = 2000
SYNTH_CLUSTERS = 1000
# synthetic set: (dims, generator, default base rows)
SYNTHETIC = {
    "synthetic": (128, "mixture", 200000),
    "synthetic1536": (1536, "embedding", 100000),
    "synthetic3072": (3072, "embedding", 30000),
}
# base rows of fashion_halfvec, a prefix of fashion
FASHION_HALFVEC_ROWS = 60000
DATASETS = ["fashion", "fashion_halfvec"] + list(SYNTHETIC)
# the embedding-like generator: latent dimension, spread of a cluster around
# its centre (the centres have unit spread), noise in every dimension; chosen
# so that about a fifth of a query's 10 nearest neighbours are in other
# clusters and the local intrinsic dimension is about 20, as in text embeddings
EMBED_LATENT = 64
EMBED_SPREAD = (0.5, 1.0)
EMBED_NOISE = 1.5
K = 10
# noise vectors that pgbench's inserts add to the extra rows (cmd_pgbench_insert)
NOISE_ROWS = 1024


def log(msg):
    print(msg, flush=True)


def die(msg):
    print("ERROR: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# ---------------------------------------------------------------- data sets

def read_idx(path):
    """IDX file: big-endian magic (type byte, ndim byte), dims, uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        die("%s: not an unsigned-byte IDX file" % path)
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        die("%s: %d bytes of data, header says %s" % (path, data.size, dims))
    return data.reshape(dims[0], -1)


def save_atomic(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, path)


class Dataset:
    """base/query/extra arrays plus optional labels, cached as .npy files."""

    def __init__(self, args):
        self.kind = args.dataset
        cache = args.cache
        rows = None
        if self.kind == "fashion":
            self.name = "fashion-mnist-784-euclidean"
            self.dir = os.path.join(cache, "fashion")
        elif self.kind == "fashion_halfvec":
            rows = args.synth_rows.get(self.kind, FASHION_HALFVEC_ROWS)
            self.name = "fashion-mnist-784-euclidean-halfvec-%d" % rows
            self.dir = os.path.join(cache, "fashion-halfvec-n%d" % rows)
        else:
            dim, generator, rows = SYNTHETIC[self.kind]
            rows = args.synth_rows.get(self.kind, rows)
            self.name = "synthetic-%d-%d-euclidean" % (rows, dim)
            # the 128-d mixture's cache keeps the name it had before there were two generators
            self.dir = os.path.join(cache, "%s-n%d-d%d-s%d" % (
                "synthetic" if generator == "mixture" else generator, rows, dim, args.seed))
        os.makedirs(self.dir, exist_ok=True)
        if not os.path.exists(self.path("base")):
            if self.kind.startswith("fashion"):
                self.make_fashion(rows)
            else:
                self.make_synthetic(rows, dim, generator, args.seed)
        self.base = np.load(self.path("base"), mmap_mode="r")
        self.query = np.load(self.path("query"), mmap_mode="r")
        self.extra = np.load(self.path("extra"), mmap_mode="r")
        self.n, self.dim = self.base.shape

    def path(self, what):
        return os.path.join(self.dir, what + ".npy")

    def make_fashion(self, rows=None):
        """All train images as the base, or the first rows of them."""
        log("  parsing Fashion-MNIST IDX files from %s" % FASHION_DIR)
        base = read_idx(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz"))[:rows]
        query = read_idx(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"))
        save_atomic(self.path("base_labels"),
                    read_idx(os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz")).ravel()[:rows])
        save_atomic(self.path("query_labels"),
                    read_idx(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")).ravel())
        # rows for the insert test: test images, same distribution as the base
        save_atomic(self.path("extra"), query[-SYNTH_EXTRA:])
        save_atomic(self.path("query"), query)
        save_atomic(self.path("base"), base)

    def make_synthetic(self, n, dim, generator, seed):
        """Clusters of gamma-distributed sizes.  "mixture": isotropic gaussian
        clusters in all dims.  "embedding": overlapping gaussian clusters in
        EMBED_LATENT dims, mapped to dim by orthonormal directions weighted
        1/sqrt(i) (the decaying spectrum of real embeddings), plus isotropic
        noise, each row scaled to length sqrt(dim) (embedding models return
        vectors of one length; components then have unit scale)."""
        log("  generating %d + %d + %d synthetic points (%s), %d dims, seed %d"
            % (n, SYNTH_QUERIES, SYNTH_EXTRA, generator, dim, seed))
        rng = np.random.default_rng(seed)
        if generator == "embedding":
            basis = np.linalg.qr(rng.normal(0.0, 1.0, (dim, EMBED_LATENT)))[0].T
            basis *= np.sqrt(dim) / np.sqrt(1.0 + np.arange(EMBED_LATENT))[:, None]
            centers = rng.normal(0.0, 1.0, (SYNTH_CLUSTERS, EMBED_LATENT))
            spread = rng.uniform(*EMBED_SPREAD, SYNTH_CLUSTERS)
        else:
            centers = rng.normal(0.0, 1.0, (SYNTH_CLUSTERS, dim))
            spread = rng.uniform(0.2, 0.6, SYNTH_CLUSTERS)
        weights = rng.gamma(2.0, 1.0, SYNTH_CLUSTERS)
        weights /= weights.sum()
        total = n + SYNTH_QUERIES + SYNTH_EXTRA
        pts = np.empty((total, dim), dtype=np.float32)
        # the mixture keeps the chunks its cached sets were drawn in
        step = 50000 if generator == "mixture" else max(1000, 10_000_000 // dim)
        for lo in range(0, total, step):
            hi = min(total, lo + step)
            c = rng.choice(SYNTH_CLUSTERS, hi - lo, p=weights)
            x = centers[c] + rng.normal(0.0, 1.0, (hi - lo, centers.shape[1])) * spread[c, None]
            if generator == "embedding":
                x = x @ basis + rng.normal(0.0, EMBED_NOISE, (hi - lo, dim))
                x *= np.sqrt(dim) / np.linalg.norm(x, axis=1, keepdims=True)
            # 3 decimals: short COPY text that parses back to these float32s
            pts[lo:hi] = np.round(x, 3)
        save_atomic(self.path("extra"), pts[n + SYNTH_QUERIES:])
        save_atomic(self.path("query"), pts[n:n + SYNTH_QUERIES])
        save_atomic(self.path("base"), pts[:n])

    def labels(self, what):
        p = self.path(what + "_labels")
        return np.load(p) if os.path.exists(p) else None

    def ground_truth(self, nq, kept="all"):
        """Exact top-K ids and distances of the first nq queries, among every base
        row or, with kept "odd", among those of odd ids (ids among those rows)."""
        prefix = "gt-" if kept == "all" else "gt%s-" % kept
        for f in sorted(glob.glob(os.path.join(self.dir, prefix + "[0-9]*.npz"))):
            with np.load(f) as z:
                if z["ids"].shape[0] >= nq:
                    return z["ids"][:nq], z["dist"][:nq]
        t0 = time.time()
        log("  computing exact top-%d for %d queries by brute force (cached afterwards)" % (K, nq))
        ids, dist = exact_knn(self.base if kept == "all" else self.base[1::2],
                              self.query[:nq], K)
        path = os.path.join(self.dir, prefix + "%d.npz" % nq)
        np.savez(path + ".tmp.npz", ids=ids, dist=dist)
        os.replace(path + ".tmp.npz", path)
        log("  ground truth done in %.1f s" % (time.time() - t0))
        return ids, dist


def exact_knn(base, queries, k, cand=32):
    """float32 matmul shortlists `cand` candidates; float64 reranks them exactly.
    Only the shortlisted rows are held as float64, so high dimensions fit."""
    base32 = np.ascontiguousarray(base, dtype=np.float32)
    n, dim = base32.shape
    bnorm = np.empty(n, dtype=np.float32)
    for lo in range(0, n, 10000):
        bnorm[lo:lo + 10000] = (base32[lo:lo + 10000].astype(np.float64) ** 2).sum(axis=1)
    nq = queries.shape[0]
    ids = np.empty((nq, k), dtype=np.int64)
    dist = np.empty((nq, k), dtype=np.float64)
    cand = min(cand, n)
    chunk = max(1, min(500, 20_000_000 // n, 20_000_000 // (cand * dim)))
    for lo in range(0, nq, chunk):
        q = np.asarray(queries[lo:lo + chunk], dtype=np.float64)
        # |b|^2 - 2 q.b ranks like |q - b|^2
        approx = bnorm[None, :] - 2.0 * (q.astype(np.float32) @ base32.T)
        short = np.argpartition(approx, cand - 1, axis=1)[:, :cand]
        exact = np.sqrt(((base32[short].astype(np.float64) - q[:, None, :]) ** 2).sum(axis=2))
        order = np.lexsort((short, exact), axis=1)[:, :k]
        ids[lo:lo + chunk] = np.take_along_axis(short, order, axis=1)
        dist[lo:lo + chunk] = np.take_along_axis(exact, order, axis=1)
    return ids, dist


_FLOAT_FORMATS = {}


def vector_text(row):
    if row.dtype == np.uint8:
        return "[" + ",".join(map(str, row.tolist())) + "]"
    # the data has 3 decimals: %.3f prints them (repr would print float32's binary
    # expansion), and one format string per row is 3x faster than joining str()s
    fmt = _FLOAT_FORMATS.get(row.shape[0])
    if fmt is None:
        fmt = _FLOAT_FORMATS[row.shape[0]] = "[" + ",".join(["%.3f"] * row.shape[0]) + "]"
    return fmt % tuple(row.astype(np.float64).tolist())


def recall_of(ds, queries, results, gt_dist):
    """Mean over queries of |returned ids within the k-th exact distance| / k."""
    base = ds.base
    total = 0.0
    for qi, got in enumerate(results):
        if not got:
            continue
        q = np.asarray(queries[qi], dtype=np.float64)
        d = np.sqrt(((np.asarray(base[np.array(got)], dtype=np.float64) - q) ** 2).sum(axis=1))
        total += min(K, int((d <= gt_dist[qi, K - 1] * (1 + 1e-9) + 1e-9).sum())) / K
    return total / len(results)


# ---------------------------------------------------------------- database

def connect(db, timeout_s, autocommit=True):
    import psycopg
    opts = "-c statement_timeout=%d" % int(timeout_s * 1000)
    return psycopg.connect(dbname=db, autocommit=autocommit, options=opts)


def emit(out, rec):
    if out:
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")


# {key} is what the index is on and {type} the query vector's type: the column
# and vector, or both cast to the type an engine indexes (--cast, see sql_of)
QUERY_SQL = "SELECT id FROM items ORDER BY {key} <-> %s::{type} LIMIT {k}"
# The same round trip, vector text and k ids, with no search: what a query
# costs whatever the index does.  The search time is QUERY_SQL's minus this.
FLOOR_SQL = "SELECT id FROM items WHERE %s::{type} IS NOT NULL LIMIT {k}"
# bucket: 0..99 from a hash of the id (bench.sh adds it), so "bucket < p" keeps
# p% of the rows whatever their vectors
FILTERED_SQL = ("SELECT id FROM items WHERE bucket < {pct}"
                " ORDER BY {key} <-> %s::{type} LIMIT {k}")


def sql_of(template, cast, **more):
    """template for an index on the embedding column, or with cast (such as
    "halfvec(3072)") on the expression embedding::cast."""
    key = "embedding::" + cast if cast else "embedding"
    return template.format(key=key, type=cast or "vector", k=K, **more)


def configure(conn, settings):
    for name, value in settings:
        conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))


def open_clients(db, settings, clients, timeout_s):
    """`clients` connections, each configured with `settings` [(GUC, value)]."""
    conns = []
    for _ in range(clients):
        c = connect(db, timeout_s)
        configure(c, settings)
        conns.append(c)
    return conns


def run_queries(db, settings, qtexts, clients, timeout_s, sql, conns=None):
    """Runs all queries split over `clients` connections, each configured with
    `settings` [(GUC, value)], or over `conns` when given (left open); returns
    (results, wall s, latencies)."""
    results = [None] * len(qtexts)
    lat = [0.0] * len(qtexts)
    own = conns is None
    if own:
        conns = open_clients(db, settings, clients, timeout_s)
    clients = len(conns)
    errors = []
    barrier = threading.Barrier(clients + 1)

    def worker(ci):
        cur = conns[ci].cursor()
        barrier.wait()
        try:
            for qi in range(ci, len(qtexts), clients):
                t = time.perf_counter()
                cur.execute(sql, (qtexts[qi],), prepare=True)
                results[qi] = [r[0] for r in cur.fetchall()]
                lat[qi] = time.perf_counter() - t
        except Exception as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if own:
        for c in conns:
            c.close()
    if errors:
        raise errors[0]
    return results, wall, lat


def plan_of(db, settings, sql, qtext, dim, timeout_s):
    """EXPLAIN of `sql` for one query vector, the vector shortened to its size."""
    with connect(db, timeout_s) as c:
        configure(c, settings)
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + sql.replace("%s", "'%s'" % qtext)))
    return re.sub(r"'\[[^']*\]'", "'[%d values]'" % dim, plan)


def first_line(e):
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# ---------------------------------------------------------------- commands

def cmd_prepare(args):
    ds = Dataset(args)
    ds.ground_truth(min(args.queries, ds.query.shape[0]))
    log("  %s: %d base vectors x %d dims, %d queries available"
        % (ds.name, ds.n, ds.dim, ds.query.shape[0]))


def cmd_info(args):
    """Name, size and dims for the shell scripts: `read name n dim`."""
    ds = Dataset(args)
    print(ds.name, ds.n, ds.dim)


def cmd_copy(args):
    """COPY text (id<TAB>vector) of the base rows (the first --rows of them) on stdout."""
    ds = Dataset(args)
    out = sys.stdout
    step = 2000
    n = ds.n if args.rows is None else min(args.rows, ds.n)
    for lo in range(0, n, step):
        rows = np.asarray(ds.base[lo:min(n, lo + step)])
        out.write("".join("%d\t%s\n" % (lo + i, vector_text(r)) for i, r in enumerate(rows)))
    out.flush()


# exit status of `build` when the engine refuses the index with a limit or an
# unsupported feature (SQLSTATE classes 54 and 0A): n/a for this set, not a
# failure of the run (test/bench/common.sh: BENCH_NA_STATUS)
NA_STATUS = 78


def proc_memory(pid):
    """(private anonymous bytes, {dynamic shared memory segment: resident bytes})
    of a server process on this machine, from /proc; None if it cannot be read
    (the process has ended, or belongs to another user)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            anon = next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))
        dsm, seg = {}, None
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if not parts[0].endswith(":"):
                    # a mapping: address range, perms, offset, device, inode, path
                    seg = parts[5] if len(parts) > 5 and \
                        parts[5].startswith("/dev/shm/PostgreSQL.") else None
                elif seg and parts[0] == "Rss:":
                    dsm[seg] = int(parts[1]) * 1024
        return anon * 1024, dsm
    except (OSError, StopIteration, ValueError):
        return None


class BuildMemory:
    """Peak memory of a build's processes, the backend and its parallel workers:
    the private memory they hold above the backend's before the build (palloc'd
    graphs, for any engine) plus the pages of dynamic shared memory segments
    they touched (a parallel build's shared graph).  shared_buffers are not
    counted.  Sampled as the build runs, so the peak is a lower bound."""

    def __init__(self, pid):
        first = proc_memory(pid)
        self.baseline = first[0] if first else None
        self.peak = None

    def sample(self, pids):
        if self.baseline is None:
            return
        private, dsm = 0, {}
        for pid in pids:
            m = proc_memory(pid)
            if m is None:
                continue
            private += max(0, m[0] - self.baseline)
            for seg, rss in m[1].items():
                dsm[seg] = max(dsm.get(seg, 0), rss)
        total = (private + sum(dsm.values()), private, sum(dsm.values()))
        if self.peak is None or total[0] > self.peak[0]:
            self.peak = total


def cmd_build(args):
    """Runs the CREATE INDEX on one connection, polls its progress and samples
    its memory from another."""
    build = connect(args.db, args.timeout)
    pid = build.info.backend_pid
    for s in args.set or []:
        build.execute("SET " + s)
    watch = connect(args.db, 60)
    memory = BuildMemory(pid)
    outcome = {}

    def run():
        try:
            build.execute(args.sql)
        except Exception as e:
            outcome["error"] = e

    t0 = time.perf_counter()
    th = threading.Thread(target=run)
    th.start()
    last_phase, last_print, workers = None, 0.0, 0
    while th.is_alive():
        th.join(args.poll)
        now = time.perf_counter() - t0
        helpers = watch.execute("SELECT pid FROM pg_stat_activity WHERE leader_pid = %s",
                                (pid,)).fetchall()
        memory.sample([pid] + [h[0] for h in helpers])
        row = watch.execute(
            "SELECT p.phase, p.tuples_done, p.tuples_total, p.blocks_done, p.blocks_total,"
            " (SELECT count(*) FROM pg_stat_activity a WHERE a.leader_pid = p.pid)"
            " FROM pg_stat_progress_create_index p WHERE p.pid = %s", (pid,)).fetchone()
        if row is None:
            continue
        phase, tdone, ttotal, bdone, btotal, nworkers = row
        workers = max(workers, nworkers)
        if phase != last_phase or now - last_print >= args.every:
            if ttotal:
                amount = "tuples %d/%d (%.0f%%)" % (tdone, ttotal, 100.0 * tdone / ttotal)
            elif btotal:
                amount = "blocks %d/%d (%.0f%%)" % (bdone, btotal, 100.0 * bdone / btotal)
            else:
                amount = "tuples %d" % tdone
            log("  [%6.1fs] %-45s %s  parallel workers: %d" % (now, phase, amount, nworkers))
            last_phase, last_print = phase, now
    seconds = time.perf_counter() - t0
    watch.close()
    build.close()
    rec = dict(dataset=args.dataset_name, engine=args.engine, kind="build",
               indexed=args.indexed)
    if "error" in outcome:
        e = outcome["error"]
        rec["error"] = first_line(e)
        rec["unsupported"] = (getattr(e, "sqlstate", None) or "")[:2] in ("54", "0A")
        emit(args.out, rec)
        if rec["unsupported"]:
            log("  %s: n/a (%s)" % (args.engine, rec["error"]))
            sys.exit(NA_STATUS)
        die("CREATE INDEX failed: " + rec["error"])
    rec.update(seconds=seconds, rows=args.rows, workers=workers)
    if memory.peak:
        rec.update(memory_bytes=memory.peak[0], memory_private_bytes=memory.peak[1],
                   memory_shared_bytes=memory.peak[2])
    emit(args.out, rec)
    log("  index built in %.1f s (%.0f vectors/s, %d parallel worker(s) seen)"
        % (seconds, args.rows / seconds, workers))
    if memory.peak:
        log("  build memory: %.1f MB at peak (%.1f MB private, %.1f MB dynamic shared),"
            " %.0f bytes per vector" % (memory.peak[0] / 2 ** 20, memory.peak[1] / 2 ** 20,
                                        memory.peak[2] / 2 ** 20, memory.peak[0] / args.rows))
    else:
        log("  build memory: n/a (cannot read the server processes' /proc entries)")


def engines_of(args):
    """[(engine, db, ef_search GUC, cast)] from the comma lists of --engine, --db,
    --guc and --cast (an empty cast, or no --cast, queries the column itself)."""
    names, dbs, gucs = args.engine.split(","), args.db.split(","), args.guc.split(",")
    casts = args.cast.split(",") if args.cast is not None else [""] * len(names)
    if not len(names) == len(dbs) == len(gucs) == len(casts):
        die("--engine, --db, --guc and --cast need one entry per engine")
    return list(zip(names, dbs, gucs, casts))


def cmd_query(args):
    """Each point is measured in --slices slices per engine, taking turns, so
    that the load of a shared machine weighs on every engine alike."""
    ds = Dataset(args)
    nq = min(args.queries, ds.query.shape[0])
    gt_ids, gt_dist = ds.ground_truth(nq, args.kept)
    queries = ds.query[:nq]
    qtexts = [vector_text(np.asarray(q)) for q in queries]
    engines = engines_of(args)
    slices = [range(lo, min(nq, lo + -(-nq // args.slices)))
              for lo in range(0, nq, -(-nq // args.slices))]

    for engine, db, guc, cast in engines:
        plan = plan_of(db, [(guc, 40)], sql_of(QUERY_SQL, cast), qtexts[0], ds.dim,
                       args.timeout)
        if args.explain:
            log("  EXPLAIN of the query (%s):" % engine)
            log("\n".join("    " + line for line in plan.splitlines()))
        if "Index Scan" not in plan:
            emit(args.out, dict(dataset=ds.name, engine=engine, kind=args.kind,
                                error="the planner did not use the index"))
            die("%s: the planner did not use the index for ORDER BY embedding <-> ..."
                " LIMIT %d:\n%s" % (engine, K, plan))

    def measure(settings_of, clients, template):
        """Runs every slice on every engine in turn, each engine on the same
        connections throughout; {engine: (results, wall, lat)}.  The connections
        are new, and each first runs the first --warmup queries untimed, as an
        application's pooled connections are warm: a new backend's first touch
        of each page of shared buffers is a page fault (README, make bench)."""
        out = {e: ([None] * nq, 0.0, []) for e, _, _, _ in engines}
        conns = {e: open_clients(db, settings_of(guc), clients, args.timeout)
                 for e, db, guc, _ in engines}
        try:
            for engine, db, _, cast in engines:
                for c in conns[engine]:
                    run_queries(db, None, qtexts[:min(nq, args.warmup)], 1, args.timeout,
                                sql_of(template, cast), conns=[c])
            for sl in slices:
                for engine, db, guc, cast in engines:
                    res, wall, lat = run_queries(db, None, [qtexts[i] for i in sl], clients,
                                                 args.timeout, sql_of(template, cast),
                                                 conns=conns[engine])
                    allres, allwall, alllat = out[engine]
                    for i, r in zip(sl, res):
                        allres[i] = r
                    out[engine] = (allres, allwall + wall, alllat + lat)
        finally:
            for cs in conns.values():
                for c in cs:
                    c.close()
        return out

    if args.floor:
        for engine, (_, wall, lat) in measure(lambda guc: [], 1, FLOOR_SQL).items():
            rec = dict(dataset=ds.name, engine=engine, kind="floor", nq=nq, qps=nq / wall,
                       p50_ms=1000 * statistics.median(lat))
            emit(args.out, rec)
            log("  %s, no search (same round trip, vector and %d ids): %.1f QPS, p50 %.2f ms"
                % (engine, K, rec["qps"], rec["p50_ms"]))
    log("  %-9s %5s %7s %8s %9s %9s %9s" % ("engine", "ef", "clients", "recall", "QPS",
                                           "p50 ms", "p99 ms"))
    for clients in args.clients:
        for ef in args.efs:
            try:
                got = measure(lambda guc: [(guc, ef)], clients, QUERY_SQL)
            except Exception as e:
                for engine, _, _, _ in engines:
                    emit(args.out, dict(dataset=ds.name, engine=engine, kind=args.kind,
                                        ef=ef, clients=clients, error=first_line(e)))
                die("queries at ef=%d failed: %s" % (ef, first_line(e)))
            for engine, (res, wall, lat) in got.items():
                rec = dict(dataset=ds.name, engine=engine, kind=args.kind, ef=ef,
                           clients=clients, nq=nq, recall=recall_of(ds, queries, res, gt_dist),
                           qps=nq / wall, p50_ms=1000 * statistics.median(lat),
                           p99_ms=1000 * float(np.percentile(lat, 99)))
                emit(args.out, rec)
                log("  %-9s %5d %7d %8.4f %9.1f %9.2f %9.2f"
                    % (engine, ef, clients, rec["recall"], rec["qps"], rec["p50_ms"],
                       rec["p99_ms"]))


PGBENCH_SQL = ("SELECT id FROM items ORDER BY {key} <->"
               " (SELECT {key} FROM bench_queries WHERE qid = :q) LIMIT {k};")


def sample_waits(db, timeout_s, stop, counts, since):
    """From time.monotonic() `since` until `stop` is set, samples the database's
    client backends every 10 ms: counts[0] samples, counts[1] backends seen
    running a statement, counts[2] of them waiting on the lock manager's
    partition locks (LWLock LockManager), where heavyweight locks that miss the
    fast path queue.  Backends still connecting (no statement yet) are not
    counted, nor is anything before `since`, the end of run_pgbench's warm-up:
    new backends' first statements read the catalogs, whose locks overflow the
    fast path and wait there whatever the engine."""
    with connect(db, timeout_s) as c:
        while not stop.is_set():
            if time.monotonic() < since:
                time.sleep(0.01)
                continue
            active, lockmgr = c.execute(
                "SELECT count(*) FILTER (WHERE state = 'active'),"
                " count(*) FILTER (WHERE wait_event_type = 'LWLock'"
                " AND wait_event = 'LockManager')"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND query <> ''"
                " AND pid <> pg_backend_pid()").fetchone()
            counts[0] += 1
            counts[1] += active
            counts[2] += lockmgr
            time.sleep(0.01)


def run_pgbench(args, ds, engine, db, kind, script, clients, seconds, settings, waits):
    """Transactions per second of pgbench running `script` (prepared) with `clients`
    clients on db, with `settings` [(GUC, value)]: pgbench runs args.warmup_seconds + `seconds`
    seconds and reports its throughput each second; the rate is that of the last
    `seconds`.  Each run starts new backends, and a new backend's first touch of
    each shared buffer page is a page fault, so with many clients the first
    seconds measure how fast the backends warm up, not the engine.  sample_waits
    counts into `waits` over the same last `seconds`.
    Records the error and stops on failure."""
    import subprocess
    env = dict(os.environ, PGOPTIONS=" ".join(
        [os.environ.get("PGOPTIONS", "")] + ["-c %s=%s" % s for s in settings]
        + ["-c statement_timeout=%d" % int(args.timeout * 1000)]))
    cmd = [args.pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients),
           "-T", str(args.warmup_seconds + seconds), "-P", "1", "-f", script, db]
    stop = threading.Event()
    sampler = threading.Thread(target=sample_waits,
                               args=(db, args.timeout, stop, waits,
                                     time.monotonic() + args.warmup_seconds))
    sampler.start()
    try:
        run = subprocess.run(cmd, env=env, capture_output=True, text=True,
                             timeout=args.warmup_seconds + seconds + args.timeout)
    finally:
        stop.set()
        sampler.join()
    rates = [float(m.group(2)) for m in
             re.finditer(r"^progress: ([0-9.]+) s, ([0-9.]+) tps", run.stderr, re.M)
             if float(m.group(1)) > args.warmup_seconds]
    if run.returncode != 0 or not rates:
        emit(args.out, dict(dataset=ds.name, engine=engine, kind=kind, clients=clients,
                            error=first_line(run.stderr or run.stdout)))
        die("%s: pgbench failed: %s" % (engine, run.stderr or run.stdout))
    return statistics.mean(rates)


def cmd_pgbench(args):
    """Server throughput without a Python client: pgbench (C, prepared) sends
    query ids and the server reads each query vector from a table, so the
    clients' own CPU takes little of the machine's cores.  The statement also
    looks each vector up by key, so its QPS compares engines, not the rows
    measured from Python.  The engines take turns, --rounds times.  A sampler
    counts the clients waiting on the lock manager meanwhile."""
    import tempfile
    ds = Dataset(args)
    nq = min(args.queries, ds.query.shape[0])
    engines = engines_of(args)
    for engine, db, guc, cast in engines:
        with connect(db, args.timeout) as c:
            c.execute("DROP TABLE IF EXISTS bench_queries")
            c.execute("CREATE TABLE bench_queries (qid integer PRIMARY KEY,"
                      " embedding vector(%d))" % ds.dim)
            with c.cursor().copy("COPY bench_queries FROM STDIN") as cp:
                for i in range(nq):
                    cp.write("%d\t%s\n" % (i, vector_text(np.asarray(ds.query[i]))))
            c.execute("ANALYZE bench_queries")
            configure(c, [(guc, args.ef), ("plan_cache_mode", "force_generic_plan")])
            # pgbench -M prepared runs the generic plan after five executions
            c.execute("PREPARE q(integer) AS " +
                      sql_of(PGBENCH_SQL, cast).replace(":q", "$1").rstrip(";"))
            plan = "\n".join(r[0] for r in c.execute("EXPLAIN EXECUTE q(0)"))
        if not re.search(r"Index Scan using items_(embedding|vector)_idx", plan):
            emit(args.out, dict(dataset=ds.name, engine=engine, kind="pgbench",
                                error="the planner did not use the index"))
            die("%s: pgbench query does not use the index:\n%s" % (engine, plan))
    seconds = max(1, args.seconds // args.rounds)
    with tempfile.TemporaryDirectory() as scripts:
        for engine, _, _, cast in engines:
            with open(os.path.join(scripts, engine + ".sql"), "w") as f:
                f.write("\\set q random(0, %d)\n%s\n" % (nq - 1, sql_of(PGBENCH_SQL, cast)))
        for clients in args.clients:
            done = {e: 0.0 for e, _, _, _ in engines}
            waits = {e: [0, 0, 0] for e, _, _, _ in engines}
            for _ in range(args.rounds):
                for engine, db, guc, _ in engines:
                    done[engine] += seconds * run_pgbench(
                        args, ds, engine, db, "pgbench", os.path.join(scripts, engine + ".sql"),
                        clients, seconds, [(guc, args.ef)], waits[engine])
            for engine, _, _, _ in engines:
                samples, active, lockmgr = waits[engine]
                rec = dict(dataset=ds.name, engine=engine, kind="pgbench", ef=args.ef,
                           clients=clients, qps=done[engine] / (seconds * args.rounds),
                           samples=samples, active=active, lockmgr_waits=lockmgr)
                emit(args.out, rec)
                log("  %s, pgbench, ef %d, %d client(s): %.1f QPS; %d of %d running"
                    " clients sampled waited on the lock manager"
                    % (engine, args.ef, clients, rec["qps"], lockmgr, active))


def cmd_delete_half(args):
    """Deletes every row but the base rows of odd ids (the rows inserts added
    go too) and times the VACUUM that follows."""
    ds = Dataset(args)
    rec = dict(dataset=ds.name, engine=args.engine, kind="vacuum")
    with connect(args.db, 0) as c:
        deleted = c.execute("DELETE FROM items WHERE id %% 2 = 0 OR id >= %s", (ds.n,)).rowcount
        t0 = time.perf_counter()
        c.execute("VACUUM items")
        rec.update(seconds=time.perf_counter() - t0, deleted=deleted)
    emit(args.out, rec)
    log("  deleted %d rows; VACUUM in %.1f s" % (deleted, rec["seconds"]))


def cmd_pgbench_insert(args):
    """Single-row inserts by pgbench (C, prepared), each a transaction, at each
    client count, the engines taking turns --rounds times.  Each vector is one
    of the data set's extra rows plus one of NOISE_ROWS small noise vectors
    (a 50th of each element's spread over the base rows), both read on the
    server from tables by key, so that the clients' own CPU takes little of
    the machine's cores.  The extra rows are in the table already (the insert
    phase); the noise makes nearly every insert a vector of its own, near them,
    not another copy of one.  The rows get ids of their own past the data
    set's."""
    import tempfile
    ds = Dataset(args)
    rows = ds.extra[:args.n]
    spread = np.asarray(ds.base[:10000], dtype=np.float64).std(axis=0)
    noise = np.random.default_rng(args.seed).standard_normal((NOISE_ROWS, ds.dim)) * spread / 50
    engines = list(zip(args.engine.split(","), args.db.split(",")))
    if len(engines) != len(args.db.split(",")):
        die("--engine and --db need one entry per engine")
    for engine, db in engines:
        with connect(db, args.timeout) as c:
            c.execute("DROP TABLE IF EXISTS bench_inserts")
            c.execute("CREATE TABLE bench_inserts (qid integer PRIMARY KEY,"
                      " embedding vector(%d))" % ds.dim)
            with c.cursor().copy("COPY bench_inserts FROM STDIN") as cp:
                for i in range(rows.shape[0]):
                    cp.write("%d\t%s\n" % (i, vector_text(np.asarray(rows[i]))))
            c.execute("DROP TABLE IF EXISTS bench_noise")
            c.execute("CREATE TABLE bench_noise (qid integer PRIMARY KEY, delta vector(%d))"
                      % ds.dim)
            with c.cursor().copy("COPY bench_noise FROM STDIN") as cp:
                for i in range(noise.shape[0]):
                    cp.write("%d\t%s\n" % (i, "[" + ",".join("%.4f" % x for x in noise[i]) + "]"))
            c.execute("ANALYZE bench_inserts")
            c.execute("ANALYZE bench_noise")
            c.execute("DROP SEQUENCE IF EXISTS bench_insert_ids")
            c.execute("CREATE SEQUENCE bench_insert_ids START %d" % (10 * (ds.n + ds.extra.shape[0])))
    seconds = max(1, args.seconds // args.rounds)
    with tempfile.TemporaryDirectory() as scripts:
        script = os.path.join(scripts, "insert.sql")
        with open(script, "w") as f:
            f.write("\\set q random(0, %d)\n\\set d random(0, %d)\n"
                    "INSERT INTO items (id, embedding) VALUES (nextval('bench_insert_ids'),"
                    " (SELECT embedding FROM bench_inserts WHERE qid = :q)"
                    " + (SELECT delta FROM bench_noise WHERE qid = :d));\n"
                    % (rows.shape[0] - 1, NOISE_ROWS - 1))
        for clients in args.clients:
            done = {e: 0.0 for e, _ in engines}
            waits = {e: [0, 0, 0] for e, _ in engines}
            for _ in range(args.rounds):
                for engine, db in engines:
                    done[engine] += seconds * run_pgbench(
                        args, ds, engine, db, "pgbench_insert", script, clients, seconds, [],
                        waits[engine])
            for engine, _ in engines:
                rec = dict(dataset=ds.name, engine=engine, kind="pgbench_insert",
                           clients=clients, rows_per_s=done[engine] / (seconds * args.rounds))
                emit(args.out, rec)
                log("  %s, pgbench inserts, %d client(s): %.1f rows/s"
                    % (engine, clients, rec["rows_per_s"]))


def cmd_filtered(args):
    """LIMIT k queries WHERE bucket < p, per iterative-scan mode, with the index
    scan forced (enable_seqscan off), against exact results under the same filter."""
    ds = Dataset(args)
    nq = min(args.queries, ds.query.shape[0])
    queries = ds.query[:nq]
    qtexts = [vector_text(np.asarray(q)) for q in queries]
    bucket = np.full(ds.n, -1, dtype=np.int64)
    with connect(args.db, args.timeout) as c:
        for i, b in c.execute("SELECT id, bucket FROM items WHERE id < %s", (ds.n,)):
            bucket[i] = b
    if (bucket < 0).any():
        die("items has no bucket for %d of the %d base rows" % ((bucket < 0).sum(), ds.n))
    fixed = [(args.guc, args.ef), (args.max_tuples_guc, args.max_tuples)]
    forced = fixed + [("enable_seqscan", "off")]
    log("  filtered queries: %s = %d, %s = %d, index scans forced; recall@%d against exact"
        " results under the filter" % (args.guc, args.ef, args.max_tuples_guc,
                                       args.max_tuples, K))
    log("  %7s %7s %-14s %8s %9s %9s %9s %6s" % ("filter", "rows", "iterative_scan",
                                                 "recall", "QPS", "p50 ms", "p99 ms", "short"))
    for pct in args.percents:
        keep = np.flatnonzero(bucket < pct)
        _, gt_dist = exact_knn(ds.base[keep], queries, K)
        sql = sql_of(FILTERED_SQL, args.cast, pct=pct)
        strict = [(args.iterative_guc, "strict_order")]
        chosen = plan_of(args.db, fixed + strict, sql, qtexts[0], ds.dim, args.timeout)
        plan = plan_of(args.db, forced + strict, sql, qtexts[0], ds.dim, args.timeout)
        if "Index Scan" not in plan:
            emit(args.out, dict(dataset=ds.name, engine=args.engine, kind="filtered",
                                percent=pct, error="no index scan even with enable_seqscan off"))
            die("no index scan for WHERE bucket < %d even with enable_seqscan off:\n%s"
                % (pct, plan))
        # the scan node the planner picks on its own, for the cost model's sake
        own = re.search(r"(Index Scan|Seq Scan|Bitmap Heap Scan)", chosen)
        for mode in args.modes:
            settings = forced + [(args.iterative_guc, mode)]
            rec = dict(dataset=ds.name, engine=args.engine, kind="filtered", percent=pct,
                       mode=mode)
            try:
                # on a warm connection, as cmd_query measures
                conns = open_clients(args.db, settings, 1, args.timeout)
                try:
                    run_queries(args.db, None, qtexts[:min(nq, args.warmup)], 1, args.timeout,
                                sql, conns=conns)
                    res, wall, lat = run_queries(args.db, None, qtexts, 1, args.timeout, sql,
                                                 conns=conns)
                finally:
                    conns[0].close()
            except Exception as e:
                rec["error"] = first_line(e)
                emit(args.out, rec)
                die("filtered queries (bucket < %d, %s) failed: %s" % (pct, mode, rec["error"]))
            rec.update(rows=len(keep), nq=nq, recall=recall_of(ds, queries, res, gt_dist),
                       qps=nq / wall, p50_ms=1000 * statistics.median(lat),
                       p99_ms=1000 * float(np.percentile(lat, 99)),
                       short=sum(len(r) < K for r in res),
                       planner_scan=own.group(1) if own else "other")
            emit(args.out, rec)
            log("  %6d%% %7d %-14s %8.4f %9.1f %9.2f %9.2f %6d"
                % (pct, len(keep), mode, rec["recall"], rec["qps"], rec["p50_ms"],
                   rec["p99_ms"], rec["short"]))
        log("  %7s planner's own choice without enable_seqscan off: %s"
            % ("", own.group(1) if own else chosen.splitlines()[0]))


def cmd_insert(args):
    """Single-row INSERTs into the indexed table, one statement (and commit) each: the
    extra rows, ids from the base size on, or with --base-from the base rows from
    that one on, with their own ids (the ground truth of the base then holds)."""
    ds = Dataset(args)
    if args.base_from is None:
        first, rows = ds.n, ds.extra[:args.n]
    else:
        first, rows = args.base_from, ds.base[args.base_from:]
    n = rows.shape[0]
    texts = [vector_text(np.asarray(r)) for r in rows]
    rec = dict(dataset=ds.name, engine=args.engine, kind=args.kind, n=n)
    try:
        with connect(args.db, args.timeout) as c:
            cur = c.cursor()
            t0 = time.perf_counter()
            for i, t in enumerate(texts):
                cur.execute("INSERT INTO items (id, embedding) VALUES (%s, %s::vector)",
                            (first + i, t), prepare=True)
            seconds = time.perf_counter() - t0
    except Exception as e:
        rec["error"] = first_line(e)
        emit(args.out, rec)
        log("  single-row inserts: n/a (%s)" % rec["error"])
        return
    rec.update(seconds=seconds, rows_per_s=n / seconds)
    emit(args.out, rec)
    log("  %d single-row inserts in %.1f s: %.0f rows/s" % (n, seconds, n / seconds))


def cmd_neighbours(args):
    """One query's nearest neighbours, with labels and the exact answer beside them."""
    ds = Dataset(args)
    qi = args.query_index
    gt_ids, gt_dist = ds.ground_truth(max(qi + 1, 1))
    qlabels, blabels = ds.labels("query"), ds.labels("base")
    name = (lambda lab: FASHION_LABELS[lab] if lab is not None else "-")
    with connect(args.db, args.timeout) as c:
        c.execute("SELECT set_config(%s, %s, false)", (args.guc, str(args.ef)))
        rows = c.execute("SELECT id, embedding <-> %s::vector AS distance FROM items"
                         " ORDER BY embedding <-> %s::vector LIMIT %s",
                         (vector_text(np.asarray(ds.query[qi])),) * 2 + (K,)).fetchall()
    qlab = int(qlabels[qi]) if qlabels is not None else None
    log("  query: test image #%d, label %s; %s = %d" % (qi, name(qlab), args.guc, args.ef))
    log("  %4s %7s %-12s %10s %12s" % ("rank", "id", "label", "distance", "exact top-10"))
    exact = set(gt_ids[qi].tolist())
    for rank, (i, d) in enumerate(rows, 1):
        lab = int(blabels[i]) if blabels is not None and i < ds.n else None
        log("  %4d %7d %-12s %10.2f %12s" % (rank, i, name(lab), d, "yes" if i in exact else "no"))
    log("  exact 10th-nearest distance: %.2f" % gt_dist[qi, K - 1])


# ---------------------------------------------------------------- report

# kind of a query record -> its list in the summary: the index as built, grown by
# single-row inserts after a bulk build of part of the rows, then rebuilt by REINDEX
QUERY_LISTS = {"query": "queries", "grown_query": "grown", "reindexed_query": "reindexed",
               "deleted_query": "deleted"}


def summarize(records):
    """{dataset: {engine: figures}} from the JSON-lines records."""
    out = {}
    for r in records:
        e = out.setdefault(r["dataset"], {}).setdefault(r["engine"], {"queries": []})
        if r.get("unsupported"):
            e["na"] = r["error"]
            continue
        if "error" in r:
            e.setdefault("errors", []).append("%s: %s" % (r["kind"], r["error"]))
            if r["kind"] in ("insert", "grown_insert"):
                e[r["kind"] + "_rows_per_s"] = None
            continue
        if r["kind"] == "load":
            e["rows"], e["load_s"] = r["rows"], r["seconds"]
        elif r["kind"] == "build":
            e["build_s"], e["build_vectors_per_s"] = r["seconds"], r["rows"] / r["seconds"]
            e["build_workers"] = r["workers"]
            e["indexed"] = r.get("indexed", "vector")
            if "memory_bytes" in r:
                e["build_memory_bytes"] = r["memory_bytes"]
                e["build_memory_per_vector"] = r["memory_bytes"] / r["rows"]
        elif r["kind"] == "size":
            e["index_bytes"] = r["bytes"]
        elif r["kind"] in ("insert", "grown_insert"):
            e[r["kind"] + "_rows_per_s"] = r["rows_per_s"]
            e[r["kind"] + "_rows"] = r["n"]
        elif r["kind"] == "floor":
            e["floor_qps"] = r["qps"]
        elif r["kind"] == "vacuum":
            e["vacuum_s"], e["vacuum_deleted"] = r["seconds"], r["deleted"]
        elif r["kind"] == "pgbench_insert":
            e.setdefault("pgbench_insert", []).append(
                {k: r[k] for k in ("clients", "rows_per_s")})
        elif r["kind"] == "pgbench":
            e.setdefault("pgbench", []).append(
                {k: r[k] for k in ("ef", "clients", "qps", "lockmgr_waits", "active")
                 if k in r})
        elif r["kind"] in QUERY_LISTS:
            e.setdefault(QUERY_LISTS[r["kind"]], []).append(
                {k: r[k] for k in ("ef", "clients", "nq", "recall", "qps", "p50_ms", "p99_ms")})
        elif r["kind"] == "filtered":
            e.setdefault("filtered", []).append(
                {k: r[k] for k in ("percent", "mode", "rows", "nq", "recall", "qps", "p50_ms",
                                   "p99_ms", "short", "planner_scan")})
    for engines in out.values():
        for e in engines.values():
            single = sorted((q for q in e["queries"] if q["clients"] == 1), key=lambda q: q["ef"])
            for target in (0.95, 0.99):
                hit = next((q for q in single if q["recall"] >= target), None)
                e["qps_at_recall_%.2f" % target] = (
                    {"ef": hit["ef"], "qps": hit["qps"], "recall": hit["recall"]} if hit else None)
    return out


def ratio(a, b):
    return "-" if a is None or b is None or not b else "%.2fx" % (a / b)


def pair_ratio(present, vals):
    return ratio(vals[present.index("omendb")], vals[present.index("pgvector")])


def ratios(summary):
    """omendb/pgvector per data set where both ran: the figures of the side-by-side table."""
    def div(a, b):
        return a / b if a is not None and b else None

    out = {}
    for dsname, by_engine in summary.items():
        o, p = by_engine.get("omendb"), by_engine.get("pgvector")
        if not o or not p:
            continue
        r = {k: div(o.get(k), p.get(k))
             for k in ("build_vectors_per_s", "index_bytes", "insert_rows_per_s",
                       "grown_insert_rows_per_s", "build_memory_per_vector")}
        for key, prefix in (("queries", ""), ("grown", "grown_"), ("reindexed", "reindexed_")):
            for q in o.get(key, []):
                m = next((x for x in p.get(key, [])
                          if x["ef"] == q["ef"] and x["clients"] == q["clients"]), None)
                if not m:
                    continue
                r["%sqps_ef%d_%dclient" % (prefix, q["ef"], q["clients"])] = div(q["qps"], m["qps"])
                if prefix:
                    r["%srecall_ef%d" % (prefix, q["ef"])] = div(q["recall"], m["recall"])
        for t in ("0.95", "0.99"):
            a, b = o.get("qps_at_recall_" + t), p.get("qps_at_recall_" + t)
            r["qps_at_recall_" + t] = div(a and a["qps"], b and b["qps"])
        for f in o.get("filtered", []):
            m = next((x for x in p.get("filtered", [])
                      if x["percent"] == f["percent"] and x["mode"] == f["mode"]), None)
            if m:
                r["filtered_qps_%dpct_%s" % (f["percent"], f["mode"])] = div(f["qps"], m["qps"])
        for b in o.get("pgbench", []):
            m = next((x for x in p.get("pgbench", []) if x["clients"] == b["clients"]), None)
            if m:
                r["pgbench_qps_ef%d_%dclient" % (b["ef"], b["clients"])] = div(b["qps"], m["qps"])
        out[dsname] = r
    return out


def cmd_report(args):
    with open(args.results) as f:
        records = [json.loads(line) for line in f if line.strip()]
    summary = summarize(records)
    engines = args.engines
    for dsname, by_engine in summary.items():
        present = [e for e in engines if e in by_engine]
        cols = present + (["omendb/pgvector"] if {"omendb", "pgvector"} <= set(present) else [])
        log("")
        log("=== %s ===" % dsname)
        head = "  %-34s" + " %16s" * len(cols)
        log(head % tuple([""] + cols))

        def blank(e):
            """the cell of a figure engine e lacks: n/a where it could not index the set"""
            return "n/a" if "na" in by_engine[e] else "-"

        def row(label, key, spec, scale=1.0, compare=True):
            vals = []
            for e in present:
                v = by_engine[e].get(key)
                vals.append(v * scale if isinstance(v, (int, float)) else v)
            if all(key not in by_engine[e] for e in present):
                return
            cells = [blank(e) if v is None else spec % v for e, v in zip(present, vals)]
            if len(cols) > len(present):
                cells.append(pair_ratio(present, vals) if compare else "")
            log(head % tuple([label] + cells))

        row("load (s)", "load_s", "%.1f")
        row("column indexed as", "indexed", "%s", compare=False)
        row("build (s)", "build_s", "%.1f")
        row("build vectors/s", "build_vectors_per_s", "%.0f")
        row("parallel workers seen", "build_workers", "%d", compare=False)
        row("build memory (MB, peak)", "build_memory_bytes", "%.1f", 1 / 2 ** 20)
        row("build memory per vector (bytes)", "build_memory_per_vector", "%.0f")
        row("index size (MB)", "index_bytes", "%.1f", 1 / 2 ** 20)
        row("single-row insert rows/s", "insert_rows_per_s", "%.0f")

        def query_rows(key, label):
            """recall / QPS per ef and client count of the query list `key`"""
            lists = [by_engine[e].get(key, []) for e in present]
            for clients in sorted({q["clients"] for qs in lists for q in qs}):
                for ef in sorted({q["ef"] for qs in lists for q in qs if q["clients"] == clients}):
                    vals, cells = [], []
                    for e, qs in zip(present, lists):
                        q = next((q for q in qs if q["ef"] == ef and q["clients"] == clients),
                                 None)
                        vals.append(q["qps"] if q else None)
                        cells.append("%.3f / %.0f" % (q["recall"], q["qps"]) if q else blank(e))
                    if len(cols) > len(present):
                        cells.append(pair_ratio(present, vals))
                    log(head % tuple([label.format(ef=ef, clients=clients)] + cells))

        query_rows("queries", "ef {ef}, {clients} client(s): recall / QPS")
        # its ratio would compare the two types' text input, not the indexes
        row("no search, same round trip (QPS)", "floor_qps", "%.0f", compare=False)
        for target in (0.95, 0.99):
            key = "qps_at_recall_%.2f" % target
            vals, cells = [], []
            for e in present:
                h = by_engine[e].get(key)
                vals.append(h["qps"] if h else None)
                cells.append("%.0f (ef %d)" % (h["qps"], h["ef"]) if h else
                             "not reached" if by_engine[e]["queries"] else blank(e))
            if len(cols) > len(present):
                cells.append(pair_ratio(present, vals))
            log(head % tuple(["QPS at recall >= %.2f" % target] + cells))
        def client_rows(key, value, label):
            """A row per client count of the records under key: value per engine;
            label(clients, a record) names it."""
            for clients in sorted({b["clients"] for e in present
                                   for b in by_engine[e].get(key, [])}):
                recs = [next((b for b in by_engine[e].get(key, []) if b["clients"] == clients),
                             None) for e in present]
                vals = [b[value] if b else None for b in recs]
                cells = [blank(e) if v is None else "%.0f" % v for e, v in zip(present, vals)]
                if len(cols) > len(present):
                    cells.append(pair_ratio(present, vals))
                log(head % tuple([label(clients, next(b for b in recs if b))] + cells))

        client_rows("pgbench", "qps",
                    lambda c, b: "pgbench ef %d, %d client(s): QPS" % (b["ef"], c))
        client_rows("pgbench_insert", "rows_per_s",
                    lambda c, b: "pgbench inserts, %d client(s): rows/s" % c)
        grown = {by_engine[e].get("grown_insert_rows") for e in present} - {None}
        if grown:
            log("  index built over all but the last %s rows, which are then inserted one at a"
                " time (grown), and after REINDEX:" % "/".join(map(str, sorted(grown))))
            row("grown: single-row insert rows/s", "grown_insert_rows_per_s", "%.0f")
            query_rows("grown", "grown, ef {ef}: recall / QPS")
            query_rows("reindexed", "REINDEX, ef {ef}: recall / QPS")
        if any("vacuum_s" in by_engine[e] for e in present):
            log("  every row but the base rows of odd ids deleted, then VACUUM:")
            row("VACUUM (s)", "vacuum_s", "%.1f")
            query_rows("deleted", "after VACUUM, ef {ef}: recall / QPS")
        filtered = [f for e in present for f in by_engine[e].get("filtered", [])]
        for pct in sorted({f["percent"] for f in filtered}, reverse=True):
            modes = [m for m in ("off", "relaxed_order", "strict_order")
                     if any(f["percent"] == pct and f["mode"] == m for f in filtered)]
            for mode in modes:
                vals, cells = [], []
                for e in present:
                    f = next((f for f in by_engine[e].get("filtered", [])
                              if f["percent"] == pct and f["mode"] == mode), None)
                    vals.append(f["qps"] if f else None)
                    cells.append("%.3f / %.0f" % (f["recall"], f["qps"]) if f else blank(e))
                if len(cols) > len(present):
                    cells.append(pair_ratio(present, vals))
                label = "%d%% filter, %s: recall / QPS" % (pct, mode.replace("_order", ""))
                log(head % tuple([label] + cells))
        for e in present:
            if "na" in by_engine[e]:
                log("  %s: n/a (%s)" % (e, by_engine[e]["na"]))
            for err in by_engine[e].get("errors", []):
                log("  %s: %s" % (e, err))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": json.loads(args.settings or "{}"), "results": summary,
                       "omendb_over_pgvector": ratios(summary)}, f, indent=2)
        log("")
        log("machine-readable summary: %s" % args.json)


# ---------------------------------------------------------------- main

def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", default=os.environ.get("OMEN_DATA_DIR", "/var/tmp/omendb-data"))
    p.add_argument("--synth-rows", action="append", default=[], metavar="SET=N",
                   help="base rows of a synthetic set or fashion_halfvec (defaults: %s)" % ", ".join(
                       ["%s=%d" % (k, v[2]) for k, v in SYNTHETIC.items()]
                       + ["fashion_halfvec=%d" % FASHION_HALFVEC_ROWS]))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", help="append JSON-lines results here")
    p.add_argument("--engine", default="omendb")
    p.add_argument("--timeout", type=float, default=120, help="statement timeout, s")
    sub = p.add_subparsers(dest="cmd", required=True)

    def ds_cmd(name, fn):
        s = sub.add_parser(name)
        s.add_argument("dataset", choices=DATASETS)
        s.set_defaults(fn=fn)
        return s

    s = ds_cmd("prepare", cmd_prepare)
    s.add_argument("--queries", type=int, default=1000)
    ds_cmd("info", cmd_info)
    s = ds_cmd("copy", cmd_copy)
    s.add_argument("--rows", type=int, help="only the first ROWS base rows")
    cast_help = "type each engine's index casts the column to, comma-separated; empty: none"
    s = ds_cmd("query", cmd_query)
    s.add_argument("--db", required=True, help="database of each engine, comma-separated")
    s.add_argument("--guc", required=True, help="ef_search GUC of each engine")
    s.add_argument("--cast", help=cast_help)
    s.add_argument("--queries", type=int, default=1000)
    s.add_argument("--efs", type=lambda v: [int(x) for x in v.split(",")], default=[40])
    s.add_argument("--clients", type=lambda v: [int(x) for x in v.split(",")], default=[1])
    s.add_argument("--warmup", type=int, default=1000,
                   help="queries each new connection runs untimed before it is measured")
    s.add_argument("--explain", action="store_true")
    s.add_argument("--floor", action="store_true",
                   help="also time the same statement shape without a search")
    s.add_argument("--slices", type=int, default=1,
                   help="measure each point in this many turns per engine")
    s.add_argument("--kind", default="query", choices=sorted(QUERY_LISTS),
                   help="kind of the result records: which index state they measure")
    s.add_argument("--kept", default="all", choices=["all", "odd"],
                   help="base rows left in the table: the ground truth is among them")
    s = ds_cmd("pgbench", cmd_pgbench)
    s.add_argument("--db", required=True, help="database of each engine, comma-separated")
    s.add_argument("--guc", required=True, help="ef_search GUC of each engine")
    s.add_argument("--cast", help=cast_help)
    s.add_argument("--pgbench", required=True, help="path of the pgbench program")
    s.add_argument("--ef", type=int, default=40)
    s.add_argument("--queries", type=int, default=1000)
    s.add_argument("--clients", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2])
    s.add_argument("--seconds", type=int, default=10, help="per engine and client count")
    s.add_argument("--warmup-seconds", type=int, default=0, help="seconds not measured per run")
    s.add_argument("--rounds", type=int, default=1, help="turns the engines take")
    s = ds_cmd("delete_half", cmd_delete_half)
    s.add_argument("--db", required=True)
    s = ds_cmd("pgbench_insert", cmd_pgbench_insert)
    s.add_argument("--db", required=True, help="database of each engine, comma-separated")
    s.add_argument("--pgbench", required=True, help="path of the pgbench program")
    s.add_argument("--n", type=int, default=5000, help="extra rows the inserts draw from")
    s.add_argument("--clients", type=lambda v: [int(x) for x in v.split(",")],
                   default=[1, 2, 4, 8])
    s.add_argument("--seconds", type=int, default=10, help="per engine and client count")
    s.add_argument("--warmup-seconds", type=int, default=0, help="seconds not measured per run")
    s.add_argument("--rounds", type=int, default=2, help="turns the engines take")
    s = ds_cmd("filtered", cmd_filtered)
    s.add_argument("--db", required=True)
    s.add_argument("--guc", required=True, help="ef_search GUC of the engine")
    s.add_argument("--cast", default="", help="type the index casts the column to")
    s.add_argument("--iterative-guc", required=True)
    s.add_argument("--max-tuples-guc", required=True)
    s.add_argument("--ef", type=int, default=40)
    s.add_argument("--max-tuples", type=int, default=20000)
    s.add_argument("--queries", type=int, default=200)
    s.add_argument("--percents", type=lambda v: [int(x) for x in v.split(",")],
                   default=[50, 10, 1])
    s.add_argument("--modes", type=lambda v: v.split(","),
                   default=["off", "relaxed_order", "strict_order"])
    s.add_argument("--warmup", type=int, default=100,
                   help="queries each new connection runs untimed before it is measured")
    s = ds_cmd("insert", cmd_insert)
    s.add_argument("--db", required=True)
    s.add_argument("--n", type=int, default=2000, help="extra rows to insert")
    s.add_argument("--base-from", type=int, help="insert the base rows from this one on")
    s.add_argument("--kind", default="insert", help="kind of the result record")
    s = ds_cmd("neighbours", cmd_neighbours)
    s.add_argument("--db", required=True)
    s.add_argument("--guc", required=True)
    s.add_argument("--ef", type=int, default=40)
    s.add_argument("--query-index", type=int, default=0)
    s = sub.add_parser("build")
    s.add_argument("--db", required=True)
    s.add_argument("--sql", required=True)
    s.add_argument("--set", action="append", help="SET before the build, e.g. 'work_mem = 1'")
    s.add_argument("--rows", type=int, required=True)
    s.add_argument("--dataset-name", required=True)
    s.add_argument("--indexed", default="vector", help="type the index holds, for the report")
    s.add_argument("--poll", type=float, default=0.25)
    s.add_argument("--every", type=float, default=5.0, help="progress line at least this often")
    s.set_defaults(fn=cmd_build)
    s = sub.add_parser("report")
    s.add_argument("results")
    s.add_argument("--engines", type=lambda v: v.split(","), default=["omendb", "pgvector"])
    s.add_argument("--json")
    s.add_argument("--settings", help="JSON object stored with the summary")
    s.set_defaults(fn=cmd_report)
    args = p.parse_args()
    rows = {}
    for r in args.synth_rows:
        name, _, n = r.partition("=")
        sized = list(SYNTHETIC) + ["fashion_halfvec"]
        if name not in sized or not n.isdigit() or int(n) < 1:
            p.error("--synth-rows %s: want SET=N with SET one of %s" % (r, ", ".join(sized)))
        rows[name] = int(n)
    args.synth_rows = rows
    args.fn(args)


if __name__ == "__main__":
    main()
