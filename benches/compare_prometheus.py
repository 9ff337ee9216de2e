#!/usr/bin/env python3
"""Side-by-side query latency: redline against Debian's Prometheus on identical data.

Both servers load the same OpenMetrics file (the fixtures scaled to ~100k series, written by
`cargo bench --bench promql` with REDLINE_WRITE_OM): Prometheus through
`promtool tsdb create-blocks-from openmetrics`, redline through `redline debug load`. Every
query of benches/promql.rs runs through the same HTTP API on each, interleaved, and the
script prints median latencies, the ratio redline/Prometheus per query, and whether the two
answers agree. Everything listens on 127.0.0.1 only.

Usage: python3 benches/compare_prometheus.py [--runs N] [--workdir DIR]
"""

import argparse
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
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries():
    """The (name, expr) pairs from benches/promql.rs, so both benches measure the same set."""
    src = open(os.path.join(ROOT, "benches", "promql.rs")).read()
    return re.findall(r'\(\s*"([a-z0-9_]+)",\s*r#"(.*?)"#,?\s*\)', src, re.S)


def get(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
    return time.perf_counter() - t0, json.loads(body)


def wait_ready(base, what, deadline=300):
    end = time.time() + deadline
    while time.time() < end:
        try:
            _, r = get(base, "/api/v1/query", {"query": "count({__name__=~\".+\"})"})
            if r["data"]["result"]:
                return r["data"]["result"][0]["value"][1]
        except Exception:
            pass
        time.sleep(0.5)
    sys.exit(f"{what} did not become ready")


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--workdir", default=os.path.join(ROOT, "target", "compare-prometheus"))
    args = ap.parse_args()
    for tool in ("prometheus", "promtool"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install prometheus")
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    now_ms = int(time.time() * 1000)
    end_ms = now_ms - now_ms % 60000
    om = os.path.join(work, "data.om")
    env = dict(os.environ, REDLINE_WRITE_OM=om, REDLINE_OM_END_MS=str(end_ms))
    subprocess.run(["cargo", "bench", "--bench", "promql"], cwd=ROOT, env=env, check=True)
    subprocess.run(["cargo", "build", "--release", "--bin", "redline"], cwd=ROOT, check=True)
    tsdb = os.path.join(work, "prometheus-data")
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, tsdb],
                   check=True, stdout=subprocess.DEVNULL)
    cfg = os.path.join(work, "prometheus.yml")
    open(cfg, "w").write("global:\n  scrape_interval: 1h\n")
    pp, rp = free_port(), free_port()
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tsdb}",
                             f"--web.listen-address=127.0.0.1:{pp}",
                             "--storage.tsdb.retention.time=30d"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    red = subprocess.Popen([os.path.join(ROOT, "target", "release", "redline"), "debug", "load", om,
                            "--listen", f"127.0.0.1:{rp}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pbase, rbase = f"http://127.0.0.1:{pp}", f"http://127.0.0.1:{rp}"
        pn, rn = wait_ready(pbase, "prometheus"), wait_ready(rbase, "redline")
        print(f"series: prometheus {pn}, redline {rn}")
        # Off the 30 s sample grid, so Prometheus 2.x's closed range boundary and 3.x's open
        # one select the same samples.
        t = (end_ms - 15000) / 1000
        rows = []
        for name, expr in queries():
            for kind, params in (("instant", {"query": expr, "time": t}),
                                 ("range", {"query": expr, "start": t - 900, "end": t, "step": 30})):
                path = "/api/v1/query" if kind == "instant" else "/api/v1/query_range"
                _, pr = get(pbase, path, params)
                _, rr = get(rbase, path, params)
                same = agree(canonical(pr), canonical(rr))
                pt, rt = [], []
                for _ in range(args.runs):
                    pt.append(get(pbase, path, params)[0])
                    rt.append(get(rbase, path, params)[0])
                pm, rm = statistics.median(pt) * 1000, statistics.median(rt) * 1000
                rows.append((f"{name} ({kind})", pm, rm, rm / pm, same))
        print(f"\n| query | Prometheus ms | redline ms | ratio | same answer |\n|---|---|---|---|---|")
        for q, pm, rm, ratio, same in rows:
            print(f"| {q} | {pm:.2f} | {rm:.2f} | {ratio:.2f} | {'yes' if same else 'NO'} |")
        ratios = [r[3] for r in rows]
        print(f"\nmedian ratio {statistics.median(ratios):.2f}, max ratio {max(ratios):.2f}, "
              f"answers agree on {sum(r[4] for r in rows)}/{len(rows)}")
    finally:
        for p in (prom, red):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
