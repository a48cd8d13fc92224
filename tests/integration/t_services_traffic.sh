#!/usr/bin/env bash
# Per-Service connection counters from conntrack events, with exact numbers:
# the v1.35 fixture in namespace B, endpoint addresses on a dummy interface
# (one end of a veth pair) with real TCP listeners (svc1 -> 10.180.0.1, svc4 -> 10.180.0.4/.5), and
# svc2's endpoint 10.180.0.2 left unassigned so its traffic vanishes (the
# black hole). Clients in B open a known number of connections to each
# ClusterIP; the exporter (namespace A, --netns B) must count exactly those,
# as active while open, and as failed only those that never got a reply.
source "$(dirname "$0")/lib.sh"

FIXTURES=$(cd .. && pwd)/shared/fixtures/kube-proxy
new_ns A
new_ns B
PORT=19740
if [[ ! -f $FIXTURES/v135-overall-ipv4.nft ]]; then
	not_ok "kube-proxy fixture v135-overall-ipv4.nft found under $FIXTURES"
	finish
fi
in_ns "$B" nft -f "$FIXTURES/v135-overall-ipv4.nft" || not_ok "fixture loads"
in_ns "$B" ip link add d0 type veth peer name d1	# no dummy driver here
in_ns "$B" ip link set d0 up
in_ns "$B" ip link set d1 up
for a in 10.180.0.1 10.180.0.4 10.180.0.5; do
	in_ns "$B" ip addr add $a/32 dev d0
done
in_ns "$B" ip route add default dev d0

# listeners on the endpoints, holding every accepted connection
ip netns exec "$B" $PY - "$T_TMP/listening" <<'PYEOF' &
import selectors, socket, sys, time
sel = selectors.DefaultSelector()
for a in ("10.180.0.1", "10.180.0.4", "10.180.0.5"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a, 80))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ)
open(sys.argv[1], "w").write("ok")
held = []
end = time.time() + 60
while time.time() < end:
    for key, _ in sel.select(0.2):
        c, _ = key.fileobj.accept()
        held.append(c)
PYEOF
T_PIDS+=($!)
for i in $(seq 1 50); do [[ -s $T_TMP/listening ]] && break; sleep 0.1; done

start_exporter "$A" $PORT --netns "/run/netns/$B" --collector.disable-defaults --collector.services ||
	{ not_ok "exporter starts"; finish; }
wait_http "$A" $PORT /-/ready
sleep 0.8	# the first conntrack reconcile

# clients: 5 to svc1, 6 to svc4 (held open), 3 to svc2 (black hole)
ip netns exec "$B" $PY - "$T_TMP/clients" <<'PYEOF' &
import socket, sys, time
held = []
for vip, n in (("172.30.0.41", 5), ("172.30.0.44", 6)):
    for _ in range(n):
        held.append(socket.create_connection((vip, 80), timeout=2))
for _ in range(3):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("172.30.0.42", 80))
    except BlockingIOError:
        pass
    held.append(s)
open(sys.argv[1], "w").write("ok")
time.sleep(30)
PYEOF
CLIENTS=$!
T_PIDS+=($CLIENTS)
for i in $(seq 1 50); do [[ -s $T_TMP/clients ]] && break; sleep 0.1; done
sleep 0.5

S='namespace="ns1",service="svc1",port="p80",protocol="tcp",family="ip"'
S4='namespace="ns4",service="svc4",port="p80",protocol="tcp",family="ip"'
S2='namespace="ns2",service="svc2",port="p80",protocol="tcp",family="ip"'
M=$T_TMP/m
scrape "$A" $PORT >"$M"
check_eq "svc1: 5 new connections counted" "$(metric "$M" "nftables_service_connections_total{$S}")" 5
check_eq "svc1: 5 active" "$(metric "$M" "nftables_service_connections_active{$S}")" 5
check_eq "svc4: 6 new connections over its 2 endpoints" "$(metric "$M" "nftables_service_connections_total{$S4}")" 6
check_eq "svc2: 3 connection attempts counted" "$(metric "$M" "nftables_service_connections_total{$S2}")" 3
check_eq "oracle: conntrack holds 5 flows to svc1's ClusterIP" \
	"$(in_ns "$B" conntrack -L -d 172.30.0.41 2>/dev/null | grep -c .)" 5
check "Services without traffic have no traffic series" sh -c \
	"! grep -q 'nftables_service_connections_total{namespace=\"ns3\"' '$M'"
check "promtool check metrics is clean" sh -c "promtool check metrics < '$M'"

# an exporter started while the flows exist learns them from a dump
start_exporter "$A" $((PORT + 1)) --netns "/run/netns/$B" --collector.disable-defaults \
	--collector.services || not_ok "second exporter starts"
wait_http "$A" $((PORT + 1)) /-/ready
sleep 1	# its first reconcile runs 0.5 s after start
scrape "$A" $((PORT + 1)) >"$M.late"
check_eq "late exporter: svc1's 5 open flows are active (from the dump)" \
	"$(metric "$M.late" "nftables_service_connections_active{$S}")" 5
check_eq "late exporter: svc4's 6 open flows are active" \
	"$(metric "$M.late" "nftables_service_connections_active{$S4}")" 6

# end the flows: the kernel deletes them and sends DESTROY
in_ns "$B" conntrack -D -d 172.30.0.42 >/dev/null 2>&1
kill "$CLIENTS" 2>/dev/null
wait "$CLIENTS" 2>/dev/null
in_ns "$B" conntrack -D -d 172.30.0.41 >/dev/null 2>&1
in_ns "$B" conntrack -D -d 172.30.0.44 >/dev/null 2>&1
sleep 0.5
scrape "$A" $PORT >"$M.2"
check_eq "svc2: the 3 unanswered flows are failed" "$(metric "$M.2" "nftables_service_connections_failed_total{$S2}")" 3
check_eq "svc2: none active after they ended" "$(metric "$M.2" "nftables_service_connections_active{$S2}")" 0
check_eq "svc1: none active after its flows ended" "$(metric "$M.2" "nftables_service_connections_active{$S}")" 0
check "svc1: answered flows are not failed" sh -c \
	"v=\$(awk '/^nftables_service_connections_failed_total\\{namespace=\"ns1\"/ {print \$2}' '$M.2'); [ -z \"\$v\" ] || [ \"\$v\" = 0 ]"
check_eq "svc1: the total stays 5" "$(metric "$M.2" "nftables_service_connections_total{$S}")" 5

# an unrelated flow (straight to an endpoint, not a frontend) makes no series
ip netns exec "$B" $PY -c 'import socket; socket.create_connection(("10.180.0.5", 80), timeout=2).close()'
sleep 0.3
scrape "$A" $PORT >"$M.3"
check_eq "direct endpoint traffic is not a Service connection" \
	"$(metric "$M.3" "nftables_service_connections_total{$S4}")" 6
check "conntrack events were counted" test "$(metric "$M.3" 'nftables_conntrack_events_total{type="new"}')" -ge 15

finish
