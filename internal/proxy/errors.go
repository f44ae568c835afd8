package proxy

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
)

// upstreamError answers a request the upstream did not: 502 (504 when it
// took too long), with a page that says so in plain words and no detail
// of the upstream's address.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	status := http.StatusBadGateway
	msg := "The application behind this login is not answering. Try again in a minute; if it goes on, tell your IT service desk."
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
		msg = "The application behind this login took too long to answer. Try again in a minute; if it goes on, tell your IT service desk."
	}
	p.metrics.upstreamErrors.Inc()
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	writePage(w, r, status, "Application not answering", msg)
}

// refuse answers a request the proxy will not forward.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, reason string, status int, msg string) {
	p.metrics.refused.WithLabelValues(reason).Inc()
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "request refused", slog.String("reason", reason), slog.String("method", r.Method))
	writePage(w, r, status, http.StatusText(status), msg)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))

// writePage writes an error page: HTML for a browser, plain text otherwise.
func writePage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ Title, Message string }{title, msg})
}
