package proxy

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/opencis/cisauth/middleware"
)

// LoginPage configures the proxy's login page at LoginPagePath.
type LoginPage struct {
	// Title names the application on the page ("the application" if
	// empty).
	Title string
	// Ticket offers the smartcard (ticket) login: set it when the
	// environment has an SSB.
	Ticket bool
	// AgentURL is the workstation agent's Ticket API (cis-agent's
	// "http://127.0.0.1:7444"): the page asks it for the ticket by itself,
	// and offers a button to ask again. Empty: the page only takes a
	// pasted ticket. The agent must list the proxy's origin among the
	// origins it answers.
	AgentURL string
	// CIS2Path, if set, is the middleware's CIS2 login path: the page
	// offers "Log in with NHS CIS2".
	CIS2Path string
}

//go:embed loginpage/login.html loginpage/login.js
var loginFiles embed.FS

type loginPage struct {
	cfg  LoginPage
	tmpl *template.Template
	js   []byte
	csp  string
	mod  time.Time
}

func newLoginPage(cfg LoginPage) (*loginPage, error) {
	if cfg.Title == "" {
		cfg.Title = "the application"
	}
	connect := "'none'"
	if cfg.AgentURL != "" {
		u, err := url.Parse(cfg.AgentURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("proxy: LoginPage.AgentURL %q: want an http(s) URL", cfg.AgentURL)
		}
		connect = u.Scheme + "://" + u.Host
	}
	t, err := template.ParseFS(loginFiles, "loginpage/login.html")
	if err != nil {
		return nil, err
	}
	js, err := loginFiles.ReadFile("loginpage/login.js")
	if err != nil {
		return nil, err
	}
	return &loginPage{
		cfg: cfg, tmpl: t, js: js, mod: time.Now(),
		csp: "default-src 'none'; script-src 'self'; connect-src " + connect +
			"; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	}, nil
}

// serveHTML serves the login page. The "return" query parameter is passed
// on as it came: the middleware accepts only a path on this site.
func (l *loginPage) serveHTML(w http.ResponseWriter, r *http.Request) {
	ret := r.URL.Query().Get("return")
	if len(ret) > middleware.MaxReturnLen {
		ret = ""
	}
	cis2 := ""
	if l.cfg.CIS2Path != "" {
		cis2 = l.cfg.CIS2Path
		if ret != "" {
			cis2 += "?" + url.Values{"return": {ret}}.Encode()
		}
	}
	var b bytes.Buffer
	err := l.tmpl.Execute(&b, map[string]any{
		"Title": l.cfg.Title, "Ticket": l.cfg.Ticket, "Agent": l.cfg.AgentURL, "CIS2": cis2,
		"Action": middleware.DefaultLoginPath, "Return": ret, "Script": LoginJSPath,
	})
	if err != nil {
		http.Error(w, "login page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", l.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(b.Bytes())
}

// serveJS serves the login page's script.
func (l *loginPage) serveJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "login.js", l.mod, bytes.NewReader(l.js))
}
