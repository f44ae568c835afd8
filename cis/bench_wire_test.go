package cis

import (
	"context"
	"crypto"
	"testing"
)

func BenchmarkParseValidateResponse40Roles(b *testing.B) {
	data := readGPFixture(b, "validate-response-40roles.xml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		g, err := ParseGPObject(data)
		if err != nil {
			b.Fatal(err)
		}
		if roles, err := g.JobRoles(); err != nil || len(roles) != 40 {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignChallenge(b *testing.B) {
	key, cert := testCard(b)
	challenge := make([]byte, 48)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignChallenge(context.Background(), key, cert, challenge, crypto.SHA1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyChallenge(b *testing.B) {
	key, cert := testCard(b)
	der, err := SignChallenge(context.Background(), key, cert, make([]byte, 48), crypto.SHA1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := VerifyChallenge(der); err != nil {
			b.Fatal(err)
		}
	}
}
