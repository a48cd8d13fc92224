#!/usr/bin/env bash
# Conntrack statistics against the oracles `conntrack -C`, `conntrack -S`
# and nf_conntrack_max, after real connections and invalid packets over
# loopback. The exporter serves HTTP from namespace A and watches B through
# --netns, so its own HTTP traffic does not disturb B's table.
source "$(dirname "$0")/lib.sh"

new_ns A
new_ns B
PORT=19640

# conntrack only runs in a namespace once a rule there needs it
in_ns "$B" nft -f - <<'NFT' || not_ok "load ct rule in B"
table inet nftexp_test {
	chain out {
		type filter hook output priority 0;
		ct state new counter
	}
}
NFT

# 20 established TCP connections over loopback, held open, and 5 TCP RSTs
# without a connection (counted as invalid by conntrack)
ip netns exec "$B" $PY - "$T_TMP/ready" <<'PYEOF' &
import socket, struct, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 5555))
srv.listen(64)
held = []
for _ in range(20):
    c = socket.create_connection(("127.0.0.1", 5555))
    a, _ = srv.accept()
    held.append((c, a))

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

lo = socket.inet_aton("127.0.0.1")
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for i in range(5):
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 6000, 1, 0, 5 << 4, 0x04, 1024, 0, 0)
    ph = lo + lo + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    raw.sendto(tcp, ("127.0.0.1", 0))
open(sys.argv[1], "w").write("ready")
time.sleep(60)
PYEOF
T_PIDS+=($!)
for i in $(seq 1 100); do [[ -s $T_TMP/ready ]] && break; sleep 0.1; done
check "traffic generator ready" test -s "$T_TMP/ready"

start_exporter "$A" $PORT --netns "/run/netns/$B" || { not_ok "exporter starts"; finish; }
M=$T_TMP/m
scrape "$A" $PORT >"$M"
entries_oracle=$(in_ns "$B" conntrack -C)
check_eq "nftables_conntrack_entries equals conntrack -C in B" "$(metric "$M" nftables_conntrack_entries)" "$entries_oracle"
check "B really has the 20 connections" test "$entries_oracle" -ge 20
check_eq "nftables_conntrack_entries_limit equals nf_conntrack_max in B" \
	"$(metric "$M" nftables_conntrack_entries_limit)" "$(in_ns "$B" cat /proc/sys/net/netfilter/nf_conntrack_max)"
check_eq "collector success is 1" "$(metric "$M" 'nftables_exporter_scrape_collector_success{collector="conntrack"}')" 1

# conntrack -S: one line per CPU, name=value pairs; sum each name
in_ns "$B" conntrack -S >"$T_TMP/S"
names=$(grep -o '[a-z_]*=' "$T_TMP/S" | tr -d = | grep -v '^cpu$' | sort -u)
nstats=0
for n in $names; do
	want=$(grep -o "\b$n=[0-9]*" "$T_TMP/S" | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
	check_eq "stat $n equals conntrack -S sum" "$(metric "$M" "nftables_conntrack_stat_${n}_total")" "$want"
	nstats=$((nstats + 1))
done
check "conntrack -S reported the ten statistics" test "$nstats" -eq 10
check "invalid packets were counted" test "$(metric "$M" nftables_conntrack_stat_invalid_total)" -ge 5

# The same daemon without --netns watches A: A has no conntrack user
start_exporter "$A" $((PORT + 1)) || not_ok "second exporter starts"
scrape "$A" $((PORT + 1)) >"$M.a"
check_eq "entries of A equal conntrack -C in A" "$(metric "$M.a" nftables_conntrack_entries)" "$(in_ns "$A" conntrack -C)"

# statistics come from netlink only: /proc/net/stat/nf_conntrack is never read
if command -v strace >/dev/null; then
	ip netns exec "$A" strace -f -qq -e trace=open,openat -o "$T_TMP/strace" \
		"$BIN" --web.listen-address=127.0.0.1:$((PORT + 2)) --netns "/run/netns/$B" \
		>"$T_TMP/exporter-$((PORT + 2)).log" 2>&1 &
	T_PIDS+=($!)
	wait_http "$A" $((PORT + 2)) /-/healthy
	scrape "$A" $((PORT + 2)) >"$M.s"
	check "stats exported under strace" grep -q '^nftables_conntrack_stat_invalid_total ' "$M.s"
	check "never opens /proc/net/stat/nf_conntrack" sh -c "! grep -q 'net/stat/nf_conntrack' '$T_TMP/strace'"
	check "opens nf_conntrack_max read-only" grep -q 'nf_conntrack_max", O_RDONLY' "$T_TMP/strace"
else
	not_ok "strace is installed"
fi

finish
