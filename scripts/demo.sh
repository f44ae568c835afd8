#!/usr/bin/env bash
# make demo: build everything, start the simulator with its demo users, log a
# demo user in with an independent client (curl + openssl), check the ticket
# with cisctl, provision a virtual card for the same user, and keep the
# simulator running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR=${CIS_SIM_ADDR:-127.0.0.1:7443}
STATE=${CIS_SIM_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/cis-sim}
DEMO_UID=555000000001

echo "building bin/ ..." >&2
mkdir -p bin
go build -o bin/ ./cmd/...

(umask 077 && mkdir -p "$STATE")
LOG=$STATE/cis-sim.log
bin/cis-sim --addr "$ADDR" --state-dir "$STATE" --admin > "$LOG" 2>&1 &
sim=$!
trap 'kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true' EXIT INT TERM
# Ready when env.yaml is written and /healthz answers over verified TLS.
for _ in $(seq 1 100); do
  if [ -f "$STATE/env.yaml" ] && curl -sf --cacert "$STATE/ca.pem" "https://$ADDR/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$sim" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
curl -sf --cacert "$STATE/ca.pem" "https://$ADDR/healthz" >/dev/null || { cat "$LOG" >&2; exit 1; }

# A software "card" for the demo user, issued by the simulator's card CA.
work=$(mktemp -d)
trap 'kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/key.pem" -subj "/O=nhs/OU=people/CN=$DEMO_UID" -out "$work/req.pem" 2>/dev/null
printf 'keyUsage=digitalSignature\n' > "$work/ext.cnf"
openssl x509 -req -in "$work/req.pem" -CA "$STATE/card-ca.pem" -CAkey "$STATE/card-ca-key.pem" -CAcreateserial \
  -days 30 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null

echo
echo "== logging in $DEMO_UID with curl + openssl (activate, CMS-signed challenge, validate, role selection) =="
KEEP_SESSION=1 TICKET_FILE="$work/ticket" scripts/sim-openssl-client.sh "https://$ADDR" "$STATE/ca.pem" \
  "$work/cert.pem" "$work/key.pem" > "$work/assertion.xml"
echo "== the supplier's side: cisctl ticket check (fetches and validates the RoleAssertion) =="
bin/cisctl ticket check --env "$STATE/env.yaml" < "$work/ticket" | head -n 30
echo "   ..."

echo
echo "== a virtual smartcard for the same user (PIN 1234) =="
bin/cis-vcard provision --uid "$DEMO_UID" --name "Jones Alice Dr" --state-dir "$STATE" --pin 1234 --out "$STATE/demo-card.json"
echo "   card file: $STATE/demo-card.json"

cat <<MSG

cis-sim is running at https://$ADDR (log: $LOG)
  environment file:   $STATE/env.yaml      (use with --env in every command)
  TLS CA:             $STATE/ca.pem
  card CA:            $STATE/card-ca.pem
  demo users:         docs/cis-sim.md lists them (uids 555000000001 ...)
  metrics:            curl --cacert $STATE/ca.pem https://$ADDR/metrics
  live sessions:      curl --cacert $STATE/ca.pem https://$ADDR/_sim/sessions
Try:
  bin/cisctl env $STATE/env.yaml
  bin/cisctl assertion $work/assertion.xml
  make stack-up && bin/cis-vcard insert $STATE/demo-card.json    # the card in a virtual reader
  opensc-tool -n && pkcs11-tool --module /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so -L
Ctrl-C stops the simulator.
MSG
wait "$sim"
