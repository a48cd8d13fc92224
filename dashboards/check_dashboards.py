#!/usr/bin/python3
"""Check the Grafana dashboards and Prometheus rule files of nftables_exporter.

usage: check_dashboards.py [FILE...]
       check_dashboards.py --exprs [--job J] [--instance I] [--rate-interval D] FILE...

FILE is a dashboard (*.json) or a rule file (*.yaml / *.yml); the default is
every *.json, alerts.yaml and recording.yaml next to this script.

Check mode prints one line per problem and exits 1 if there is any.
Dashboards: valid JSON, schemaVersion 39, a uid unique across the files,
unique panel ids, the datasource / job / instance variables (job and
instance as label_values() on nftables_exporter_build_info), only
timeseries / stat / table / bargauge panels (and rows), a title, description,
unit and datasource on every panel, a non-empty expr and datasource on every
target, never a hard-coded datasource uid (only ${datasource} /
$datasource), every vector selector filtered with job="$job" and
instance=~"$instance", every rate / irate / increase over
[$__rate_interval], *_total only inside those, *_bucket only inside
histogram_quantile, and only metrics of the README's metric contract.
Rule files: alert names NftablesExporter*, a severity label
(critical|warning|info), summary (ending with a period), a templated
description and the runbook_url of the alert; record names
level:metric:operations; only contract metrics, `up`, or series recorded in
the given files.

--exprs prints every PromQL expression, one JSON object a line
({"key", "file", "kind", "expr"}): dashboard targets and the selectors of
label_values() variables with $job, $instance, $__rate_interval (and the
other Grafana variables) replaced by concrete values, and every rule's expr
as written.

Only the standard library is used: the rule files are read with a small
parser for the YAML subset they are written in (block mappings and
sequences, plain / quoted scalars, | and > block scalars); where PyYAML is
installed its reading is compared with ours.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "README.md")
RUNBOOK = "https://github.com/nftables-exporter/nftables_exporter/blob/main/README.md#runbook-"
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "row"}
ANGULAR = {"graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"}
DS_REFS = {"${datasource}", "$datasource"}
SEVERITIES = {"critical", "warning", "info"}

problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


# ----------------------------------------------------------------- YAML subset

class YamlError(Exception):
    pass


def _scalar(text, lineno):
    s = text.strip()
    if not s:
        return None
    if s[0] in "[{":
        raise YamlError(f"line {lineno}: flow collections are not supported")
    if s[0] == "'":
        out, i = [], 1
        while i < len(s):
            if s[i] == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                rest = s[i + 1:].strip()
                if rest and not rest.startswith("#"):
                    raise YamlError(f"line {lineno}: text after a quoted scalar")
                return "".join(out)
            out.append(s[i])
            i += 1
        raise YamlError(f"line {lineno}: unterminated quoted scalar")
    if s[0] == '"':
        out, i = [], 1
        esc = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0"}
        while i < len(s):
            c = s[i]
            if c == "\\" and i + 1 < len(s):
                if s[i + 1] not in esc:
                    raise YamlError(f"line {lineno}: unsupported escape \\{s[i + 1]}")
                out.append(esc[s[i + 1]])
                i += 2
                continue
            if c == '"':
                rest = s[i + 1:].strip()
                if rest and not rest.startswith("#"):
                    raise YamlError(f"line {lineno}: text after a quoted scalar")
                return "".join(out)
            out.append(c)
            i += 1
        raise YamlError(f"line {lineno}: unterminated quoted scalar")
    m = re.search(r"\s#", s)
    if m:
        s = s[:m.start()].rstrip()
    return s


class _Yaml:
    def __init__(self, text):
        self.lines = text.split("\n")

    def _indent(self, i):
        ln = self.lines[i]
        return len(ln) - len(ln.lstrip(" "))

    def _sig(self, i):
        """Index of the next line with content (not blank, not a comment)."""
        while i < len(self.lines):
            s = self.lines[i].strip()
            if s and not s.startswith("#"):
                if "\t" in self.lines[i][:self._indent(i) + 1]:
                    raise YamlError(f"line {i + 1}: tab in indentation")
                return i
            i += 1
        return i

    def parse(self):
        i = self._sig(0)
        if i >= len(self.lines):
            return None
        if self.lines[i].strip() == "---":
            i = self._sig(i + 1)
        v, i = self._node(i, self._indent(i))
        i = self._sig(i)
        if i < len(self.lines):
            raise YamlError(f"line {i + 1}: unexpected content")
        return v

    def _is_item(self, i):
        s = self.lines[i].lstrip(" ")
        return s == "-" or s.startswith("- ")

    def _node(self, i, ind):
        if self._is_item(i):
            return self._seq(i, ind)
        return self._map(i, ind)

    def _seq(self, i, ind):
        out = []
        while True:
            i = self._sig(i)
            if i >= len(self.lines) or self._indent(i) != ind or not self._is_item(i):
                if i < len(self.lines) and self._indent(i) > ind:
                    raise YamlError(f"line {i + 1}: bad indentation")
                return out, i
            rest = self.lines[i].lstrip(" ")[1:]
            if not rest.strip() or rest.strip().startswith("#"):
                j = self._sig(i + 1)
                v, i = self._node(j, self._indent(j))
                out.append(v)
                continue
            inner = ind + 1 + (len(rest) - len(rest.lstrip(" ")))
            if re.match(r"^[^'\"#][^:#]*:(\s|$)", rest.strip()):
                self.lines[i] = " " * inner + rest.strip()
                v, i = self._map(i, inner)
            else:
                v, i = _scalar(rest, i + 1), i + 1
            out.append(v)

    def _map(self, i, ind):
        out = {}
        while True:
            i = self._sig(i)
            if i >= len(self.lines) or self._indent(i) != ind or self._is_item(i):
                if i < len(self.lines) and self._indent(i) > ind:
                    raise YamlError(f"line {i + 1}: bad indentation")
                return out, i
            s = self.lines[i].strip()
            m = re.match(r"^([^'\"#][^:#]*?|'[^']*'|\"[^\"]*\"):(\s+(.*))?$", s)
            if not m:
                raise YamlError(f"line {i + 1}: expected 'key: value'")
            key = m.group(1).strip().strip("'\"")
            if key in out:
                raise YamlError(f"line {i + 1}: duplicate key {key}")
            rest = (m.group(3) or "").strip()
            if rest[:1] in ("|", ">"):
                out[key], i = self._block(i, ind, rest)
            elif rest and not rest.startswith("#"):
                out[key], i = _scalar(rest, i + 1), i + 1
            else:
                j = self._sig(i + 1)
                if j < len(self.lines) and (self._indent(j) > ind or
                                            (self._indent(j) == ind and self._is_item(j))):
                    out[key], i = self._node(j, self._indent(j))
                else:
                    out[key], i = None, i + 1

    def _block(self, i, ind, header):
        m = re.match(r"^([|>])([+-]?)\s*(#.*)?$", header)
        if not m:
            raise YamlError(f"line {i + 1}: unsupported block scalar header {header!r}")
        style, chomp = m.group(1), m.group(2)
        body, j, bind = [], i + 1, None
        while j < len(self.lines):
            ln = self.lines[j]
            if ln.strip() == "":
                body.append("")
                j += 1
                continue
            n = len(ln) - len(ln.lstrip(" "))
            if n <= ind:
                break
            if bind is None:
                bind = n
            if n < bind:
                raise YamlError(f"line {j + 1}: block scalar indentation")
            body.append(ln[bind:])
            j += 1
        while body and body[-1] == "":
            body.pop()
            j -= 0
        if style == "|":
            text = "\n".join(body)
        else:
            text, prev_blank = "", True
            for b in body:
                if b == "":
                    text += "\n"
                    prev_blank = True
                else:
                    if b.startswith(" "):
                        raise YamlError(f"line {i + 1}: more-indented lines in a folded scalar")
                    text += ("" if prev_blank else " ") + b
                    prev_blank = False
        if chomp != "-" and body:
            text += "\n"
        return text, j


def load_yaml(path):
    text = open(path, encoding="utf-8").read()
    doc = _Yaml(text).parse()
    try:
        import yaml  # optional cross-check only
    except ImportError:
        return doc
    ref = yaml.safe_load(text)
    if _norm(ref) != _norm(doc):
        problem(path, "the built-in YAML reader disagrees with PyYAML (keep to the subset described in the file)")
        return ref
    return doc


def _norm(v):
    if isinstance(v, dict):
        return {str(k): _norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return None if v is None else str(v)


# ------------------------------------------------------------------ PromQL scan

AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
               "bottomk", "topk", "quantile"}
KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
            "group_left", "group_right", "atan2", "inf", "nan", "start", "end"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
TOKEN = re.compile(r"""
    (?P<ws>\s+) | (?P<comment>\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{?\w+\}?)
  | (?P<num>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)(?:ms|[smhdwy])*(?:\d+(?:ms|[smhdwy]))*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])
""", re.X)


def tokens(expr):
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot tokenize at {expr[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup not in ("ws", "comment"):
            out.append((m.lastgroup, m.group()))
    return out


def scan(expr):
    """Selectors and range functions of a PromQL expression.

    Returns (selectors, ranges): selectors as (metric, matcher text, enclosing
    function names); ranges as (function or "", range text)."""
    toks = tokens(expr)
    sels, ranges, stack = [], [], []    # stack: function name per open paren
    i = 0

    def skip_group(i, open_, close):
        depth, j = 0, i
        while j < len(toks):
            if toks[j][1] == open_:
                depth += 1
            elif toks[j][1] == close:
                depth -= 1
                if depth == 0:
                    return j
            j += 1
        raise ValueError(f"unbalanced {open_}")

    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text in LABEL_LISTS:
            if nxt == "(":
                i = skip_group(i + 1, "(", ")") + 1
                continue
        if kind == "ident" and nxt == "(" and text not in KEYWORDS:
            stack.append(text)
            i += 2
            continue
        if kind == "ident" and (text in AGGREGATORS or text in KEYWORDS):
            i += 1
            continue
        if kind == "ident" or text == "{":
            name, matchers = (text, "") if kind == "ident" else ("", None)
            j = i + 1 if kind == "ident" else i
            if j < len(toks) and toks[j][1] == "{":
                end = skip_group(j, "{", "}")
                matchers = " ".join(t for _, t in toks[j + 1:end])
                j = end + 1
            sels.append((name, matchers or "", [f for f in stack if f]))
            i = j
            continue
        if text == "(":
            stack.append("")
        elif text == ")":
            if not stack:
                raise ValueError("unbalanced )")
            stack.pop()
        elif text == "[":
            end = skip_group(i, "[", "]")
            ranges.append((stack[-1] if stack else "", "".join(t for _, t in toks[i + 1:end])))
            i = end + 1
            continue
        i += 1
    if stack:
        raise ValueError("unbalanced (")
    return sels, ranges


def contract_metrics():
    """Metric names in the README's metric tables (histograms expanded)."""
    try:
        text = open(README, encoding="utf-8").read()
    except OSError:
        return None
    names = set()
    sec = text.split("\n## Metrics", 1)
    if len(sec) < 2:
        return None
    for ln in sec[1].split("\n## ", 1)[0].splitlines():
        m = re.match(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(\w+)\s*\|", ln)
        if not m:
            continue
        names.add(m.group(1))
        if m.group(2) == "histogram":
            names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
    return names


# ---------------------------------------------------------------- dashboards

def ds_ok(ds):
    if isinstance(ds, str):
        return ds in DS_REFS
    if isinstance(ds, dict):
        return ds.get("uid") in DS_REFS and ds.get("type", "prometheus") == "prometheus"
    return False


def walk_datasources(node, path, where):
    """Every 'datasource' anywhere must reference the variable."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "datasource" and v is not None and not ds_ok(v):
                problem(where, f"{path}.datasource is {json.dumps(v)}: use {{\"type\": \"prometheus\", \"uid\": \"${{datasource}}\"}}")
            walk_datasources(v, f"{path}.{k}", where)
    elif isinstance(node, list):
        for n, v in enumerate(node):
            walk_datasources(v, f"{path}[{n}]", where)


def all_panels(panels):
    for p in panels or []:
        yield p
        yield from all_panels(p.get("panels"))


def var_query(v):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q if isinstance(q, str) else ""


def check_expr(where, expr, metrics, dashboard):
    try:
        sels, ranges = scan(expr)
    except ValueError as e:
        problem(where, f"cannot read expr: {e}")
        return
    if not sels:
        problem(where, "expr selects no series")
    for name, matchers, funcs in sels:
        label = name or "{" + matchers + "}"
        if metrics is not None and name and name not in metrics and ":" not in name:
            if not (name == "up" and not dashboard):
                problem(where, f"{name} is not in the README's metric contract")
        if not dashboard:
            continue
        if not re.search(r'(^|[\s,])job\s*=\s*"\$\{?job\}?"', matchers):
            problem(where, f'{label}: missing job="$job"')
        if not re.search(r'(^|[\s,])instance\s*=~\s*"\$\{?instance\}?"', matchers):
            problem(where, f'{label}: missing instance=~"$instance"')
        if name.endswith("_total") and not {"rate", "irate", "increase"} & set(funcs):
            problem(where, f"{name}: a counter outside rate/irate/increase")
        if name.endswith("_bucket") and "histogram_quantile" not in funcs:
            problem(where, f"{name}: buckets outside histogram_quantile")
    if dashboard:
        for func, rng in ranges:
            if func in ("rate", "irate", "increase") and rng not in ("$__rate_interval", "${__rate_interval}"):
                problem(where, f"{func}() over [{rng}]: use [$__rate_interval]")
        for func in ("rate", "irate", "increase"):
            n_calls = len(re.findall(r"\b%s\s*\(" % func, expr))
            n_ranges = sum(1 for f, _ in ranges if f == func)
            if n_calls != n_ranges:
                problem(where, f"{func}() without a range selector of its own")
        if "_bucket" in expr and "sum by (le" not in re.sub(r"\s+", " ", expr):
            problem(where, "histogram_quantile() should aggregate with sum by (le, ...)")


def check_dashboard(path, d, uids, metrics):
    where = os.path.basename(path)
    if not isinstance(d, dict):
        problem(where, "not a JSON object")
        return
    if d.get("schemaVersion") != 39:
        problem(where, f"schemaVersion is {d.get('schemaVersion')!r}, want 39")
    uid = d.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        problem(where, f"uid {uid!r}: want 1-40 of [A-Za-z0-9_-]")
    elif uid in uids:
        problem(where, f"uid {uid!r} also used by {uids[uid]}")
    else:
        uids[uid] = where
    if not d.get("title"):
        problem(where, "no title")
    if not isinstance(d.get("refresh", ""), str):
        problem(where, "refresh must be a string")
    walk_datasources(d, "$", where)

    vars_ = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = vars_.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem(where, "variable datasource: want type datasource, query prometheus")
    for name in ("job", "instance"):
        v = vars_.get(name)
        if not v:
            problem(where, f"variable {name} missing")
            continue
        q = var_query(v)
        if v.get("type") != "query" or not re.match(r"^\s*label_values\(\s*nftables_exporter_build_info\b", q):
            problem(where, f"variable {name}: want a query variable label_values(nftables_exporter_build_info..., {name})")
        elif not re.search(r",\s*%s\s*\)\s*$" % name, q):
            problem(where, f"variable {name}: label_values(..., {name}) expected, got {q!r}")
        if not ds_ok(v.get("datasource")):
            problem(where, f"variable {name}: datasource must be ${{datasource}}")
        if name == "instance" and "$job" not in q:
            problem(where, "variable instance: filter it on job=\"$job\"")

    ids = {}
    for p in all_panels(d.get("panels")):
        pid, ptype, title = p.get("id"), p.get("type"), p.get("title", "")
        pw = f"{where}: panel {pid} ({title})"
        if not isinstance(pid, int):
            problem(pw, "id must be an integer")
        elif pid in ids:
            problem(pw, f"id {pid} also used by panel '{ids[pid]}'")
        else:
            ids[pid] = title
        if ptype in ANGULAR:
            problem(pw, f"Angular panel type {ptype}")
        elif ptype not in PANEL_TYPES:
            problem(pw, f"panel type {ptype!r} not in {sorted(PANEL_TYPES)}")
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "hwxy") or g["w"] > 24 or g["x"] + g["w"] > 24:
            problem(pw, f"gridPos {g}: want integer h, w, x, y with x + w <= 24")
        if ptype == "row":
            continue
        if not title:
            problem(pw, "no title")
        if not (p.get("description") or "").strip():
            problem(pw, "no description")
        if not ds_ok(p.get("datasource")):
            problem(pw, "panel datasource must be ${datasource}")
        if not (p.get("fieldConfig", {}).get("defaults", {}).get("unit")):
            problem(pw, "no fieldConfig.defaults.unit")
        targets = p.get("targets") or []
        if not targets:
            problem(pw, "no targets")
        refs = set()
        for t in targets:
            tw = f"{pw} target {t.get('refId')}"
            if t.get("refId") in refs or not t.get("refId"):
                problem(tw, "refId missing or repeated")
            refs.add(t.get("refId"))
            if not ds_ok(t.get("datasource")):
                problem(tw, "target datasource must be ${datasource}")
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problem(tw, "empty expr")
                continue
            check_expr(tw, expr, metrics, True)


# ---------------------------------------------------------------- rule files

def rules_of(path):
    """[(group, rule dict)] of a rule file; problems for what cannot be read."""
    try:
        doc = load_yaml(path)
    except (OSError, YamlError) as e:
        problem(path, f"cannot read: {e}")
        return []
    out = []
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        problem(path, "no groups")
        return []
    for g in doc["groups"]:
        for r in (g or {}).get("rules") or []:
            out.append((g.get("name"), r))
    return out


def check_rules(path, rules, metrics, recorded):
    where = os.path.basename(path)
    for _, r in rules:
        name = r.get("alert") or r.get("record")
        rw = f"{where}: {'alert' if 'alert' in r else 'record'} {name}"
        expr = r.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            problem(rw, "empty expr")
        else:
            check_expr(rw, expr, metrics, False)
            for sel, _, _ in scan_safe(expr):
                if ":" in sel and sel not in recorded:
                    problem(rw, f"{sel} is not recorded by any of the given rule files")
        if "record" in r:
            if not re.fullmatch(r"[a-z_]+:[a-z][a-z0-9_]*:[a-z0-9_]+", name or ""):
                problem(rw, "record name: want level:metric:operations")
            continue
        if not re.fullmatch(r"NftablesExporter[A-Z][A-Za-z0-9]*", name or ""):
            problem(rw, "alert name: want NftablesExporter<CamelCase>")
        sev = (r.get("labels") or {}).get("severity")
        if sev not in SEVERITIES:
            problem(rw, f"severity {sev!r}: want one of {sorted(SEVERITIES)}")
        ann = r.get("annotations") or {}
        summary = (ann.get("summary") or "").strip()
        if not summary or not summary.endswith(".") or "{{" in summary:
            problem(rw, "summary: want static text ending with a period")
        if "{{" not in (ann.get("description") or ""):
            problem(rw, "description: want a template ({{ $labels... }} / {{ $value }})")
        want = RUNBOOK + (name or "").lower()
        if ann.get("runbook_url") != want:
            problem(rw, f"runbook_url {ann.get('runbook_url')!r}, want {want}")


def scan_safe(expr):
    try:
        return scan(expr)[0]
    except ValueError:
        return []


# ------------------------------------------------------------------- --exprs

def substitute(expr, values, where):
    def rep(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"{where}: unknown variable ${name}")
        return values[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", rep, expr)


def emit_exprs(paths, args):
    esc = lambda s: s.replace("\\", "\\\\").replace('"', '\\"')
    values = {"job": esc(args["job"]), "instance": esc(args["instance"]),
              "__rate_interval": args["rate_interval"], "__interval": args["rate_interval"],
              "__range": "1h", "__range_s": "3600", "__interval_ms": "1000"}
    ok = True
    for path in paths:
        base = os.path.basename(path)
        if path.endswith(".json"):
            try:
                d = json.load(open(path, encoding="utf-8"))
            except (OSError, ValueError) as e:
                print(f"{base}: {e}", file=sys.stderr)
                ok = False
                continue
            uid = d.get("uid", base)
            # other query variables (namespace, service pickers) as "All"
            dvalues = dict(values)
            for v in d.get("templating", {}).get("list", []):
                if v.get("type") == "query" and v.get("name") not in dvalues:
                    dvalues[v["name"]] = v.get("allValue") or ".*"
            for v in d.get("templating", {}).get("list", []):
                m = re.match(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", var_query(v), re.S)
                if v.get("type") == "query" and m:
                    print(json.dumps({"key": f"{uid}: variable {v['name']}", "file": base, "kind": "variable",
                                      "expr": substitute(m.group(1), dvalues, base)}))
            for p in all_panels(d.get("panels")):
                for t in p.get("targets") or []:
                    if isinstance(t.get("expr"), str) and t["expr"].strip():
                        print(json.dumps({"key": f"{uid}: {p.get('title')} / {t.get('refId')}", "file": base,
                                          "kind": "panel", "expr": substitute(t["expr"], dvalues, base)}))
        else:
            for _, r in rules_of(path):
                kind = "alert" if "alert" in r else "record"
                print(json.dumps({"key": f"{base}: {kind} {r.get(kind)}", "file": base, "kind": kind,
                                  "expr": r.get("expr") or ""}))
    for p in problems:
        print(p, file=sys.stderr)
    return 0 if ok and not problems else 1


def main(argv):
    args = {"job": "nftables", "instance": ".+", "rate_interval": "5m"}
    exprs, paths, i = False, [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--exprs":
            exprs = True
        elif a in ("--job", "--instance", "--rate-interval") and i + 1 < len(argv):
            args[a[2:].replace("-", "_")] = argv[i + 1]
            i += 1
        elif a.startswith("--") and "=" in a and a.split("=", 1)[0] in ("--job", "--instance", "--rate-interval"):
            k, v = a[2:].split("=", 1)
            args[k.replace("-", "_")] = v
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif a.startswith("-"):
            print(f"unknown option {a}", file=sys.stderr)
            return 2
        else:
            paths.append(a)
        i += 1
    if not paths:
        paths = sorted(os.path.join(HERE, f) for f in os.listdir(HERE) if f.endswith(".json"))
        paths += [os.path.join(HERE, "alerts.yaml"), os.path.join(HERE, "recording.yaml")]
    if exprs:
        return emit_exprs(paths, args)

    metrics = contract_metrics()
    if metrics is None:
        print(f"note: {README} has no metric tables; metric names not checked", file=sys.stderr)
    uids, rule_sets, n_dash, n_targets = {}, [], 0, 0
    for path in paths:
        if path.endswith(".json"):
            try:
                d = json.load(open(path, encoding="utf-8"))
            except (OSError, ValueError) as e:
                problem(os.path.basename(path), f"invalid JSON: {e}")
                continue
            n_dash += 1
            n_targets += sum(len(p.get("targets") or []) for p in all_panels(d.get("panels")))
            check_dashboard(path, d, uids, metrics)
        elif path.endswith((".yaml", ".yml")):
            rule_sets.append((path, rules_of(path)))
        else:
            problem(path, "neither a dashboard (.json) nor a rule file (.yaml)")
    recorded = {r["record"] for _, rules in rule_sets for _, r in rules if "record" in r}
    n_rules = 0
    for path, rules in rule_sets:
        n_rules += len(rules)
        check_rules(path, rules, metrics, recorded)
    for p in problems:
        print(p)
    print(f"{n_dash} dashboard(s), {n_targets} target(s), {n_rules} rule(s): "
          f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
