# Shared helpers for integration tests. Each test runs as root, makes its own
# network namespaces (never touching the host's), starts the daemon inside
# one, and reports "ok"/"not ok" lines then "NAME: N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=${BIN:-build/nftables_exporter}
[[ $BIN == /* ]] || BIN=$PWD/$BIN
PY=/usr/bin/python3		# Debian's python, with prometheus_client
T_NAME=$(basename "$0" .sh)
T_PASS=0
T_FAIL=0
T_NS=()
T_PIDS=()
T_TMP=$(mktemp -d)

ok() {		# ok DESCRIPTION: record a pass
	T_PASS=$((T_PASS + 1))
	echo "ok $*"
}

not_ok() {	# not_ok DESCRIPTION [DETAIL]: record a failure
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $1"
	[[ $# -gt 1 ]] && printf '    %s\n' "${@:2}"
	return 0
}

check() {	# check DESCRIPTION COMMAND...: pass when COMMAND succeeds
	local d=$1
	shift
	if "$@" >"$T_TMP/check.out" 2>&1; then
		ok "$d"
	else
		not_ok "$d" "command: $*" "$(head -c 2000 "$T_TMP/check.out")"
	fi
}

check_eq() {	# check_eq DESCRIPTION GOT WANT
	if [[ "$2" == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1" "got:  [$2]" "want: [$3]"
	fi
}

stop_all() {	# stop every process the test started, drop its namespaces
	local p n
	for p in "${T_PIDS[@]}"; do	# children first (strace, ip exec)
		pkill -TERM -P "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
	for p in "${T_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	T_PIDS=()
	for n in "${T_NS[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	T_NS=()
}

cleanup() {
	stop_all
	rm -rf "$T_TMP"
}

finish() {
	local f
	stop_all
	# a sanitizer or valgrind report in any daemon log fails the test
	for f in "$T_TMP"/exporter-*.log; do
		[[ -e $f ]] || continue
		if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|are definitely lost|Invalid (read|write|free)|uninitialised|Conditional jump' "$f"; then
			not_ok "no sanitizer or valgrind report in $(basename "$f")" "$(grep -m5 -E 'ERROR|runtime error|lost' "$f")"
		fi
	done
	cleanup
	trap - EXIT
	echo "$T_NAME: $T_PASS passed, $T_FAIL failed"
	[[ $T_FAIL -eq 0 ]]
	exit $?
}
trap 'cleanup' EXIT

new_ns() {	# new_ns VAR: create a namespace with loopback up, name in VAR
	local n="nftexp-$T_NAME-$$-${#T_NS[@]}"
	ip netns add "$n" || { echo "cannot create netns $n"; exit 1; }
	T_NS+=("$n")
	ip -n "$n" link set lo up
	printf -v "$1" '%s' "$n"
}

in_ns() {	# in_ns NS COMMAND...
	local n=$1
	shift
	ip netns exec "$n" "$@"
}

# start_exporter NS PORT [ARGS...]: run the daemon inside NS listening on
# 127.0.0.1:PORT (there), log to $T_TMP/exporter-PORT.log; sets EXP_PID.
start_exporter() {
	local n=$1 port=$2
	shift 2
	ip netns exec "$n" ${VALGRIND:-} "$BIN" --web.listen-address="127.0.0.1:$port" "$@" \
		>"$T_TMP/exporter-$port.log" 2>&1 &
	EXP_PID=$!
	T_PIDS+=("$EXP_PID")
	wait_http "$n" "$port" /-/healthy
}

wait_http() {	# wait_http NS PORT PATH: until it answers 200 (10 s)
	local i
	for i in $(seq 1 100); do
		if ip netns exec "$1" curl -fsS -o /dev/null "http://127.0.0.1:$2$3" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "timeout waiting for http://127.0.0.1:$2$3 in $1"
	cat "$T_TMP/exporter-$2.log" 2>/dev/null
	return 1
}

scrape() {	# scrape NS PORT [CURL ARGS...]: body on stdout
	local n=$1 port=$2
	shift 2
	ip netns exec "$n" curl -sS "$@" "http://127.0.0.1:$port/metrics"
}

metric() {	# metric FILE NAME_WITH_LABELS: value of one sample, or empty
	# label values may hold spaces: match the whole prefix, take the last field
	awk -v k="$2 " 'index($0, k) == 1 && substr($0, length(k) + 1) !~ / / { print $NF }' "$1"
}

stop_exporter() {	# stop_exporter PID [SIGNAL]: returns the exit status
	kill -"${2:-TERM}" "$1"
	wait "$1"
}
