#!/usr/bin/env bash
# deploy/ without a cluster: the manifests' structure and cross-references
# (deploy/check_manifests.py, which also feeds the container's args to the
# exporter's own flag parser), the PrometheusRule in sync with the rule
# files, and the systemd unit through systemd-analyze verify.
source "$(dirname "$0")/lib.sh"

check "manifests are valid and consistent" $PY deploy/check_manifests.py "$BIN" deploy
sed "s|^ExecStart=/usr/local/bin/nftables_exporter|ExecStart=$BIN|" deploy/nftables-exporter.service \
	>"$T_TMP/nftables-exporter.service"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify "$T_TMP/nftables-exporter.service" 2>&1)
	check_eq "systemd-analyze verify reports nothing for the unit" "$out" ""
else
	not_ok "systemd-analyze is installed (package systemd)"
fi
check "the unit grants CAP_NET_ADMIN and nothing else" \
	grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN' deploy/nftables-exporter.service
check "the unit's ExecStart flags are accepted by the exporter" sh -c \
	"$BIN $(sed -n 's|^ExecStart=/usr/local/bin/nftables_exporter||p' deploy/nftables-exporter.service) --version"

finish
