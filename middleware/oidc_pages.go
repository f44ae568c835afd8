package middleware

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
)

// The pages the CIS2 flow answers with itself. They load nothing, run
// only their own script (a CSP nonce), cannot be framed and send no
// Referer.

// logoutPage posts the RP-initiated logout to the provider at once (and
// offers a button without JavaScript).
var logoutPage = template.Must(template.New("logout").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Logging out</title></head>
<body><h1>You are logged out of this service</h1>
<form method="post" action="{{.Data.Endpoint}}">
{{- range .Data.Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<p>Ending your NHS CIS2 session… <button type="submit">Continue</button></p>
</form>
<script nonce="{{.Nonce}}">document.forms[0].submit()</script>
</body></html>
`))

// landingPage goes on to the return path after a login, from this site
// (so that SameSite=Strict cookies are sent).
var landingPage = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Logged in</title>
<meta http-equiv="refresh" content="0;url={{.Data.Return}}"></head>
<body><p>You are logged in. <a href="{{.Data.Return}}">Continue</a></p></body></html>
`))

// writePage writes a 200 HTML page from t with data, under a CSP that
// allows only its own nonce'd script.
func writePage(w http.ResponseWriter, t *template.Template, data any) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawStdEncoding.EncodeToString(b[:])
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	_ = t.Execute(w, struct {
		Nonce string
		Data  any
	}{nonce, data})
}
