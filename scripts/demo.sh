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

# ==== cis-agent: the workstation login helper ===============================
# (This block is the agent's part of the demo; the rest of the script is not
# touched by it.) It brings up the card stack (pcscd with virtual readers),
# puts the demo card into a virtual reader, starts cis-agent on it, and
# prints the PIN and the agent's PIN page. Without the card stack's packages
# (make demo as root installs them) it says so and the demo goes on.
AGENT_STACK=${CIS_AGENT_DEMO_STACK:-$PWD/.stack}
AGENT_DIR=$STATE/agent
AGENT_PIN=1234
AGENT_READER="Virtual PCD 00 00"
AGENT_VPCD=127.0.0.1:35963
AGENT_ADDR=${CIS_AGENT_DEMO_ADDR:-127.0.0.1:43210}
agent_pids=()
prev_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
# Stop the card and the agent, and the card stack (left running while
# another user of it holds a lease), then what the script did before.
trap 'kill "${agent_pids[@]}" 2>/dev/null; wait "${agent_pids[@]}" 2>/dev/null;
  [ -f "$AGENT_STACK/env" ] && scripts/cardstack.sh down "$AGENT_STACK" >/dev/null 2>&1; '"$prev_trap" EXIT INT TERM
if scripts/cardstack.sh up "$AGENT_STACK" >"$STATE/cardstack.log" 2>&1; then
  (umask 077 && mkdir -p "$AGENT_DIR")
  bin/cis-vcard insert "$STATE/demo-card.json" --vpcd "$AGENT_VPCD" >"$STATE/cis-vcard.log" 2>&1 &
  agent_pids+=($!)
  # shellcheck disable=SC1091
  (source "$AGENT_STACK/env" && exec bin/cis-agent run --env "$STATE/env.yaml" \
    --pkcs11-module "$CISAUTH_OPENSC_MODULE" --reader "$AGENT_READER" --listen "$AGENT_ADDR" \
    --socket "$AGENT_DIR/agent.sock" --secret-file "$AGENT_DIR/secret" --pin-entry web) \
    >"$STATE/cis-agent.log" 2>&1 </dev/null &
  agent_pids+=($!)
  for _ in $(seq 1 100); do
    grep -q "PIN entry page" "$STATE/cis-agent.log" 2>/dev/null && break
    kill -0 "${agent_pids[1]}" 2>/dev/null || break
    sleep 0.1
  done
  AGENT_LINK=$(grep -o 'http://[^ ]*/ui/login?code=[^ ]*' "$STATE/cis-agent.log" | head -n1 || true)
  cat <<AGENTMSG

== cis-agent: the demo card ($DEMO_UID) is in the virtual reader "$AGENT_READER" ==
  PIN of the demo card:  $AGENT_PIN
  enter it on the page:  ${AGENT_LINK:-(see $STATE/cis-agent.log)}
  (one-time link; bin/cis-agent ui --socket $AGENT_DIR/agent.sock --env $STATE/env.yaml makes another)
  then the ticket, as a local application gets it:
    curl -s -H "Authorization: Bearer \$(cat $AGENT_DIR/secret)" http://$AGENT_ADDR/ticket
    curl -s --unix-socket $AGENT_DIR/agent.sock http://agent/status
  agent log:  $STATE/cis-agent.log
AGENTMSG
else
  echo "cis-agent demo skipped: the card stack did not come up (see $STATE/cardstack.log)" >&2
fi
# ==== end of the cis-agent block ============================================

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
