#!/usr/bin/env bash
# What events do not carry, checked against nft after real loopback
# traffic: named counter and quota values, sets the packet path fills
# (recounted every --collector.ruleset.refresh-interval), and the opt-in
# per-comment rule counters.
source "$(dirname "$0")/lib.sh"

new_ns A
new_ns B
PORT=19670

in_ns "$B" nft -f - <<'NFT' || not_ok "load ruleset in B"
table inet live {
	counter web { }
	quota cap { over 10 mbytes }
	set seen {
		type ipv4_addr
		flags dynamic,timeout
		timeout 10m
	}
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport 7000 counter name web
		tcp dport 7000 quota name cap
		tcp dport 7000 update @seen { ip saddr }
		tcp dport 7000 counter comment "to 7000"
		udp dport 7001 counter comment "to 7000"
		tcp dport 7002 counter comment "only \ back"
	}
}
NFT

start_exporter "$A" $PORT --netns "/run/netns/$B" --collector.ruleset.refresh-interval=1 \
	--collector.ruleset.rule-counters || { not_ok "exporter starts"; finish; }
wait_http "$A" $PORT /-/ready || not_ok "exporter gets ready"

# traffic: TCP to 127.0.0.1-3:7000 (no listener: SYN then RST), UDP to 7001
ip netns exec "$B" $PY - <<'PYEOF'
import socket
for src in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
    for _ in range(4):
        s = socket.socket()
        s.bind((src, 0))
        try:
            s.connect(("127.0.0.1", 7000))
        except OSError:
            pass
        s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    u.sendto(b"x" * 100, ("127.0.0.1", 7001))
PYEOF

sleep 1.5	# one refresh of the packet-path set
M=$T_TMP/m
scrape "$A" $PORT >"$M"
in_ns "$B" nft -j list ruleset >"$T_TMP/j"
read -r web_p web_b q_used q_lim seen r7000_p r7000_b < <($PY - "$T_TMP/j" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))["nftables"]
out = {}
r7000_p = r7000_b = 0
for o in d:
    if "counter" in o and "name" in o["counter"] and o["counter"]["name"] == "web":
        out["web"] = (o["counter"]["packets"], o["counter"]["bytes"])
    if "quota" in o and o["quota"].get("name") == "cap":
        out["q"] = (o["quota"]["used"], o["quota"]["bytes"])
    if "set" in o and o["set"]["name"] == "seen":
        out["seen"] = len(o["set"].get("elem", []))
    if "rule" in o and o["rule"].get("comment") == "to 7000":
        for e in o["rule"]["expr"]:
            if "counter" in e:
                r7000_p += e["counter"]["packets"]
                r7000_b += e["counter"]["bytes"]
print(*out["web"], *out["q"], out["seen"], r7000_p, r7000_b)
PYEOF
)
check "traffic was counted by nft" test "${web_p:-0}" -gt 0
check_eq "named counter packets equal nft" "$(metric "$M" 'nftables_object_packets_total{family="inet",table="live",counter="web"}')" "$web_p"
check_eq "named counter bytes equal nft" "$(metric "$M" 'nftables_object_bytes_total{family="inet",table="live",counter="web"}')" "$web_b"
check_eq "quota used equals nft" "$(metric "$M" 'nftables_quota_used_bytes{family="inet",table="live",quota="cap"}')" "$q_used"
check_eq "quota limit equals nft" "$(metric "$M" 'nftables_quota_limit_bytes{family="inet",table="live",quota="cap"}')" "$q_lim"
check_eq "packet-path set recounted: 3 sources" "$seen" 3
check_eq "dynamic set size equals nft" "$(metric "$M" 'nftables_set_elements{family="inet",table="live",set="seen"}')" "$seen"
check_eq "rule counters summed by comment (packets)" "$(metric "$M" 'nftables_rule_packets_total{family="inet",table="live",chain="in",comment="to 7000"}')" "$r7000_p"
check_eq "rule counters summed by comment (bytes)" "$(metric "$M" 'nftables_rule_bytes_total{family="inet",table="live",chain="in",comment="to 7000"}')" "$r7000_b"
check "a comment with a backslash is escaped" grep -qF 'comment="only \\ back"} 0' "$M"
check "exposition is valid" sh -c "promtool check metrics < '$M'"

# counters never reset by us: a second scrape is not lower
scrape "$A" $PORT >"$M.2"
check "counter did not go down between scrapes" test \
	"$(metric "$M.2" 'nftables_object_packets_total{family="inet",table="live",counter="web"}')" -ge "$web_p"
check_eq "nft still shows the same counter (nothing reset it)" \
	"$(in_ns "$B" nft -j list counter inet live web | $PY -c 'import json,sys; print([o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o][0])')" "$web_p"

# without the opt-in flag there are no per-rule series
start_exporter "$A" $((PORT + 1)) --netns "/run/netns/$B" || not_ok "second exporter starts"
wait_http "$A" $((PORT + 1)) /-/ready
scrape "$A" $((PORT + 1)) >"$M.3"
check "no rule counters unless asked" sh -c "! grep -q '^nftables_rule_' '$M.3'"

# the element cap: past --collector.ruleset.max-elements, a set's elements
# are not kept and its size comes from dumps; sizes stay exact
new_ns C
$PY -c '
print("table inet big {")
for k in range(3):
    els = ", ".join(f"10.{k}.{i // 250}.{i % 250}" for i in range(100))
    print(f"  set s{k} {{ type ipv4_addr; elements = {{ {els} }} }}")
print("}")
' >"$T_TMP/big.nft"
in_ns "$C" nft -f "$T_TMP/big.nft" || not_ok "load three sets of 100 elements"
start_exporter "$A" $((PORT + 2)) --netns "/run/netns/$C" --collector.ruleset.max-elements=150 \
	--collector.ruleset.refresh-interval=1 || not_ok "capped exporter starts"
wait_http "$A" $((PORT + 2)) /-/ready
scrape "$A" $((PORT + 2)) >"$M.cap"
check "no more elements kept than the limit" test "$(metric "$M.cap" nftables_ruleset_elements_stored)" -le 150
check_eq "the limit is exported" "$(metric "$M.cap" nftables_ruleset_elements_limit)" 150
check "sets over the limit are counted" test "$(metric "$M.cap" nftables_ruleset_sets_over_limit)" -ge 1
for k in 0 1 2; do
	check_eq "set s$k size exact despite the limit" \
		"$(metric "$M.cap" "nftables_set_elements{family=\"inet\",table=\"big\",set=\"s$k\"}")" 100
done
in_ns "$C" nft add element inet big s2 '{ 192.168.0.1, 192.168.0.2, 192.168.0.3 }'
in_ns "$C" nft add element inet big s0 '{ 192.168.0.1 }'
sleep 1.5
scrape "$A" $((PORT + 2)) >"$M.cap2"
check_eq "a set over the limit follows changes (periodic recount)" \
	"$(metric "$M.cap2" 'nftables_set_elements{family="inet",table="big",set="s2"}')" 103
check_eq "a kept set follows changes (events)" \
	"$(metric "$M.cap2" 'nftables_set_elements{family="inet",table="big",set="s0"}')" 101

finish
