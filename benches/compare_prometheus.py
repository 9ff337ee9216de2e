#!/usr/bin/env python3
"""Side-by-side query latency: redline against Debian's Prometheus on identical data.

Both servers load the same OpenMetrics file (the fixtures scaled to ~100k series, written by
`cargo bench --bench promql` with REDLINE_WRITE_OM): Prometheus through
`promtool tsdb create-blocks-from openmetrics`, redline through `redline debug load`. Every
query of benches/promql.rs runs through the same HTTP API on each, interleaved, and the
script prints median latencies, the ratio redline/Prometheus per query, and whether the two
answers agree. Everything listens on 127.0.0.1 only.

The answers must agree exactly: the same series (label sets), the same timestamp text, and
the same sample value text (`"NaN"`, `"+Inf"`, `"1e+21"`, `"0.1"`, `"-0"`), as Prometheus' JSON
writer formats them; sorted results in the same order. Any difference is listed and the
script exits with status 1. Besides the benchmark queries it checks a few value-format
queries (NaN, ±Inf, -0, exponents, large integers, scalar and string results) and the
metadata endpoints (`/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`).

`--small` is the test suite's mode (tests/run-all.sh): one replica of the fixtures (~9k
series), the debug build of redline and of the data writer, no timing runs; it only checks
the answers, in well under a minute.

The client keeps one HTTP/1.1 connection open to each server, as Grafana's Prometheus data
source does, so the figures are the servers' request latency without a TCP handshake each;
`--new-connections` opens a connection per request instead (both servers alike).

Usage: python3 benches/compare_prometheus.py [--small] [--runs N] [--workdir DIR]
       [--reuse-data] [--redline-bin PATH] [--new-connections]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries():
    """The (name, expr) pairs from benches/promql.rs, so both benches measure the same set."""
    src = open(os.path.join(ROOT, "benches", "promql.rs")).read()
    return re.findall(r'\(\s*"([a-z0-9_]+)",\s*r#"(.*?)"#,?\s*\)', src, re.S)


class Client:
    """One server's HTTP client: a kept-alive connection, or a new one per request."""

    def __init__(self, port, keep_alive=True):
        self.port = port
        self.keep_alive = keep_alive
        self.conn = None

    def get(self, path, params):
        """(seconds from sending the request to having read the body, the JSON with its
        numbers kept as text)."""
        url = path + "?" + urllib.parse.urlencode(params)
        t0 = time.perf_counter()
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            self.conn.request("GET", url)
            r = self.conn.getresponse()
            body = r.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = None
            raise
        elapsed = time.perf_counter() - t0
        if not self.keep_alive or r.will_close:
            self.conn.close()
            self.conn = None
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status} from port {self.port}: {body[:200]!r}")
        return elapsed, exact_json(body)


def wait_ready(client, what, at, proc, log, deadline=300):
    """Waits until `base` answers a count of every series at `at` (seconds): the data ends
    at a fixed time, so an instant query at "now" would find nothing once the build and
    the block creation took longer than the 5 minute lookback."""
    end = time.time() + deadline
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}; see {log}")
        try:
            _, r = client.get("/api/v1/query",
                              {"query": "count({__name__=~\".+\"})", "time": at})
            if r["data"]["result"]:
                return r["data"]["result"][0]["value"][1]
        except Exception:
            pass
        time.sleep(0.5)
    sys.exit(f"{what} did not become ready; see {log}")


# Value-format queries: each answer is one sample (or a scalar or string) whose text must
# be exactly Prometheus' (Go's strconv.FormatFloat 'f', -1 between 1e-6 and 1e21, 'e'
# outside; NaN, +Inf, -Inf).
FORMAT_QUERIES = [
    ("value_1e21", "vector(1e21)"),
    ("value_tiny", "vector(1.5e-7)"),
    ("value_huge", "vector(-2.5e300)"),
    ("value_third", "vector(1/3)"),
    ("value_2pow53", "vector(2^53 + 1)"),
    ("value_1e15", "vector(1e15)"),
    ("value_neg_zero", "-vector(0)"),
    ("value_pos_inf", "vector(1) / 0"),
    ("value_neg_inf", "vector(-1) / 0"),
    ("value_nan", "vector(0) / 0"),
    ("value_nan_from_data", "max by (namespace) (kube_pod_info) * 0 / 0"),
    ("scalar_1e21", "1e21"),
    ("scalar_fraction", "0.1 + 0.2"),
    ("string_literal", '"a string"'),
    ("sorted_desc", 'sort_desc(sum by (namespace) (kube_pod_container_resource_requests{resource="cpu"}))'),
    ("sorted_asc", 'sort(sum by (namespace) (kube_pod_container_resource_requests{resource="cpu"}))'),
]

# Metadata endpoints, with the same matchers on both servers (start and end are added).
METADATA = [
    ("/api/v1/series", [("match[]", 'kube_pod_info'), ("match[]", 'up{job="kubelet"}')]),
    ("/api/v1/series", [("match[]", '{__name__=~"scheduler_plugin_execution_duration_seconds_.*"}')]),
    ("/api/v1/labels", []),
    ("/api/v1/labels", [("match[]", 'node_cpu_seconds_total')]),
    ("/api/v1/label/job/values", []),
    ("/api/v1/label/__name__/values", [("match[]", '{job="kube-scheduler"}')]),
]


def exact_json(body):
    """The JSON with every number kept as its text, so `1` and `1.0` stay apart."""
    return json.loads(body, parse_float=str, parse_int=str)


def timestamp(text):
    """A timestamp, compared as its text: `5` for whole seconds, `5.050` in a sample and
    `5.05` in a scalar result, as Prometheus writes them."""
    return text


def point(p):
    return (timestamp(p[0]), p[1])


# Debian's Prometheus (2.42) adds the members of `sum` and `avg` in plain floating point;
# Prometheus 3, which redline follows, uses Kahan-Neumaier compensated summation, so the
# same inputs can give sums whose last bits differ (2.42: 0.9404999999999999, redline:
# 0.9405). Only for queries that sum, values may differ by this relative amount; every
# other value, and every NaN/Inf, must be the same text.
SUMMATION_TOLERANCE = 1e-12
SUMS = re.compile(r"\b(sum|avg)\b\s*(by|without|\()")


def same_value(a, b, tolerant):
    if a == b:
        return True
    if not tolerant:
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if x != x or y != y or x in (float("inf"), float("-inf")) or y in (float("inf"), float("-inf")):
        return False
    return abs(x - y) <= SUMMATION_TOLERANCE * max(abs(x), abs(y))


def same_points(a, b, tolerant):
    return len(a) == len(b) and all(
        ta == tb and same_value(va, vb, tolerant) for (ta, va), (tb, vb) in zip(a, b))


def data_diff(expr, prom, red):
    """None when redline's `data` is Prometheus' `data`, else a line on the first
    difference. Series order is compared for matrices (sorted by labels) and for sort()ed
    vectors; other vectors are compared as sets of series."""
    pd, rd = prom["data"], red["data"]
    if pd["resultType"] != rd["resultType"]:
        return f"resultType: Prometheus {pd['resultType']}, redline {rd['resultType']}"
    kind = pd["resultType"]
    if kind in ("scalar", "string"):
        a, b = point(pd["result"]), point(rd["result"])
        return None if a == b else f"Prometheus {pd['result']}, redline {rd['result']}"
    key = lambda s: json.dumps(s["metric"], sort_keys=True)
    if kind == "vector":
        pr = [(key(s), point(s["value"])) for s in pd["result"]]
        rr = [(key(s), point(s["value"])) for s in rd["result"]]
        if not re.match(r"\s*sort(_desc)?\(", expr):
            pr, rr = sorted(pr), sorted(rr)
    else:
        pr = [(key(s), [point(p) for p in s["values"]]) for s in pd["result"]]
        rr = [(key(s), [point(p) for p in s["values"]]) for s in rd["result"]]
    tolerant = bool(SUMS.search(expr))
    pk, rk = [k for k, _ in pr], [k for k, _ in rr]
    if kind == "vector":
        pr = [(k, [p]) for k, p in pr]
        rr = [(k, [p]) for k, p in rr]
    if pk == rk and all(same_points(a, b, tolerant) for (_, a), (_, b) in zip(pr, rr)):
        return None
    if sorted(pk) != sorted(rk):
        only_p, only_r = set(pk) - set(rk), set(rk) - set(pk)
        return (f"{len(pk)} vs {len(rk)} series; only in Prometheus: {sorted(only_p)[:2]}, "
                f"only in redline: {sorted(only_r)[:2]}")
    if pk != rk:
        return f"series order differs: Prometheus {pk[:3]}, redline {rk[:3]}"
    for (k, a), (_, b) in zip(pr, rr):
        if not same_points(a, b, tolerant):
            pairs = [(pp, rp) for pp, rp in zip(a, b)
                     if pp[0] != rp[0] or not same_value(pp[1], rp[1], tolerant)]
            return (f"{k}: {len(a)} vs {len(b)} points; (Prometheus, redline) [time, value] "
                    f"where they differ: {pairs[:3]}")
    return "differs"


def metadata_diff(prom, red):
    """None when the metadata answers are the same lists (in the same order)."""
    if prom["data"] == red["data"]:
        return None
    pd, rd = prom["data"], red["data"]
    return f"{len(pd)} vs {len(rd)} entries; Prometheus {pd[:3]}, redline {rd[:3]}"


def cargo_artifacts(names):
    """Builds (if needed) and returns the executables of the named debug targets, as
    {(kind, name): path}; `names` are cargo target options like ["--bin", "redline"]."""
    out = subprocess.run(["cargo", "build", "--quiet", "--message-format=json"] + names,
                         cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = json.loads(line)
        if m.get("reason") == "compiler-artifact" and m.get("executable"):
            for kind in m["target"]["kind"]:
                found[(kind, m["target"]["name"])] = m["executable"]
    return found


def write_data(args, om, env):
    """Writes the OpenMetrics file with the bench's own writer (benches/promql.rs)."""
    if args.small:
        # The debug build of the bench binary (tests/run-all.sh has built every target).
        exe = cargo_artifacts(["--bench", "promql"])[("bench", "promql")]
        subprocess.run([exe], cwd=ROOT, env=env, check=True)
    else:
        subprocess.run(["cargo", "bench", "--bench", "promql"], cwd=ROOT, env=env, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true",
                    help="the test suite's check: one replica of the fixtures, debug builds, "
                         "answers only (no timing)")
    ap.add_argument("--runs", type=int, default=None,
                    help="timed runs per query (default 15; 0 with --small)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--reuse-data", action="store_true",
                    help="keep the OpenMetrics file and Prometheus blocks of the last run "
                         "(only rebuild redline)")
    ap.add_argument("--redline-bin", help="use this redline binary instead of building one")
    ap.add_argument("--new-connections", action="store_true",
                    help="open a new connection for every request (default: keep one open "
                         "per server)")
    args = ap.parse_args()
    started = time.time()

    def phase(what):
        print(f"[{time.time() - started:5.1f} s] {what}", flush=True)

    if args.runs is None:
        args.runs = 0 if args.small else 15
    if args.workdir is None:
        sub = "compare-prometheus-small" if args.small else "compare-prometheus"
        args.workdir = os.path.join(ROOT, "target", sub)
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install prometheus")
    work = args.workdir
    om = os.path.join(work, "data.om")
    tsdb = os.path.join(work, "prometheus-data")
    end_file = os.path.join(work, "end_ms")
    if args.reuse_data and os.path.exists(end_file):
        end_ms = int(open(end_file).read())
    else:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        now_ms = int(time.time() * 1000)
        end_ms = now_ms - now_ms % 60000
        env = dict(os.environ, REDLINE_WRITE_OM=om, REDLINE_OM_END_MS=str(end_ms))
        if args.small:
            env["REDLINE_OM_REPLICAS"] = "1"
        write_data(args, om, env)
        phase("data written")
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, tsdb],
                       check=True, stdout=subprocess.DEVNULL)
        phase("Prometheus blocks created")
        open(end_file, "w").write(str(end_ms))
    if args.redline_bin:
        redline_bin = args.redline_bin
    elif args.small:
        redline_bin = cargo_artifacts(["--bin", "redline"])[("bin", "redline")]
    else:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        redline_bin = os.path.join(target, "release", "redline")
        subprocess.run(["cargo", "build", "--release", "--bin", "redline"], cwd=ROOT, check=True)
    cfg = os.path.join(work, "prometheus.yml")
    open(cfg, "w").write("global:\n  scrape_interval: 1h\n")
    pp, rp = free_port(), free_port()
    plog, rlog = os.path.join(work, "prometheus.log"), os.path.join(work, "redline.log")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tsdb}",
                             f"--web.listen-address=127.0.0.1:{pp}",
                             "--storage.tsdb.retention.time=30d"],
                            stdout=subprocess.DEVNULL, stderr=open(plog, "w"))
    red = subprocess.Popen([redline_bin, "debug", "load", om,
                            "--listen", f"127.0.0.1:{rp}"],
                           stdout=subprocess.DEVNULL, stderr=open(rlog, "w"))
    mismatches = []
    try:
        keep = not args.new_connections
        pc, rc = Client(pp, keep), Client(rp, keep)
        pn = wait_ready(pc, "prometheus", end_ms / 1000, prom, plog)
        phase("Prometheus ready")
        rn = wait_ready(rc, "redline", end_ms / 1000, red, rlog)
        phase("redline ready")
        print(f"series: prometheus {pn}, redline {rn}")
        if pn != rn:
            mismatches.append(f"series count: Prometheus {pn}, redline {rn}")
        # Off the 30 s sample grid, so Prometheus 2.x's closed range boundary and 3.x's open
        # one select the same samples.
        t = (end_ms - 15000) / 1000
        rows = []
        checked = 0
        for name, expr in queries() + FORMAT_QUERIES:
            timed = (name, expr) not in FORMAT_QUERIES
            shapes = [("instant", {"query": expr, "time": t}),
                      ("range", {"query": expr, "start": t - 900, "end": t, "step": 30})]
            if not timed:
                # A time with milliseconds, written as `<s>.050`.
                shapes.append(("instant@ms", {"query": expr, "time": f"{t:.0f}.05"}))
            for kind, params in shapes:
                if kind == "range" and expr.startswith('"'):
                    continue  # a string cannot be a range query's result
                path = "/api/v1/query_range" if kind == "range" else "/api/v1/query"
                checked += 1
                try:
                    _, pr = pc.get(path, params)
                    _, rr = rc.get(path, params)
                except RuntimeError as e:
                    mismatches.append(f"{name} ({kind}): {expr}: {e}")
                    continue
                diff = data_diff(expr, pr, rr)
                if diff:
                    mismatches.append(f"{name} ({kind}): {expr}: {diff}")
                if not timed or args.runs == 0:
                    continue
                pt, rt = [], []
                for _ in range(args.runs):
                    pt.append(pc.get(path, params)[0])
                    rt.append(rc.get(path, params)[0])
                pm, rm = statistics.median(pt) * 1000, statistics.median(rt) * 1000
                rows.append((f"{name} ({kind})", pm, rm, rm / pm, diff is None))
        for path, params in METADATA:
            params = params + [("start", str(t - 900)), ("end", str(t))]
            checked += 1
            try:
                _, pr = pc.get(path, params)
                _, rr = rc.get(path, params)
            except RuntimeError as e:
                mismatches.append(f"{path} {params}: {e}")
                continue
            diff = metadata_diff(pr, rr)
            if diff:
                mismatches.append(f"{path} {params}: {diff}")
        if rows:
            print(f"\n| query | Prometheus ms | redline ms | ratio | same answer |\n|---|---|---|---|---|")
            for q, pm, rm, ratio, same in rows:
                print(f"| {q} | {pm:.2f} | {rm:.2f} | {ratio:.2f} | {'yes' if same else 'NO'} |")
            ratios = [r[3] for r in rows]
            print(f"\nconnections: {'kept alive' if keep else 'one per request'}")
            print(f"median ratio {statistics.median(ratios):.2f}, max ratio {max(ratios):.2f}")
        phase(f"answers agree on {checked - len(mismatches)}/{checked}")
    finally:
        for p in (prom, red):
            p.terminate()
            p.wait()
    if mismatches:
        print(f"\n{len(mismatches)} answers differ from Prometheus':", file=sys.stderr)
        for m in mismatches:
            print("  " + m, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
