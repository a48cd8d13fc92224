#!/usr/bin/python3
"""Checks an exposition for what promtool does not: usage check_expo.py
{text|openmetrics} FILE. Duplicate series, interleaved families, HELP/TYPE
once and before samples, only the escapes \\\\ \\" \\n in label values,
histogram buckets sorted, cumulative, +Inf present and equal to _count.
For openmetrics also runs prometheus_client's strict parser. Exit 1 with
one line per problem."""
import re
import sys

fmt, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
problems = []
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)')

if not text.endswith("\n"):
    problems.append("no final newline")
seen_series = set()
family_done = set()
current = None
typed = {}
hist = {}
for no, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("#"):
        parts = line.split(" ", 3)
        if parts[1] == "EOF":
            continue
        kind, name = parts[1], parts[2]
        if kind == "TYPE":
            if name in typed:
                problems.append(f"{no}: second TYPE for {name}")
            typed[name] = parts[3]
        if name != current:
            if name in family_done:
                problems.append(f"{no}: family {name} interleaved")
            if current:
                family_done.add(current)
            current = name
        continue
    m = line_re.match(line)
    if not m:
        problems.append(f"{no}: unparsable sample: {line!r}")
        continue
    name, labels = m.group(1), m.group(3) or ""
    pos, pairs = 0, []
    while pos < len(labels):
        lm = label_re.match(labels, pos)
        if not lm:
            problems.append(f"{no}: bad label text at {labels[pos:]!r}")
            break
        pairs.append((lm.group(1), lm.group(2)))
        pos = lm.end()
    key = (name, tuple(pairs))
    if key in seen_series:
        problems.append(f"{no}: duplicate series {name}{{{labels}}}")
    seen_series.add(key)
    fam = None
    for cand in (name, re.sub(r'_(bucket|sum|count|total)$', '', name)):
        if cand in typed or (cand + "_total") in typed:
            fam = cand
            break
    if fam is None:
        problems.append(f"{no}: sample {name} before its TYPE")
        continue
    if fam != current and (fam + "_total") != current:
        problems.append(f"{no}: sample {name} outside its family block")
    if typed.get(fam) == "histogram":
        base = tuple(p for p in pairs if p[0] != "le")
        h = hist.setdefault((fam, base), {"buckets": [], "count": None})
        if name.endswith("_bucket"):
            le = dict(pairs)["le"]
            h["buckets"].append((float(le), float(m.group(4))))
        elif name.endswith("_count"):
            h["count"] = float(m.group(4))

for (fam, base), h in hist.items():
    b = h["buckets"]
    if not b or b[-1][0] != float("inf"):
        problems.append(f"histogram {fam}{base}: no +Inf bucket")
        continue
    if [x for x, _ in b] != sorted(x for x, _ in b):
        problems.append(f"histogram {fam}{base}: buckets not sorted")
    if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
        problems.append(f"histogram {fam}{base}: buckets not cumulative")
    if h["count"] != b[-1][1]:
        problems.append(f"histogram {fam}{base}: +Inf != _count")

if fmt == "openmetrics":
    if not text.endswith("# EOF\n"):
        problems.append("openmetrics: no final # EOF")
    try:
        from prometheus_client.openmetrics.parser import \
            text_string_to_metric_families
        list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own complaint, verbatim
        problems.append(f"openmetrics parser: {e}")

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
