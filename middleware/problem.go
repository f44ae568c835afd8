package middleware

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// problem is an error answer: JSON for API clients, a small HTML page for
// browsers (Accept: text/html). Message is in plain words for people and
// holds nothing secret: no ticket, cookie, session id or internal error.
type problem struct {
	Status  int      `json:"-"`
	Code    string   `json:"error"`
	Message string   `json:"message"`
	Missing []string `json:"missing,omitempty"`
	// Login is where to log in, for 401 answers.
	Login string `json:"login,omitempty"`
	// RetryAfter is when to try again, for 503 answers (also sent as the
	// Retry-After header).
	RetryAfter *time.Time `json:"retry_after,omitempty"`
}

var problemTitles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Please log in",
	http.StatusForbidden:             "Not allowed",
	http.StatusMethodNotAllowed:      "Method not allowed",
	http.StatusRequestEntityTooLarge: "Request too large",
	http.StatusUnsupportedMediaType:  "Unsupported request",
	http.StatusInternalServerError:   "Something went wrong",
	http.StatusBadGateway:            "The NHS identity service answered wrongly",
	http.StatusServiceUnavailable:    "The NHS identity service is not available",
}

var problemPage = template.Must(template.New("problem").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Missing}}<ul>{{range .Missing}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{- if .RetryAfter}}<p>Please try again after {{.RetryAfter}}.</p>{{end}}
{{- if .Login}}<p><a href="{{.Login}}">Log in with your smartcard</a></p>{{end}}
</body></html>
`))

// wantsHTML reports whether the client asked for a page: browsers put
// text/html in Accept for navigations; fetch and API clients do not.
func wantsHTML(r *http.Request) bool {
	for _, a := range r.Header.Values("Accept") {
		if strings.Contains(a, "text/html") {
			return true
		}
	}
	return false
}

// writeProblem writes p for r. now turns RetryAfter into seconds.
func writeProblem(w http.ResponseWriter, r *http.Request, now time.Time, p problem) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter != nil {
		secs := int(p.RetryAfter.Sub(now).Round(time.Second).Seconds())
		h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	if p.Status == http.StatusMethodNotAllowed && h.Get("Allow") == "" {
		h.Set("Allow", http.MethodPost)
	}
	if wantsHTML(r) {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(p.Status)
		data := struct {
			Title, Message, Login, RetryAfter string
			Missing                           []string
		}{Title: problemTitles[p.Status], Message: p.Message, Login: p.Login, Missing: p.Missing}
		if data.Title == "" {
			data.Title = http.StatusText(p.Status)
		}
		if p.RetryAfter != nil {
			data.RetryAfter = p.RetryAfter.UTC().Format("15:04 MST on Mon 2 Jan")
		}
		_ = problemPage.Execute(w, data)
		return
	}
	writeJSON(w, p.Status, p)
}

// writeJSON writes v as the JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
