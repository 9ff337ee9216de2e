#!/usr/bin/env python3
"""Side-by-side query latency: redline against Debian's Prometheus on identical data.

Both servers load the same OpenMetrics file (the fixtures scaled to ~100k series, written by
`cargo bench --bench promql` with REDLINE_WRITE_OM): Prometheus through
`promtool tsdb create-blocks-from openmetrics`, redline through `redline debug load`. Every
query of benches/promql.rs runs through the same HTTP API on each, interleaved, and the
script prints median latencies, the ratio redline/Prometheus per query, and whether the two
answers agree. Everything listens on 127.0.0.1 only.

The client keeps one HTTP/1.1 connection open to each server, as Grafana's Prometheus data
source does, so the figures are the servers' request latency without a TCP handshake each;
`--new-connections` opens a connection per request instead (both servers alike).

Usage: python3 benches/compare_prometheus.py [--runs N] [--workdir DIR] [--reuse-data]
       [--redline-bin PATH] [--new-connections]
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
        """(seconds from sending the request to having read the body, decoded JSON)."""
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
        return elapsed, json.loads(body)


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


def canonical(result):
    """A comparable form of a query result: metric -> values, rounded."""
    out = {}
    for s in result["data"]["result"]:
        key = json.dumps(s["metric"], sort_keys=True)
        pts = s.get("values") or [s["value"]]
        out[key] = [(round(float(t), 3), float(v)) for t, v in pts]
    return out


def agree(a, b):
    if a.keys() != b.keys():
        return False
    for k in a:
        if len(a[k]) != len(b[k]):
            return False
        for (ta, va), (tb, vb) in zip(a[k], b[k]):
            if ta != tb:
                return False
            if va != vb and not (va != va and vb != vb):
                if abs(va - vb) > 1e-9 * max(1.0, abs(va), abs(vb)):
                    return False
    return True


def describe_diff(name, a, b):
    """One line on how the Prometheus answer `a` and redline's `b` differ."""
    only_a, only_b = a.keys() - b.keys(), b.keys() - a.keys()
    if only_a or only_b:
        return (f"{name}: {len(a)} vs {len(b)} series; only in Prometheus: "
                f"{sorted(only_a)[:2]}, only in redline: {sorted(only_b)[:2]}")
    for k in sorted(a):
        if not agree({k: a[k]}, {k: b[k]}):
            return f"{name}: {k}: Prometheus {a[k][:3]}, redline {b[k][:3]}"
    return f"{name}: same"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--workdir", default=os.path.join(ROOT, "target", "compare-prometheus"))
    ap.add_argument("--reuse-data", action="store_true",
                    help="keep the OpenMetrics file and Prometheus blocks of the last run "
                         "(only rebuild redline)")
    ap.add_argument("--redline-bin", help="use this redline binary instead of building one")
    ap.add_argument("--new-connections", action="store_true",
                    help="open a new connection for every request (default: keep one open "
                         "per server)")
    args = ap.parse_args()
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
        subprocess.run(["cargo", "bench", "--bench", "promql"], cwd=ROOT, env=env, check=True)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, tsdb],
                       check=True, stdout=subprocess.DEVNULL)
        open(end_file, "w").write(str(end_ms))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    redline_bin = args.redline_bin or os.path.join(target, "release", "redline")
    if not args.redline_bin:
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
    try:
        keep = not args.new_connections
        pc, rc = Client(pp, keep), Client(rp, keep)
        pn = wait_ready(pc, "prometheus", end_ms / 1000, prom, plog)
        rn = wait_ready(rc, "redline", end_ms / 1000, red, rlog)
        print(f"series: prometheus {pn}, redline {rn}")
        # Off the 30 s sample grid, so Prometheus 2.x's closed range boundary and 3.x's open
        # one select the same samples.
        t = (end_ms - 15000) / 1000
        rows = []
        for name, expr in queries():
            for kind, params in (("instant", {"query": expr, "time": t}),
                                 ("range", {"query": expr, "start": t - 900, "end": t, "step": 30})):
                path = "/api/v1/query" if kind == "instant" else "/api/v1/query_range"
                _, pr = pc.get(path, params)
                _, rr = rc.get(path, params)
                same = agree(canonical(pr), canonical(rr))
                if not same:
                    print("DIFF " + describe_diff(f"{name} ({kind})", canonical(pr),
                                                  canonical(rr)), file=sys.stderr)
                pt, rt = [], []
                for _ in range(args.runs):
                    pt.append(pc.get(path, params)[0])
                    rt.append(rc.get(path, params)[0])
                pm, rm = statistics.median(pt) * 1000, statistics.median(rt) * 1000
                rows.append((f"{name} ({kind})", pm, rm, rm / pm, same))
        print(f"\n| query | Prometheus ms | redline ms | ratio | same answer |\n|---|---|---|---|---|")
        for q, pm, rm, ratio, same in rows:
            print(f"| {q} | {pm:.2f} | {rm:.2f} | {ratio:.2f} | {'yes' if same else 'NO'} |")
        ratios = [r[3] for r in rows]
        print(f"\nconnections: {'kept alive' if keep else 'one per request'}")
        print(f"median ratio {statistics.median(ratios):.2f}, max ratio {max(ratios):.2f}, "
              f"answers agree on {sum(r[4] for r in rows)}/{len(rows)}")
    finally:
        for p in (prom, red):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
