#!/usr/bin/env bash
# Runs every fuzz target in the module for a bounded time each (default 8s;
# FUZZTIME=30s scripts/fuzz.sh for longer). Failing inputs are written under
# the package's testdata/fuzz/ by go test, ready to commit as regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-8s}
status=0
while IFS= read -r line; do
	file=${line%%:*}
	target=${line#*func }
	target=${target%%(*}
	pkg=./$(dirname "$file")
	echo "fuzz: $pkg $target ($fuzztime)"
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz-$$.log 2>&1; then
		cat /tmp/fuzz-$$.log
		status=1
	fi
done < <(grep -rn --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sort)
rm -f /tmp/fuzz-$$.log
exit $status
