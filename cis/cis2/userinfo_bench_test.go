package cis2

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkParseUserInfo maps the eight-role demo user's document; the
// peer is a plain encoding/json decode into a map, which checks nothing.
func BenchmarkParseUserInfo(b *testing.B) {
	doc, err := os.ReadFile("testdata/userinfo/support.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ParseUserInfo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseUserInfo(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCheckKeys(b *testing.B) {
	doc, _ := os.ReadFile("testdata/userinfo/support.json")
	for b.Loop() {
		checkKeys(doc)
	}
}
