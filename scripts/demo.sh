#!/usr/bin/env bash
# make demo: start what exists of the embedded default and say what to open.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "building..." >&2
mkdir -p bin
go build -o bin/ ./cmd/...
echo "bin/ has: $(ls bin | tr '\n' ' ')"
# The simulator with its demo users (later issues add the card, agent and app).
echo "starting cis-sim with the demo users (Ctrl-C stops it); see docs/cis-sim.md" >&2
exec bin/cis-sim "$@"
