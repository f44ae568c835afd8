package pcsc_test

import (
	"context"
	"crypto"
	"crypto/sha1"
	"errors"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"github.com/opencis/cisauth/pcsc"
)

// Watch every reader and log cards coming and going until SIGTERM.
func ExampleMonitor_Run() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	m, err := pcsc.NewMonitor(pcsc.MonitorConfig{}) // nil Readers: all, with hot-plug
	if err != nil {
		log.Fatal(err)
	}
	events := make(chan pcsc.Event)
	go func() {
		for ev := range events {
			fmt.Println(ev.Time.Format("15:04:05.000"), ev.Kind, ev.Reader)
		}
	}()
	if err := m.Run(ctx, events); !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// Block until a card is in the reader.
func ExampleWaitCard() {
	if err := pcsc.WaitCard(context.Background(), "Virtual PCD 00 00", true); err != nil {
		log.Fatal(err)
	}
}

// Log in to the card in a reader through OpenSC and sign a challenge for
// CIS (RSASSA-PKCS1-v1_5 with SHA-1).
func ExampleToken_Signer() {
	ctx := context.Background()
	tk, err := pcsc.OpenToken(ctx, pcsc.TokenConfig{
		Module: "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
		Reader: "Virtual PCD 00 00",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer tk.Close()
	uid, err := tk.UID(ctx) // certificates are public: no PIN needed
	if err != nil {
		log.Fatal(err)
	}
	pin := []byte("123456") // read without echo in real code; Login clears it
	var pe *pcsc.PINError
	switch err := tk.Login(ctx, pin, pcsc.LoginOptions{}); {
	case errors.Is(err, pcsc.ErrFinalTry):
		log.Fatal("one try left: ask before trying again, then set AllowFinalTry")
	case errors.As(err, &pe):
		log.Fatalf("login refused: %v", pe)
	case err != nil:
		log.Fatal(err)
	}
	signer, err := tk.Signer(ctx)
	if err != nil {
		log.Fatal(err)
	}
	d := sha1.Sum([]byte("challenge"))
	sig, err := signer.Sign(nil, d[:], crypto.SHA1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(uid, len(sig))
}
