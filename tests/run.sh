#!/bin/bash
# Runs every test binary given (Criterion suites) and every tests/*/*_test.sh
# script, then prints one closing line "N passed, N failed".
# Integration suites (tests/integration/) need the real S3 servers: they are
# started here through tests/integration/servers.sh and stopped at the end,
# unless SV_NO_SERVERS=1 (make unit), in which case none are given to us.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/rel}
export SV_BIN="$PWD/$BUILD/shardvault"
export SV_TEST_TMP=${SV_TEST_TMP:-$(mktemp -d /tmp/svtest.XXXXXX)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0; fail=0; failed=()
need_servers=0
for b in "$@"; do case $b in */integration/*) need_servers=1;; esac; done
scripts=()
if [ "${SV_NO_SERVERS:-0}" != 1 ]; then
  for s in tests/*/*_test.sh; do [ -f "$s" ] && scripts+=("$s"); done
  for s in "${scripts[@]}"; do case $s in tests/integration/*) need_servers=1;; esac; done
fi
if [ $need_servers = 1 ]; then
  if ! tests/integration/servers.sh start; then
    echo "FAIL: the S3 test servers did not start (tests/integration/servers.sh)"
    echo "0 passed, 1 failed"; exit 1
  fi
  export SV_S3_ENV="$PWD/build/s3servers/env"
  trap 'tests/integration/servers.sh stop >/dev/null 2>&1' EXIT
fi
for b in "$@"; do
  log="$SV_TEST_TMP/$(echo "$b" | tr / _).log"
  echo "== $b"
  "$b" --jobs=2 --short-filename >"$log" 2>&1; rc=$?
  syn=$(grep -a 'Synthesis:' "$log" | tail -1)
  t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$syn"); t=${t:-0}
  p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$syn"); p=${p:-0}
  if [ $rc -ne 0 ] || [ "$t" = 0 ] || [ "$p" != "$t" ]; then
    grep -a -v '^\[----\]\s*$' "$log" | tail -60
    nf=$((t - p)); [ $nf -lt 1 ] && nf=1
    fail=$((fail + nf)); pass=$((pass + p)); failed+=("$b")
  else
    pass=$((pass + p))
  fi
  echo "   $syn"
done
for s in "${scripts[@]}"; do
  log="$SV_TEST_TMP/$(echo "$s" | tr / _).log"
  echo "== $s"
  if bash "$s" >"$log" 2>&1; then pass=$((pass + 1)); echo "   ok"
  else fail=$((fail + 1)); failed+=("$s"); tail -40 "$log"; fi
done
[ ${#failed[@]} -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
[ $fail = 0 ] && rm -rf "$SV_TEST_TMP"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
