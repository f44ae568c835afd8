//go:build cgo

package vcard_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc"
	"github.com/opencis/cisauth/pcsc/vcard"
)

// reportMedian adds the median of ds, in unit, as a benchmark metric.
func reportMedian(b *testing.B, ds []time.Duration, unit time.Duration, name string) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(unit), name)
}

// BenchmarkStackAPDURoundTrip sends GET DATA (discovery object) through
// pcsc.Card → libpcsclite → pcscd → vpcd → the virtual card and back, with
// and without TCP_QUICKACK on the card's socket.
func BenchmarkStackAPDURoundTrip(b *testing.B) {
	s := stacktest.Require(b)
	r := s.Readers(b, "vcard", 1)[0]
	getDiscovery := []byte{0x00, 0xCB, 0x3F, 0xFF, 0x03, 0x5C, 0x01, 0x7E, 0x00}
	for _, mode := range []struct {
		name string
		off  bool
	}{{"quickack", false}, {"no-quickack", true}} {
		b.Run(mode.name, func(b *testing.B) {
			card, _ := stackCard(b, func(c *vcard.CardConfig) { c.DisableQuickAck = mode.off })
			in := stacktest.InsertCard(b, card, r.Index)
			ctx := context.Background()
			conn, err := pcsc.Connect(ctx, r.Name)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				resp, err := conn.Transmit(ctx, getDiscovery)
				ds = append(ds, time.Since(t0))
				if err != nil || len(resp) < 2 || resp[len(resp)-2] != 0x90 {
					b.Fatalf("GET DATA: %X %v", resp, err)
				}
			}
			b.StopTimer()
			reportMedian(b, ds, time.Microsecond, "median-µs/apdu")
			stacktest.Pull(b, in)
		})
	}
}

// BenchmarkStackInsertPull measures how long pcscd takes to show a card
// PRESENT from the start of Insert (connect, vpcd's first ATR poll, pcscd's
// next status update) and from Insert's return (vpcd has had the ATR), and
// EMPTY from the start of Pull.
func BenchmarkStackInsertPull(b *testing.B) {
	s := stacktest.Require(b)
	r := s.Readers(b, "vcard", 1)[0]
	card, _ := stackCard(b, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := pcsc.WaitCard(ctx, r.Name, false); err != nil {
		b.Fatal(err)
	}
	var present, afterInsert, empty []time.Duration
	for b.Loop() {
		t0 := time.Now()
		in, err := card.Insert(ctx, r.Addr)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := pcsc.WaitCard(ctx, r.Name, true); err != nil {
			b.Fatal(err)
		}
		present = append(present, time.Since(t0))
		afterInsert = append(afterInsert, time.Since(t1))
		t0 = time.Now()
		if err := in.Pull(); err != nil {
			b.Fatal(err)
		}
		if err := pcsc.WaitCard(ctx, r.Name, false); err != nil {
			b.Fatal(err)
		}
		empty = append(empty, time.Since(t0))
	}
	reportMedian(b, present, time.Millisecond, "median-ms-insert-to-present")
	reportMedian(b, afterInsert, time.Millisecond, "median-ms-insert-return-to-present")
	reportMedian(b, empty, time.Millisecond, "median-ms-pull-to-empty")
	slices.Sort(present)
	slices.Sort(empty)
	b.ReportMetric(float64(present[len(present)-1])/float64(time.Millisecond), "max-ms-insert-to-present")
	b.ReportMetric(float64(empty[len(empty)-1])/float64(time.Millisecond), "max-ms-pull-to-empty")
}
