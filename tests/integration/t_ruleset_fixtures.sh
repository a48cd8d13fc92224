#!/usr/bin/env bash
# The ruleset collector against the oracle `nft -j list ruleset`, on every
# kube-proxy fixture (../shared/fixtures/kube-proxy/*.nft, next to the repo)
# and every hand-written ruleset in rulesets/ (*.nft: nft -f, *.json:
# nft -j -f, *.sh: run inside the namespace, e.g. iptables-nft).
# Per ruleset: load it into a fresh namespace B, start the exporter in A with
# --netns B, wait for /-/ready, compare the scrape with the oracle (the
# initial dump), check promtool; then, with the same exporter running,
# `nft flush ruleset` in B and compare (every series must go), and load the
# ruleset again and compare (the event path). At the end, live updates on a
# running exporter: a kube-proxy sync on top of another, a table deleted and
# another added in one transaction, a kube-proxy style flush+reload, chain
# and set changes. "edge": events that change little (no-op re-adds, element
# timeout updates, a policy change, auto-merge, iptables-nft replacing rules,
# a dormant table, checked by hand since nft 1.0.6 cannot print it as JSON).
# "quiet": changes without any event, found by the periodic re-dump
# (--collector.ruleset.refresh-interval=1): an owner table that vanishes with
# its socket, expired elements, counters and quotas reset.
source "$(dirname "$0")/lib.sh"
export PYTHONDONTWRITEBYTECODE=1
ORACLE=tests/integration/nft_oracle.py
RULESETS=tests/integration/rulesets
FIXTURES=$(cd .. && pwd)/shared/fixtures/kube-proxy
PORT=19700
WAIT=${RULESET_WAIT:-5}	# seconds to wait for the exporter to catch up

if ! "$BIN" --help 2>&1 | grep -q -- '--\[no-\]collector.ruleset'; then
	not_ok "$BIN has the ruleset collector" "build it: make -s all"
	finish
fi

# load_ruleset NS FILE: load one ruleset file into NS by its kind
load_ruleset() {
	case $2 in
	*.nft) in_ns "$1" nft -f "$2" ;;
	*.json) in_ns "$1" nft -j -f "$2" ;;
	*.sh) in_ns "$1" bash "$2" "$1" ;;
	*) echo "unknown ruleset kind: $2"; return 1 ;;
	esac
}

source "$(dirname "$0")/oracle_lib.sh"

check_promtool() {	# check_promtool DESCRIPTION FILE: parse and lint clean
	local out
	if out=$(promtool check metrics <"$2" 2>&1) && [[ -z $out ]]; then
		ok "$1"
	else
		not_ok "$1" "$(head -n 10 <<<"$out")"
	fi
}

files=()
if [[ -d $FIXTURES ]] && compgen -G "$FIXTURES/*.nft" >/dev/null; then
	files+=("$FIXTURES"/*.nft)
else
	not_ok "kube-proxy fixtures found" "no $FIXTURES/*.nft: the repo's parent folder should hold shared/fixtures/kube-proxy"
fi
files+=("$RULESETS"/*.nft "$RULESETS"/*.json "$RULESETS"/*.sh)
if [[ " ${files[*]} " == *" $RULESETS/iptables-nft.sh "* ]] && ! command -v iptables-nft-restore >/dev/null; then
	not_ok "iptables-nft is installed (apt-get install iptables) for rulesets/iptables-nft.sh"
	files=("${files[@]/$RULESETS\/iptables-nft.sh/}")
fi

new_ns A
port=$PORT
for f in "${files[@]}"; do
	[[ -n $f ]] || continue
	name=$(basename "$f")
	new_ns B
	if ! load_ruleset "$B" "$f" >"$T_TMP/load.out" 2>&1; then
		not_ok "$name loads" "$(head -n 5 "$T_TMP/load.out")"
		continue
	fi
	if ! start_exporter "$A" "$port" --netns "/run/netns/$B" >/dev/null ||
		! wait_http "$A" "$port" /-/ready >/dev/null; then
		not_ok "$name: exporter starts and gets ready" "$(tail -n 5 "$T_TMP/exporter-$port.log")"
		port=$((port + 1))
		continue
	fi
	tag=${name%.*}
	check_compare "$name: initial dump equals nft -j" "$A" "$port" "$B" "$tag.0"
	check_promtool "$name: promtool check metrics is clean" "$T_TMP/$tag.0.prom"
	in_ns "$B" nft flush ruleset
	check_compare "$name: after flush ruleset (events) equals nft -j" "$A" "$port" "$B" "$tag.1"
	if load_ruleset "$B" "$f" >"$T_TMP/load.out" 2>&1; then
		check_compare "$name: loaded again (events) equals nft -j" "$A" "$port" "$B" "$tag.2"
	else
		not_ok "$name loads a second time" "$(head -n 5 "$T_TMP/load.out")"
	fi
	stop_exporter "$EXP_PID" 2>/dev/null
	ip netns del "$B"
	port=$((port + 1))
done

# live updates on one running exporter, no restart
new_ns B
start_fixture=$FIXTURES/v135-startup-ipv4.nft
final_fixture=$FIXTURES/v135-sync-final-ipv4.nft
if [[ -f $start_fixture && -f $final_fixture ]]; then
	load_ruleset "$B" "$start_fixture" || not_ok "live: load v135-startup-ipv4"
	load_ruleset "$B" "$RULESETS/inet-firewall.nft" || not_ok "live: load inet-firewall"
	if start_exporter "$A" "$port" --netns "/run/netns/$B" >/dev/null &&
		wait_http "$A" "$port" /-/ready >/dev/null; then
		check_compare "live: start state equals nft -j" "$A" "$port" "$B" live.0
		load_ruleset "$B" "$final_fixture" || not_ok "live: v135-sync-final loads on top"
		sleep 0.5
		check_compare "live: v135-sync-final loaded on top of v135-startup" "$A" "$port" "$B" live.1
		in_ns "$B" nft -f - <<-'EOF' || not_ok "live: transaction 2 commits"
			delete table inet filter
			table ip6 late {
				set s { type ipv6_addr; elements = { ::1, ::2, ::3 } }
				chain c { type filter hook input priority 10; policy drop; counter; }
			}
		EOF
		sleep 0.5
		check_compare "live: a table deleted and another added in one transaction" "$A" "$port" "$B" live.2
		{ echo "flush table ip kube-proxy"; cat "$start_fixture"; } >"$T_TMP/resync.nft"
		load_ruleset "$B" "$T_TMP/resync.nft" || not_ok "live: flush table + reload commits"
		sleep 0.5
		check_compare "live: kube-proxy style flush table + full reload" "$A" "$port" "$B" live.3
		in_ns "$B" nft -f - <<-'EOF' || not_ok "live: transaction 4 commits"
			delete element ip kube-proxy cluster-ips { 172.30.0.41 }
			add element ip6 late s { ::4 }
			add chain ip kube-proxy tmp-chain
			add rule ip kube-proxy tmp-chain counter
			insert rule ip kube-proxy tmp-chain counter accept
			rename chain ip6 late c c2
		EOF
		sleep 0.5
		check_compare "live: element delete/add, chain add, rename chain" "$A" "$port" "$B" live.4
		in_ns "$B" nft -f - <<-'EOF' || not_ok "live: transaction 5 commits"
			flush chain ip kube-proxy tmp-chain
			delete chain ip kube-proxy tmp-chain
			flush set ip kube-proxy cluster-ips
			delete set ip6 late s
		EOF
		sleep 0.5
		check_compare "live: flush chain, delete chain, flush set, delete set" "$A" "$port" "$B" live.5
		in_ns "$B" nft delete table ip kube-proxy
		in_ns "$B" nft delete table ip6 late
		sleep 0.5
		check_compare "live: every table deleted (no stale series)" "$A" "$port" "$B" live.6
	else
		not_ok "live: exporter starts and gets ready" "$(tail -n 5 "$T_TMP/exporter-$port.log")"
	fi
else
	not_ok "live: fixtures v135-startup-ipv4.nft and v135-sync-final-ipv4.nft exist" "in $FIXTURES"
fi
stop_exporter "$EXP_PID" 2>/dev/null
ip netns del "$B"
port=$((port + 1))

# events that change little or nothing: no-op re-adds (the kernel may still
# notify), an element's timeout updated, a base chain's policy changed,
# auto-merge replacing intervals, iptables-nft replacing a native rule by a
# compat one, and a dormant table (nft 1.0.6 cannot list it as JSON, so a
# few of its series are checked by hand)
new_ns B
load_ruleset "$B" "$RULESETS/objects.nft" || not_ok "edge: load objects.nft"
load_ruleset "$B" "$RULESETS/timeout-dynamic.nft" || not_ok "edge: load timeout-dynamic.nft"
if start_exporter "$A" "$port" --netns "/run/netns/$B" >/dev/null &&
	wait_http "$A" "$port" /-/ready >/dev/null; then
	check_compare "edge: start state" "$A" "$port" "$B" edge.0
	in_ns "$B" nft -f - <<-'EOF' || not_ok "edge: no-op re-adds commit"
		add table ip stats
		add chain ip stats in { type filter hook input priority 0; policy accept; }
		add map ip stats cnt_by_port { type inet_service : counter; }
		add element ip stats cnt_by_port { 80 : "cnt_http" }
		add element inet dyn counted { 10.0.0.1 }
		add element inet dyn blocklist { 192.0.2.4 }
		add counter ip stats cnt_http
		add quota ip stats q_small { 1000 bytes }
	EOF
	check_compare "edge: re-adding existing table, chain, map, elements, objects" "$A" "$port" "$B" edge.1
	in_ns "$B" nft add element inet dyn blocklist '{ 192.0.2.1 timeout 5h, 192.0.2.2 timeout 6h }' ||
		not_ok "edge: timeout update commits"
	check_compare "edge: timeouts of existing elements updated" "$A" "$port" "$B" edge.2
	in_ns "$B" nft add chain ip stats in '{ type filter hook input priority 0; policy drop; }' ||
		not_ok "edge: policy update commits"
	check_compare "edge: base chain policy changed to drop" "$A" "$port" "$B" edge.3
	in_ns "$B" nft add table ip am '{ set m { type ipv4_addr; flags interval; auto-merge; }; }'
	in_ns "$B" nft add element ip am m '{ 10.1.0.0/24 }'
	in_ns "$B" nft add element ip am m '{ 10.1.1.0/24 }'
	in_ns "$B" nft add element ip am m '{ 10.1.3.0/24, 10.1.2.0/24, 10.9.0.1 }'
	check_compare "edge: auto-merge set grown in three transactions" "$A" "$port" "$B" edge.4
	in_ns "$B" nft delete element ip am m '{ 10.1.0.0/22 }'
	in_ns "$B" nft add element ip am m '{ 10.2.0.0/16, 10.3.0.0/16 }'
	check_compare "edge: auto-merge interval deleted, adjacent ones merged" "$A" "$port" "$B" edge.5
	if command -v iptables-nft >/dev/null; then
		load_ruleset "$B" "$RULESETS/iptables-nft.sh" >/dev/null 2>&1 || not_ok "edge: iptables-nft.sh loads"
		in_ns "$B" iptables-nft -R INPUT 1 -i lo -m comment --comment now-compat -j ACCEPT
		in_ns "$B" iptables-nft -D INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
		in_ns "$B" iptables-nft -t nat -F DOCKER
		in_ns "$B" ip6tables-nft -A INPUT -m hl --hl-eq 255 -j ACCEPT
		check_compare "edge: iptables-nft replace, delete, flush, append" "$A" "$port" "$B" edge.6
	fi
	in_ns "$B" nft -f - <<-'EOF' || not_ok "edge: dormant table loads"
		table inet sleepy {
			flags dormant
			set s { type ipv4_addr; elements = { 1.1.1.1, 2.2.2.2 } }
			chain in { type filter hook input priority 7; policy drop; counter; accept; }
			chain other { }
		}
	EOF
	sleep 0.5
	scrape "$A" "$port" >"$T_TMP/edge.7.prom"
	got=""
	for k in 'nftables_chains{family="inet",table="sleepy"}' 'nftables_rules{family="inet",table="sleepy"}' \
		'nftables_sets{family="inet",table="sleepy"}' 'nftables_set_elements{family="inet",table="sleepy",set="s"}' \
		'nftables_base_chain_rules{family="inet",table="sleepy",chain="in"}' \
		'nftables_base_chain_info{family="inet",table="sleepy",chain="in",type="filter",hook="input",priority="7",policy="drop"}'; do
		got+="$(metric "$T_TMP/edge.7.prom" "$k") "
	done
	check_eq "edge: dormant table counted (chains rules sets elements base-rules info)" "$got" "2 2 1 2 2 1 "
	in_ns "$B" nft delete table inet sleepy
	check_compare "edge: dormant table deleted" "$A" "$port" "$B" edge.8
else
	not_ok "edge: exporter starts and gets ready" "$(tail -n 5 "$T_TMP/exporter-$port.log")"
fi
stop_exporter "$EXP_PID" 2>/dev/null
ip netns del "$B"
port=$((port + 1))

# changes that send no event, found by the periodic re-dump
# (--collector.ruleset.refresh-interval=1): elements expiring, an owner
# table vanishing with the socket that made it, counters and quotas reset
if "$BIN" --help 2>&1 | grep -q -- '--collector.ruleset.refresh-interval'; then
	new_ns B
	load_ruleset "$B" "$RULESETS/objects.nft" || not_ok "quiet: load objects.nft"
	in_ns "$B" nft -f - <<-'EOF' || not_ok "quiet: load the expiring set"
		table ip quiet {
			set short {
				type ipv4_addr; flags timeout;
				elements = { 1.1.1.1 timeout 2s, 1.1.1.2 timeout 2s, 1.1.1.3 timeout 1h }
			}
		}
	EOF
	if start_exporter "$A" "$port" --netns "/run/netns/$B" --collector.ruleset.refresh-interval=1 >/dev/null &&
		wait_http "$A" "$port" /-/ready >/dev/null; then
		check_compare "quiet: start state" "$A" "$port" "$B" quiet.0
		# an NFT_TABLE_F_OWNER table, made over raw netlink by a process that
		# then exits: the kernel drops it without any event
		in_ns "$B" $PY - ownedtbl 2 >"$T_TMP/owner.out" 2>&1 <<-'PYEOF' &
			import socket, struct, sys, time
			def attr(t, data):
			    n = 4 + len(data)
			    return struct.pack("=HH", n, t) + data + b"\0" * ((4 - n % 4) % 4)
			def msg(ty, flags, seq, fam, payload, res_id=0):
			    body = struct.pack("=BBH", fam, 0, socket.htons(res_id)) + payload
			    return struct.pack("=IHHII", 16 + len(body), ty, flags, seq, 0) + body
			name = sys.argv[1].encode() + b"\0"
			s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)	# NETLINK_NETFILTER
			s.bind((0, 0))
			NFT = 10 << 8	# NFNL_SUBSYS_NFTABLES
			tbl = attr(1, name) + attr(2, struct.pack(">I", 2))	# NAME, FLAGS = OWNER
			chain = attr(1, name) + attr(3, b"c\0")		# TABLE, NAME
			s.send(msg(0x10, 1, 1, 0, b"", 10)			# BATCH_BEGIN
			       + msg(NFT | 0, 1 | 4 | 0x400, 2, socket.AF_INET, tbl)	# NEWTABLE
			       + msg(NFT | 3, 1 | 4 | 0x400, 3, socket.AF_INET, chain)	# NEWCHAIN
			       + msg(0x11, 1, 4, 0, b"", 10))			# BATCH_END
			for _ in range(2):
			    d = s.recv(65536)
			    print("ack", struct.unpack_from("=i", d, 16)[0], flush=True)
			time.sleep(float(sys.argv[2]))
		PYEOF
		owner=$!
		sleep 1
		scrape "$A" "$port" >"$T_TMP/quiet.1.prom"
		check_eq "quiet: owner table mirrored while its socket lives" \
			"$(metric "$T_TMP/quiet.1.prom" 'nftables_chains{family="ip",table="ownedtbl"}')" 1
		wait "$owner"
		check "quiet: owner table was created (two acks 0)" test "$(grep -c '^ack 0$' "$T_TMP/owner.out")" -eq 2
		sleep 1.5	# the 2 s elements have expired by now
		check_compare "quiet: owner table gone and elements expired, no event" "$A" "$port" "$B" quiet.2 5
		in_ns "$B" nft reset counters >/dev/null
		in_ns "$B" nft reset quotas >/dev/null
		check_compare "quiet: counters and quotas reset (no event)" "$A" "$port" "$B" quiet.3
	else
		not_ok "quiet: exporter starts and gets ready" "$(tail -n 5 "$T_TMP/exporter-$port.log")"
	fi
fi

finish
