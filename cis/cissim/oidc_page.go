package cissim

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"

	"github.com/opencis/cisauth/cis"
)

// The provider's pages: the ticket page, the role page and a plain message
// page. They load nothing from elsewhere; a Content-Security-Policy allows
// only their own nonce-tagged script and style, and fetches only to the
// agent.

var oidcPages = template.Must(template.New("layout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>CIS2 simulator: {{.Title}}</title>
<style nonce="{{.Nonce}}">body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}
.error{color:#a00}label{display:block;margin:.5em 0}input[type=password]{width:100%}</style></head>
<body><h1>{{.Title}}</h1>
{{if .Message}}<p{{if .IsError}} class="error"{{end}}>{{.Message}}</p>{{end}}
{{if eq .Kind "ticket"}}
<p>{{.Client}} asks who you are. Your smartcard session is the login.</p>
<form id="login" method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p id="status">{{if .AgentURL}}Asking the smartcard agent for your session…{{else}}Paste the SSO ticket of your smartcard session.{{end}}</p>
<label for="ticket">SSO ticket</label>
<input id="ticket" name="ticket" type="password" autocomplete="off" spellcheck="false">
<p><button type="submit">Log in</button></p>
</form>
{{if .AgentURL}}<script nonce="{{.Nonce}}">
(async () => {
  const status = document.getElementById("status");
  try {
    const r = await fetch({{.AgentURL}}, {credentials: "omit", cache: "no-store"});
    if (!r.ok) throw new Error("it answered HTTP " + r.status);
    let t = (await r.text()).trim();
    if (t.startsWith("{")) t = (JSON.parse(t).ticket || "").trim();
    if (!t) throw new Error("it has no session");
    document.getElementById("ticket").value = t;
    status.textContent = "Logging in…";
    document.getElementById("login").submit();
  } catch (e) {
    status.textContent = "The smartcard agent did not give a session (" + e.message + "). Insert your card and reload, or paste your ticket.";
  }
})();
</script>{{end}}
{{else if eq .Kind "role"}}
<p>Choose the role to work in for {{.Client}}.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="interaction" value="{{.Interaction}}">
{{range $i, $r := .Roles}}<label><input type="radio" name="role" value="{{$r.ID}}" required{{if eq $i 0}} checked{{end}}>
{{$r.JobRole}} ({{$r.StaffGroup}}, {{$r.SubGroup}}) at {{$r.OrgName}} ({{$r.OrgCode}})</label>
{{end}}<p><button type="submit">Continue</button></p>
</form>
{{end}}
</body></html>
`))

type pageData struct {
	Kind, Title, Message string
	IsError              bool
	Nonce                string
	Client               string
	Action               template.URL
	CSRF                 string
	AgentURL             string
	Interaction          string
	Roles                []cis.RoleProfile
}

// render writes a page with security headers; connect lists the origins
// the page's script may fetch from.
func (p *oidcProvider) render(w http.ResponseWriter, code int, d *pageData, connect string) {
	_, nonce, err := newOpaque()
	if err != nil {
		writeBody(w, http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("random source failed\n"))
		return
	}
	d.Nonce = nonce
	var b bytes.Buffer
	if err := oidcPages.Execute(&b, d); err != nil {
		writeBody(w, http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("page failed\n"))
		return
	}
	csp := "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; base-uri 'none'; frame-ancestors 'none'"
	if connect != "" {
		csp += "; connect-src " + connect
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	writeBody(w, code, htmlType, b.Bytes())
}

// page writes a message page.
func (p *oidcProvider) page(w http.ResponseWriter, code int, title, msg string) {
	p.render(w, code, &pageData{Kind: "message", Title: title, Message: msg, IsError: code >= 400}, "")
}

// action is the form action: this endpoint with the request's query.
func action(req *authRequest) template.URL {
	return template.URL(OIDCRealmPath + oidcAuthorizePath + "?" + req.canon)
}

// showTicketPage shows the page that gets the ticket.
func (p *oidcProvider) showTicketPage(w http.ResponseWriter, r *http.Request, req *authRequest, msg string, code int) {
	cookie, err := p.ensureCSRFCookie(w, r)
	if err != nil {
		p.page(w, http.StatusInternalServerError, "Error", "Random source failed.")
		return
	}
	d := &pageData{
		Kind: "ticket", Title: "Log in with your smartcard", Message: msg, IsError: msg != "",
		Client: req.client.ID, Action: action(req), CSRF: p.csrfToken(cookie, req.canon),
	}
	connect := ""
	if p.agentURL != "" {
		d.AgentURL = p.agentURL + "/ticket"
		if u, err := url.Parse(p.agentURL); err == nil {
			connect = u.Scheme + "://" + u.Host
		}
	}
	p.render(w, code, d, connect)
}

// showRolePage asks the user to choose one of their roles.
func (p *oidcProvider) showRolePage(w http.ResponseWriter, r *http.Request, req *authRequest, interaction string, u *cis.User) {
	cookie, err := p.ensureCSRFCookie(w, r)
	if err != nil {
		p.page(w, http.StatusInternalServerError, "Error", "Random source failed.")
		return
	}
	p.render(w, http.StatusOK, &pageData{
		Kind: "role", Title: "Choose a role", Client: req.client.ID, Action: action(req),
		CSRF: p.csrfToken(cookie, req.canon), Interaction: interaction, Roles: u.Roles,
	}, "")
}
