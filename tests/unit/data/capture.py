#!/usr/bin/python3
"""Record the nftables events of a scripted sequence of nft commands as
test data for the model's unit tests. Run as root; it makes its own
network namespace (unshare) and never touches the host's.

usage: capture.py OUT.nlcap NFT_SCRIPT...

Each NFT_SCRIPT is loaded with `nft -f`, in order, inside the namespace.
OUT.nlcap holds every datagram received on NFNLGRP_NFTABLES, each as a
4-byte little-endian length followed by the bytes."""
import os
import socket
import struct
import subprocess
import sys
import time

if not os.environ.get("NFTEXP_IN_NS"):
    os.environ["NFTEXP_IN_NS"] = "1"
    os.execvp("unshare", ["unshare", "-n", sys.executable] + sys.argv)

out, scripts = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((0, 0))
s.setsockopt(270, 1, 7)  # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES
for path in scripts:
    subprocess.run(["nft", "-f", path], check=True)
time.sleep(0.2)
s.setblocking(False)
n = 0
with open(out, "wb") as f:
    while True:
        try:
            d = s.recv(1 << 20)
        except BlockingIOError:
            break
        f.write(struct.pack("<I", len(d)) + d)
        n += 1
print(f"{out}: {n} datagrams")
