package samlidp

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// submitScript posts the Response form as soon as the page loads. It is the
// page's only script, allowed by its hash in the Content-Security-Policy.
const submitScript = `document.getElementById("saml").submit();`

// responseForm is the page that carries the Response to the service
// provider's assertion consumer service with the HTTP-POST binding. Without
// JavaScript the person presses Continue. The fields are crewjam's
// IdpAuthnRequestForm.
var responseForm = template.Must(template.New("response").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signing you in</title></head>
<body>
<form method="post" action="{{.URL}}" id="saml">
<input type="hidden" name="SAMLResponse" value="{{.SAMLResponse}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><p>Press Continue to sign in.</p><button type="submit">Continue</button></noscript>
</form>
<script>` + submitScript + `</script>
</body></html>
`))

// contentSecurityPolicy allows the page nothing but its one script.
func contentSecurityPolicy() string {
	sum := sha256.Sum256([]byte(submitScript))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; frame-ancestors 'none'"
}

// setPageHeaders sets the headers of every page /saml/sso answers with
// (the Response form; an error page replaces the Content-Type): crewjam
// sets the no-cache headers of the SAML bindings on the form itself.
func setPageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}
