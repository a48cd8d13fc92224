#!/usr/bin/env bash
# The services collector's model (Service ports, frontends, programmed
# endpoints) against an independent oracle over `nft -j list ruleset`
# (svc_oracle.py), for every kube-proxy fixture (v1.29 to v1.36, IPv4 and
# IPv6), live through the kube-proxy simulator's syncs (v1.35 and v1.36
# layouts), and quiet and healthy without any kube-proxy table.
source "$(dirname "$0")/lib.sh"

FIXTURES=$(cd .. && pwd)/shared/fixtures/kube-proxy
ORACLE=tests/integration/svc_oracle.py
new_ns A
PORT=19720

compare_svc() {	# compare_svc DESCRIPTION NS_B PORT TAG: until equal (5 s)
	local i
	for i in $(seq 1 50); do
		in_ns "$2" nft -j list ruleset >"$T_TMP/$4.json"
		scrape "$A" "$3" >"$T_TMP/$4.prom"
		if $PY "$ORACLE" "$T_TMP/$4.json" "$T_TMP/$4.prom" >"$T_TMP/$4.diff" 2>&1; then
			ok "$1 ($(tail -n1 "$T_TMP/$4.diff"))"
			return
		fi
		sleep 0.1
	done
	not_ok "$1" "$(head -n 20 "$T_TMP/$4.diff")"
}

if ! compgen -G "$FIXTURES/*.nft" >/dev/null; then
	not_ok "kube-proxy fixtures found" "no $FIXTURES/*.nft: the repo's parent folder should hold shared/fixtures/kube-proxy"
	finish
fi
n=0
for f in "$FIXTURES"/*.nft; do
	name=$(basename "$f" .nft)
	new_ns B
	in_ns "$B" nft -f "$f" || not_ok "$name loads"
	start_exporter "$A" $((PORT + n)) --netns "/run/netns/$B" --collector.disable-defaults \
		--collector.services >/dev/null || not_ok "$name: exporter starts"
	wait_http "$A" $((PORT + n)) /-/ready >/dev/null
	compare_svc "$name: Service ports, frontends and endpoints equal nft -j" "$B" $((PORT + n)) "fx$n"
	check "$name: promtool check metrics is clean" sh -c "promtool check metrics < '$T_TMP/fx$n.prom'"
	check_eq "$name: nothing unparsed" "$(metric "$T_TMP/fx$n.prom" 'nftables_service_unparsed_total{what="chain"}')" 0
	kill "$EXP_PID"
	wait "$EXP_PID" 2>/dev/null
	ip netns del "$B"
	n=$((n + 1))
done

# the model follows kube-proxy's syncs (full and partial, stale chains)
for layout in v135 v136; do
	new_ns B
	start_exporter "$A" $((PORT + n)) --netns "/run/netns/$B" --collector.disable-defaults \
		--collector.services >/dev/null || not_ok "$layout: exporter starts"
	wait_http "$A" $((PORT + n)) /-/ready >/dev/null
	for round in 1 2 3; do
		in_ns "$B" $PY tests/kpsim.py --layout $layout --services 40 --endpoints 3 --syncs 15 \
			--full-every 100 --seed $round --record "$T_TMP/sim.jsonl" >/dev/null 2>&1 ||
			not_ok "$layout: simulator round $round"
		compare_svc "$layout: after simulator round $round ($((round * 15)) syncs)" "$B" $((PORT + n)) "sim$layout$round"
	done
	n=$((n + 1))
done

# no kube-proxy table: quiet and healthy
new_ns B
in_ns "$B" nft add table inet other
start_exporter "$A" $((PORT + n)) --netns "/run/netns/$B" --collector.disable-defaults \
	--collector.services >/dev/null || not_ok "exporter without kube-proxy starts"
wait_http "$A" $((PORT + n)) /-/ready >/dev/null
scrape "$A" $((PORT + n)) >"$T_TMP/none.prom"
check "no Service series without kube-proxy" sh -c "! grep -qE '^nftables_service_(endpoints|frontend_info)\\{|^nftables_services\\{' '$T_TMP/none.prom'"
check_eq "collector healthy without kube-proxy" \
	"$(metric "$T_TMP/none.prom" 'nftables_exporter_scrape_collector_success{collector="services"}')" 1

finish
