#!/usr/bin/env bash
# Without CAP_NET_ADMIN: the daemon still serves, reports the conntrack
# collector as failed (success 0, its families left out) and says why in
# the log; --netns without CAP_SYS_ADMIN is a clear start-up error.
source "$(dirname "$0")/lib.sh"

new_ns NS
new_ns OTHER
PORT=19660
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)

ip netns exec "$NS" "${NOBODY[@]}" "$BIN" --web.listen-address=127.0.0.1:$PORT \
	>"$T_TMP/exporter-$PORT.log" 2>&1 &
EXP_PID=$!
T_PIDS+=($EXP_PID)
wait_http "$NS" $PORT /-/healthy || not_ok "unprivileged exporter starts"
M=$T_TMP/m
code=$(ip netns exec "$NS" curl -sS -o "$M" -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")
check_eq "scrape still answers 200" "$code" 200
check_eq "conntrack collector reports failure" \
	"$(metric "$M" 'nftables_exporter_scrape_collector_success{collector="conntrack"}')" 0
check "no conntrack samples are served when they cannot be read" sh -c "! grep -q '^nftables_conntrack' '$M'"
check "exposition stays valid" sh -c "promtool check metrics < '$M'"
check_eq "ruleset collector reports failure" \
	"$(metric "$M" 'nftables_exporter_scrape_collector_success{collector="ruleset"}')" 0
check_eq "the mirror says it is not synced" "$(metric "$M" nftables_ruleset_synced)" 0
check "no ruleset counts are served when they cannot be read" sh -c "! grep -qE '^nftables_(tables|chains|rules|ruleset_generation)[{ ]' '$M'"
check "the log names the missing capability" grep -q 'CAP_NET_ADMIN' "$T_TMP/exporter-$PORT.log"
check_eq "not ready: the initial ruleset dump cannot complete" \
	"$(ip netns exec "$NS" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/-/ready")" 503
sleep 2	# let the ruleset dump retry (0.5 s, 1 s back-off)
ip netns exec "$NS" curl -sS -o "$M.2" "http://127.0.0.1:$PORT/metrics"
check "the dump was retried" sh -c "grep -qE '^nftables_resyncs_total\\{reason=\"retry\"\\} [1-9]' '$M.2'"
check_eq "conntrack's failure is logged once, not per scrape" "$(grep -c 'conntrack: statistics unavailable' "$T_TMP/exporter-$PORT.log")" 1
check_eq "ruleset's failure is logged once, not per retry" "$(grep -c 'ruleset: dump failed' "$T_TMP/exporter-$PORT.log")" 1

ip netns exec "$NS" "${NOBODY[@]}" "$BIN" --netns "/run/netns/$OTHER" >"$T_TMP/out" 2>"$T_TMP/err"
check_eq "--netns without privilege exits 2" $? 2
check "--netns without privilege says so" grep -q "flag --netns: '/run/netns/$OTHER': Operation not permitted" "$T_TMP/err"

finish
