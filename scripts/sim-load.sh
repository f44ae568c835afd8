#!/usr/bin/env bash
# Load test of cis-sim's RoleAssertion over TLS on loopback, against a bare
# net/http TLS server answering a fixed body of the same size, in the same
# run (docs/benchmarks.md). Needs go, wrk, curl, openssl.
#
# usage: scripts/sim-load.sh [DURATION [ROUNDS]]   (default 5s, 1 round; wrk -t2 -c32 --latency)
# Prints req/s and p99 for both, round by round (baseline and cis-sim
# alternate, so a busy machine hurts both alike), and the median ratio
# cis-sim/baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-5s}
rounds=${2:-1}
for tool in go wrk curl openssl; do
	command -v "$tool" >/dev/null || { echo "sim-load: $tool not installed" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o "$work/cis-sim" ./cmd/cis-sim
CGO_ENABLED=0 go build -o "$work/fixedbody" ./cis/cissim/internal/fixedbody

# wait_for FILE PATTERN: until PATTERN shows up in FILE (20 s at most).
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "sim-load: timed out waiting for $2 in $1" >&2
	cat "$1" >&2
	exit 1
}

"$work/cis-sim" --addr 127.0.0.1:0 --state-dir "$work/state" --log-level info 2> "$work/sim.log" &
pids+=($!)
wait_for "$work/sim.log" 'cis-sim listening'
base=$(sed -n 's/.*msg="cis-sim listening".* url=\([^ ]*\).*/\1/p' "$work/sim.log")

# A real login by the openssl client, session kept, for a user with many roles.
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/user.key" -subj "/O=nhs/OU=people/CN=555000000002" \
	-out "$work/user.csr" 2>/dev/null
openssl x509 -req -in "$work/user.csr" -CA "$work/state/card-ca.pem" -CAkey "$work/state/card-ca-key.pem" \
	-set_serial 7 -days 2 -out "$work/user.pem" 2>/dev/null
KEEP_SESSION=1 scripts/sim-openssl-client.sh "$base" "$work/state/ca.pem" "$work/user.pem" "$work/user.key" > "$work/assertion.xml"
ticket=$(sed -n 's|.*<saml:SubjectConfirmationData>\(AQIC[^<]*\)</saml:SubjectConfirmationData>.*|\1|p' "$work/assertion.xml" | head -n1)
tok=$(printf '%s' "$ticket" | sed -e 's/+/%2B/g' -e 's|/|%2F|g' -e 's/=/%3D/g' -e 's/@/%40/g' -e 's/#/%23/g')
sim_url="$base/saml/RoleAssertion?token=$tok"
curl -s --cacert "$work/state/ca.pem" "$sim_url" > "$work/body.xml"
grep -q samlp:Success "$work/body.xml" || { echo "sim-load: no assertion" >&2; exit 1; }

"$work/fixedbody" --body "$work/body.xml" > "$work/fixed.addr" &
pids+=($!)
wait_for "$work/fixed.addr" '127.0.0.1'
fixed_url="https://$(head -n1 "$work/fixed.addr")/saml/RoleAssertion?token=$tok"

# run NAME URL: wrk, then "NAME req/s p99" on stdout; req/s into $work/NAME.rps.
run() {
	wrk -t2 -c32 -d"$dur" --latency "$2" > "$work/$1.wrk"
	local rps p99 errs
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/$1.wrk")
	p99=$(sed -n 's/^ *99% *\([0-9.]*[a-z]*\).*/\1/p' "$work/$1.wrk")
	errs=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$work/$1.wrk")
	printf '%-9s %10s req/s  p99 %8s  non-2xx %s\n' "$1" "$rps" "$p99" "${errs:-0}"
	echo "$rps" > "$work/$1.rps"
}
echo "body: $(wc -c < "$work/body.xml") bytes; wrk -t2 -c32 -d$dur --latency; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$work/ratios"
for r in $(seq "$rounds"); do
	run baseline "$fixed_url"
	run cis-sim "$sim_url"
	awk -v s="$(cat "$work/cis-sim.rps")" -v b="$(cat "$work/baseline.rps")" 'BEGIN { printf "%.2f\n", s / b }' | tee -a "$work/ratios" |
		sed "s/^/round $r ratio cis-sim\/baseline: /"
done
sort -n "$work/ratios" | awk '{ v[NR] = $1 } END { printf "median ratio cis-sim/baseline over %d rounds: %.2f\n", NR, v[int((NR + 1) / 2)] }'
