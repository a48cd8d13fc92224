#!/usr/bin/env bash
# The ruleset collector under churn, against the oracle `nft -j list ruleset`.
# Phase 1: the exporter (namespace A, --netns B) watches an empty B while
# churn.py applies 20 batches of 100 random transactions (one `nft -f` each);
# after every batch we wait until the exporter's nftables_ruleset_generation
# equals B's generation and its numbers equal the oracle (up to 5 s): one
# check per batch. Phase 2: a fresh B, the exporter with a 4 KiB event
# socket buffer (--collector.ruleset.rcvbuf=4096) and transactions of 500
# rules and 2,000 elements each: the socket must overflow (overruns > 0), the
# collector must resync (nftables_resyncs_total{reason="overrun"} > 0) and
# still end equal to the oracle. Phase 3: two generators commit side by
# side while one exporter starts and another restarts; both must end equal
# to the oracle. Env: CHURN_SEED (default 42), CHURN_BATCHES
# (20), RULESET_KEEP=1 keeps the transactions and dumps of a failed run.
source "$(dirname "$0")/lib.sh"
export PYTHONDONTWRITEBYTECODE=1
ORACLE=tests/integration/nft_oracle.py
CHURN=tests/integration/churn.py
PORT=19750
SEED=${CHURN_SEED:-42}
BATCHES=${CHURN_BATCHES:-20}
WAIT=${RULESET_WAIT:-5}
T0=$(date +%s)

if ! "$BIN" --help 2>&1 | grep -q -- '--\[no-\]collector.ruleset'; then
	not_ok "$BIN has the ruleset collector" "build it: make -s all"
	finish
fi

source "$(dirname "$0")/oracle_lib.sh"

churn() {	# churn NS STATE ARGS...: run churn.py inside NS
	local n=$1 st=$2
	shift 2
	in_ns "$n" $PY "$CHURN" --netns "$n" --state "$st" --seed "$SEED" --save "$T_TMP/tx.$(basename "$st" .state)" "$@"
}

# ---- phase 1: 20 x 100 transactions, exporter following events
new_ns A
new_ns B
start_exporter "$A" $PORT --netns "/run/netns/$B" >/dev/null &&
	wait_http "$A" $PORT /-/ready >/dev/null ||
	{ not_ok "exporter starts and gets ready" "$(tail -n 5 "$T_TMP/exporter-$PORT.log")"; finish; }
check_compare "empty namespace equals nft -j" "$A" $PORT "$B" churn.0
for i in $(seq 1 "$BATCHES"); do
	churn "$B" "$T_TMP/churn.state" --count 100 --quiet ||
		not_ok "churn.py batch $i runs"
	check_compare "after batch $i ($((i * 100)) transactions, seed $SEED)" "$A" $PORT "$B" "churn.$i"
done
summary=$(churn "$B" "$T_TMP/churn.state" --count 0)
echo "# $summary"
rate=$(sed -nE 's/.*success ([0-9.]+)%.*/\1/p' <<<"$summary")
check "churn success rate above 80% ($rate%)" awk -v r="${rate:-0}" 'BEGIN { exit !(r > 80) }'
scrape "$A" $PORT >"$T_TMP/churn.final.prom"
check "events were counted (nftables_netlink_events_total{type=\"newrule\"} > 0)" \
	awk '$1 == "nftables_netlink_events_total{type=\"newrule\"}" && $2 > 0 { f = 1 } END { exit !f }' \
	"$T_TMP/churn.final.prom"
check_eq "no overrun with the default 64 MiB buffer" \
	"$(metric "$T_TMP/churn.final.prom" 'nftables_netlink_overruns_total{socket="events"}')" 0
stop_exporter "$EXP_PID" 2>/dev/null
echo "# phase 1: $(($(date +%s) - T0)) s"

# ---- phase 2: a 4 KiB event socket, transactions of ~2,500 messages
new_ns C
PORT2=$((PORT + 1))
start_exporter "$A" $PORT2 --netns "/run/netns/$C" --collector.ruleset.rcvbuf=4096 >/dev/null &&
	wait_http "$A" $PORT2 /-/ready >/dev/null ||
	{ not_ok "exporter with rcvbuf=4096 starts and gets ready" "$(tail -n 5 "$T_TMP/exporter-$PORT2.log")"; finish; }
check_compare "rcvbuf=4096: empty namespace equals nft -j" "$A" $PORT2 "$C" big.0
for i in 1 2 3; do
	churn "$C" "$T_TMP/big.state" --count 4 --big --quiet || not_ok "churn.py --big round $i runs"
	churn "$C" "$T_TMP/small.state" --count 50 --quiet || not_ok "churn.py round $i runs"
done
check_compare "rcvbuf=4096: final state equals nft -j after overruns" "$A" $PORT2 "$C" big.1 15
M=$T_TMP/big.1.prom
over=$(metric "$M" 'nftables_netlink_overruns_total{socket="events"}')
resync=$(metric "$M" 'nftables_resyncs_total{reason="overrun"}')
check "nftables_netlink_overruns_total{socket=\"events\"} rose above 0 (${over:-absent})" \
	awk -v v="${over:-0}" 'BEGIN { exit !(v > 0) }'
check "nftables_resyncs_total{reason=\"overrun\"} rose above 0 (${resync:-absent})" \
	awk -v v="${resync:-0}" 'BEGIN { exit !(v > 0) }'
# and it keeps following events after the resyncs
churn "$C" "$T_TMP/small.state" --count 50 --quiet
check_compare "rcvbuf=4096: 50 more small transactions equal nft -j" "$A" $PORT2 "$C" big.2 15
stop_exporter "$EXP_PID" 2>/dev/null

# ---- phase 3: two generators committing side by side while an exporter
# starts (its first dump races with commits) and another one restarts
new_ns D
PORT3=$((PORT + 2))
churn "$D" "$T_TMP/p.state" --count 20 --prefix p --quiet
churn "$D" "$T_TMP/q.state" --count 150 --prefix q --quiet &
q=$!
churn "$D" "$T_TMP/p.state" --count 150 --quiet &
p=$!
sleep 0.5
start_exporter "$A" $PORT3 --netns "/run/netns/$D" >/dev/null &&
	wait_http "$A" $PORT3 /-/ready >/dev/null ||
	not_ok "exporter started during churn gets ready" "$(tail -n 5 "$T_TMP/exporter-$PORT3.log")"
sleep 0.5
start_exporter "$A" $((PORT3 + 1)) --netns "/run/netns/$D" >/dev/null
sleep 0.3
stop_exporter "$EXP_PID" 2>/dev/null
start_exporter "$A" $((PORT3 + 1)) --netns "/run/netns/$D" >/dev/null &&
	wait_http "$A" $((PORT3 + 1)) /-/ready >/dev/null ||
	not_ok "exporter restarted during churn gets ready" "$(tail -n 5 "$T_TMP/exporter-$((PORT3 + 1)).log")"
wait "$p" "$q"
check_compare "started during two concurrent churners: equals nft -j" "$A" $PORT3 "$D" race.1 10
check_compare "restarted during two concurrent churners: equals nft -j" "$A" $((PORT3 + 1)) "$D" race.2 10
echo "# churn test wall time: $(($(date +%s) - T0)) s"

finish
