package records

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/opencis/cisauth/middleware"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"home", "patients", "record", "admin", "role", "login", "loggedout", "denied", "notfound"}

var templateFuncs = template.FuncMap{
	// nhs spaces an NHS number as people read it: 999 123 4578.
	"nhs": func(s string) string {
		if len(s) != 10 {
			return s
		}
		return s[:3] + " " + s[3:6] + " " + s[6:]
	},
	"time": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	"join": strings.Join,
}

func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("records: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is what every page's template gets.
type pageData struct {
	Title string
	// Session is the logged-in session for pages that show it (the header,
	// the background session check), nil on the public pages.
	Session *middleware.Session
	// SessionCheckMS is how often the page checks its session, in ms.
	SessionCheckMS int64
	// Page is the page's own data.
	Page any
}

// render writes a page. Templates escape everything they insert
// (html/template); pages hold personal data, so nothing is cached.
func (a *App) render(w http.ResponseWriter, status int, name, title string, s *middleware.Session, page any) {
	var b bytes.Buffer
	d := pageData{Title: title, Session: s, SessionCheckMS: a.sessionCheck.Milliseconds(), Page: page}
	if err := a.pages[name].Execute(&b, d); err != nil {
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// staticFiles serves the app's scripts and style sheet (no directory
// listings).
func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
