package samltest

import (
	"crypto"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	dsig "github.com/russellhaering/goxmldsig"
)

// The SP app's attributes (the bridge's samlidp.AttrActivityCodes and
// samlidp.AttrName) and the activity code its /prescribe needs.
const (
	attrActivities = "activity_codes"
	attrName       = "name"
	prescribeCode  = "B0264"
)

// SPOptions describes a service provider app.
type SPOptions struct {
	// Key is the SP's key: RSA offers an encryption key in the metadata,
	// ECDSA does not. Nil means SPKey().
	Key crypto.Signer
	// Binding is samlsp.Options.Binding: "" (HTTP-Redirect) or
	// saml.HTTPPostBinding.
	Binding string
	// SignRequest signs the AuthnRequests.
	SignRequest bool
	// Clock is samlsp.Options.Clock; nil is the real time.
	Clock *dsig.Clock
}

// SP is a supplier's web app behind crewjam's samlsp, served by httptest:
//
//   - /saml/ is the samlsp middleware (metadata, ACS);
//   - /app answers an AppView (the NameID and attributes it got) as JSON;
//   - /hello greets the person by name in a page (#sp-name, #sp-activities);
//   - /prescribe needs B0264 in activity_codes (samlsp.RequireAttribute:
//     the SP decides; 403 otherwise) and answers "prescribing as " and the
//     name.
//
// The pages need a samlsp session; without one samlsp sends the browser to
// the IdP. Errors at the ACS answer 403 "SP refused: " and the private
// cause.
type SP struct {
	Middleware *samlsp.Middleware
	Server     *httptest.Server
}

// AppView is what the SP's /app answers.
type AppView struct {
	NameID     string
	Attributes map[string][]string
}

// NewSP starts an SP app, stopped when the test ends. Its IDPMetadata is
// unset: point it at the IdP once that runs.
func NewSP(t testing.TB, o SPOptions) *SP {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	root, _ := url.Parse(srv.URL)
	key := o.Key
	if key == nil {
		key = SPKey()
	}
	m, err := samlsp.New(samlsp.Options{
		URL:                 *root,
		Key:                 key,
		Certificate:         SelfSigned(t, key, "sp "+root.Host),
		SignRequest:         o.SignRequest,
		Binding:             o.Binding,
		KeyAttributesByName: true,
		Clock:               o.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.OnError = func(w http.ResponseWriter, _ *http.Request, err error) {
		if ie, ok := err.(*saml.InvalidResponseError); ok {
			err = ie.PrivateErr
		}
		http.Error(w, "SP refused: "+err.Error(), http.StatusForbidden)
	}
	attrs := func(r *http.Request) samlsp.Attributes {
		return samlsp.SessionFromContext(r.Context()).(samlsp.SessionWithAttributes).GetAttributes()
	}
	mux := http.NewServeMux()
	mux.Handle("/saml/", m)
	mux.Handle("/app", m.RequireAccount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw := AppView{Attributes: attrs(r)}
		if c, ok := samlsp.SessionFromContext(r.Context()).(samlsp.JWTSessionClaims); ok {
			saw.NameID = c.Subject
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(saw)
	})))
	mux.Handle("/hello", m.RequireAccount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, "<!doctype html><title>SP</title><p id=sp-name>%s</p><p id=sp-activities>%s</p>",
			html.EscapeString(samlsp.AttributeFromContext(r.Context(), attrName)),
			html.EscapeString(strings.Join(attrs(r)[attrActivities], ",")))
	})))
	mux.Handle("/prescribe", m.RequireAccount(samlsp.RequireAttribute(attrActivities, prescribeCode)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "prescribing as "+samlsp.AttributeFromContext(r.Context(), attrName))
		}))))
	handler = mux
	return &SP{Middleware: m, Server: srv}
}

// ACS is the URL of the SP's assertion consumer service.
func (sp *SP) ACS() string { return sp.Middleware.ServiceProvider.AcsURL.String() }

// Metadata returns the SP's metadata as the file a supplier hands over.
func (sp *SP) Metadata(t testing.TB) []byte {
	t.Helper()
	b, err := xml.MarshalIndent(sp.Middleware.ServiceProvider.Metadata(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DecodeApp decodes the AppView of an /app page, failing the test if body
// is not one.
func DecodeApp(t testing.TB, body []byte) AppView {
	t.Helper()
	var saw AppView
	if err := json.Unmarshal(body, &saw); err != nil {
		t.Fatalf("not the app's page: %v: %s", err, body)
	}
	return saw
}

// IdPMetadata fetches (with http.Get, no session) and parses the IdP
// metadata at u, as an SP administrator would; it fails the test unless
// the answer is 200 with an XML content type.
func IdPMetadata(t testing.TB, u string) *saml.EntityDescriptor {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		t.Fatalf("metadata: %s %q: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		t.Fatalf("metadata: %v\n%s", err, b)
	}
	return md
}
