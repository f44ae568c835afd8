#!/usr/bin/env bash
# make test: bring up the real parts, run go vet and every test with -race,
# tear the parts down again whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK_DIR=${STACK_DIR:-$PWD/.stack}
if [ -x scripts/cardstack.sh ]; then
  scripts/cardstack.sh up "$STACK_DIR"
  trap 'scripts/cardstack.sh down "$STACK_DIR"' EXIT
  # shellcheck disable=SC1091
  source "$STACK_DIR/env"
fi
export CISAUTH_MAKE_TEST=1
go vet ./...
go test -race -count=1 "$@" ./...
