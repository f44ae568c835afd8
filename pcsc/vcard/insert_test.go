package vcard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// fakeVPCD is the reader side of the vpcd link, as Debian 12's vpcd 0.8
// sends it: length and body in two writes.
type fakeVPCD struct {
	t    *testing.T
	ln   net.Listener
	conn net.Conn
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (v *fakeVPCD) accept() {
	v.t.Helper()
	c, err := v.ln.Accept()
	if err != nil {
		v.t.Fatal(err)
	}
	v.conn = c
	v.t.Cleanup(func() { c.Close() })
}

func (v *fakeVPCD) send(msg []byte) {
	v.t.Helper()
	var hdr [2]byte
	binary.BigEndian.PutUint16(hdr[:], uint16(len(msg)))
	if _, err := v.conn.Write(hdr[:]); err != nil {
		v.t.Fatal(err)
	}
	if _, err := v.conn.Write(msg); err != nil {
		v.t.Fatal(err)
	}
}

func (v *fakeVPCD) recv() []byte {
	v.t.Helper()
	if err := v.conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		v.t.Fatal(err)
	}
	fr := frameReader{r: v.conn}
	msg, err := fr.next()
	if err != nil {
		v.t.Fatal(err)
	}
	return bytes.Clone(msg)
}

func TestInsertServesVPCD(t *testing.T) {
	c, _ := newTestCard(t)
	v := newFakeVPCD(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type result struct {
		in  *Inserted
		err error
	}
	res := make(chan result, 1)
	go func() {
		in, err := c.Insert(ctx, v.ln.Addr().String())
		res <- result{in, err}
	}()
	v.accept()
	v.send([]byte{ctrlGetATR})
	if got := v.recv(); !bytes.Equal(got, defaultATR) {
		t.Fatalf("ATR %X", got)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	in := r.in
	if _, err := c.Insert(ctx, v.ln.Addr().String()); !errors.Is(err, ErrInserted) {
		t.Errorf("second Insert: %v, want ErrInserted", err)
	}

	v.send([]byte{ctrlPowerOn}) // no reply
	v.send(verifyAPDU("1234"))
	if got := v.recv(); !bytes.Equal(got, []byte{0x90, 0x00}) {
		t.Fatalf("VERIFY reply %X", got)
	}
	if !c.Verified() {
		t.Fatal("PIN not verified")
	}
	v.send([]byte{ctrlPowerOff}) // no reply, ends the verified state
	v.send([]byte{ctrlGetATR})   // answered while powered off
	if got := v.recv(); !bytes.Equal(got, defaultATR) {
		t.Fatalf("ATR while off %X", got)
	}
	if c.Verified() {
		t.Fatal("power off kept the PIN verified")
	}

	if err := in.Pull(); err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if err := v.conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after Pull vpcd reads %v, want EOF", err)
	}
	if err := in.Pull(); err != nil {
		t.Errorf("second Pull: %v", err)
	}

	// The card can go into a reader again.
	go func() {
		in, err := c.Insert(ctx, v.ln.Addr().String())
		res <- result{in, err}
	}()
	v.accept()
	v.send([]byte{ctrlGetATR})
	v.recv()
	r = <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	// vpcd going away ends the link with an error.
	v.conn.Close()
	if err := r.in.Wait(); err == nil {
		t.Error("Wait after vpcd closed: nil error")
	}
}

func TestInsertNoATRRequest(t *testing.T) {
	c, _ := newTestCard(t)
	v := newFakeVPCD(t) // accepts in the kernel backlog, never asks for the ATR
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Insert(ctx, v.ln.Addr().String()); !errors.Is(err, ErrNoATRRequest) {
		t.Fatalf("err = %v, want ErrNoATRRequest", err)
	}
	// The failed insert left the card free.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := c.Insert(ctx2, v.ln.Addr().String()); errors.Is(err, ErrInserted) {
		t.Fatal("failed Insert kept the card inserted")
	}
}

func TestInsertDialError(t *testing.T) {
	c, _ := newTestCard(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := c.Insert(context.Background(), addr); err == nil {
		t.Fatal("Insert into a closed port succeeded")
	}
}

func TestFrameReader(t *testing.T) {
	in := []byte{0x00, 0x01, 0x04, 0x00, 0x03, 0xAA, 0xBB, 0xCC, 0x00, 0x00}
	calls := 0
	fr := frameReader{r: bytes.NewReader(in), before: func() { calls++ }}
	for _, want := range [][]byte{{0x04}, {0xAA, 0xBB, 0xCC}} {
		got, err := fr.next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %X, %v; want %X", got, err, want)
		}
	}
	if _, err := fr.next(); !errors.Is(err, ErrFrame) {
		t.Fatalf("zero-length frame: %v", err)
	}
	if calls != 5 {
		t.Errorf("before() ran %d times, want once before every read (5)", calls)
	}
	fr = frameReader{r: bytes.NewReader([]byte{0x00, 0x05, 0x01})}
	if _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: %v", err)
	}
}
