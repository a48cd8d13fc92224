#!/usr/bin/python3
"""Random nftables transactions for churn tests, deterministic given --seed.

usage: ip netns exec NS churn.py --netns NS --state FILE --count N [--seed S]
                                 [--big] [--prefix P] [--save DIR] [--quiet]

Runs N transactions in the network namespace NS, one `nft -f` per
transaction (nft -e -a -j -f: the echo tells the handles the kernel gave to
new rules). It refuses to run unless `ip netns identify` says we are inside
the named namespace NS: it never touches the host's ruleset.

It keeps its own model of what exists (tables, chains with their rules and
handles, which rule jumps to which chain or uses which set, named sets and
maps with their elements) so that most transactions succeed; a failed
transaction leaves the model as it was. The model, the random generator and
the counters live in the --state file (JSON), so a test can call it batch by
batch and the whole run stays deterministic: the same seed on a fresh
namespace gives the same transactions (the kernel's handles are
deterministic too).

Operations, mixed 1..8 per transaction (sometimes 20..50): add/delete table
(ip, ip6, inet), delete and re-create a table under the same name in one
transaction, add/delete chain (base and regular), rename chain, add rule
(counters, comments, jumps, gotos, anonymous sets, named set and map
lookups), insert rule (at the head or before a handle), add rule after a
handle, replace rule by handle, delete rule by handle, add/delete named sets
and maps (plain, interval, timeout, concatenated keys; verdict maps whose
elements jump to chains, data maps) with elements, add/delete elements,
flush set, flush chain, flush table, and a few transactions meant to fail
(a referenced chain or set deleted, a handle that does not exist).

--big: each transaction instead adds a table with 500 rules and a set of
2,000 elements (about 2,500 event messages, enough to overflow a 4 KiB
event socket) and deletes the oldest big table once there are three.

--prefix P starts every name with P (fixed in the state file at its first
run), so that two generators can work side by side on disjoint tables.

What nft 1.0.6 made the generator avoid (each found by a churn run):
  - `rename chain` then `delete table` of the same table in one batch:
    nft segfaults (exit 139, no message);
  - a chain renamed in a batch cannot be named again in that batch (ENOENT
    for the old and the new name), and a chain added in a batch cannot be
    renamed in it;
  - `delete element` on an interval set then `flush set` of it in one batch:
    "element does not exist";
  - nat base chains need a priority after conntrack (-300 gives EOPNOTSUPP);
  - `nft -j -f -` with native syntax on stdin does nothing and exits 0
    (from a file it falls back to the native parser): always use a file.

Prints one summary line: transactions, committed, failed (and how many of
those were meant to fail), success rate; with --save DIR also writes each
transaction as DIR/NNNNNN.nft plus DIR/NNNNNN.err for failures.
"""
import argparse
import json
import marshal
import os
import random
import subprocess
import sys
import tempfile

FAMILIES = ("ip", "ip6", "inet")
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
MAX_TABLES, MAX_CHAINS, MAX_RULES, MAX_SETS, MAX_ELEMS = 10, 12, 30, 6, 150

# set flavors: key type, kind, flags, how elements look
FLAVORS = {
    "addr": ("ipv4_addr", "set", ""),
    "addr_iv": ("ipv4_addr", "set", "flags interval;"),
    "addr_to": ("ipv4_addr", "set", "flags timeout; timeout 2h;"),
    "port": ("inet_service", "set", ""),
    "port_iv": ("inet_service", "set", "flags interval;"),
    "pair": ("ipv4_addr . inet_service", "set", ""),
    "vmap_port": ("inet_service : verdict", "map", ""),
    "vmap_addr": ("ipv4_addr : verdict", "map", ""),
    "vmap_pair": ("ipv4_addr . inet_service : verdict", "map", ""),
    "dmap": ("ipv4_addr : ipv4_addr", "map", ""),
    "dmap_iv": ("ipv4_addr : inet_service", "map", "flags interval;"),
}


def clone(x):
    """A deep copy of plain data (dicts, lists, sets, tuples, str, int), fast."""
    return marshal.loads(marshal.dumps(x))


class Fail(Exception):
    """The generator could not build the operation it drew: draw again."""


class Churn:
    def __init__(self, st, rng):
        self.st = st
        self.rng = rng

    # ------------------------------------------------------------ helpers
    def name(self, kind):
        """A fresh name: --prefix, a letter for the kind, a counter."""
        self.st["n"] += 1
        return f"{self.st.get('prefix', '')}{kind}{self.st['n']}"

    def tables(self):
        return sorted(self.st["tables"])

    def pick(self, seq):
        seq = list(seq)
        if not seq:
            raise Fail()
        return self.rng.choice(seq)

    def tkey(self, t):
        return f"{t['fam']}|{t['name']}"

    def refs_to_chain(self, t, cid):
        n = 0
        for c in t["chains"].values():
            for r in list(c["rules"].values()) + c["pending"]:
                n += r["chains"].count(cid)
        for s in t["sets"].values():
            n += sum(1 for v in s["elems"].values() if v == f"jump:{cid}")
        return n

    def refs_to_set(self, t, sname):
        n = 0
        for c in t["chains"].values():
            for r in list(c["rules"].values()) + c["pending"]:
                n += r["sets"].count(sname)
        return n

    def elem_key(self, flavor, k):
        a, b = divmod(k, 250)
        if flavor in ("addr", "addr_to", "vmap_addr", "dmap"):
            return f"10.{a}.{b}.1"
        if flavor in ("addr_iv", "dmap_iv"):	# non-overlapping: one /24 per k
            return f"10.{100 + a}.{b}.0/24" if k % 2 == 0 else f"10.{100 + a}.{b}.10-10.{100 + a}.{b}.20"
        if flavor == "port":
            return str(1000 + k)
        if flavor == "port_iv":
            return f"{2000 + 10 * k}-{2005 + 10 * k}" if k % 3 else str(2000 + 10 * k)
        if flavor == "vmap_port":
            return str(3000 + k)
        if flavor in ("pair", "vmap_pair"):
            return f"10.9.{a}.{b} . {80 + k % 5}"
        raise ValueError(flavor)

    def elem_text(self, t, s, key):
        v = s["elems"][key]
        if v is None:
            if s["flavor"] == "addr_to" and self.rng.random() < 0.5:
                return f"{key} timeout {self.rng.choice(['30m', '1h', '3h'])}"
            return key
        if v.startswith("jump:"):
            return f"{key} : jump {t['chains'][v[5:]]['name']}"
        return f"{key} : {v}"

    def new_elem_value(self, t, s):
        f = s["flavor"]
        if f.startswith("vmap"):
            leaves = [cid for cid, c in t["chains"].items() if c["leaf"] and self.usable(t, cid)]
            if leaves and self.rng.random() < 0.4:
                return "jump:" + self.rng.choice(sorted(leaves))
            return self.rng.choice(["accept", "drop"])
        if f == "dmap":
            return f"192.168.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        if f == "dmap_iv":
            return str(self.rng.randrange(1, 65535))
        return None

    # ------------------------------------------------------------ rules
    def usable(self, t, cid):
        """A chain renamed in this transaction cannot be named again in it
        (nft 1.0.6 then says ENOENT for both the old and the new name)."""
        return (self.tkey(t), cid) not in self.tx["renamed"]

    def rule_text(self, t, cid):
        """A random rule for chain cid of table t: (text, chains, sets)."""
        c = t["chains"][cid]
        fam = t["fam"]
        rng = self.rng
        n = self.st["n"]
        saddr = (f"ip saddr 10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                 if fam != "ip6" else f"ip6 saddr fd00::{rng.randrange(1, 65535):x}")
        opts = [
            ("counter", [], []),
            (f"tcp dport {rng.randrange(1, 65535)} counter accept", [], []),
            (f"udp dport {rng.randrange(1, 65535)} drop", [], []),
            (f"meta mark 0x{rng.randrange(1, 1 << 16):x} counter comment \"churn {n} ü \\\\ x\"", [], []),
            ("ct state established,related accept", [], []),
            (f"iifname \"eth{rng.randrange(8)}\" counter", [], []),
            (f"{saddr} counter drop", [], []),
            (f"tcp dport {{ {rng.randrange(1, 999)}, {rng.randrange(1000, 1999)}, {rng.randrange(2000, 2999)} }} accept",
             [], []),
        ]
        if not c["leaf"]:
            targets = [x for x, o in t["chains"].items()
                       if not o["base"] and x != cid and self.usable(t, x)
                       and (o["leaf"] or c["base"] or o["seq"] > c["seq"])]
            if targets:
                tgt = rng.choice(sorted(targets))
                verb = rng.choice(["jump", "goto"])
                opts += [(f"{verb} {t['chains'][tgt]['name']}", [tgt], [])] * 3
            for sname, s in sorted(t["sets"].items()):
                f = s["flavor"]
                if f in ("addr", "addr_iv", "addr_to") and fam != "ip6":
                    opts.append((f"ip saddr @{sname} counter accept", [], [sname]))
                elif f in ("port", "port_iv"):
                    opts.append((f"tcp dport @{sname} drop", [], [sname]))
                elif f == "pair" and fam != "ip6":
                    opts.append((f"ip daddr . tcp dport @{sname} accept", [], [sname]))
                elif f == "vmap_port":
                    opts.append((f"tcp dport vmap @{sname}", [], [sname]))
                elif f == "vmap_addr" and fam != "ip6":
                    opts.append((f"ip daddr vmap @{sname}", [], [sname]))
                elif f == "vmap_pair" and fam != "ip6":
                    opts.append((f"ip daddr . tcp dport vmap @{sname}", [], [sname]))
                elif f == "dmap" and fam != "ip6":
                    opts.append((f"ip saddr set ip daddr map @{sname} counter", [], [sname]))
        return rng.choice(opts)

    # ------------------------------------------------------------ operations
    # each returns the lines of nft syntax and updates the model

    def op_add_table(self, tx):
        if len(self.st["tables"]) >= MAX_TABLES:
            raise Fail()
        fam = self.rng.choice(FAMILIES)
        t = {"fam": fam, "name": self.name("t"), "chains": {}, "sets": {}}
        self.st["tables"][self.tkey(t)] = t
        tx["new_tables"].add(self.tkey(t))
        lines = [f"add table {fam} {t['name']}"]
        for _ in range(self.rng.randrange(0, 3)):
            lines += self.add_chain(t, tx)
        return lines

    def renamed_in(self, k):
        """nft 1.0.6 segfaults on `rename chain` then `delete table` of the
        same table in one batch: never generate that."""
        return any(rk == k for rk, _ in self.tx["renamed"])

    def op_delete_table(self, tx):
        k = self.pick(k for k in self.tables() if not self.renamed_in(k))
        t = self.st["tables"].pop(k)
        return [f"delete table {t['fam']} {t['name']}"]

    def op_recreate_table(self, tx):
        k = self.pick(k for k in self.tables() if k not in tx["new_tables"] and not self.renamed_in(k))
        t = self.st["tables"][k]
        nt = {"fam": t["fam"], "name": t["name"], "chains": {}, "sets": {}}
        self.st["tables"][k] = nt
        tx["new_tables"].add(k)
        lines = [f"delete table {t['fam']} {t['name']}", f"add table {t['fam']} {t['name']}"]
        lines += self.add_chain(nt, tx)
        return lines

    def add_chain(self, t, tx, base=None):
        if len(t["chains"]) >= MAX_CHAINS:
            raise Fail()
        if base is None:
            base = self.rng.random() < 0.35
        self.st["n"] += 1
        cid = str(self.st["n"])
        c = {"name": f"{self.st.get('prefix', '')}c{cid}", "base": base, "leaf": (not base) and self.rng.random() < 0.25,
             "seq": self.st["n"], "rules": {}, "pending": []}
        t["chains"][cid] = c
        tx["new_chains"].add((self.tkey(t), cid))
        pre = f"add chain {t['fam']} {t['name']} {c['name']}"
        if not base:
            return [pre]
        hook = self.rng.choice(HOOKS)
        typ = "filter"
        if hook in ("prerouting", "postrouting", "output") and self.rng.random() < 0.3:
            typ = "nat"
        prio = self.rng.choice([-300, -150, -100, -10, 0, 0, 10, 100, 300, self.rng.randrange(-400, 400)])
        if typ == "nat":	# nat chains must sit after conntrack (> -200)
            prio = self.rng.choice([-100, -99, 0, 100, 101, self.rng.randrange(-150, 300)])
        policy = "drop" if typ == "filter" and self.rng.random() < 0.3 else "accept"
        return [f"{pre} {{ type {typ} hook {hook} priority {prio}; policy {policy}; }}"]

    def op_add_chain(self, tx):
        t = self.st["tables"][self.pick(self.tables())]
        return self.add_chain(t, tx)

    def op_delete_chain(self, tx):
        t = self.st["tables"][self.pick(self.tables())]
        cid = self.pick(x for x in sorted(t["chains"]) if self.refs_to_chain(t, x) == 0
                        and self.usable(t, x) and not t["chains"][x]["pending"])
        c = t["chains"].pop(cid)
        lines = [f"delete chain {t['fam']} {t['name']} {c['name']}"]
        if self.rng.random() < 0.5:
            lines.insert(0, f"flush chain {t['fam']} {t['name']} {c['name']}")
        return lines

    def op_rename_chain(self, tx):
        t = self.st["tables"][self.pick(self.tables())]
        k = self.tkey(t)
        cid = self.pick(x for x in sorted(t["chains"]) if (k, x) not in tx["new_chains"]
                        and (k, x) not in tx["renamed"] and (k, x) not in tx["touched"])
        c = t["chains"][cid]
        old, c["name"] = c["name"], self.name("r")
        tx["renamed"].add((k, cid))
        return [f"rename chain {t['fam']} {t['name']} {old} {c['name']}"]

    def pick_chain(self, need_rules=False, room=True):
        cands = []
        for k in self.tables():
            t = self.st["tables"][k]
            for cid, c in sorted(t["chains"].items()):
                if need_rules and not c["rules"]:
                    continue
                if not self.usable(t, cid):
                    continue
                if room and len(c["rules"]) + len(c["pending"]) >= MAX_RULES:
                    continue
                cands.append((k, cid))
        k, cid = self.pick(cands)
        return self.st["tables"][k], cid

    def add_rule(self, t, cid, verb="add", where=""):
        text, chains, sets = self.rule_text(t, cid)
        c = t["chains"][cid]
        self.tx["touched"].add((self.tkey(t), cid))
        c["pending"].append({"chains": chains, "sets": sets})
        return [f"{verb} rule {t['fam']} {t['name']} {c['name']}{where} {text}"], text

    def op_add_rule(self, tx):
        t, cid = self.pick_chain()
        lines, _ = self.add_rule(t, cid)
        return lines

    def op_insert_rule(self, tx):
        t, cid = self.pick_chain()
        c = t["chains"][cid]
        where = ""
        if c["rules"] and self.rng.random() < 0.6:
            where = f" position {self.rng.choice(sorted(c['rules'], key=int))}"
        verb = "insert"
        if where and self.rng.random() < 0.4:
            verb = "add"	# add ... position H: after H
        lines, _ = self.add_rule(t, cid, verb, where)
        return lines

    def op_replace_rule(self, tx):
        t, cid = self.pick_chain(need_rules=True, room=False)
        c = t["chains"][cid]
        h = self.rng.choice(sorted(c["rules"], key=int))
        text, chains, sets = self.rule_text(t, cid)
        c["rules"][h] = {"chains": chains, "sets": sets}
        tx["replaced"] += 1
        tx["touched"].add((self.tkey(t), cid))
        return [f"replace rule {t['fam']} {t['name']} {c['name']} handle {h} {text}"]

    def op_delete_rule(self, tx):
        t, cid = self.pick_chain(need_rules=True, room=False)
        c = t["chains"][cid]
        h = self.rng.choice(sorted(c["rules"], key=int))
        del c["rules"][h]
        tx["touched"].add((self.tkey(t), cid))
        return [f"delete rule {t['fam']} {t['name']} {c['name']} handle {h}"]

    def op_flush_chain(self, tx):
        t, cid = self.pick_chain(need_rules=True, room=False)
        c = t["chains"][cid]
        if c["pending"]:
            raise Fail()
        c["rules"] = {}
        c["pending"] = []
        return [f"flush chain {t['fam']} {t['name']} {c['name']}"]

    def op_flush_table(self, tx):
        t = self.st["tables"][self.pick(self.tables())]
        if any(c["pending"] for c in t["chains"].values()):
            raise Fail()
        for cid, c in t["chains"].items():
            c["rules"] = {}
            c["pending"] = []
        return [f"flush table {t['fam']} {t['name']}"]

    def op_add_set(self, tx):
        t = self.st["tables"][self.pick(self.tables())]
        if len(t["sets"]) >= MAX_SETS:
            raise Fail()
        flavor = self.rng.choice(sorted(FLAVORS))
        ktype, kind, flags = FLAVORS[flavor]
        sname = self.name("m" if kind == "map" else "s")
        s = {"flavor": flavor, "kind": kind, "elems": {}, "next": 0}
        t["sets"][sname] = s
        lines = [f"add {kind} {t['fam']} {t['name']} {sname} {{ type {ktype}; {flags} }}"]
        if self.rng.random() < 0.8:
            lines += self.add_elems(t, sname, self.rng.randrange(1, 20))
        return lines

    def add_elems(self, t, sname, n):
        s = t["sets"][sname]
        keys = []
        for _ in range(n):
            if len(s["elems"]) >= MAX_ELEMS:
                break
            key = self.elem_key(s["flavor"], s["next"])
            s["next"] += 1
            s["elems"][key] = self.new_elem_value(t, s)
            keys.append(key)
        if not keys:
            raise Fail()
        body = ", ".join(self.elem_text(t, s, k) for k in keys)
        return [f"add element {t['fam']} {t['name']} {sname} {{ {body} }}"]

    def pick_set(self, nonempty=False):
        cands = [(k, sn) for k in self.tables() for sn, s in sorted(self.st["tables"][k]["sets"].items())
                 if not nonempty or s["elems"]]
        k, sn = self.pick(cands)
        return self.st["tables"][k], sn

    def op_delete_set(self, tx):
        cands = [(k, sn) for k in self.tables() for sn in sorted(self.st["tables"][k]["sets"])
                 if self.refs_to_set(self.st["tables"][k], sn) == 0]
        k, sn = self.pick(cands)
        t = self.st["tables"][k]
        s = t["sets"].pop(sn)
        return [f"delete {s['kind']} {t['fam']} {t['name']} {sn}"]

    def op_add_elems(self, tx):
        t, sn = self.pick_set()
        return self.add_elems(t, sn, self.rng.randrange(1, 12))

    def op_delete_elems(self, tx):
        t, sn = self.pick_set(nonempty=True)
        tx["elems_deleted"].add((self.tkey(t), sn))
        s = t["sets"][sn]
        keys = self.rng.sample(sorted(s["elems"]), min(len(s["elems"]), self.rng.randrange(1, 6)))
        for k in keys:
            del s["elems"][k]
        return [f"delete element {t['fam']} {t['name']} {sn} {{ {', '.join(keys)} }}"]

    def op_flush_set(self, tx):
        t, sn = self.pick_set(nonempty=True)
        if (self.tkey(t), sn) in tx["elems_deleted"]:
            raise Fail()	# nft 1.0.6: "element does not exist" on the delete
        t["sets"][sn]["elems"] = {}
        return [f"flush {t['sets'][sn]['kind']} {t['fam']} {t['name']} {sn}"]

    def op_bad(self, tx):
        """An operation the kernel refuses: the whole transaction aborts."""
        choice = self.rng.randrange(3)
        line = None
        if choice == 0:		# delete a chain something jumps to
            for k in self.tables():
                t = self.st["tables"][k]
                for cid in sorted(t["chains"]):
                    if line is None and self.refs_to_chain(t, cid):
                        line = f"delete chain {t['fam']} {t['name']} {t['chains'][cid]['name']}"
        if line is None and choice <= 1:	# delete a rule handle that does not exist
            t, cid = self.pick_chain(room=False)
            line = f"delete rule {t['fam']} {t['name']} {t['chains'][cid]['name']} handle 999999"
        if line is None:	# add to a set that does not exist
            t = self.st["tables"][self.pick(self.tables())]
            line = f"add element {t['fam']} {t['name']} no_such_set {{ 10.0.0.1 }}"
        tx["meant_to_fail"] = True
        return [line]

    WEIGHTS = [
        ("add_table", 4), ("delete_table", 1.2), ("recreate_table", 0.6), ("add_chain", 6),
        ("delete_chain", 2), ("rename_chain", 1.5), ("add_rule", 22), ("insert_rule", 6),
        ("replace_rule", 5), ("delete_rule", 6), ("flush_chain", 1.2), ("flush_table", 0.6),
        ("add_set", 4), ("delete_set", 1.5), ("add_elems", 10), ("delete_elems", 5),
        ("flush_set", 1),
    ]

    def transaction(self):
        tx = {"new_tables": set(), "new_chains": set(), "renamed": set(),
              "replaced": 0, "meant_to_fail": False, "ops": [], "elems_deleted": set(),
              "known": self.known_handles(), "touched": set()}
        self.tx = tx
        lines = []
        if not self.st["tables"]:
            lines += self.op_add_table(tx)
            tx["ops"].append("add_table")
        nops = self.rng.randrange(1, 9) if self.rng.random() > 0.05 else self.rng.randrange(20, 51)
        names = [w[0] for w in self.WEIGHTS]
        weights = [w[1] for w in self.WEIGHTS]
        tries = 0
        while len(tx["ops"]) < nops and tries < nops * 10:
            tries += 1
            op = self.rng.choices(names, weights)[0]
            if self.rng.random() < 0.01 and self.st["tables"]:
                op = "bad"
            saved = clone((self.st["tables"], self.st["n"],
                           {k: v for k, v in tx.items() if k != "known"}))
            try:
                got = getattr(self, "op_" + op)(tx)
            except Fail:
                self.st["tables"], self.st["n"], rest = saved
                tx.update(rest)
                continue
            lines += got
            tx["ops"].append(op)
        return lines, tx

    def big_transaction(self):
        tx = {"new_tables": set(), "new_chains": set(), "renamed": set(),
              "replaced": 0, "meant_to_fail": False, "ops": ["big"], "elems_deleted": set(),
              "known": self.known_handles(), "touched": set()}
        self.tx = tx
        lines = []
        big = sorted((k for k in self.st["tables"] if "seq" in self.st["tables"][k]),
                     key=lambda k: self.st["tables"][k]["seq"])
        if len(big) >= 3:
            t = self.st["tables"].pop(big[0])
            lines.append(f"delete table {t['fam']} {t['name']}")
        fam = self.rng.choice(FAMILIES)
        t = {"fam": fam, "name": self.name("big"), "chains": {}, "sets": {}, "seq": self.st["n"]}
        k = self.tkey(t)
        self.st["tables"][k] = t
        lines.append(f"add table {fam} {t['name']}")
        lines += self.add_chain(t, tx, base=True)
        cid = next(iter(t["chains"]))
        c = t["chains"][cid]
        c["leaf"] = True
        sname = self.name("s")
        t["sets"][sname] = {"flavor": "addr", "kind": "set", "elems": {}, "next": 0}
        lines.append(f"add set {fam} {t['name']} {sname} {{ type ipv4_addr; }}")
        a0 = self.rng.randrange(200)
        elems = [f"172.{16 + (a0 + i // 65536) % 16}.{(i // 256) % 256}.{i % 256}" for i in range(2000)]
        for i in range(0, 2000, 500):
            lines.append(f"add element {fam} {t['name']} {sname} {{ {', '.join(elems[i:i + 500])} }}")
        for e in elems:
            t["sets"][sname]["elems"][e] = None
        for i in range(500):
            c["pending"].append({"chains": [], "sets": []})
            lines.append(f"add rule {fam} {t['name']} {c['name']} tcp dport {1 + i} counter accept "
                         f"comment \"big rule {i}\"")
        return lines, tx

    # ------------------------------------------------------------ commit
    def commit(self, tx, echo):
        """Give pending rules their handles from nft's JSON echo.

        The echo lists committed rules in batch order, {"add"|"insert":
        {"rule": {family, table, chain, handle, ...}}}; a replaced rule shows
        as "delete" then "add" with its old handle; a rule added and removed
        again in the same batch may show as "add" only. So: drop echoes of
        handles that existed before the transaction, group the rest by
        chain, and hand them out in order to the chain's pending rules. The
        generator never flushes, deletes or renames a chain that got rules
        earlier in the same transaction, so the groups line up."""
        groups = {}
        for ent in echo:
            op, body = next(iter(ent.items()))
            r = body.get("rule") if isinstance(body, dict) else None
            if r is None or op not in ("add", "insert"):
                continue
            if (r["family"], r["table"], r["chain"], r["handle"]) in tx["known"]:
                continue
            groups.setdefault((r["family"], r["table"], r["chain"]), []).append(str(r["handle"]))
        for t in self.st["tables"].values():
            for c in t["chains"].values():
                if not c["pending"]:
                    continue
                hs = groups.get((t["fam"], t["name"], c["name"]), [])
                if len(hs) != len(c["pending"]):
                    return False
                for h, p in zip(hs, c["pending"]):
                    c["rules"][h] = p
                c["pending"] = []
        return True

    def known_handles(self):
        return {(t["fam"], t["name"], c["name"], int(h))
                for t in self.st["tables"].values() for c in t["chains"].values() for h in c["rules"]}


def run_nft(path):
    p = subprocess.run(["nft", "-e", "-a", "-j", "-f", path], capture_output=True, text=True)
    echo = []
    if p.returncode == 0 and p.stdout.strip():
        for line in p.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                echo += json.loads(line).get("nftables", [])
    return p.returncode, echo, p.stderr


def resync_from_kernel(st):
    """After a surprise (echo that does not fit), relearn rule handles."""
    p = subprocess.run(["nft", "-a", "-j", "list", "ruleset"], capture_output=True, text=True)
    rules = {}
    for ent in json.loads(p.stdout)["nftables"]:
        if "rule" in ent:
            r = ent["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(str(r["handle"]))
    for t in st["tables"].values():
        for c in t["chains"].values():
            hs = rules.get((t["fam"], t["name"], c["name"]), [])
            old = c["rules"]
            c["rules"] = {h: old.get(h, {"chains": [], "sets": []}) for h in hs}
            c["pending"] = []


def in_named_netns(name):
    try:
        here = subprocess.run(["ip", "netns", "identify", str(os.getpid())],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return False
    return bool(name) and here == name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--netns", required=True, help="name of the namespace we must be running in")
    ap.add_argument("--state", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--save")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--prefix", default="", help="start of every name (run two generators side by side)")
    a = ap.parse_args()
    if not in_named_netns(a.netns):
        print(f"churn.py: refusing to run: not inside the named netns {a.netns!r}", file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    if os.path.exists(a.state) and os.path.getsize(a.state):
        with open(a.state) as f:
            st = json.load(f)
        s = st.pop("rng")
        rng.setstate((s[0], tuple(s[1]), s[2]))
    else:
        st = {"prefix": a.prefix, "n": 0, "tables": {}, "tx": 0, "ok": 0, "failed": 0, "meant": 0,
              "meant_ok": 0, "resyncs": 0, "ops": {}}
    ch = Churn(st, rng)
    if a.save:
        os.makedirs(a.save, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="churn-", suffix=".nft")
    os.close(fd)
    try:
        for _ in range(a.count):
            before = clone(st["tables"])
            lines, tx = ch.big_transaction() if a.big else ch.transaction()
            if not lines:
                continue
            text = "\n".join(lines) + "\n"
            with open(path, "w") as f:
                f.write(text)
            rc, echo, err = run_nft(path)
            st["tx"] += 1
            for op in tx["ops"]:
                st["ops"][op] = st["ops"].get(op, 0) + 1
            if tx["meant_to_fail"]:
                st["meant"] += 1
            if a.save:
                with open(os.path.join(a.save, f"{st['tx']:06d}.nft"), "w") as f:
                    f.write(text)
            if rc == 0:
                st["ok"] += 1
                if tx["meant_to_fail"]:
                    st["meant_ok"] += 1
                if not ch.commit(tx, echo):
                    if os.environ.get("CHURN_DEBUG"):
                        print(f"--- echo did not fit, transaction {st['tx']}:\n{text}{echo}", file=sys.stderr)
                    st["resyncs"] += 1
                    resync_from_kernel(st)
            else:
                st["failed"] += 1
                st["tables"] = before	# the name counter keeps moving on
                if a.save:
                    with open(os.path.join(a.save, f"{st['tx']:06d}.err"), "w") as f:
                        f.write(err)
    finally:
        os.unlink(path)
    rate = 100.0 * st["ok"] / st["tx"] if st["tx"] else 0.0
    unexpected = st["failed"] - (st["meant"] - st["meant_ok"])
    if not a.quiet:
        print(f"churn: {st['tx']} transactions, {st['ok']} committed, {st['failed']} failed "
              f"({st['meant'] - st['meant_ok']} meant to fail, {unexpected} not), "
              f"success {rate:.1f}%, model resyncs {st['resyncs']}")
    s = rng.getstate()
    st["rng"] = [s[0], list(s[1]), s[2]]
    with open(a.state + ".tmp", "w") as f:
        json.dump(st, f)
    os.replace(a.state + ".tmp", a.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
