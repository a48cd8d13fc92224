# Shared by the ruleset tests: compare the exporter with the oracle
# (nft_oracle.py over `nft -j list ruleset`). Needs lib.sh, $ORACLE and
# $WAIT (seconds to wait for the exporter to catch up).

gen_of() {	# gen_of NS: nf_tables generation id of NS
	in_ns "$1" $PY "$ORACLE" --gen
}

# dump_json NS OUT: `nft -j list ruleset` of NS into OUT, with the generation
# it shows in OUT.gen (retried until the generation is the same before and
# after the dump)
dump_json() {
	local g1 g2
	for _ in 1 2 3 4 5; do
		g1=$(gen_of "$1")
		in_ns "$1" nft -j list ruleset >"$2" 2>"$2.err" || return 1
		g2=$(gen_of "$1")
		if [[ -n $g1 && $g1 == "$g2" ]]; then
			echo "$g1" >"$2.gen"
			return 0
		fi
	done
	return 1
}

# compare NS_A PORT NS_B TAG [WAIT]: until the scrape has B's generation and
# equals the oracle, or WAIT seconds pass (the exporter follows events
# asynchronously); sets CAUGHT_MS. The last scrape is in $T_TMP/TAG.prom,
# the oracle's output in $T_TMP/TAG.diff.
compare() {
	local a=$1 port=$2 b=$3 tag=$4 wait=${5:-$WAIT} t0 deadline
	local s=$T_TMP/$tag.prom j=$T_TMP/$tag.json d=$T_TMP/$tag.diff
	dump_json "$b" "$j" || { echo "cannot dump the ruleset of $b" >"$d"; return 1; }
	t0=$(date +%s%N)
	deadline=$((t0 + wait * 1000000000))
	while :; do
		if scrape "$a" "$port" -f -o "$s" 2>"$d" &&
			$PY "$ORACLE" --summary --generation "$(cat "$j.gen")" "$j" "$s" >"$d" 2>&1; then
			CAUGHT_MS=$((($(date +%s%N) - t0) / 1000000))
			return 0
		fi
		[[ $(date +%s%N) -lt $deadline ]] || return 1
		sleep 0.1
	done
}

check_compare() {	# check_compare DESCRIPTION NS_A PORT NS_B TAG [WAIT]
	if compare "$2" "$3" "$4" "$5" "${6:-}"; then
		ok "$1 ($(tail -n 1 "$T_TMP/$5.diff" | sed 's/: 0 mismatches//; s/^compared //'); caught up in $CAUGHT_MS ms)"
	else
		not_ok "$1" "$(head -n 30 "$T_TMP/$5.diff")" "ruleset dump: $T_TMP/$5.json (kept: RULESET_KEEP=1)"
		[[ -n ${RULESET_KEEP:-} ]] && cp -r "$T_TMP" "/tmp/$T_NAME.failed.$$"
	fi
	return 0
}
