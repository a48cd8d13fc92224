#!/usr/bin/env bash
# Runs every unit test binary and every integration test, then prints one
# summary line "N passed, N failed". Exit status is non-zero on any failure.
# Env: BIN (daemon), UNIT_DIR (unit binaries), VALGRIND (optional prefix),
#      TESTS (space-separated integration test names to run, default all).
set -uo pipefail
cd "$(dirname "$0")/.."
export BIN=${BIN:-build/nftables_exporter}
UNIT_DIR=${UNIT_DIR:-build/tests}
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {	# add the "N passed, N failed" of the last such line in $log
	local line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [[ -z $line ]]; then
		echo "  (no summary line: counted as 1 failure)"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + $(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")))
	failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
}

run_one() {	# run_one COMMAND...: run, show non-"ok" lines, add up its summary
	"$@" >"$log" 2>&1
	local rc=$?
	grep -vE '^ok ' "$log"
	count
	if [[ $rc -ne 0 ]] && ! grep -qE ' [1-9][0-9]* failed' "$log"; then
		echo "  exit status $rc (crash, leak or timeout): counted as 1 failure"
		failed=$((failed + 1))
	fi
}

for t in "$UNIT_DIR"/test_*; do
	[[ -x $t ]] || continue
	echo "== unit $(basename "$t")"
	run_one ${VALGRIND:-} "$t" tests/unit/golden
done

if [[ $(id -u) -ne 0 ]]; then
	echo "== integration tests need root (network namespaces): counted as 1 failure"
	failed=$((failed + 1))
else
	for t in tests/integration/t_*.sh; do
		name=$(basename "$t" .sh)
		if [[ -n ${TESTS:-} && " $TESTS " != *" $name "* ]]; then
			continue
		fi
		echo "== integration $name"
		run_one timeout 300 bash "$t"
	done
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
