#!/usr/bin/python3
"""kube-proxy simulator: holds N Services x M endpoints in kube-proxy's
nftables layout and changes them the way kube-proxy does, each sync piped
into a fresh `nft -f -` child; records its own ground truth per sync.

usage: kpsim.py [--services N] [--endpoints M] [--syncs K] [--layout v135|v136]
                [--full-every F] [--max-changed C] [--seed S] [--record FILE]
                [--name NAME] [--interval SECONDS]

Layouts (see shared/fixtures/kube-proxy and notes/kube-proxy.md):
  v135: service chain picks an endpoint chain with numgen random mod M vmap;
        each endpoint chain marks hairpin traffic and DNATs.
  v136: the service chain DNATs through an inline numgen map, no endpoint
        chains.
Chain names: "service-" / "endpoint-" + first 8 chars of
base32(sha256(rest)) + "-" + rest, rest = "ns/svc/tcp/p80" (endpoints add
"__IP/PORT"), as kube-proxy's hashAndTruncate.

Syncs: the first (and every F-th) is full: the table, fixed chains flushed
and rewritten, maps flushed and refilled, every Service chain rewritten.
The others are partial, as kube-proxy's: a few Services change endpoints
(service chain rewritten, new endpoint chains), are added or removed (map
elements), stale chains are flushed in that sync and deleted in the next.

The process names itself NAME (default kube-proxy, via prctl) so that the
exporter sees it as the owner of its nft children. Each sync appends one
JSON line to FILE: seq, kind (full|partial), nft pid, wall seconds from
spawning nft to its exit, the number of statements, and, read from its own
NFNLGRP_NFTABLES socket (an oracle independent of the exporter), the
number of events the kernel sent for that transaction and its generation.
"""
import argparse
import base64
import ctypes
import hashlib
import json
import random
import socket
import struct
import subprocess
import sys
import time

NFNLGRP_NFTABLES = 7
NFT_MSG_NEWGEN = 15


def chain_hash(rest):
    h = base64.b32encode(hashlib.sha256(rest.encode()).digest()).decode()
    return h[:8] + "-" + rest


class Events:
    """Counts nf_tables events per transaction, read from the kernel."""

    def __init__(self):
        self.s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
        self.s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
        self.s.bind((0, 0))
        self.s.setsockopt(270, 1, NFNLGRP_NFTABLES)
        self.pending = 0

    def until_newgen(self, pid, timeout=30.0):
        """Events up to the NEWGEN committed by pid: (count, gen)."""
        self.s.settimeout(timeout)
        while True:
            data = self.s.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("=IH", data, off)
                if ln < 16:
                    break
                if typ >> 8 == 10:  # NFNL_SUBSYS_NFTABLES
                    if typ & 0xFF == NFT_MSG_NEWGEN:
                        gen, gpid = self._newgen(data[off:off + ln])
                        if gpid == pid:
                            n, self.pending = self.pending, 0
                            return n, gen
                        self.pending = 0  # someone else's transaction
                    else:
                        self.pending += 1
                off += (ln + 3) & ~3

    @staticmethod
    def _newgen(msg):
        gen = pid = 0
        off = 20  # nlmsghdr + nfgenmsg
        while off + 4 <= len(msg):
            alen, atype = struct.unpack_from("=HH", msg, off)
            if alen < 4:
                break
            if atype & 0x7FFF == 1:
                gen = struct.unpack_from("!I", msg, off + 4)[0]
            elif atype & 0x7FFF == 2:
                pid = struct.unpack_from("!I", msg, off + 4)[0]
            off += (alen + 3) & ~3
        return gen, pid


class Sim:
    def __init__(self, a):
        self.a = a
        self.rnd = random.Random(a.seed)
        self.next_svc = 0
        self.services = {}  # name -> list of endpoint IPs
        self.stale = []     # chains flushed last sync, deleted this one
        for _ in range(a.services):
            self.add_service()

    def add_service(self):
        s = self.next_svc
        self.next_svc += 1
        name = f"svc{s}"
        eps = []
        while len(eps) < self.a.endpoints:
            ip = self.ip(s, len(eps))
            if ip not in eps:
                eps.append(ip)
        self.services[name] = eps
        return name

    def ip(self, s, k):
        return f"10.{(s // 250) % 250}.{s % 250}.{k + 1 + self.rnd.randrange(200)}"

    @staticmethod
    def vip(name):
        s = int(name[3:])
        return f"172.30.{(s // 250) % 250}.{s % 250 + 1}"

    @staticmethod
    def rest(name):
        return f"ns{int(name[3:]) % 10}/{name}/tcp/p80"

    def svc_chain(self, name):
        return "service-" + chain_hash(self.rest(name))

    def ep_chain(self, name, ip):
        return "endpoint-" + chain_hash(f"{self.rest(name)}__{ip}/80")

    def write_service(self, out, name):
        """Statements that (re)write one Service's chains."""
        sc, eps = self.svc_chain(name), self.services[name]
        out.append(f"add chain ip kube-proxy {sc}")
        out.append(f"flush chain ip kube-proxy {sc}")
        if self.a.layout == "v135":
            for ip in eps:
                ec = self.ep_chain(name, ip)
                out.append(f"add chain ip kube-proxy {ec}")
                out.append(f"flush chain ip kube-proxy {ec}")
                out.append(f"add rule ip kube-proxy {ec} ip saddr {ip} jump mark-for-masquerade")
                out.append(f"add rule ip kube-proxy {ec} meta l4proto tcp dnat to {ip}:80")
            vm = ", ".join(f"{k} : goto {self.ep_chain(name, ip)}" for k, ip in enumerate(eps))
            out.append(f"add rule ip kube-proxy {sc} numgen random mod {len(eps)} vmap {{ {vm} }}")
        else:
            m = ", ".join(f"{k} : {ip} . 80" for k, ip in enumerate(eps))
            out.append(f"add rule ip kube-proxy {sc} meta l4proto tcp dnat ip to numgen random mod {len(eps)} map {{ {m} }}")

    def element(self, name):
        return f"{self.vip(name)} . tcp . 80 : goto {self.svc_chain(name)}"

    def full(self):
        out = [
            'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
            "add chain ip kube-proxy mark-for-masquerade",
            "add chain ip kube-proxy masquerading",
            "add chain ip kube-proxy services",
            "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
            "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }",
            "add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }",
            "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }",
        ]
        for c in ("mark-for-masquerade", "masquerading", "services", "nat-prerouting",
                  "nat-output", "nat-postrouting"):
            out.append(f"flush chain ip kube-proxy {c}")
        out += [
            "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000",
            "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return",
            "add rule ip kube-proxy masquerading mark set mark xor 0x4000",
            "add rule ip kube-proxy masquerading masquerade fully-random",
            "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
            "add rule ip kube-proxy nat-prerouting jump services",
            "add rule ip kube-proxy nat-output jump services",
            "add rule ip kube-proxy nat-postrouting jump masquerading",
            "flush map ip kube-proxy service-ips",
        ]
        for name in self.services:
            self.write_service(out, name)
            out.append(f"add element ip kube-proxy service-ips {{ {self.element(name)} }}")
        for c in dict.fromkeys(self.stale):
            out.append(f"delete chain ip kube-proxy {c}")
        self.stale = []
        return out

    def partial(self):
        out = [f"delete chain ip kube-proxy {c}" for c in dict.fromkeys(self.stale)]
        self.stale = []
        changed = self.rnd.randint(1, self.a.max_changed)
        touched = set()	# one change per Service per sync, as kube-proxy
        for _ in range(changed):
            what = self.rnd.random()
            if what < 0.15 or not self.services:
                name = self.add_service()
                touched.add(name)
                self.write_service(out, name)
                out.append(f"add element ip kube-proxy service-ips {{ {self.element(name)} }}")
                continue
            free = sorted(set(self.services) - touched)
            if not free:
                continue
            name = self.rnd.choice(free)
            touched.add(name)
            if what < 0.25 and len(self.services) > 1:
                out.append(f"delete element ip kube-proxy service-ips {{ {self.vip(name)} . tcp . 80 }}")
                for c in self.chains_of(name):
                    out.append(f"flush chain ip kube-proxy {c}")
                    self.stale.append(c)
                del self.services[name]
            else:
                old = self.services[name]
                new = list(old)
                new[self.rnd.randrange(len(new))] = self.ip(int(name[3:]), len(new) + self.rnd.randrange(50))
                if len(set(new)) != len(new):
                    continue
                gone = [self.ep_chain(name, ip) for ip in old if ip not in new] if self.a.layout == "v135" else []
                self.services[name] = new
                self.write_service(out, name)
                for c in gone:
                    out.append(f"flush chain ip kube-proxy {c}")
                    self.stale.append(c)
        return out

    def chains_of(self, name):
        cs = [self.svc_chain(name)]
        if self.a.layout == "v135":
            cs += [self.ep_chain(name, ip) for ip in self.services[name]]
        return cs


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)  # PR_SET_NAME


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--services", type=int, default=50)
    p.add_argument("--endpoints", type=int, default=3)
    p.add_argument("--syncs", type=int, default=200)
    p.add_argument("--layout", choices=("v135", "v136"), default="v135")
    p.add_argument("--full-every", type=int, default=50)
    p.add_argument("--max-changed", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--record", default="/dev/stdout")
    p.add_argument("--name", default="kube-proxy")
    p.add_argument("--interval", type=float, default=0.0)
    a = p.parse_args()
    set_comm(a.name)
    sim = Sim(a)
    ev = Events()
    with open(a.record, "a") as rec:
        for seq in range(a.syncs):
            kind = "full" if seq % a.full_every == 0 else "partial"
            stmts = sim.full() if kind == "full" else sim.partial()
            text = "\n".join(stmts) + "\n"
            t0 = time.monotonic()
            nft = subprocess.Popen(["nft", "-f", "-"], stdin=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
            _, err = nft.communicate(text.encode())
            wall = time.monotonic() - t0
            if nft.returncode:
                sys.stderr.write(f"kpsim: sync {seq} failed: {err.decode()}")
                return 1
            nev, gen = ev.until_newgen(nft.pid)
            rec.write(json.dumps({"seq": seq, "kind": kind, "pid": nft.pid,
                                  "wall": wall, "statements": len(stmts),
                                  "events": nev, "gen": gen}) + "\n")
            rec.flush()
            if a.interval:
                time.sleep(a.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
