#!/usr/bin/env bash
# Command line and process life: bad flags exit 2 with one line naming the
# flag, --help/--version, a port in use, a missing or wrong --netns, clean
# stop on SIGTERM and SIGINT, log formats.
source "$(dirname "$0")/lib.sh"

new_ns NS
PORT=19650

bad() {	# bad FLAG... : exit 2, one line on stderr that names $1's flag
	local want=$1
	shift
	ip netns exec "$NS" "$BIN" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	local rc=$?
	if [[ $rc -eq 2 && $(wc -l <"$T_TMP/err") -eq 1 && ! -s $T_TMP/out ]] &&
		grep -qF -- "$want" "$T_TMP/err"; then
		ok "bad usage '$*' exits 2: $(cat "$T_TMP/err")"
	else
		not_ok "bad usage '$*' exits 2 naming $want" "rc=$rc" "stderr: $(cat "$T_TMP/err")" "stdout: $(head -c 300 "$T_TMP/out")"
	fi
}

bad "--no-such-flag" --no-such-flag
bad "--web.listen-address" --web.listen-address=9630
bad "--web.listen-address" --web.listen-address=:99999
bad "--web.listen-address" --web.listen-address
bad "--web.telemetry-path" --web.telemetry-path=metrics
bad "--web.max-requests" --web.max-requests=-3
bad "--log.level" --log.level=trace
bad "--log.format" --log.format=xml
bad "--collector.nope" --collector.nope
bad "--no-collector.nope" --no-collector.nope
bad "--netns" --netns=/nonexistent/netns
bad "--netns" --netns=/etc/hostname
bad "--netns" --netns=/proc/self/ns/mnt
bad "unexpected argument" positional
bad "cannot be repeated" --log.level=info --log.level=debug

ip netns exec "$NS" "$BIN" --help >"$T_TMP/help" 2>&1
check_eq "--help exits 0" $? 0
for f in web.listen-address web.telemetry-path web.max-requests web.disable-exporter-metrics \
	collector.disable-defaults log.level log.format netns version '[no-]collector.conntrack'; do
	check "--help lists --$f" grep -qF -- "--$f" "$T_TMP/help"
done
ip netns exec "$NS" "$BIN" --version >"$T_TMP/ver" 2>&1
check_eq "--version exits 0" $? 0
check "--version prints version and revision" grep -qE '^nftables_exporter, version [0-9.]+ \(revision: [^)]+\)$' "$T_TMP/ver"

# a port already in use: exit 1, a clear message, no crash
start_exporter "$NS" $PORT || not_ok "first exporter starts"
FIRST=$EXP_PID
ip netns exec "$NS" "$BIN" --web.listen-address=127.0.0.1:$PORT >"$T_TMP/inuse" 2>&1
check_eq "second exporter on the same port exits 1" $? 1
check "port in use is reported clearly" grep -q "listen tcp 127.0.0.1:$PORT: bind: Address already in use" "$T_TMP/inuse"
check "first exporter is unaffected" ip netns exec "$NS" curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metrics"

# several listen addresses at once (v4 and v6 loopback)
start_exporter "$NS" $((PORT + 1)) --web.listen-address="[::1]:$((PORT + 2))" || not_ok "two listeners start"
check "IPv4 listener answers" ip netns exec "$NS" curl -fsS -o /dev/null "http://127.0.0.1:$((PORT + 1))/metrics"
check "IPv6 listener answers" ip netns exec "$NS" curl -fsS -o /dev/null "http://[::1]:$((PORT + 2))/metrics"

# SIGTERM and SIGINT: exit 0, listener closed
stop_exporter "$FIRST" TERM
check_eq "SIGTERM exits 0" $? 0
check "listener closed after SIGTERM" sh -c "! ip netns exec '$NS' curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:$PORT/metrics"
check "stop is logged" grep -q 'msg="stopped"' "$T_TMP/exporter-$PORT.log"
start_exporter "$NS" $PORT || not_ok "exporter restarts on the freed port"
stop_exporter "$EXP_PID" INT
check_eq "SIGINT exits 0" $? 0

# SIGTERM while a scrape is being served
start_exporter "$NS" $((PORT + 3)) || not_ok "exporter starts again"
CURLS=()
for i in 1 2 3 4; do
	ip netns exec "$NS" curl -s -o /dev/null "http://127.0.0.1:$((PORT + 3))/metrics" &
	CURLS+=($!)
done
stop_exporter "$EXP_PID" TERM
check_eq "SIGTERM during scrapes exits 0" $? 0
wait "${CURLS[@]}"

# logging: logfmt by default, json on request, debug level
start_exporter "$NS" $((PORT + 4)) --log.format=json --log.level=debug || not_ok "json exporter starts"
stop_exporter "$EXP_PID" TERM
check "json log lines parse as JSON with ts, level, msg" $PY -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for l in lines:
    d = json.loads(l)
    assert set(d) == {"ts", "level", "msg"}, d
assert any(json.loads(l)["level"] == "debug" for l in lines)
' "$T_TMP/exporter-$((PORT + 4)).log"
check "logfmt lines have ts, level, msg" grep -qE '^ts=[0-9T:.-]+Z level=info msg="starting' "$T_TMP/exporter-$((PORT + 1)).log"

finish
