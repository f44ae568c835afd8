package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencis/cisauth/cis/cistest"
	"github.com/opencis/cisauth/internal/proxytest"
	"github.com/opencis/cisauth/internal/samltest"
	"github.com/opencis/cisauth/middleware/samlidp"
)

// The IdP's RSA-2048 key, made once: under -race it takes a while.
var idpKey = sync.OnceValue(func() *rsa.PrivateKey { return samltest.NewRSAKey(2048) })

// idpFiles writes the IdP's key (PKCS#8 or PKCS#1) and certificate into
// dir and returns their paths.
func idpFiles(t *testing.T, dir string, pkcs8 bool) (keyPath, certPath string) {
	t.Helper()
	k := idpKey()
	var block *pem.Block
	if pkcs8 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	} else {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	}
	keyPath = writeFile(t, dir, "idp-key.pem", string(pem.EncodeToMemory(block)))
	cert := samltest.SelfSigned(t, k, "cis-proxy test IdP")
	certPath = writeFile(t, dir, "idp-cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	return keyPath, certPath
}

// spMetadataFile writes the SP's metadata, as it would hand it over, into
// dir/name.
func spMetadataFile(t *testing.T, sp *samltest.SP, dir, name string) string {
	t.Helper()
	return writeFile(t, dir, name, string(sp.Metadata(t)))
}

// The SAML flags go together: a key without its certificate, or a key and
// certificate without a service provider, are refused at the command line.
func TestSAMLFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{withRequired("--idp-key", "k.pem"), "--idp-key and --idp-cert go together"},
		{withRequired("--idp-cert", "c.pem", "--sp-metadata", "sp.xml"), "--idp-key and --idp-cert go together"},
		{withRequired("--idp-key", "k.pem", "--idp-cert", "c.pem"), "no --sp-metadata"},
		{withRequired("--sp-metadata", "sp.xml"), "--sp-metadata needs --idp-key and --idp-cert"},
	} {
		var stderr strings.Builder
		if code := run(t.Context(), tc.args, &stderr, nil, nil); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	// The same in the file.
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", "saml:\n  idp_key: k.pem\n  idp_cert: c.pem\n")
	var stderr strings.Builder
	if code := run(t.Context(), withRequired("--config", cfg), &stderr, nil, nil); code != 2 || !strings.Contains(stderr.String(), "no --sp-metadata") {
		t.Errorf("file: exit %d, %q", code, stderr.String())
	}
}

// A key or metadata that does not load stops the start with the file named.
func TestSAMLFilesRefused(t *testing.T) {
	sim := cistest.NewServer(t)
	dir := t.TempDir()
	key, cert := idpFiles(t, dir, true)
	bad := writeFile(t, dir, "bad-sp.xml", "<EntityDescriptor/>")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--idp-key", cert, "--idp-cert", cert, "--sp-metadata", bad}, "SAML bridge"},
		{[]string{"--idp-key", key, "--idp-cert", cert, "--sp-metadata", bad}, bad},
	} {
		var stderr strings.Builder
		args := append(baseArgs(envFile(t, sim), "http://127.0.0.1:1"), tc.args...)
		if code := run(t.Context(), args, &stderr, nil, nil); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want 1 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// Without the SAML flags the bridge is off, the log says so, and
// /saml/metadata is the upstream's path like any other (an application
// that is itself a SAML SP of another IdP keeps its own).
func TestSAMLBridgeOff(t *testing.T) {
	sim := cistest.NewServer(t)
	p := start(t, baseArgs(envFile(t, sim), proxytest.EchoUpstream(t).URL)...)
	p.waitLog(t, "SAML bridge off")
	p.waitLog(t, "cis-proxy serving", "saml=false")
	c := newClient(t)
	if status, _ := get(t, c, p.url+samlidp.MetadataPath); status != http.StatusUnauthorized {
		t.Errorf("/saml/metadata without a session: %d, want the 401 of any path", status)
	}
	login(t, sim, c, p.url, alice, aliceRole)
	if status, body := get(t, c, p.url+samlidp.MetadataPath); status != http.StatusOK || proxytest.Saw(t, body).Path != samlidp.MetadataPath {
		t.Errorf("/saml/metadata with a session: %d %s", status, body)
	}
}

// With a key (PKCS#8 or PKCS#1), its certificate and an SP's metadata the
// bridge is on: /saml/metadata answers, without a session, the IdP's
// metadata (XML) whose entity ID is the external URL's.
func TestSAMLBridgeOn(t *testing.T) {
	sim := cistest.NewServer(t)
	up := proxytest.EchoUpstream(t)
	for _, pkcs8 := range []bool{true, false} {
		dir := t.TempDir()
		key, cert := idpFiles(t, dir, pkcs8)
		sp := spMetadataFile(t, samltest.NewSP(t, samltest.SPOptions{}), dir, "sp1.xml")
		p := start(t, append(baseArgs(envFile(t, sim), up.URL), "--idp-key", key, "--idp-cert", cert, "--sp-metadata", sp)...)
		p.waitLog(t, "SAML bridge on", "service_providers=1")
		md := samltest.IdPMetadata(t, p.url+samlidp.MetadataPath)
		if want := p.url + samlidp.MetadataPath; md.EntityID != want {
			t.Errorf("PKCS#8 %v: entityID %q, want %q", pkcs8, md.EntityID, want)
		}
		if len(md.IDPSSODescriptors) != 1 || len(md.IDPSSODescriptors[0].SingleSignOnServices) == 0 ||
			md.IDPSSODescriptors[0].SingleSignOnServices[0].Location != p.url+samlidp.SSOPath {
			t.Errorf("PKCS#8 %v: IdP SSO descriptors %+v", pkcs8, md.IDPSSODescriptors)
		}
		p.stop(t)
	}
}

// ssoAs sends sp's AuthnRequest (HTTP-Redirect binding) to the bridge at
// base with the session of c, and returns the status and body.
func ssoAs(t *testing.T, c *http.Client, sp *samltest.SP, base string) (int, string) {
	t.Helper()
	sp.Middleware.ServiceProvider.IDPMetadata = samltest.IdPMetadata(t, base+samlidp.MetadataPath)
	u, err := sp.Middleware.ServiceProvider.MakeRedirectAuthenticationRequest("")
	if err != nil {
		t.Fatal(err)
	}
	status, body := get(t, c, u.String())
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return status, body
}

// SIGHUP with an SP added to the file's saml.sp_metadata makes the new SP
// known; the first stays known.
func TestSAMLReloadAddsSP(t *testing.T) {
	sim := cistest.NewServer(t)
	up := proxytest.EchoUpstream(t)
	dir := t.TempDir()
	idpFiles(t, dir, true)
	sp1, sp2 := samltest.NewSP(t, samltest.SPOptions{}), samltest.NewSP(t, samltest.SPOptions{})
	spMetadataFile(t, sp1, dir, "sp1.xml")
	spMetadataFile(t, sp2, dir, "sp2.xml")
	samlCfg := "saml:\n  idp_key: idp-key.pem\n  idp_cert: idp-cert.pem\n  sp_metadata: [sp1.xml"
	cfg := writeFile(t, dir, "config.yaml", samlCfg+"]\n")
	p := start(t, append(baseArgs(envFile(t, sim), up.URL), "--config", cfg)...)
	p.waitLog(t, "SAML bridge on", "service_providers=1")
	c := newClient(t)
	login(t, sim, c, p.url, alice, aliceRole)

	if status, body := ssoAs(t, c, sp1, p.url); status != http.StatusOK || !strings.Contains(body, "SAMLResponse") {
		t.Fatalf("SP 1: %d %s", status, body)
	}
	if status, body := ssoAs(t, c, sp2, p.url); status != http.StatusBadRequest || !strings.Contains(body, "not registered") {
		t.Fatalf("SP 2 before the reload: %d %s", status, body)
	}
	rewrite(t, cfg, samlCfg+", sp2.xml]\n")
	p.reload()
	p.waitLog(t, "SAML bridge on", "service_providers=2")
	p.waitLog(t, "reloaded", "saml=true")
	for i, sp := range []*samltest.SP{sp1, sp2} {
		if status, body := ssoAs(t, c, sp, p.url); status != http.StatusOK || !strings.Contains(body, "SAMLResponse") {
			t.Errorf("SP %d after the reload: %d %s", i+1, status, body)
		}
	}

	// An SP file that does not parse keeps the running bridge.
	writeFile(t, dir, "sp2.xml", "<EntityDescriptor/>")
	p.reload()
	p.waitLog(t, "reload failed", "sp2.xml")
	if status, body := ssoAs(t, c, sp2, p.url); status != http.StatusOK {
		t.Errorf("SP 2 after a bad reload: %d %s", status, body)
	}
}
