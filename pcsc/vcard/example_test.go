package vcard_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/opencis/cisauth/pcsc/vcard"
)

// A card answers APDUs in process, without any reader.
func ExampleCard_Transmit() {
	caCert, caKey, err := vcard.NewTestCA("SubCA example", 24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	f, err := vcard.Provision(vcard.ProvisionConfig{
		UID: "555000000001", Name: "Jones Alice Dr", CACert: caCert, CAKey: caKey, PIN: []byte("1234"),
	})
	if err != nil {
		log.Fatal(err)
	}
	card, err := vcard.New(f.Config())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Cert.Subject)
	selectPIV := []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00}
	resp := card.Transmit(selectPIV)
	fmt.Printf("SELECT: %X\n", resp[len(resp)-2:])
	wrongPIN := []byte{0x00, 0x20, 0x00, 0x80, 0x08, '9', '9', '9', '9', 0xFF, 0xFF, 0xFF, 0xFF}
	fmt.Printf("VERIFY: %X, %d tries left\n", card.Transmit(wrongPIN), card.RetriesLeft())
	// Output:
	// CN=555000000001,OU=people,O=nhs
	// SELECT: 9000
	// VERIFY: 63C2, 2 tries left
}

// Insert puts the card into pcscd's vpcd reader "Virtual PCD 00 00" until
// Pull. Tests should use internal/stacktest.InsertCard, which also waits
// for pcscd to show the card.
func ExampleCard_Insert() {
	f, err := vcard.Load("card.json")
	if err != nil {
		log.Fatal(err)
	}
	card, err := vcard.New(f.Config())
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in, err := card.Insert(ctx, "127.0.0.1:35963")
	if err != nil {
		log.Fatal(err)
	}
	// … use the card through PC/SC or OpenSC …
	if err := in.Pull(); err != nil {
		log.Fatal(err)
	}
}
