#!/usr/bin/env bash
# cis-proxy under wrk on loopback (issue 10, docs/benchmarks.md#cis-proxy):
# an upstream that spends 1 ms per request, reached directly, through the
# bare peer (a plain httputil.ReverseProxy that checks only that a cookie is
# present) and through cis-proxy with a live session, each in its own
# process, in rounds; prints the medians and the ratios as a table. It runs
# BenchmarkProxyWrk (internal/proxy/proxybench), which builds cis-proxy.
#
# usage: scripts/proxy-bench.sh [DURATION [ROUNDS [CONNECTIONS]]]   (default 5s 3 32; wrk -t2 --latency)
# Needs go and wrk (make deps installs wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "proxy-bench: wrk not installed (make deps)" >&2; exit 1; }
export CISAUTH_PROXYBENCH_DURATION=${1:-5s}
export CISAUTH_PROXYBENCH_ROUNDS=${2:-3}
export CISAUTH_PROXYBENCH_CONNECTIONS=${3:-32}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
go test -run '^$' -bench '^BenchmarkProxyWrk$' -benchtime 1x -count 1 ./internal/proxy/proxybench >"$out" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$out" >&2
	exit "$rc"
fi
# The table the benchmark prints, then its metrics line (for benchstat).
sed -n '/^wrk -t/,/^goals:/p' "$out"
grep '^BenchmarkProxyWrk' "$out"
