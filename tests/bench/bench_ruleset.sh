#!/usr/bin/env bash
# Scrape cost at kube-proxy scale, ours against the peers' method (re-read
# the ruleset on every scrape with `nft -j list ruleset`), in the same run.
# usage: bench_ruleset.sh [SERVICES [ENDPOINTS]]   (default 1000 10)
# Runs as root in its own network namespaces. Prints figures and ratios;
# asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000}
E=${2:-10}
BIN=${BIN:-build/nftables_exporter}
W=nftexp-bench-$$
A=$W-a
trap 'pkill -f "127.0.0.1:19990" 2>/dev/null; ip netns del $W 2>/dev/null; ip netns del $A 2>/dev/null; rm -f /tmp/$W.*' EXIT
ip netns add $W
ip netns add $A
ip -n $A link set lo up
python3 tests/bench/kp_scale.py "$N" "$E" >/tmp/$W.nft
t0=$(date +%s.%N)
ip netns exec $W nft -f /tmp/$W.nft
t1=$(date +%s.%N)
printf 'ruleset: %d Services x %d endpoints, loaded by nft -f in %.1f s\n' "$N" "$E" "$(echo "$t1 - $t0" | bc)"

# the peers' method: a full re-read per scrape
/usr/bin/time -f '%e %M' -o /tmp/$W.time ip netns exec $W nft -j list ruleset >/dev/null
read -r nft_s nft_kb </tmp/$W.time

# ours: one dump at start, then events; a scrape writes only its series
t0=$(date +%s.%N)
ip netns exec $A "$BIN" --web.listen-address=127.0.0.1:19990 --netns /run/netns/$W \
	--no-collector.conntrack >/tmp/$W.log 2>&1 &
until ip netns exec $A curl -fs -o /dev/null http://127.0.0.1:19990/-/ready; do sleep 0.05; done
t1=$(date +%s.%N)
best=999
for i in $(seq 1 10); do
	s=$(ip netns exec $A curl -s -o /tmp/$W.prom -w '%{time_total}' http://127.0.0.1:19990/metrics)
	best=$(echo "if ($s < $best) $s else $best" | bc)
done
rss=$(awk '/^process_resident_memory_bytes/ {print $2}' /tmp/$W.prom)
chains=$(awk '/^nftables_chains\{/ {print $2}' /tmp/$W.prom)
rules=$(awk '/^nftables_rules\{/ {print $2}' /tmp/$W.prom)
dump=$(awk '/^nftables_dump_duration_seconds/ {print $2}' /tmp/$W.prom)

printf 'mirror: %s chains, %s rules\n' "$chains" "$rules"
printf '%-44s %10s %12s\n' "" "seconds" "memory"
printf '%-44s %10.3f %9.1f MB\n' "nft -j list ruleset (per scrape, peers)" "$nft_s" "$(echo "$nft_kb / 1024" | bc -l)"
printf '%-44s %10.3f %9.1f MB\n' "exporter start to ready (once)" "$(echo "$t1 - $t0" | bc)" "$(echo "$rss / 1048576" | bc -l)"
printf '%-44s %10.3f\n' "  of which the initial dump" "$dump"
printf '%-44s %10.4f\n' "exporter scrape (best of 10)" "$best"
printf 'ratio per scrape, peers/ours: %.0fx\n' "$(echo "$nft_s / $best" | bc -l)"
