#!/usr/bin/python3
"""Oracle for the services collector's model: usage svc_oracle.py JSON SCRAPE.
Computes, from `nft -j list ruleset` alone, every Service port kube-proxy
programmed (from the chain names its service-ips / service-nodeports
elements go to, and the comments of no-endpoint-* elements), its frontends
and its distinct endpoints (vmap -> endpoint chain -> dnat, inline dnat
maps, plain dnat, external -> service/local chains), and compares them
with the scrape's nftables_service_endpoints and
nftables_service_frontend_info series, both ways. Exit 1 on any
difference, printing each."""
import json
import re
import sys

CHAIN = re.compile(r"^(service|local|external|firewall)-[A-Z2-7]{8}-([^/]+)/([^/]+)/(tcp|udp|sctp)/(.*)$")
FAM = {"ip": "ip", "ip6": "ip6"}

entries = json.load(open(sys.argv[1]))["nftables"]
rules, maps = {}, {}
for o in entries:
    if "rule" in o and o["rule"]["table"] == "kube-proxy":
        r = o["rule"]
        rules.setdefault((r["family"], r["chain"]), []).append(r["expr"])
    for k in ("map", "set"):
        if k in o and o[k]["table"] == "kube-proxy":
            maps[(o[k]["family"], o[k]["name"])] = o[k].get("elem", [])


def targets(expr_list, prefixes):
    out = []
    for e in expr_list:
        for kind in ("goto", "jump"):
            if kind in e and e[kind]["target"].startswith(prefixes):
                out.append(e[kind]["target"])
        if "vmap" in e:
            for _, v in e["vmap"]["data"].get("set", []):
                for kind in ("goto", "jump"):
                    if kind in v and v[kind]["target"].startswith(prefixes):
                        out.append(v[kind]["target"])
    return out


def dnats(expr_list):
    out = []
    for e in expr_list:
        d = e.get("dnat")
        if not d:
            continue
        a = d.get("addr")
        if isinstance(a, dict) and "map" in a:
            for _, v in a["map"]["data"]["set"]:
                ip, port = v["concat"]
                out.append((ip, int(port)))
        elif isinstance(a, str):
            out.append((a, int(d.get("port", 0))))
    return out


def endpoints(fam, chain, kind):
    eps = set()
    chains = [chain]
    if kind == "external":
        chains = [t for ex in rules.get((fam, chain), []) for t in targets(ex, ("service-", "local-"))]
    for c in chains:
        for ex in rules.get((fam, c), []):
            eps.update(dnats(ex))
            for ep in targets(ex, ("endpoint-",)):
                for ex2 in rules.get((fam, ep), []):
                    eps.update(dnats(ex2))
    return len(eps)


exp_ep, exp_fe = {}, set()
for (fam, name), elems in maps.items():
    if name not in ("service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports"):
        continue
    for el in elems:
        key, val = el
        comment = None
        if isinstance(key, dict) and "elem" in key:
            comment = key["elem"].get("comment")
            key = key["elem"]["val"]
        parts = key["concat"]
        if len(parts) == 3:
            addr, proto, port = parts
        else:
            addr, (proto, port) = "", parts
        if name.startswith("no-endpoint"):
            ns, rest = comment.split("/", 1)
            svc, _, pname = rest.partition(":")
            ident = (ns, svc, pname, proto, fam)
            exp_ep.setdefault(ident, 0)
            exp_fe.add(ident + ("no_endpoints", addr, str(port)))
            continue
        chain = val.get("goto", val.get("jump", {})).get("target", "")
        m = CHAIN.match(chain)
        if not m:
            continue
        kind, ns, svc, _, pname = m.groups()
        ident = (ns, svc, pname, proto, fam)
        exp_ep[ident] = max(exp_ep.get(ident, 0), endpoints(fam, chain, kind))
        fk = "node_port" if name == "service-nodeports" else ("external" if kind == "external" else "cluster_ip")
        exp_fe.add(ident + (fk, addr, str(port)))


def labels(s):
    return dict((k, v.encode().decode("unicode_escape")) for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', s))


got_ep, got_fe = {}, set()
for line in open(sys.argv[2]):
    if line.startswith("nftables_service_endpoints{"):
        head, val = line.rsplit(" ", 1)
        l = labels(head)
        got_ep[(l["namespace"], l["service"], l["port"], l["protocol"], l["family"])] = int(float(val))
    elif line.startswith("nftables_service_frontend_info{"):
        l = labels(line.rsplit(" ", 1)[0])
        got_fe.add((l["namespace"], l["service"], l["port"], l["protocol"], l["family"],
                    l["kind"], l["address"], l["port_number"]))

bad = 0
for k in sorted(set(exp_ep) | set(got_ep)):
    if exp_ep.get(k) != got_ep.get(k):
        print(f"endpoints {k}: exporter {got_ep.get(k)}, nft {exp_ep.get(k)}")
        bad += 1
for k in sorted(exp_fe ^ got_fe):
    print(f"frontend {k}: {'only in exporter' if k in got_fe else 'missing in exporter'}")
    bad += 1
print(f"{len(exp_ep)} Service ports, {len(exp_fe)} frontends: {bad} differences")
sys.exit(1 if bad else 0)
