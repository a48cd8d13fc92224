#!/usr/bin/env bash
# iptables-nft style tables: rules made of xt compat expressions (nft -j
# shows them as {"xt": {"type": "match"|"target"|"watcher", "name": ...}}),
# which nft -f cannot write. Loaded by running this script INSIDE a test
# namespace (ip netns exec NS bash iptables-nft.sh NS); needs Debian's
# iptables package (iptables-nft, ip6tables-nft, ebtables-nft,
# arptables-nft). Some rules translate to native expressions and some keep
# an xt match or target: only the latter count as compat rules.
# No mangle TCPMSS --clamp-mss-to-pmtu: this kernel rejects it (EINVAL).
set -euo pipefail
# guard-begin: fail closed. Run only inside the named namespace given as $1
# (`ip netns exec NS bash iptables-nft.sh NS`); `ip netns identify` prints
# nothing in the host's namespace. (Comparing with /proc/1/ns/net is not
# enough: that link can be unreadable, e.g. in a container.)
want=${1:-}
here=$(ip netns identify $$ 2>/dev/null || true)
if [[ -z $want || -z $here || $here != "$want" ]]; then
	echo "iptables-nft.sh: refusing to run: not inside the named netns '$want' (here: '${here:-none}')" >&2
	exit 2
fi
# guard-end
for t in iptables-nft-restore ip6tables-nft-restore ebtables-nft arptables-nft; do
	command -v "$t" >/dev/null || { echo "iptables-nft.sh: $t missing (apt-get install iptables)" >&2; exit 3; }
done

iptables-nft-restore <<'RULES'
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:ufw-before-input - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22,80,443 -m comment --comment "web \"and\" ssh ü" -j ACCEPT
-A INPUT -p tcp --dport 8080 -m limit --limit 5/min -j LOG --log-prefix "x: "
-A INPUT -p icmp -j ACCEPT
-A INPUT -s 10.0.0.0/8 -m state --state NEW -j DROP
-A INPUT -m recent --name portscan --set
-A INPUT -m hashlimit --hashlimit-above 10/sec --hashlimit-name hl -j DROP
-A INPUT -p tcp --syn -m connlimit --connlimit-above 10 -j REJECT --reject-with tcp-reset
-A INPUT -m mark --mark 0x1/0x1 -j ACCEPT
-A INPUT -j ufw-before-input
-A FORWARD -j DOCKER-USER
-A FORWARD -m physdev --physdev-in eth0 -j ACCEPT
-A DOCKER-USER -m addrtype --dst-type LOCAL -j RETURN
-A DOCKER-USER -p udp -m udp --dport 53 -j ACCEPT
-A DOCKER-USER -j RETURN
-A OUTPUT -m owner --uid-owner 0 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -p tcp --dport 8443 -j DNAT --to-destination 172.17.0.2:443
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
-A OUTPUT -j MARK --set-mark 0x10
COMMIT
*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p udp --dport 53 -j CT --notrack
COMMIT
RULES

ip6tables-nft-restore <<'RULES'
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -m rt --rt-type 0 -j DROP
-A INPUT -m conntrack --ctstate INVALID -j DROP
COMMIT
RULES

ebtables-nft -A FORWARD -p ipv4 --ip-proto udp -j ACCEPT
ebtables-nft -A INPUT --log --log-prefix x -j ACCEPT
ebtables-nft -A OUTPUT -j ACCEPT
arptables-nft -A INPUT --opcode Request -j ACCEPT
arptables-nft -A OUTPUT -j mangle --mangle-ip-s 10.0.0.1
