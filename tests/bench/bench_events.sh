#!/usr/bin/env bash
# What following a big transaction by events costs the exporter, against
# what the transaction costs its committer, in the same run: nft -f of a
# kube-proxy-layout ruleset (kp_scale.py) while the exporter watches; the
# exporter's CPU seconds (process_cpu_seconds_total) spent meanwhile, the
# delay from nft's exit to the change being visible in a scrape, and the
# events per CPU second. usage: bench_events.sh [SERVICES [ENDPOINTS]]
# (default 2000 10). Runs as root in its own namespaces; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2000}
E=${2:-10}
BIN=${BIN:-build/nftables_exporter}
W=nftexp-bev-$$
A=$W-a
PORT=19991
trap 'pkill -f "127.0.0.1:$PORT" 2>/dev/null; ip netns del $W 2>/dev/null; ip netns del $A 2>/dev/null; rm -f /tmp/$W.*' EXIT
ip netns add $W
ip netns add $A
ip -n $A link set lo up
python3 tests/bench/kp_scale.py "$N" "$E" >/tmp/$W.nft
ip netns exec $A "$BIN" --web.listen-address=127.0.0.1:$PORT --netns /run/netns/$W \
	--no-collector.conntrack >/tmp/$W.log 2>&1 &
until ip netns exec $A curl -fs -o /dev/null http://127.0.0.1:$PORT/-/ready; do sleep 0.05; done
scrape() { ip netns exec $A curl -s http://127.0.0.1:$PORT/metrics; }
val() { awk -v k="$1" '$1 == k { print $2 }'; }
cpu0=$(scrape | val process_cpu_seconds_total)
t0=$(date +%s.%N)
ip netns exec $W nft -f /tmp/$W.nft
t1=$(date +%s.%N)
want=$(ip netns exec $W nft -j list chains | python3 -c 'import json,sys; print(sum(1 for o in json.load(sys.stdin)["nftables"] if "chain" in o))')
until [[ $(scrape | val 'nftables_chains{family="ip",table="kube-proxy"}') == "$want" ]]; do sleep 0.01; done
t2=$(date +%s.%N)
m=$(scrape)
cpu1=$(val process_cpu_seconds_total <<<"$m")
events=$(awk '/^nftables_netlink_events_total/ { s += $2 } END { print s }' <<<"$m")
resyncs=$(awk '/^nftables_resyncs_total/ && !/startup/ { s += $2 } END { print s }' <<<"$m")
rss=$(val process_resident_memory_bytes <<<"$m")
nft_s=$(echo "$t1 - $t0" | bc -l)
cpu=$(echo "$cpu1 - $cpu0" | bc -l)
printf 'transaction: %d Services x %d endpoints, %s chains, %s events\n' "$N" "$E" "$want" "$events"
printf '%-46s %10.3f s\n' "nft -f (committer, wall)" "$nft_s"
printf '%-46s %10.3f s\n' "exporter CPU to apply the events" "$cpu"
printf '%-46s %10.3f s\n' "visible in a scrape after nft exited" "$(echo "$t2 - $t1" | bc -l)"
printf '%-46s %10.0f /s\n' "events applied per exporter CPU second" "$(echo "$events / ($cpu + 0.0001)" | bc -l)"
printf '%-46s %10.1f MB\n' "exporter RSS after" "$(echo "$rss / 1048576" | bc -l)"
printf 'resyncs (overruns, gaps): %s\n' "$resyncs"
printf 'ratio exporter CPU / committer wall: %.3f\n' "$(echo "$cpu / $nft_s" | bc -l)"
