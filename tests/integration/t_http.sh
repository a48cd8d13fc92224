#!/usr/bin/env bash
# HTTP behaviour: formats and negotiation, gzip, HEAD, 404, 405, landing
# page, health and readiness, validated with promtool and the OpenMetrics
# parser of python3-prometheus-client.
source "$(dirname "$0")/lib.sh"

new_ns NS
PORT=19630
start_exporter "$NS" $PORT || { not_ok "exporter starts"; finish; }
ok "exporter starts and answers /-/healthy"

H=$T_TMP/headers
B=$T_TMP/body

# default: text 0.0.4
in_ns "$NS" curl -sS -D "$H" -o "$B" "http://127.0.0.1:$PORT/metrics"
check_eq "GET /metrics is 200" "$(head -n1 "$H" | tr -d '\r' | cut -d' ' -f2)" 200
check_eq "text content type" "$(grep -i '^content-type:' "$H" | tr -d '\r' | cut -d' ' -f2-)" \
	"text/plain; version=0.0.4; charset=utf-8"
check "promtool check metrics is clean" sh -c "promtool check metrics < '$B'"
check "text exposition invariants" $PY tests/integration/check_expo.py text "$B"
check "build_info present" grep -qE '^nftables_exporter_build_info\{version="[^"]+",revision="[^"]+"\} 1$' "$B"
check "collector success present" grep -q '^nftables_exporter_scrape_collector_success{collector="conntrack"} 1$' "$B"
check "collector duration present" grep -qE '^nftables_exporter_scrape_collector_duration_seconds\{collector="conntrack"\} [0-9.e-]+$' "$B"
check "process metrics present" grep -qE '^process_cpu_seconds_total [0-9.e-]+$' "$B"
check "counter TYPE names _total in 0.0.4" grep -q '^# TYPE process_cpu_seconds_total counter$' "$B"
check "series cap metrics present" grep -q '^nftables_exporter_metric_series_limit{family="nftables_exporter_scrape_collector_success"} 64$' "$B"

# OpenMetrics when asked the way Prometheus 2.42 asks
ACC='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
in_ns "$NS" curl -sS -D "$H" -o "$B.om" -H "Accept: $ACC" "http://127.0.0.1:$PORT/metrics"
check_eq "openmetrics content type" "$(grep -i '^content-type:' "$H" | tr -d '\r' | cut -d' ' -f2-)" \
	"application/openmetrics-text; version=1.0.0; charset=utf-8"
check_eq "openmetrics ends with # EOF" "$(tail -n1 "$B.om")" "# EOF"
check "openmetrics parser and invariants" $PY tests/integration/check_expo.py openmetrics "$B.om"
check "openmetrics counter TYPE names the family" grep -q '^# TYPE process_cpu_seconds counter$' "$B.om"
ACC3='application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1'
in_ns "$NS" curl -sS -D "$H" -o /dev/null -H "Accept: $ACC3" "http://127.0.0.1:$PORT/metrics"
check "Prometheus 3 Accept gets openmetrics" grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$H"

# gzip
in_ns "$NS" curl -sS -D "$H" -o "$B.gz" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/metrics"
check "gzip content encoding" grep -qi '^content-encoding: gzip' "$H"
check "gzip body decompresses to a valid exposition" sh -c "gzip -dc '$B.gz' > '$B.unz' && promtool check metrics < '$B.unz'"
check_eq "gzip and plain expose the same series" \
	"$(gzip -dc "$B.gz" | awk '!/^#/{print $1}' | grep -v '^process_' | sort | md5sum)" \
	"$(awk '!/^#/{print $1}' "$B" | grep -v '^process_' | sort | md5sum)"
in_ns "$NS" curl -sS -D "$H" -o /dev/null -H 'Accept-Encoding: gzip;q=0, identity' "http://127.0.0.1:$PORT/metrics"
check "gzip;q=0 is not compressed" sh -c "! grep -qi '^content-encoding' '$H'"

# HEAD: headers, no body
in_ns "$NS" curl -sS -I -o "$H" "http://127.0.0.1:$PORT/metrics"
check "HEAD /metrics is 200 with content type" grep -qi '^content-type: text/plain; version=0.0.4' "$H"
in_ns "$NS" curl -sS --head -o /dev/null -w '%{size_download}' "http://127.0.0.1:$PORT/metrics" >"$T_TMP/size"
check_eq "HEAD has no body" "$(cat "$T_TMP/size")" 0

# status codes
code() { in_ns "$NS" curl -sS -o /dev/null -w '%{http_code}' "$@"; }
check_eq "unknown path is 404" "$(code "http://127.0.0.1:$PORT/nope")" 404
check_eq "POST is 405" "$(code -X POST -d x=1 "http://127.0.0.1:$PORT/metrics")" 405
check_eq "PUT is 405" "$(code -X PUT "http://127.0.0.1:$PORT/")" 405
check_eq "DELETE is 405" "$(code -X DELETE "http://127.0.0.1:$PORT/-/ready")" 405
in_ns "$NS" curl -sS -D "$H" -o /dev/null -X POST "http://127.0.0.1:$PORT/metrics"
check "405 carries Allow: GET, HEAD" grep -qi '^allow: GET, HEAD' "$H"
check_eq "GET with a body is refused (413)" "$(code -X GET --data-binary 'xyz' "http://127.0.0.1:$PORT/metrics")" 413
check_eq "/-/healthy is 200" "$(code "http://127.0.0.1:$PORT/-/healthy")" 200
check_eq "/-/ready is 200 after initial sync" "$(code "http://127.0.0.1:$PORT/-/ready")" 200
check_eq "query string is ignored" "$(code "http://127.0.0.1:$PORT/metrics?x=1")" 200
check_eq "path traversal is 404" "$(code --path-as-is "http://127.0.0.1:$PORT/../metrics")" 404

# landing page
in_ns "$NS" curl -sS -D "$H" -o "$B.html" "http://127.0.0.1:$PORT/"
check "landing page is html" grep -qi '^content-type: text/html; charset=utf-8' "$H"
check "landing page links the metrics path" grep -q 'href="/metrics"' "$B.html"
check "landing page lists collectors" grep -q 'Enabled collectors: ruleset, transactions, services, conntrack' "$B.html"
check "landing page shows version" grep -q 'Version ' "$B.html"

# concurrent scrapes share collections and all succeed
for i in $(seq 1 8); do
	in_ns "$NS" curl -sS -o "$B.c$i" -w '%{http_code}\n' "http://127.0.0.1:$PORT/metrics" >"$T_TMP/code$i" &
done
wait_ok=1
for i in $(seq 1 8); do
	while [[ ! -s $T_TMP/code$i ]]; do sleep 0.05; done
done
sleep 0.2
for i in $(seq 1 8); do
	[[ $(cat "$T_TMP/code$i") == 200 ]] || wait_ok=0
	promtool check metrics <"$B.c$i" >/dev/null 2>&1 || wait_ok=0
done
check_eq "8 concurrent scrapes all 200 and valid" $wait_ok 1

# slow clients: 20 connections from 127.0.0.1 that never finish their
# request headers hold at most the per-address limit (16); a client from
# another address is still served at once
ip netns exec "$NS" $PY - "$PORT" "$T_TMP/slow" <<'PYEOF' &
import socket, sys, time
held = []
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never ends
    held.append(s)
open(sys.argv[2], "w").write("held")
time.sleep(20)
PYEOF
SLOW=$!
T_PIDS+=($SLOW)
for i in $(seq 1 50); do [[ -s $T_TMP/slow ]] && break; sleep 0.1; done
check_eq "another client is served while slow clients hold connections" \
	"$(code --interface 127.0.0.2 --max-time 5 "http://127.0.0.1:$PORT/metrics")" 200
check "the loopback client beyond its per-address limit is turned away, not queued" \
	sh -c "! ip netns exec '$NS' curl -sS -o /dev/null --max-time 3 http://127.0.0.1:$PORT/-/healthy"
kill $SLOW 2>/dev/null
sleep 0.3
check_eq "served again once slow clients are gone" "$(code "http://127.0.0.1:$PORT/-/healthy")" 200

# custom telemetry path; --web.disable-exporter-metrics
start_exporter "$NS" $((PORT + 1)) --web.telemetry-path=/custom --web.disable-exporter-metrics ||
	not_ok "second exporter starts"
check_eq "custom telemetry path is 200" "$(code "http://127.0.0.1:$((PORT + 1))/custom")" 200
check_eq "/metrics is 404 with a custom path" "$(code "http://127.0.0.1:$((PORT + 1))/metrics")" 404
in_ns "$NS" curl -sS -o "$B.2" "http://127.0.0.1:$((PORT + 1))/custom"
check "no process_* with --web.disable-exporter-metrics" sh -c "! grep -q '^process_' '$B.2'"
check "collector metrics still there" grep -q '^nftables_conntrack_entries ' "$B.2"

# --collector.disable-defaults: only exporter metrics, still valid
start_exporter "$NS" $((PORT + 2)) --collector.disable-defaults || not_ok "third exporter starts"
in_ns "$NS" curl -sS -o "$B.3" "http://127.0.0.1:$((PORT + 2))/metrics"
check "no conntrack metrics with disable-defaults" sh -c "! grep -q '^nftables_conntrack' '$B.3'"
check "disable-defaults output is valid" sh -c "promtool check metrics < '$B.3'"

finish
