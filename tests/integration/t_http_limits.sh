#!/usr/bin/env bash
# --web.max-requests: with a limit of 1, a scrape held open by a client that
# does not read makes the next scrape answer 503 at once; when the first
# finishes, scrapes succeed again. To hold a scrape open deterministically
# the page is made large (2,000 tables) and the test namespace's own TCP
# buffers small (net.ipv4.tcp_wmem/tcp_rmem are per namespace), so the
# server blocks writing to a client that reads nothing.
source "$(dirname "$0")/lib.sh"

new_ns NS
PORT=19690
in_ns "$NS" sysctl -q -w net.ipv4.tcp_wmem="4096 8192 8192" net.ipv4.tcp_rmem="4096 4096 4096" ||
	not_ok "set TCP buffers in the test namespace"
$PY -c '
for i in range(2000):
    print(f"add table inet t{i}")
    print(f"add chain inet t{i} c")
' >"$T_TMP/big.nft"
in_ns "$NS" nft -f "$T_TMP/big.nft" || not_ok "load 2,000 tables"
start_exporter "$NS" $PORT --web.max-requests=1 || { not_ok "exporter starts"; finish; }
wait_http "$NS" $PORT /-/ready
size=$(in_ns "$NS" curl -s "http://127.0.0.1:$PORT/metrics" | wc -c)
check "the page is much larger than the socket buffers ($size bytes)" test "$size" -gt 500000

# a client that sends a scrape and then reads nothing
ip netns exec "$NS" $PY - "$PORT" "$T_TMP/held" <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
open(sys.argv[2], "w").write("sent")
time.sleep(8)
PYEOF
HOLD=$!
T_PIDS+=($HOLD)
for i in $(seq 1 50); do [[ -s $T_TMP/held ]] && break; sleep 0.1; done
sleep 0.5
code=$(in_ns "$NS" curl -s -o "$T_TMP/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/metrics")
check_eq "a second scrape beyond --web.max-requests=1 gets 503" "$code" 503
check "the 503 says why" grep -q 'Limit of concurrent requests reached (1)' "$T_TMP/body"
check_eq "health is still served meanwhile" \
	"$(in_ns "$NS" curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/-/healthy")" 200
kill $HOLD 2>/dev/null
wait $HOLD 2>/dev/null
sleep 0.5
check_eq "scrapes succeed again once the slow one is gone" \
	"$(in_ns "$NS" curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/metrics")" 200

finish
