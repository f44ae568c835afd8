package samltest_test

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/samltest"
)

func TestFindForm(t *testing.T) {
	page := []byte(`<form method="post" action="https://sp.example/acs?a=1&amp;b=2">` +
		`<input type="hidden" name="SAMLResponse" value="PHg&#43;"><input type="hidden" name="RelayState" value="&lt;s&gt;"></form>`)
	f, ok := samltest.FindForm(page)
	if !ok || f.Action != "https://sp.example/acs?a=1&b=2" || f.Values.Get("SAMLResponse") != "PHg+" || f.Values.Get("RelayState") != "<s>" {
		t.Errorf("FindForm = %+v, %v", f, ok)
	}
	if _, ok := samltest.FindForm([]byte(`<form id="login" method="post" action="/x">`)); ok {
		t.Error("FindForm found a form that is not an auto-posting one")
	}
	f, ok = samltest.FindFormBy(regexp.MustCompile(`<form id="login" method="post" action="([^"]*)"`),
		[]byte(`<form id="login" method="post" action="/login"><input type="hidden" name="return" value="/a"></form>`))
	if !ok || f.Action != "/login" || f.Values.Get("return") != "/a" {
		t.Errorf("FindFormBy = %+v, %v", f, ok)
	}
}

// The browser posts an auto-posting form from the page's origin, follows
// the redirect after it, keeps cookies, and records where it went.
func TestBrowserFollowsForms(t *testing.T) {
	acs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/acs":
			if r.Method != http.MethodPost || r.PostFormValue("SAMLResponse") != "r" {
				http.Error(w, "bad post", http.StatusBadRequest)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "s", Value: r.Header.Get("Origin"), Path: "/"})
			http.Redirect(w, r, "/done", http.StatusSeeOther)
		case "/done":
			c, err := r.Cookie("s")
			if err != nil {
				http.Error(w, "no cookie", http.StatusForbidden)
				return
			}
			_, _ = io.WriteString(w, c.Value)
		}
	}))
	defer acs.Close()
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<form method="post" action="`+acs.URL+`/acs"><input type="hidden" name="SAMLResponse" value="r"></form>`)
	}))
	defer idp.Close()

	b := samltest.NewBrowser(t)
	resp, body := b.Get(idp.URL + "/sso")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != acs.URL+"/done" || string(body) != idp.URL {
		t.Errorf("%s at %s: %q, want the ACS's /done with the IdP's origin %s", resp.Status, resp.Request.URL, body, idp.URL)
	}
	var got []string
	for _, u := range b.Requests() {
		got = append(got, u.String())
	}
	if want := []string{idp.URL + "/sso", acs.URL + "/acs", acs.URL + "/done"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("requests %q, want %q", got, want)
	}
	if f, ok := b.LastPosted(acs.URL + "/acs"); !ok || f.Values.Get("SAMLResponse") != "r" {
		t.Errorf("LastPosted = %+v, %v", f, ok)
	}
	b.Forget()
	if len(b.Requests()) != 0 {
		t.Error("Forget kept requests")
	}
	if _, ok := b.LastPosted(acs.URL + "/acs"); ok {
		t.Error("Forget kept forms")
	}
	_, body = b.Post(acs.URL+"/acs", "https://elsewhere.example", url.Values{"SAMLResponse": {"r"}})
	if string(body) != "https://elsewhere.example" {
		t.Errorf("Post sent Origin %q", body)
	}
}

func TestSelfSigned(t *testing.T) {
	key := samltest.NewECKey()
	cert := samltest.SelfSigned(t, key, "idp")
	if cert.Subject.CommonName != "idp" || cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil || cert.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("certificate %v, %v", cert.Subject, cert.SignatureAlgorithm)
	}
	if now := time.Now(); now.Before(cert.NotBefore.Add(23*time.Hour)) || now.After(cert.NotAfter.Add(-23*time.Hour)) {
		t.Errorf("valid %s to %s, want a day either side of now", cert.NotBefore, cert.NotAfter)
	}
}
