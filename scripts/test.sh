#!/usr/bin/env bash
# make test: bring up the real parts, check formatting, vet, the no-cgo build
# of the server-side packages, then run every test with -race. Under make test
# a skipped test is a failure: the real parts are here, so nothing may skip.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK_DIR=${STACK_DIR:-$PWD/.stack}
export CISAUTH_MAKE_TEST=1

# redis-server for the middleware's fleet tests: a Unix socket in a private
# directory (short path: sun_path is 108 bytes), stopped by pid on exit.
REDIS_DIR=${REDIS_DIR:-$(mktemp -d /tmp/cisauth-redis.XXXXXX)}
scripts/cardstack.sh up "$STACK_DIR"
trap 'scripts/redis.sh down "$REDIS_DIR" || true; scripts/cardstack.sh down "$STACK_DIR" || true' EXIT
scripts/redis.sh up "$REDIS_DIR"
# shellcheck disable=SC1091
source "$STACK_DIR/env"
# shellcheck disable=SC1091
source "$REDIS_DIR/env"

unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
# Server-side packages must build with no C library.
CGO_ENABLED=0 go build -o /dev/null ./cis/... ./middleware/... ./cmd/cisctl ./cmd/cis-sim ./cmd/cis-proxy ./internal/proxy ./examples/...

log=$(mktemp)
rc=0
go test -race -count=1 -v "$@" ./... >"$log" 2>&1 || rc=$?
# Print the package results, failures and skips; the whole log on failure.
grep -E '^(ok  |FAIL|--- FAIL|--- SKIP|panic:|\?   )' "$log" || true
skips=$(grep -c -E '^\s*--- SKIP' "$log" || true)
if [ "$rc" -ne 0 ]; then
  echo "--- failures ---"
  # Each failed test with the lines it printed (go test -v marks whose output
  # follows with "=== RUN/CONT/NAME"), then panics and build errors.
  awk '
    /^=== (RUN|CONT|NAME|PAUSE) / { cur = $3; next }
    /^[ \t]*--- (PASS|SKIP): / { name = $3; out[name] = ""; next }
    /^[ \t]*--- FAIL: / { name = $3; printf "%s%s\n", out[name], $0; out[name] = ""; next }
    cur != "" { out[cur] = out[cur] $0 "\n" }
  ' "$log" | head -n 400
  grep -E -A40 '^panic:|\[build failed\]|^# ' "$log" | head -n 200 || true
fi
if [ "$skips" -gt 0 ]; then
  echo "make test: $skips test(s) skipped; under make test every part is present, so a skip is a failure:" >&2
  grep -B2 -A3 -E '^\s*--- SKIP' "$log" >&2 || true
  rc=1
fi
passed=$(grep -c -E '^\s*--- PASS' "$log" || true)
failed=$(grep -c -E '^\s*--- FAIL' "$log" || true)
rm -f "$log"
echo "tests: $passed passed, $failed failed, $skips skipped"
exit "$rc"
