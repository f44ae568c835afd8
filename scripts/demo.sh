#!/usr/bin/env bash
# make demo: build everything, start the simulator with its demo users, log a
# demo user in with an independent client (curl + openssl), check the ticket
# with cisctl, provision a virtual card for the same user, serve the example
# supplier app (examples/webapp) against the simulator — the ticket login and
# "Log in with CIS2" — with tickets ready to paste, the same logins through
# cis-proxy in front of an app that only reads headers (examples/proxied),
# and keep everything running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
ADDR=${CIS_SIM_ADDR:-127.0.0.1:7443}
STATE=${CIS_SIM_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/cis-sim}
DEMO_UID=555000000001
WEBAPP_ADDR=${WEBAPP_ADDR:-127.0.0.1:8080}   # the simulator's CIS2 demo client expects this port

# Every background process started here is stopped by pid on exit or Ctrl-C.
pids=()
work=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "building bin/ ..." >&2
mkdir -p bin
go build -o bin/ ./cmd/... ./examples/webapp ./examples/proxied

(umask 077 && mkdir -p "$STATE")
LOG=$STATE/cis-sim.log
# The CIS2 demo client (env.yaml's oidc block) is registered for the app's address.
bin/cis-sim --addr "$ADDR" --state-dir "$STATE" --admin --oidc-demo-redirect "http://$WEBAPP_ADDR/cis/oidc/callback" > "$LOG" 2>&1 &
sim=$!
pids+=("$sim")
# Ready when env.yaml is written and /healthz answers over verified TLS.
for _ in $(seq 1 100); do
  if [ -f "$STATE/env.yaml" ] && curl -sf --cacert "$STATE/ca.pem" "https://$ADDR/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$sim" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
curl -sf --cacert "$STATE/ca.pem" "https://$ADDR/healthz" >/dev/null || { cat "$LOG" >&2; exit 1; }

# software_card UID DIR: a software "card" (key and certificate) for UID in
# DIR, issued by the simulator's card CA.
software_card() {
  mkdir -p "$2"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$2/key.pem" -subj "/O=nhs/OU=people/CN=$1" -out "$2/req.pem" 2>/dev/null
  printf 'keyUsage=digitalSignature\n' > "$2/ext.cnf"
  openssl x509 -req -in "$2/req.pem" -CA "$STATE/card-ca.pem" -CAkey "$STATE/card-ca-key.pem" -CAcreateserial \
    -days 30 -extfile "$2/ext.cnf" -out "$2/cert.pem" 2>/dev/null
}
work=$(mktemp -d)
software_card "$DEMO_UID" "$work"

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
  make stack-up && bin/cis-vcard insert $STATE/demo-card.json    # the card in a virtual reader (PIN 1234)
  opensc-tool -n && pkcs11-tool --module /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so -L
MSG

# ---------------------------------------------------------------------------
# The example supplier app (examples/webapp) against the simulator, and
# tickets of demo users ready to paste into its login page (until the
# workstation agent runs, the page cannot get them itself).
# ---------------------------------------------------------------------------
TICKETS=$STATE/demo-tickets
(umask 077 && mkdir -p "$TICKETS")
cp "$work/ticket" "$TICKETS/$DEMO_UID"
# demo_login UID ROLE: log UID in (curl + openssl) in ROLE, keep the ticket.
demo_login() {
  software_card "$1" "$work/$1"
  KEEP_SESSION=1 TICKET_FILE="$TICKETS/$1" scripts/sim-openssl-client.sh "https://$ADDR" "$STATE/ca.pem" \
    "$work/$1/cert.pem" "$work/$1/key.pem" "$2" > /dev/null
}
demo_login 555000000002 555000000207   # Bob, in his clinical role at RMM
demo_login 555000000003 555000000301   # Chandra, as Medical Secretary at RCJ
# new-ticket UID [ROLE]: a fresh smartcard session for a demo user, for when
# a logout (a CIS2 logout ends the smartcard session too) or a pulled card
# ended the one above.
mkdir -p "$work/$DEMO_UID" && cp "$work/cert.pem" "$work/key.pem" "$work/$DEMO_UID/"
cat > "$work/new-ticket" <<NEWTICKET
#!/usr/bin/env bash
set -euo pipefail
[ -f "$work/\${1:-none}/cert.pem" ] || { echo "usage: \$0 UID [ROLE_ID]  (UID: $DEMO_UID, 555000000002 or 555000000003)" >&2; exit 2; }
cd "$PWD"
KEEP_SESSION=1 TICKET_FILE="$TICKETS/\$1" scripts/sim-openssl-client.sh "https://$ADDR" "$STATE/ca.pem" \
  "$work/\$1/cert.pem" "$work/\$1/key.pem" \${2:-} > /dev/null
cat "$TICKETS/\$1"
NEWTICKET
chmod +x "$work/new-ticket"

WEBAPP_LOG=$STATE/webapp.log
bin/webapp --env "$STATE/env.yaml" --listen "$WEBAPP_ADDR" --insecure-cookie > "$WEBAPP_LOG" 2>&1 &
webapp=$!
pids+=("$webapp")
for _ in $(seq 1 100); do
  if curl -sf "http://$WEBAPP_ADDR/login" >/dev/null 2>&1; then break; fi
  kill -0 "$webapp" 2>/dev/null || { cat "$WEBAPP_LOG" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://$WEBAPP_ADDR/login" >/dev/null || { cat "$WEBAPP_LOG" >&2; exit 1; }

cat <<MSG

== the example supplier app ==
Open  http://$WEBAPP_ADDR  (log: $WEBAPP_LOG)
The login page asks the smartcard agent at http://127.0.0.1:7444 first; while none runs, paste one of
these tickets (live smartcard sessions at the simulator, also in $TICKETS/):

  Jones Alice Dr    555000000001  Consultant at RCJ (B0264, B0360): patient list and records; no admin page
  $(cat "$TICKETS/555000000001")
  Smith Bob Mr      555000000002  clinical at RMM (B0360): the list but not the records; seven other roles
  $(cat "$TICKETS/555000000002")
  Patel Chandra Ms  555000000003  Medical Secretary at RCJ (B0020, job role R8000): the admin page, no patients
  $(cat "$TICKETS/555000000003")

Two ways in, the same users and tickets:
  Log in (ticket)     paste a ticket into the login page's field (the agent would give it to the page).
  Log in with CIS2    the button goes to the simulator's CIS2 provider, whose page asks the agent for the
                      ticket and, while none runs, takes the same ticket pasted; you come back logged in
                      through CIS2 (OpenID Connect) in the role selected at the card. "Choose another role"
                      on the Roles page logs in through CIS2 again and asks for the role there.
                      Open the app as http://$WEBAPP_ADDR, the address CIS2 sends you back to.
The home page shows who you are, how you logged in, your selected role and what it may do here.
Switch Bob (logged in with his ticket) to his RKF role (B0264) as the agent would, then press "Check my role
now" on the Roles page:
  scripts/sim-select-role.sh https://$ADDR $STATE/ca.pem $TICKETS/555000000002 555000000204
Pull a card: find the session in /_sim/sessions, then (the page says you are logged out within about a minute)
  curl --cacert $STATE/ca.pem -X POST https://$ADDR/_sim/sessions/SESSION_ID/logout
Logging out of a CIS2 session also ends it at the provider, and in the simulator the smartcard session and its
ticket with it (the ticket login's logout leaves the card session open). A fresh ticket for a demo user:
  $work/new-ticket UID [ROLE_ID]
The virtual card of $DEMO_UID ($STATE/demo-card.json) has the PIN 1234.
Ctrl-C stops the simulator and the app.
MSG
# ==== cis-proxy: the same logins in front of an app in any language ========
# examples/proxied knows nothing of CIS but the X-CIS-* headers cis-proxy
# sets; the proxy guards its pages with examples/proxied/cis-proxy.yaml.
PROXY_ADDR=127.0.0.1:8090
PROXIED_ADDR=127.0.0.1:3000
bin/proxied --listen "$PROXIED_ADDR" > "$STATE/proxied.log" 2>&1 &
pids+=("$!")
bin/cis-proxy --config examples/proxied/cis-proxy.yaml --env "$STATE/env.yaml" --listen "$PROXY_ADDR" \
  --upstream "http://$PROXIED_ADDR" --metrics-listen 127.0.0.1:9464 > "$STATE/cis-proxy.log" 2>&1 &
proxy=$!
pids+=("$proxy")
for _ in $(seq 1 100); do
  if curl -sf "http://$PROXY_ADDR/cis/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$proxy" 2>/dev/null || { cat "$STATE/cis-proxy.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://$PROXY_ADDR/cis/healthz" >/dev/null || { cat "$STATE/cis-proxy.log" >&2; exit 1; }
cat <<MSG

== cis-proxy in front of an app that only reads headers (examples/proxied) ==
Open  http://$PROXY_ADDR  (log: $STATE/cis-proxy.log; rules: examples/proxied/cis-proxy.yaml)
The proxy's own login page asks the agent or takes the same tickets; then the app shows who you are from the
X-CIS-* headers. /records/ needs activity B0264 (Alice), /admin/ job role R8000 (Chandra); Bob is refused both.
  curl -s -H "X-CIS-Ticket: \$(cat $TICKETS/555000000001)" -c /tmp/jar -X POST http://$PROXY_ADDR/cis/login >/dev/null
  curl -s -b /tmp/jar http://$PROXY_ADDR/records/        # as a script or thick client would
Metrics: curl -s http://127.0.0.1:9464/metrics | grep cisproxy_
MSG

# ==== cis-agent: the workstation login helper ===============================
# (The agent's part of the demo; the blocks above do not depend on it.) It
# brings up the card stack (pcscd with virtual readers), puts the demo card
# into a virtual reader, and starts cis-agent on it, listening where the
# example app's login page looks for it (127.0.0.1:7444) and letting that
# page's origin in (the person allows it on the agent's page). It prints the
# card's PIN and the agent's PIN page. Without the card stack's packages
# (make demo as root installs them) it says so and the demo goes on.
AGENT_STACK=${CIS_AGENT_DEMO_STACK:-$PWD/.stack}
AGENT_DIR=$STATE/agent
AGENT_PIN=1234
AGENT_READER="Virtual PCD 00 00"
AGENT_VPCD=127.0.0.1:35963
AGENT_ADDR=${CIS_AGENT_DEMO_ADDR:-127.0.0.1:7444}
# The card and the agent stop with the other processes (pids); the card
# stack after them (it stays up while another user of it holds a lease).
trap 'cleanup; scripts/cardstack.sh down "$AGENT_STACK" >/dev/null 2>&1 || true' EXIT
if scripts/cardstack.sh up "$AGENT_STACK" >"$STATE/cardstack.log" 2>&1; then
  (umask 077 && mkdir -p "$AGENT_DIR")
  bin/cis-vcard insert "$STATE/demo-card.json" --vpcd "$AGENT_VPCD" >"$STATE/cis-vcard.log" 2>&1 &
  pids+=("$!")
  # shellcheck disable=SC1091
  (source "$AGENT_STACK/env" && exec bin/cis-agent run --env "$STATE/env.yaml" \
    --pkcs11-module "$CISAUTH_OPENSC_MODULE" --reader "$AGENT_READER" --listen "$AGENT_ADDR" \
    --allowed-origin "http://$WEBAPP_ADDR" --allowed-origin "http://$PROXY_ADDR" --socket "$AGENT_DIR/agent.sock" --secret-file "$AGENT_DIR/secret" \
    --pin-entry web) >"$STATE/cis-agent.log" 2>&1 </dev/null &
  agent=$!
  pids+=("$agent")
  for _ in $(seq 1 100); do
    grep -q "PIN entry page" "$STATE/cis-agent.log" 2>/dev/null && break
    kill -0 "$agent" 2>/dev/null || break
    sleep 0.1
  done
  AGENT_LINK=$(grep -o 'http://[^ ]*/ui/login?code=[^ ]*' "$STATE/cis-agent.log" | head -n1 || true)
  cat <<AGENTMSG

== cis-agent: the demo card ($DEMO_UID) is in the virtual reader "$AGENT_READER" ==
  PIN of the demo card:  $AGENT_PIN
  enter it on the page:  ${AGENT_LINK:-(see $STATE/cis-agent.log)}
  (one-time link; bin/cis-agent ui --socket $AGENT_DIR/agent.sock --env $STATE/env.yaml makes another)
  then "Log in with the smartcard agent" at http://$WEBAPP_ADDR: the agent's page asks you to allow that origin.
  The ticket as a local application gets it:
    curl -s -H "Authorization: Bearer \$(cat $AGENT_DIR/secret)" http://$AGENT_ADDR/ticket
    curl -s --unix-socket $AGENT_DIR/agent.sock http://agent/status
  agent log:  $STATE/cis-agent.log
AGENTMSG
else
  echo "cis-agent demo skipped: the card stack did not come up (see $STATE/cardstack.log)" >&2
fi
# ==== end of the cis-agent block ============================================

# Until Ctrl-C, or until one of them stops (then the rest stop too).
wait -n "${pids[@]}"
