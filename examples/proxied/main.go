// Command proxied is an application that knows nothing of CIS but what
// cis-proxy tells it in request headers: who is logged in (X-CIS-UID,
// X-CIS-Name) and in which role (X-CIS-Role-ID, X-CIS-Org-Code,
// X-CIS-Job-Role-Code, X-CIS-Activities). It imports nothing of cisauth: an
// application in any language does the same. cis-proxy guards its paths with
// the rules in cis-proxy.yaml next to this file.
//
//	proxied [--listen 127.0.0.1:3000]
//	cis-proxy --config examples/proxied/cis-proxy.yaml --env ENV
//
// It trusts the headers because only the proxy can reach it: it listens on
// a loopback address, and refuses any other.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer, ready func(url string)) int {
	fs := flag.NewFlagSet("proxied", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:3000", "loopback `address` to serve on (only cis-proxy may reach the app)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(stderr, "proxied: --listen %q: want a loopback address: the app trusts X-CIS-* headers, so only the proxy may reach it\n", *listen)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "proxied:", err)
		return 1
	}
	srv := &http.Server{Handler: newApp(), ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready("http://" + ln.Addr().String())
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "proxied:", err)
		return 1
	}
	return 0
}

// person is what the proxy's headers say.
type person struct {
	UID, Name, RoleID, OrgCode, JobRoleCode string
	Activities                              []string
}

func personOf(r *http.Request) (person, bool) {
	p := person{
		UID: r.Header.Get("X-CIS-UID"), Name: r.Header.Get("X-CIS-Name"),
		RoleID: r.Header.Get("X-CIS-Role-ID"), OrgCode: r.Header.Get("X-CIS-Org-Code"),
		JobRoleCode: r.Header.Get("X-CIS-Job-Role-Code"),
	}
	if a := r.Header.Get("X-CIS-Activities"); a != "" {
		p.Activities = strings.Split(a, ",")
	}
	return p, p.UID != ""
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><h1>{{.Title}}</h1>
{{with .Person}}<p id="who">{{.Name}} ({{.UID}}){{if .RoleID}}, role {{.RoleID}}: {{.JobRoleCode}} at {{.OrgCode}}{{end}}</p>
<p id="activities">Activities: {{range $i, $a := .Activities}}{{if $i}}, {{end}}{{$a}}{{else}}none{{end}}</p>{{end}}
<p>{{.Text}}</p>
<nav><a href="/">Home</a> · <a href="/records/">Records</a> (B0264) · <a href="/admin/">Admin</a> (job role R8000) ·
<form method="post" action="/cis/logout" style="display:inline"><button>Log out</button></form></nav>
</body></html>
`))

func newApp() http.Handler {
	mux := http.NewServeMux()
	show := func(title, text string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p, ok := personOf(r)
			if !ok {
				// cis-proxy lets no request without a session reach these
				// pages: a request without headers did not come through it.
				http.Error(w, "no X-CIS-UID: this app must be reached through cis-proxy", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = page.Execute(w, map[string]any{"Title": title, "Text": text, "Person": p})
		}
	}
	mux.Handle("GET /{$}", show("Home", "Any logged-in person sees this page; the proxy's rules guard the others."))
	mux.Handle("GET /records/", show("Records", "Only a role with activity B0264 (Access clinical record) gets here."))
	mux.Handle("GET /admin/", show("Admin", "Only job role R8000 gets here."))
	mux.HandleFunc("GET /static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		_, _ = io.WriteString(w, "body{font-family:sans-serif;max-width:40em;margin:2em auto}\n")
	})
	return mux
}
