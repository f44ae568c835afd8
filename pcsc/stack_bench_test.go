package pcsc_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/opencis/cisauth/internal/stacktest"
	"github.com/opencis/cisauth/pcsc"
)

// benchSign signs SHA-256 digests in a loop and reports signatures per
// second.
func benchSign(b *testing.B, signer crypto.Signer) {
	b.Helper()
	d := sha256.Sum256([]byte("benchmark challenge"))
	b.ResetTimer()
	for b.Loop() {
		if _, err := signer.Sign(nil, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signs/s")
}

// BenchmarkSignOpenSCVirtualCard: Token.Signer → opensc-pkcs11.so → pcscd →
// vpcd → the virtual PIV card (RSA-2048, GENERAL AUTHENTICATE) and back.
func BenchmarkSignOpenSCVirtualCard(b *testing.B) {
	s := stacktest.Require(b)
	r := s.Readers(b, "pcsc", 1)[0]
	stacktest.InsertCard(b, newCard(b, uidAlice), r.Index)
	tk := openToken(b, pcsc.TokenConfig{Module: s.OpenSCModule, Reader: r.Name})
	benchSign(b, login(b, tk, cardPIN))
}

// BenchmarkSignSoftHSM is the peer: the same Token.Signer over SoftHSM2,
// no card, no PC/SC.
func BenchmarkSignSoftHSM(b *testing.B) {
	s := stacktest.Require(b)
	tk := openToken(b, pcsc.TokenConfig{Module: s.SoftHSMModule, Label: s.SoftHSMLabel})
	benchSign(b, login(b, tk, s.SoftHSMPIN))
}

// BenchmarkMonitorLatency: one iteration inserts a virtual card and pulls
// it; it reports the median time from the start of the insert to the
// Monitor's CardInserted event, and from the start of the pull to its
// CardRemoved event. Run it with -benchtime=20x or so: each iteration takes
// about a second.
func BenchmarkMonitorLatency(b *testing.B) {
	s := stacktest.Require(b)
	r := s.Readers(b, "pcsc", 1)[0]
	card := newCard(b, uidAlice)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := pcsc.WaitCard(ctx, r.Name, false); err != nil {
		b.Fatal(err)
	}
	m, err := pcsc.NewMonitor(pcsc.MonitorConfig{Readers: []string{r.Name}})
	if err != nil {
		b.Fatal(err)
	}
	events := make(chan pcsc.Event, 16)
	go m.Run(ctx, events)
	stacktest.WaitEvent(b, events, pcsc.ReaderAdded, r.Name)

	var ins, pulls []time.Duration
	for b.Loop() {
		t0 := time.Now()
		in, err := card.Insert(ctx, r.Addr)
		if err != nil {
			b.Fatal(err)
		}
		ev := stacktest.WaitEvent(b, events, pcsc.CardInserted, r.Name)
		ins = append(ins, ev.Time.Sub(t0))
		t0 = time.Now()
		if err := in.Pull(); err != nil {
			b.Fatal(err)
		}
		ev = stacktest.WaitEvent(b, events, pcsc.CardRemoved, r.Name)
		pulls = append(pulls, ev.Time.Sub(t0))
	}
	b.ReportMetric(median(ins), "insert-ms-median")
	b.ReportMetric(slices.Max(ins).Seconds()*1000, "insert-ms-max")
	b.ReportMetric(median(pulls), "pull-ms-median")
	b.ReportMetric(slices.Max(pulls).Seconds()*1000, "pull-ms-max")
}

// median returns the median of ds in milliseconds.
func median(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Seconds() * 1000
}
