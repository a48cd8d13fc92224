#!/usr/bin/env bash
# Install the Debian packages a make target needs, only those missing:
# `apt-get update` once, then `apt-get install -y`. Usage: deps.sh GROUP...
# Groups: build, test, fuzz, valgrind.
set -euo pipefail

declare -A group=(
	[build]="make gcc libc6-dev pkg-config libmnl-dev libnftnl-dev libnetfilter-conntrack-dev libmicrohttpd-dev zlib1g-dev git"
	[test]="nftables conntrack iproute2 prometheus python3 python3-prometheus-client curl procps util-linux strace gzip iptables bc time python3-yaml systemd"
	[fuzz]="clang libclang-rt-14-dev"
	[valgrind]="valgrind"
)

want=()
for g in "$@"; do
	[[ -n "${group[$g]:-}" ]] || { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
	for p in ${group[$g]}; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			want+=("$p")
		fi
	done
done
[[ ${#want[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "deps.sh: missing packages: ${want[*]}; run as root or install them: apt-get install -y ${want[*]}" >&2
	exit 1
fi
echo "deps.sh: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
