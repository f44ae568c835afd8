package samlidp

import (
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"

	"github.com/opencis/cisauth/internal/samltest"
	"github.com/opencis/cisauth/internal/xmlsectest"
)

// xmlsec1 (package internal/xmlsectest) is the referee for the bridge's
// signatures.

// XPath expressions for xmlsec1 --node-xpath: which signature to verify.
const (
	responseSignature   = xmlsectest.RootSignature
	assertionSignature  = xmlsectest.AssertionSignature
	standaloneSignature = xmlsectest.RootSignature // a decrypted assertion
)

// TestXMLSec1VerifiesSignatures: xmlsec1 verifies the Response's and the
// assertion's own signature with the IdP certificate, and not with another.
func TestXMLSec1VerifiesSignatures(t *testing.T) {
	xmlsec1 := xmlsectest.Require(t)
	sp := samltest.NewSP(t, samltest.SPOptions{Key: ecKey()})
	ti := newTestIdP(t, nil, nil, sp)
	b := samltest.NewBrowser(t)
	ti.signIn(b, drSmith.UID)
	x := responseXML(t, b, ti, sp, authnRequest(t, ti, sp), "")
	other := samltest.SelfSigned(t, rsaKeyC(), "not the idp")
	for _, xpath := range []string{responseSignature, assertionSignature} {
		if err := xmlsec1.Verify(t, x, ti.cfg.Certificate, xpath); err != nil {
			t.Errorf("%s with the IdP certificate: %v", xpath, err)
		}
		if err := xmlsec1.Verify(t, x, other, xpath); err == nil {
			t.Errorf("%s verifies with another certificate", xpath)
		}
	}
}

// TestXMLSec1EncryptedAssertionSigned: an encrypted assertion, decrypted
// with the SP's key, is itself signed, and xmlsec1 verifies it.
func TestXMLSec1EncryptedAssertionSigned(t *testing.T) {
	xmlsec1 := xmlsectest.Require(t)
	sp := samltest.NewSP(t, samltest.SPOptions{}) // RSA key samltest.SPKey: encryption offered
	ti := newTestIdP(t, nil, nil, sp)
	b := samltest.NewBrowser(t)
	ti.signIn(b, drSmith.UID)
	resp := parseXML(t, responseXML(t, b, ti, sp, authnRequest(t, ti, sp), ""))
	data := resp.FindElement("./EncryptedAssertion/EncryptedData")
	if data == nil {
		t.Fatal("no EncryptedAssertion")
	}
	plain, err := xmlenc.Decrypt(samltest.SPKey(), data)
	if err != nil {
		t.Fatal(err)
	}
	a := parseXML(t, plain)
	if a.Tag != "Assertion" {
		t.Fatalf("decrypted a %s", a.Tag)
	}
	checkSignatureAlgorithms(t, a)
	if err := xmlsec1.Verify(t, plain, ti.cfg.Certificate, standaloneSignature); err != nil {
		t.Error(err)
	}
}

// TestTamperedResponse: the assertion is signed on its own, so an SP takes
// it without the Response's signature; changed in any way, neither samlsp
// nor xmlsec1 accepts it, and unsigned samlsp does not either.
func TestTamperedResponse(t *testing.T) {
	xmlsec1 := xmlsectest.Require(t)
	sp := samltest.NewSP(t, samltest.SPOptions{Key: ecKey()})
	ti := newTestIdP(t, nil, nil, sp)
	b := samltest.NewBrowser(t)
	ti.signIn(b, msJones.UID) // her role lacks B0264
	req := authnRequest(t, ti, sp)
	original := responseXML(t, b, ti, sp, req, "")

	removeResponseSig := func(r *etree.Element) { r.RemoveChild(r.SelectElement("Signature")) }
	removeAssertionSig := func(r *etree.Element) {
		a := r.SelectElement("Assertion")
		a.RemoveChild(a.SelectElement("Signature"))
	}
	grantB0264 := func(r *etree.Element) {
		for _, at := range r.FindElements("./Assertion/AttributeStatement/Attribute") {
			if at.SelectAttrValue("Name", "") == AttrActivityCodes {
				v := at.SelectElement("AttributeValue").Copy()
				v.SetText("B0264")
				at.AddChild(v)
				return
			}
		}
		t.Fatal("no activity_codes attribute")
	}
	for _, tc := range []struct {
		name     string
		mutate   []func(*etree.Element)
		accepted bool
		// xmlsec1's verdict on each signature still there
		responseOK, assertionOK *bool
	}{
		{"untouched", nil, true, ptr(true), ptr(true)},
		{"response signature removed", muts(removeResponseSig), true, nil, ptr(true)},
		{"activity added, response signature removed", muts(removeResponseSig, grantB0264), false, nil, ptr(false)},
		{"activity added under both signatures", muts(grantB0264), false, ptr(false), ptr(false)},
		{"both signatures removed", muts(removeResponseSig, removeAssertionSig), false, nil, nil},
		{"assertion signature removed", muts(removeAssertionSig), false, ptr(false), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(original); err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.mutate {
				m(doc.Root())
			}
			x, err := doc.WriteToBytes()
			if err != nil {
				t.Fatal(err)
			}
			_, err = sp.Middleware.ServiceProvider.ParseXMLResponse(x, []string{req.ID}, sp.Middleware.ServiceProvider.AcsURL)
			switch {
			case tc.accepted && err != nil:
				t.Errorf("samlsp refuses it: %v", privateErr(err))
			case !tc.accepted && err == nil:
				t.Error("samlsp accepts it")
			}
			for _, v := range []struct {
				xpath string
				want  *bool
			}{{responseSignature, tc.responseOK}, {assertionSignature, tc.assertionOK}} {
				if v.want == nil {
					continue
				}
				if err := xmlsec1.Verify(t, x, ti.cfg.Certificate, v.xpath); (err == nil) != *v.want {
					t.Errorf("xmlsec1 %s: %v, want ok=%v", v.xpath, err, *v.want)
				}
			}
		})
	}
}

func ptr(b bool) *bool                                      { return &b }
func muts(f ...func(*etree.Element)) []func(*etree.Element) { return f }
