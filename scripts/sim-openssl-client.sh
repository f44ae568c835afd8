#!/usr/bin/env bash
# An independent CIS smartcard client made of curl, openssl, sed and grep
# only: it logs in to GAS (activate, CMS-sign the challenge, validate),
# selects a role, fetches the SSB RoleAssertion and prints it, then logs
# out. It is a referee for cis-sim (and for our own client): nothing in it
# shares code with package cis.
#
# usage: sim-openssl-client.sh BASE_URL CA_PEM CERT_PEM KEY_PEM [ROLE_ID]
#   BASE_URL  e.g. https://127.0.0.1:7443 (GAS and SSB)
#   CA_PEM    TLS CA to verify the server against (cis-sim's ca.pem); "-" for plain http
#   CERT_PEM  card certificate (CN = 12-digit uid), KEY_PEM its private key
#   ROLE_ID   role to select (default: the first nhsjobrole line, as some clients do)
# Environment: SMIME_STYLE=indented sends the S/MIME header lines indented
# and with no empty line after them (a quirk of one public client);
# KEEP_SESSION=1 skips the logout; TICKET_FILE=PATH writes the SSO ticket
# there (mode 0600) for the caller.
# Exit status 0 and the assertion on stdout on success; a message on stderr
# and non-zero status on failure.
set -euo pipefail

[ $# -ge 4 ] || { echo "usage: $0 BASE_URL CA_PEM CERT_PEM KEY_PEM [ROLE_ID]" >&2; exit 2; }
base=$1 ca=$2 cert=$3 key=$4 role=${5:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

curl_opts=(--silent --show-error --fail --max-time 20 -H 'User-Agent: Mozilla/4.0(compatible;IE;GACv10. 0. 0. 1)')
[ "$ca" = "-" ] || curl_opts+=(--cacert "$ca")

die() { echo "sim-openssl-client: $*" >&2; exit 1; }

# param NAME FILE: the text of <gpPARAM name="NAME">…</gpPARAM> (one per line).
param() { sed -n "s|.*<gpPARAM name=\"$1\">\\([^<]*\\)</gpPARAM>.*|\\1|p" "$2" | head -n1; }

# urlenc: percent-encode what a ticket may hold.
urlenc() { printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/+/%2B/g' -e 's|/|%2F|g' -e 's/=/%3D/g' -e 's/@/%40/g' -e 's/#/%23/g'; }

uid=$(openssl x509 -in "$cert" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
printf '%s' "$uid" | grep -Eq '^[0-9]{12}$' || die "certificate CN '$uid' is not a 12-digit uid"
lsid=$(openssl rand -hex 5)
device="ab12cd34,ClientIP=127.0.0.1"

# gpobject INDENT NAME=VALUE...: a gpOBJECT request; every line after the
# XML declaration starts with INDENT (one public client indents them all).
gpobject() {
	local ind=$1 kv k v attr
	shift
	printf '<?xml version="1.0" encoding="UTF-8"?>\n%s<!DOCTYPE USER SYSTEM "gpOBJECT.DTD">\n%s<gpOBJECT>\n' "$ind" "$ind"
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=} attr=
		[ "$k" = response ] && attr=' encoding="base64"'
		printf '%s<gpPARAM name="%s"%s>%s</gpPARAM>\n' "$ind" "$k" "$attr" "$v"
	done
	printf '%s</gpOBJECT>\n' "$ind"
}
common=(auth_method=3 app_url=NHST "log_session_id=$lsid" "device_id=$device")

# 1. activate (indented body)
gpobject '    ' "${common[@]}" service=ACTIVATION > "$work/activate.xml"
curl "${curl_opts[@]}" --data-binary @"$work/activate.xml" "$base/login/authactivate" > "$work/activate.out" ||
	die "activate: request failed"
challenge=$(param challenge "$work/activate.out")
signature=$(param signature "$work/activate.out")
[ -n "$challenge" ] && [ -n "$signature" ] || die "activate: no challenge/signature in the answer"

# 2. sign the decoded challenge: CMS SignedData, attached, no signed
#    attributes, SHA-1, certificate included (openssl omits the NULL params).
printf '%s\n' "$challenge" | openssl base64 -d -A > "$work/challenge.bin"
openssl cms -sign -noattr -md sha1 -nodetach -binary -in "$work/challenge.bin" \
	-signer "$cert" -inkey "$key" -outform DER -out "$work/response.der" || die "openssl cms -sign failed"
openssl base64 -in "$work/response.der" > "$work/response.b64"
if [ "${SMIME_STYLE:-}" = indented ]; then
	{
		printf '    MIME-Version: 1.0\n'
		printf '    Content-Disposition: attachment; filename="smime.p7m"\n'
		printf '    Content-Type: application/x-pkcs7-mime; name="smime.p7m"\n'
		printf '    Content-Transfer-Encoding: base64\n'
		printf '    \n'
		sed 's/^/    /' "$work/response.b64"
	} > "$work/smime.txt"
else
	{
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Disposition: attachment; filename="smime.p7m"\n'
		printf 'Content-Type: application/x-pkcs7-mime; name="smime.p7m"\n'
		printf 'Content-Transfer-Encoding: base64\n'
		printf '\n'
		cat "$work/response.b64"
	} > "$work/smime.txt"
fi
response=$(openssl base64 -A -in "$work/smime.txt")

# 3. validate
gpobject '' "${common[@]}" service=AUTHENTICATION "challenge=$challenge" "signature=$signature" "uid=$uid" \
	card_type=p11 "response=$response" mobility=0 > "$work/validate.xml"
curl "${curl_opts[@]}" --data-binary @"$work/validate.xml" "$base/login/authvalidate" > "$work/validate.out" ||
	die "validate: request failed"
grep -q 'Failed To Validate' "$work/validate.out" && die "validate: Failed To Validate"
grep -q 'Invalid input request' "$work/validate.out" && die "validate: Invalid input request"
ticket=$(param sso_ticket "$work/validate.out")
logout_url=$(param sso_logout_url "$work/validate.out")
[ -n "$ticket" ] || die "validate: no sso_ticket in the answer"
if [ -n "${TICKET_FILE:-}" ]; then (umask 077 && printf '%s\n' "$ticket" > "$TICKET_FILE"); fi
if [ -z "$role" ]; then
	role=$(sed -n 's|.*<gpPARAM name="nhsjobrole0" id="\([0-9]*\)" orgcode="[^"]*">.*|\1|p' "$work/validate.out" | head -n1)
fi
[ -n "$role" ] || die "validate: no role"
tok=$(urlenc "$ticket")

# 4. select the role
curl "${curl_opts[@]}" "$base/saml/RoleSelectionGP.jsp?token=$tok&selectedRoleUid=$role&ssbMode=0&fallbackStatus=0&gacVersion=10.0.0.1" > "$work/select.out" ||
	die "role selection: request failed"
grep -q '<STATUS>OK</STATUS>' "$work/select.out" || die "role selection refused"

# 5. the RoleAssertion, as a supplier's server would fetch it
curl "${curl_opts[@]}" "$base/saml/RoleAssertion?token=$tok" > "$work/assertion.xml" || die "RoleAssertion: request failed"
grep -q 'samlp:Success' "$work/assertion.xml" || die "RoleAssertion: not samlp:Success"
cat "$work/assertion.xml"

# 6. log out at sso_logout_url (GAS's own address)
if [ "${KEEP_SESSION:-}" != 1 ]; then
	gpobject '' service=LOGOUT "sso_ticket=$ticket" "log_session_id=$lsid" "device_id=$device" "uid=$uid" > "$work/logout.xml"
	curl "${curl_opts[@]}" --data-binary @"$work/logout.xml" "$logout_url" | grep -q OK || die "logout failed"
	curl "${curl_opts[@]}" "$base/saml/RoleAssertion?token=$tok" | grep -q 'samlp:Success' && die "assertion still issued after logout"
fi
exit 0
