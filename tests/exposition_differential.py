#!/usr/bin/env python3
"""Reference side of tests/exposition_differential.rs.

Parses one exposition file with the Python prometheus_client parser and prints one JSON
object per sample: {"name", "labels": [[name, value], ...], "value": repr or NaN/+Inf/-Inf,
"timestamp_ms": int or null, "type": the family's type}. Usage: exposition_differential.py FILE text|openmetrics

With `--families`, a JSON object per family comes first in each family's place:
{"family", "type", "help", "unit"}, and samples carry their "exemplar" (labels, value,
timestamp_ms) when they have one.

`exposition_differential.py --verdicts BATCH` reads JSON lines {"format", "hex"} (the input's
bytes in hex) and prints, per input, {"ok": bool, "samples": n, "error": text}: whether
prometheus_client's parser accepts the input as a whole (invalid UTF-8 is a rejection).

Exit status 3 means prometheus_client is not installed.
"""
import json
import math
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families as parse_text
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as parse_openmetrics,
    )
except ImportError as e:  # pragma: no cover - the Rust test reports this
    print(f"prometheus_client is not installed ({e}); "
          "run: python3 -m pip install prometheus-client", file=sys.stderr)
    sys.exit(3)


def value_text(v):
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def timestamp_ms(ts, fmt):
    if ts is None:
        return None
    if fmt == "openmetrics":
        # prometheus_client.samples.Timestamp: exact seconds and nanoseconds. Truncate
        # toward zero like Prometheus' int64(ts * 1000).
        total_ns = ts.sec * 1_000_000_000 + ts.nsec
        return total_ns // 1_000_000 if total_ns >= 0 else -((-total_ns) // 1_000_000)
    # The text parser divides the integer milliseconds by 1000; undo it by rounding.
    return round(ts * 1000)


QUOTED_META = re.compile(r'^#\s+(HELP|TYPE|UNIT)\s+"((?:[^"\\]|\\.)*)"(.*)$')


def meta_parts(line):
    """A line split on whitespace, but a quoted metric name in a HELP, TYPE or UNIT line
    (`# TYPE "http.server.duration" gauge`, Prometheus 3's UTF-8 names) is one part,
    without its quotes."""
    m = QUOTED_META.match(line)
    if m:
        name = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), m.group(2))
        return ["#", m.group(1), name] + m.group(3).split()
    return line.split()


def declared_families(text):
    """Names that appear in `# HELP`, `# TYPE` or `# UNIT` lines: the families that declared
    metadata (prometheus_client makes a family of every untyped sample too)."""
    names = set()
    for line in text.splitlines():
        parts = meta_parts(line)
        if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("HELP", "TYPE", "UNIT"):
            names.add(parts[2])
    return names


def counters_typed_without_total(text):
    """Names in `# TYPE name counter` lines that do not end in _total.

    prometheus_client's text parser renames the samples of such a counter from `name` to
    `name_total` (its internal OpenMetrics form). The exposition, and Prometheus, keep
    `name`, so the rename is undone for these families.
    """
    names = set()
    for line in text.splitlines():
        parts = meta_parts(line)
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"] and parts[3] == "counter":
            if not parts[2].endswith("_total"):
                names.add(parts[2])
    return names


def verdicts(batch):
    out = sys.stdout
    with open(batch, encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            fmt = case["format"]
            parse = parse_openmetrics if fmt == "openmetrics" else parse_text
            try:
                text = bytes.fromhex(case["hex"]).decode("utf-8")
                n = sum(len(fam.samples) for fam in parse(text))
                verdict = {"ok": True, "samples": n, "error": ""}
            except Exception as e:  # the parsers raise ValueError, KeyError, IndexError...
                verdict = {"ok": False, "samples": 0, "error": f"{type(e).__name__}: {e}"}
            out.write(json.dumps(verdict))
            out.write("\n")


def exemplar(s, fmt):
    e = getattr(s, "exemplar", None)
    if e is None:
        return None
    return {
        "labels": [[k, v] for k, v in e.labels.items()],
        "value": value_text(e.value),
        "timestamp_ms": timestamp_ms(e.timestamp, fmt),
    }


def main():
    if sys.argv[1] == "--verdicts":
        verdicts(sys.argv[2])
        return
    families = sys.argv[1] == "--families"
    if families:
        del sys.argv[1]
    path, fmt = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parse = parse_openmetrics if fmt == "openmetrics" else parse_text
    renamed = counters_typed_without_total(text) if fmt == "text" else set()
    declared = declared_families(text)
    out = sys.stdout
    for family in parse(text):
        if families:
            # Undo the text parser's rename of `# TYPE x_total counter` to family `x`.
            family_name = family.name
            if fmt == "text" and family.type == "counter" and family.name not in renamed:
                family_name += "_total"
            out.write(json.dumps({
                "family": family_name,
                "type": family.type,
                "help": family.documentation,
                "unit": family.unit,
                "declared": family_name in declared,
            }, ensure_ascii=False))
            out.write("\n")
        undo = family.type == "counter" and family.name in renamed
        for s in family.samples:
            name = s.name
            if undo and name == family.name + "_total":
                name = family.name
            out.write(json.dumps({
                "name": name,
                "labels": [[k, v] for k, v in s.labels.items()],
                "value": value_text(s.value),
                "timestamp_ms": timestamp_ms(s.timestamp, fmt),
                "type": family.type,
                "exemplar": exemplar(s, fmt),
            }, ensure_ascii=False))
            out.write("\n")


if __name__ == "__main__":
    main()
