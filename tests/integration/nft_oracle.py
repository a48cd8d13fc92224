#!/usr/bin/python3
"""Oracle for the ruleset collector: compares a scrape with `nft -j list ruleset`.

usage: nft_oracle.py [--summary] [--generation N] [--live-values]
                     JSON_FILE SCRAPE_FILE
       nft_oracle.py --expected JSON_FILE    print the series the oracle expects
       nft_oracle.py --gen                   print the nf_tables generation id of the
                                             network namespace we run in (NFT_MSG_GETGEN)

Compares every series of the metric contract that `nft -j list ruleset` can
give, table by table: nftables_tables, nftables_chains, nftables_rules,
nftables_sets, nftables_maps, nftables_objects, nftables_flowtables,
nftables_base_chain_info, nftables_base_chain_rules, nftables_set_elements,
nftables_compat_rules, nftables_object_packets_total,
nftables_object_bytes_total, nftables_quota_used_bytes and
nftables_quota_limit_bytes; with --generation N also
nftables_ruleset_generation. With --live-values the values of counters and
of quota usage are only checked for presence (traffic may move them).
Named counter objects are nftables_object_packets_total /
nftables_object_bytes_total (the issue's nftables_counter_* names fail
promtool's lint, which rejects "_counter_" in a counter's name).
The self metrics (nftables_netlink_events_total, nftables_netlink_overruns_total
{socket="events"}, nftables_resyncs_total, nftables_dump_duration_seconds) are
checked for presence only.

Prints one line per mismatch, e.g.
    nftables_rules{family="ip",table="x"}: exporter 3, nft 4
A series that nft does not have (a stale table, chain or set) reads
"exporter 3, nft absent"; one the exporter lacks reads "exporter absent, nft 4".
Exit status: 0 when everything is equal, 1 on any mismatch, 2 on bad input.

How nft -j 1.0.6 shows things (what this oracle relies on):
  - every object is one entry of the "nftables" list, keyed by its kind:
    table, chain, rule, set, map, flowtable, counter, quota, limit,
    "ct helper", "ct timeout", "ct expectation", secmark, synproxy;
  - base chains carry "type", "hook", "prio" (an integer) and "policy";
  - anonymous sets are never listed, nor are meters (named sets with the
    anonymous flag); a named set is "set", a map of any kind (verdict, data,
    object) is "map";
  - "elem" is absent for an empty set; each entry is one element: a plain
    value, {"prefix": ...}, {"range": [a, b]}, {"concat": [...]},
    {"elem": {"val": ..., "timeout": ..., "expires": ..., "comment": ...,
    "counter": ...}}, and for maps a [key, value] pair;
  - an iptables compat expression is {"xt": {"type": "match"|"target"|
    "watcher", "name": ...}} ("watcher" is an ebtables target);
  - a statement with no JSON printer is a bare string in "expr";
  - a dormant table makes nft 1.0.6 print broken JSON (use after free in
    table_flags_json), which this oracle reports as bad input.
"""
import json
import math
import os
import socket
import struct
import sys

OBJ_TYPES = {
    "counter": "counter",
    "quota": "quota",
    "limit": "limit",
    "ct helper": "ct_helper",
    "ct timeout": "ct_timeout",
    "ct expectation": "ct_expect",
    "secmark": "secmark",
    "synproxy": "synproxy",
}

# metric name -> label names, in the order the contract writes them
CONTRACT = {
    "nftables_ruleset_generation": (),
    "nftables_tables": ("family",),
    "nftables_chains": ("family", "table"),
    "nftables_rules": ("family", "table"),
    "nftables_sets": ("family", "table"),
    "nftables_maps": ("family", "table"),
    "nftables_objects": ("family", "table", "type"),
    "nftables_flowtables": ("family", "table"),
    "nftables_base_chain_info": ("family", "table", "chain", "type", "hook", "priority", "policy"),
    "nftables_base_chain_rules": ("family", "table", "chain"),
    "nftables_set_elements": ("family", "table", "set"),
    "nftables_object_packets_total": ("family", "table", "counter"),
    "nftables_object_bytes_total": ("family", "table", "counter"),
    "nftables_quota_used_bytes": ("family", "table", "quota"),
    "nftables_quota_limit_bytes": ("family", "table", "quota"),
    "nftables_compat_rules": ("family", "table"),
}
LIVE = {"nftables_object_packets_total", "nftables_object_bytes_total", "nftables_quota_used_bytes"}
SELF = ("nftables_netlink_events_total", "nftables_resyncs_total", "nftables_dump_duration_seconds")
CTR_PKTS, CTR_BYTES = "nftables_object_packets_total", "nftables_object_bytes_total"
SELF_SERIES = (("nftables_netlink_overruns_total", (("socket", "events"),)),)


class BadInput(Exception):
    pass


# ---------------------------------------------------------------- exposition

def unescape(s, where):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise BadInput(f"{where}: dangling backslash in label value")
            n = s[i + 1]
            if n == "\\":
                out.append("\\")
            elif n == '"':
                out.append('"')
            elif n == "n":
                out.append("\n")
            else:
                raise BadInput(f"{where}: unknown escape \\{n} in label value")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text, pos, where):
    """Parse from text[pos] == '{' to the matching '}'; return (labels, end)."""
    labels = []
    i = pos + 1
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "}":
            return tuple(labels), i + 1
        j = i
        while j < len(text) and (text[j].isalnum() or text[j] == "_"):
            j += 1
        name = text[i:j]
        if not name or text[j:j + 2] != '="':
            raise BadInput(f"{where}: bad label at {text[i:i + 40]!r}")
        k = j + 2
        raw = []
        while True:
            if k >= len(text):
                raise BadInput(f"{where}: unterminated label value")
            c = text[k]
            if c == "\\":
                raw.append(text[k:k + 2])
                k += 2
                continue
            if c == '"':
                break
            if c == "\n":
                raise BadInput(f"{where}: raw newline in label value")
            raw.append(c)
            k += 1
        labels.append((name, unescape("".join(raw), where)))
        i = k + 1
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] == "}":
            continue
        else:
            raise BadInput(f"{where}: expected , or }} after label {name}")


def parse_value(s, where):
    try:
        return float(s)		# accepts +Inf, -Inf, NaN too
    except ValueError:
        raise BadInput(f"{where}: bad value {s!r}") from None


def parse_exposition(text):
    """Return ({(name, frozenset(labels)): value}, set of # TYPE names, problems)."""
    samples = {}
    typed = set()
    problems = []
    for no, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                typed.add(parts[2])
            continue
        where = f"scrape line {no}"
        try:
            i = 0
            while i < len(line) and line[i] not in "{ ":
                i += 1
            name = line[:i]
            labels = ()
            if i < len(line) and line[i] == "{":
                labels, i = parse_labels(line, i, where)
            rest = line[i:].split()
            if not name or not rest or len(rest) > 2:
                raise BadInput(f"{where}: unparsable sample {line[:120]!r}")
            value = parse_value(rest[0], where)
        except BadInput as e:
            problems.append(str(e))
            continue
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            problems.append(f"{where}: repeated label name in {line[:120]!r}")
        key = (name, frozenset(labels))
        if key in samples:
            problems.append(f"{where}: duplicate series {fmt_series(name, dict(labels))}")
        samples[key] = value
    return samples, typed, problems


# ---------------------------------------------------------------- nft -j

def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{path}: not valid JSON ({e}); nft 1.0.6 prints broken JSON "
                       "for a table with flags (dormant/owner)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nftables"), list):
        raise BadInput(f"{path}: no \"nftables\" list")
    return doc["nftables"]


def count_elems(obj):
    elem = obj.get("elem")
    if elem is None:
        return 0
    if isinstance(elem, list):
        return len(elem)
    return 1


COUNTER_NAMES = {
    "object": ("nftables_object_packets_total", "nftables_object_bytes_total"),
}


def use_counter_names(kind):
    """Set the two named-counter metric names."""
    global CTR_PKTS, CTR_BYTES
    for old in COUNTER_NAMES.values():
        for n in old:
            CONTRACT.pop(n, None)
            LIVE.discard(n)
    CTR_PKTS, CTR_BYTES = COUNTER_NAMES[kind]
    for n in (CTR_PKTS, CTR_BYTES):
        CONTRACT[n] = ("family", "table", "counter")
        LIVE.add(n)


def expected_series(entries):
    """Return ({(name, frozenset(labels)): value}, {'tables': n, ...} stats)."""
    exp = {}
    tables = {}		# (family, table) -> dict of counts
    base = {}		# (family, table, chain) -> labels dict
    objects = {}	# (family, table, type) -> n

    def tab(fam, name):
        key = (fam, name)
        if key not in tables:
            tables[key] = {"chains": 0, "rules": 0, "sets": 0, "maps": 0,
                           "flowtables": 0, "compat_rules": 0}
        return tables[key]

    def put(name, labels, value):
        key = (name, frozenset(labels.items()))
        if key in exp:
            raise BadInput(f"nft -j lists {fmt_series(name, labels)} twice")
        exp[key] = value

    for ent in entries:
        if not isinstance(ent, dict) or len(ent) != 1:
            raise BadInput(f"unexpected entry {str(ent)[:100]}")
        kind, o = next(iter(ent.items()))
        if kind == "metainfo":
            continue
        if kind == "table":
            tab(o["family"], o["name"])
            continue
        fam, tname = o["family"], o["table"]
        t = tab(fam, tname)
        if kind == "chain":
            t["chains"] += 1
            if "hook" in o:
                k = (fam, tname, o["name"])
                base[k] = {"family": fam, "table": tname, "chain": o["name"],
                           "type": o.get("type", "filter"), "hook": o["hook"],
                           "priority": str(int(o["prio"])), "policy": o.get("policy", "accept")}
        elif kind == "rule":
            t["rules"] += 1
            if any(isinstance(e, dict) and "xt" in e for e in o.get("expr", [])):
                t["compat_rules"] += 1
        elif kind in ("set", "map"):
            t["sets" if kind == "set" else "maps"] += 1
            put("nftables_set_elements", {"family": fam, "table": tname, "set": o["name"]},
                count_elems(o))
        elif kind == "flowtable":
            t["flowtables"] += 1
        elif kind in OBJ_TYPES:
            typ = OBJ_TYPES[kind]
            objects[(fam, tname, typ)] = objects.get((fam, tname, typ), 0) + 1
            lab = {"family": fam, "table": tname}
            if kind == "counter":
                lab["counter"] = o["name"]
                put(CTR_PKTS, lab, o.get("packets", 0))
                put(CTR_BYTES, lab, o.get("bytes", 0))
            elif kind == "quota":
                lab["quota"] = o["name"]
                put("nftables_quota_used_bytes", lab, o.get("used", 0))
                put("nftables_quota_limit_bytes", lab, o["bytes"])
        elif kind in ("element", "meter"):
            continue    # not in `list ruleset`; tolerated for other listings
        else:
            raise BadInput(f"unknown kind {kind!r} in nft -j output")

    # rules per base chain, counted once every chain is known
    base_rules = {k: 0 for k in base}
    for ent in entries:
        kind, o = next(iter(ent.items()))
        if kind == "rule":
            k = (o["family"], o["table"], o["chain"])
            if k in base_rules:
                base_rules[k] += 1

    fams = {}
    for (fam, tname), c in tables.items():
        fams[fam] = fams.get(fam, 0) + 1
        for what, n in c.items():
            put("nftables_" + what, {"family": fam, "table": tname}, n)
    for fam, n in fams.items():
        put("nftables_tables", {"family": fam}, n)
    for k, lab in base.items():
        put("nftables_base_chain_info", lab, 1)
        put("nftables_base_chain_rules", {"family": k[0], "table": k[1], "chain": k[2]}, base_rules[k])
    for (fam, tname, typ), n in objects.items():
        put("nftables_objects", {"family": fam, "table": tname, "type": typ}, n)
    stats = {"tables": len(tables), "chains": sum(c["chains"] for c in tables.values()),
             "rules": sum(c["rules"] for c in tables.values()),
             "sets": sum(c["sets"] for c in tables.values()),
             "maps": sum(c["maps"] for c in tables.values()),
             "elements": sum(v for (n, _), v in exp.items() if n == "nftables_set_elements"),
             "objects": sum(objects.values()),
             "compat_rules": sum(c["compat_rules"] for c in tables.values())}
    return exp, stats


# ---------------------------------------------------------------- compare

def esc(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fmt_series(name, labels):
    if not labels:
        return name
    order = CONTRACT.get(name) or sorted(labels)
    keys = [k for k in order if k in labels] + sorted(k for k in labels if k not in order)
    return name + "{" + ",".join(f'{k}="{esc(labels[k])}"' for k in keys) + "}"


def fmt_num(v):
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 2 ** 63:
            return str(int(v))
        return repr(v)
    return str(v)


def sort_key(item):
    (name, labels), _ = item
    d = dict(labels)
    return (d.get("family", ""), d.get("table", ""), name, sorted(labels))


def compare(exp, samples, typed, live_values=False, generation=None):
    mismatches = []
    compared = 0
    if generation is not None:
        exp = dict(exp)
        exp[("nftables_ruleset_generation", frozenset())] = generation
    for key, want in sorted(exp.items(), key=sort_key):
        name, labels = key
        got = samples.get(key)
        compared += 1
        series = fmt_series(name, dict(labels))
        if got is None:
            mismatches.append((key, f"{series}: exporter absent, nft {fmt_num(want)}"))
        elif live_values and name in LIVE:
            continue
        elif float(got) != float(want):
            mismatches.append((key, f"{series}: exporter {fmt_num(got)}, nft {fmt_num(want)}"))
    for key, got in sorted(samples.items(), key=sort_key):
        name, labels = key
        if name not in CONTRACT or key in exp:
            continue
        if name == "nftables_ruleset_generation" and generation is None:
            if labels:
                mismatches.append((key, f"{fmt_series(name, dict(labels))}: unexpected labels"))
            continue
        mismatches.append((key, f"{fmt_series(name, dict(labels))}: exporter {fmt_num(got)}, nft absent"))
    if generation is None and not any(n == "nftables_ruleset_generation" for n, _ in samples):
        mismatches.append(((("", frozenset())), "nftables_ruleset_generation: exporter absent"))
    for name in SELF:
        present = name in typed or any(n == name or n.startswith(name + "_") for n, _ in samples)
        compared += 1
        if not present:
            mismatches.append((("", frozenset()), f"{name}: exporter absent (self metric)"))
    for name, labels in SELF_SERIES:
        compared += 1
        if (name, frozenset(labels)) not in samples:
            mismatches.append((("", frozenset()), f"{fmt_series(name, dict(labels))}: exporter absent (self metric)"))
    return [m for _, m in mismatches], compared


# ---------------------------------------------------------------- GETGEN

def read_generation():
    """NFT_MSG_GETGEN over NETLINK_NETFILTER in the current netns."""
    NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES = 12, 10
    NFT_MSG_NEWGEN, NFT_MSG_GETGEN, NFTA_GEN_ID = 15, 16, 1
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        s.bind((0, 0))
        body = struct.pack("BBH", socket.AF_UNSPEC, 0, 0)
        s.send(struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
                           1, 1, 0) + body)		# NLM_F_REQUEST
        data = s.recv(65536)
    finally:
        s.close()
    off = 0
    while off + 16 <= len(data):
        ln, ty, _, _, _ = struct.unpack_from("=IHHII", data, off)
        if ty == 2:		# NLMSG_ERROR
            err = struct.unpack_from("=i", data, off + 16)[0]
            raise OSError(-err, os.strerror(-err))
        if ty == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN:
            a = off + 16 + 4
            while a + 4 <= off + ln:
                alen, atype = struct.unpack_from("=HH", data, a)
                if atype & 0x3fff == NFTA_GEN_ID:
                    return struct.unpack_from(">I", data, a + 4)[0]
                a += (alen + 3) & ~3
        off += (ln + 3) & ~3
    raise OSError("no NEWGEN in the GETGEN reply")


def main(argv):
    args = list(argv)
    opts = {"summary": False, "live": False, "generation": None}
    if args == ["--gen"]:
        print(read_generation())
        return 0
    use_counter_names("object")
    if len(args) == 2 and args[0] == "--expected":
        exp, _ = expected_series(load_json(args[1]))
        for (name, labels), v in sorted(exp.items(), key=sort_key):
            print(fmt_series(name, dict(labels)), fmt_num(v))
        return 0
    pos = []
    while args:
        a = args.pop(0)
        if a == "--summary":
            opts["summary"] = True
        elif a == "--live-values":
            opts["live"] = True
        elif a == "--generation":
            opts["generation"] = int(args.pop(0))
        elif a.startswith("--generation="):
            opts["generation"] = int(a.split("=", 1)[1])
        elif a.startswith("--"):
            print(__doc__.split("\n\n")[1], file=sys.stderr)
            return 2
        else:
            pos.append(a)
    if len(pos) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    exp, stats = expected_series(load_json(pos[0]))
    with open(pos[1], encoding="utf-8", errors="strict") as f:
        text = f.read()
    samples, typed, problems = parse_exposition(text)
    mismatches, compared = compare(exp, samples, typed, opts["live"], opts["generation"])
    for p in problems:
        print(p)
    for m in mismatches:
        print(m)
    bad = len(mismatches) + len(problems)
    if opts["summary"]:
        print(f"compared {compared} values ({stats['tables']} tables, {stats['chains']} chains, "
              f"{stats['rules']} rules, {stats['sets']} sets, {stats['maps']} maps, "
              f"{stats['elements']} elements, {stats['objects']} objects, "
              f"{stats['compat_rules']} compat rules): {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BadInput as e:
        print(f"nft_oracle: {e}")
        sys.exit(2)
    except (OSError, UnicodeDecodeError) as e:
        print(f"nft_oracle: {e}")
        sys.exit(2)
