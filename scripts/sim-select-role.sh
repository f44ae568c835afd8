#!/usr/bin/env bash
# Switch the selected role of a live smartcard session at the simulator's
# GAS, as the workstation agent does when the person picks another role
# (the demo's stand-in until the agent runs): curl to RoleSelectionGP.jsp.
# The ticket is read from a file (mode 0600), never from the command line.
#
# usage: sim-select-role.sh BASE_URL CA_PEM TICKET_FILE ROLE_ID
#   e.g. scripts/sim-select-role.sh https://127.0.0.1:7443 ~/.local/state/cis-sim/ca.pem \
#          ~/.local/state/cis-sim/demo-tickets/555000000002 555000000204
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 BASE_URL CA_PEM TICKET_FILE ROLE_ID" >&2; exit 2; }
base=$1 ca=$2 ticket_file=$3 role=$4
printf '%s' "$role" | grep -Eq '^[0-9]{12}$' || { echo "sim-select-role: role id '$role' is not 12 digits" >&2; exit 2; }
ticket=$(head -n1 "$ticket_file")
# percent-encode what a ticket may hold
tok=$(printf '%s' "$ticket" | sed -e 's/%/%25/g' -e 's/+/%2B/g' -e 's|/|%2F|g' -e 's/=/%3D/g' -e 's/@/%40/g' -e 's/#/%23/g')
# The URL (with the ticket) goes to curl through a config on stdin, not argv.
out=$(printf 'url = "%s/saml/RoleSelectionGP.jsp?token=%s&selectedRoleUid=%s&ssbMode=0&fallbackStatus=0&gacVersion=10.0.0.1"\n' "$base" "$tok" "$role" |
	curl --silent --show-error --fail --max-time 20 --cacert "$ca" --config -) || { echo "sim-select-role: request failed" >&2; exit 1; }
printf '%s' "$out" | grep -q '<STATUS>OK</STATUS>' || { echo "sim-select-role: GAS refused the role $role" >&2; exit 1; }
echo "selected role $role"
