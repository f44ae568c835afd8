#!/usr/bin/env bash
# make demo: start what exists of the embedded default and say what to open.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "building..." >&2
mkdir -p bin
go build -o bin/ ./cmd/...
echo "bin/ has: $(ls bin | tr '\n' ' ')"
