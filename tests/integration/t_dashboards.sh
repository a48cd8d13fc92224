#!/usr/bin/env bash
# The operational content in dashboards/: alerting and recording rules,
# their promtool unit tests, the Grafana dashboard, and all of them against
# a real Prometheus scraping a real exporter.
#
# (a) promtool check rules on alerts.yaml + recording.yaml; promtool test
#     rules on dashboards/tests/*.yaml.
# (b) dashboards/check_dashboards.py on the dashboards and the rule files.
# (c) End to end, all inside one fresh namespace: the kube-proxy fixture
#     v135-overall-ipv4 (../shared/fixtures, next to the repo), the exporter,
#     nft transactions from a shell and from a process named kube-proxy, a
#     conntrack-using rule and loopback TCP connections, and a Prometheus
#     server (scrape and evaluation every 1 s) loading both rule files.
#     Then every expression of the dashboards (with $job, $instance and
#     $__rate_interval replaced) and of the rule files is evaluated through
#     /api/v1/query: Prometheus must accept each one, and the panels this
#     scenario feeds must show data. /api/v1/rules must report every rule
#     healthy, and nothing may be pending or firing.
source "$(dirname "$0")/lib.sh"
export PYTHONDONTWRITEBYTECODE=1
D=dashboards
PORT=19810	# exporter
PPORT=19811	# Prometheus
JOB=nftables	# the scrape job (NftablesExporterDown selects job=~".*nftables.*")
RI=4s		# $__rate_interval: four scrapes
FIXTURE=$(cd .. && pwd)/shared/fixtures/kube-proxy/v135-overall-ipv4.nft

# ---- (a) promtool ---------------------------------------------------------
check "promtool check rules: alerts.yaml, recording.yaml" \
	promtool check rules $D/alerts.yaml $D/recording.yaml
check "promtool test rules: $(cd $D/tests && echo *.yaml)" \
	promtool test rules $D/tests/*.yaml

# ---- (b) the checker --------------------------------------------------------
check "check_dashboards.py: $(cd $D && echo *.json) alerts.yaml recording.yaml" \
	$PY $D/check_dashboards.py $D/*.json $D/alerts.yaml $D/recording.yaml

# ---- (c) end to end -----------------------------------------------------------
if [[ ! -r $FIXTURE ]]; then
	not_ok "kube-proxy fixture present" "missing: $FIXTURE" \
		"(the repo's parent folder must hold shared/fixtures/kube-proxy/)"
	finish
fi
if [[ ! -x $BIN ]]; then
	not_ok "exporter binary present" "missing: $BIN (build it: make -s all)"
	finish
fi

new_ns A
check "fixture v135-overall-ipv4 loads" in_ns "$A" nft -f "$FIXTURE"
start_exporter "$A" $PORT
for i in $(seq 1 100); do
	in_ns "$A" curl -fs -o /dev/null "http://127.0.0.1:$PORT/-/ready" && break
	sleep 0.1
done
check "exporter is ready" in_ns "$A" curl -fs -o /dev/null "http://127.0.0.1:$PORT/-/ready"

# nft transactions from a shell (owner sh), one with a conntrack-using rule
check "nft transactions from a shell" in_ns "$A" sh -c '
	nft add table inet e2e &&
	nft add chain inet e2e out "{ type filter hook output priority 0; }" &&
	nft add rule inet e2e out ct state new counter &&
	nft add set inet e2e seen "{ type ipv4_addr; }" &&
	nft add element inet e2e seen "{ 127.0.0.1, 127.0.0.2 }" &&
	nft add element ip kube-proxy cluster-ips "{ 172.30.99.1 }"'

# kube-proxy-like partial syncs while Prometheus watches: a process named
# kube-proxy piping each change into a fresh `nft -f -`, every 0.3 s
ip netns exec "$A" $PY - <<'PYEOF' >"$T_TMP/kp.log" 2>&1 &
import ctypes, subprocess, time
ctypes.CDLL(None).prctl(15, b"kube-proxy", 0, 0, 0)
end = time.time() + 120
i = 0
while time.time() < end:
    op = "add" if i % 2 == 0 else "delete"
    subprocess.run(["nft", "-f", "-"], check=True,
                   input=f"{op} element ip kube-proxy cluster-ips {{ 172.30.98.{i // 2 % 250 + 1} }}\n".encode())
    i += 1
    time.sleep(0.3)
PYEOF
T_PIDS+=($!)

# loopback TCP connections, tracked by conntrack
for i in 1 2 3 4 5; do
	in_ns "$A" curl -fs -o /dev/null "http://127.0.0.1:$PORT/-/healthy"
done
scrape "$A" $PORT >"$T_TMP/m"
check "conntrack has entries" awk -v v="$(metric "$T_TMP/m" nftables_conntrack_entries)" 'BEGIN { exit !(v > 0) }'

# Prometheus in the same namespace
cat >"$T_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/$D/alerts.yaml
  - $PWD/$D/recording.yaml
scrape_configs:
  - job_name: $JOB
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
ip netns exec "$A" prometheus --config.file="$T_TMP/prometheus.yml" \
	--storage.tsdb.path="$T_TMP/tsdb" --web.listen-address=127.0.0.1:$PPORT \
	>"$T_TMP/prometheus.log" 2>&1 &
T_PIDS+=($!)
if ! wait_http "$A" $PPORT /-/ready >/dev/null; then
	not_ok "Prometheus is ready" "$(tail -n 20 "$T_TMP/prometheus.log")"
	finish
fi
ok "Prometheus is ready"

# the helper: talks to Prometheus' HTTP API from inside the namespace
cat >"$T_TMP/api.py" <<'PYEOF'
import json, math, sys, urllib.parse, urllib.request
base = "http://127.0.0.1:%s/api/v1/" % sys.argv[1]
cmd = sys.argv[2]

def get(path, data=None):
    body = urllib.parse.urlencode(data).encode() if data else None
    try:
        with urllib.request.urlopen(base + path, body, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:     # 400/422 carry a JSON error
        return json.load(e)

if cmd == "target":             # health and lastError of the only target
    t = get("targets")["data"]["activeTargets"]
    print("\t".join([t[0]["health"], t[0]["lastError"] or "-"]) if t else "none\t-")
elif cmd == "query":            # JSON lines on stdin: key TAB status TAB n TAB max TAB error
    for line in sys.stdin:
        e = json.loads(line)
        r = get("query", {"query": e["expr"]})
        res = r.get("data", {}).get("result", []) if r.get("status") == "success" else []
        vals = [float(s["value"][1]) for s in res if "value" in s]
        vals = [v for v in vals if not math.isnan(v)]
        print("\t".join([e["key"], r.get("status", "?"), str(len(res)),
                         repr(max(vals)) if vals else "-",
                         (r.get("error") or "-").replace("\t", " ").replace("\n", " ")]))
elif cmd == "rules":            # group TAB rules TAB unhealthy rules; then "names" line
    names = []
    for g in get("rules")["data"]["groups"]:
        bad = ["%s: %s %s" % (r["name"], r["health"], r.get("lastError", "")) for r in g["rules"]
               if r["health"] != "ok" or r.get("lastError")]
        print("\t".join([g["name"], str(len(g["rules"])), "; ".join(bad) or "-"]))
        names += ["%s %s" % (r["type"].replace("alerting", "alert").replace("recording", "record"), r["name"])
                  for r in g["rules"]]
    print("names\t" + " ".join(sorted(names)))
elif cmd == "alerts":           # alerts pending or firing
    print(" ".join("%s{%s}=%s" % (a["labels"]["alertname"], a["labels"].get("instance", ""), a["state"])
                   for a in get("alerts")["data"]["alerts"]) or "-")
PYEOF
api() { ip netns exec "$A" $PY "$T_TMP/api.py" $PPORT "$@"; }

health=none
for i in $(seq 1 150); do
	read -r health lasterr < <(api target)
	[[ $health == up ]] && break
	sleep 0.1
done
check_eq "Prometheus scrapes the exporter (target health)" "$health" up
check_eq "the scrape has no error (lastError)" "$lasterr" -
sleep 6	# a few scrapes and rule evaluations: $RI windows hold samples

# every expression of the dashboards and of both rule files
$PY $D/check_dashboards.py --exprs --job "$JOB" --instance "127.0.0.1:$PORT" --rate-interval "$RI" \
	$D/*.json $D/alerts.yaml $D/recording.yaml >"$T_TMP/exprs.jsonl"
check_eq "expressions extracted" $? 0
api query <"$T_TMP/exprs.jsonl" >"$T_TMP/results.tsv"
check_eq "every expression evaluated" "$(wc -l <"$T_TMP/results.tsv")" "$(wc -l <"$T_TMP/exprs.jsonl")"
declare -A N MAX
while IFS=$'\t' read -r key status n max err; do
	N[$key]=$n
	MAX[$key]=$max
	if [[ $status == success ]]; then
		ok "Prometheus accepts: $key"
	else
		not_ok "Prometheus accepts: $key" "$err" "$(grep -F "\"key\": \"$key\"" "$T_TMP/exprs.jsonl")"
	fi
done <"$T_TMP/results.tsv"

# what this scenario must show
U=nftables-overview
for key in \
	"$U: variable job" \
	"$U: variable instance" \
	"$U: Ruleset size / A" \
	"$U: Ruleset size / B" \
	"$U: Ruleset size / C" \
	"$U: Ruleset size / D" \
	"$U: Chains per table / A" \
	"$U: Rules per table / A" \
	"$U: Set elements per table / A" \
	"$U: Time since last change per table / A" \
	"$U: Transactions per owner / A" \
	"$U: kube-proxy syncs, full and partial / A" \
	"$U: Time since last transaction per owner / A" \
	"$U: Conntrack fill ratio / A" \
	"$U: Conntrack entries and limit / A" \
	"$U: Collector success / A" \
	"$U: Ruleset mirror in sync / A" \
	"$U: Base chains by hook / A" \
	"nftables-services: variable namespace" \
	"nftables-services: variable service" \
	"nftables-services: Programmed endpoints / A" \
	"nftables-services: Service ports without endpoints / A" \
	"nftables-services: Frontends / A" \
	"nftables-services: Service ports programmed / A" \
	"recording.yaml: record owner:nftables_transactions:rate5m" \
	"recording.yaml: record instance:nftables_conntrack_fill:ratio" \
	"recording.yaml: record instance:nftables_rules:sum" \
	"recording.yaml: record job:nftables_set_elements:sum"; do
	if [[ -z ${N[$key]+x} ]]; then
		not_ok "shows data: $key" "no such expression (renamed panel?)"
	else
		check "shows data: $key" test "${N[$key]}" -gt 0
	fi
done
check "conntrack fill ratio is above 0 (${MAX["$U: Conntrack fill ratio / A"]:-})" \
	awk -v v="${MAX["$U: Conntrack fill ratio / A"]:--}" 'BEGIN { exit !(v + 0 > 0 && v + 0 < 1) }'
IFS=$'\t' read -r _ _ _ kp _ < <(printf '{"key": "kp", "expr": "%s"}\n' \
	"sum(rate(nftables_transactions_total{job=\\\"$JOB\\\", owner=\\\"kube-proxy\\\"}[$RI]))" | api query)
check "kube-proxy's transactions are seen (${kp:-}/s)" awk -v v="${kp:--}" 'BEGIN { exit !(v + 0 > 0) }'
check_eq "every collector succeeds" "${MAX["$U: Collector success / A"]:-}" 1.0

# rule groups
api rules >"$T_TMP/rules.tsv"
while IFS=$'\t' read -r g n bad; do
	[[ $g == names ]] && continue
	check_eq "rule group $g: $n rules, all healthy" "$bad" -
done <"$T_TMP/rules.tsv"
check_eq "Prometheus loaded exactly the rules the checker extracted" \
	"$(sed -n 's/^names\t//p' "$T_TMP/rules.tsv")" \
	"$($PY -c 'import json, sys
print(" ".join(sorted(e["kind"] + " " + e["key"].split(" ", 2)[2] for e in map(json.loads, sys.stdin) if e["kind"] in ("alert", "record"))))' <"$T_TMP/exprs.jsonl")"
check_eq "no alert pending or firing in a healthy namespace" "$(api alerts)" -

finish
