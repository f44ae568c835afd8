package vcard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The vpcd link (vsmartcard's api.txt): every message in either direction
// is a 2-byte big-endian length and that many bytes. From vpcd, a 1-byte
// message is a control code; a longer one is a command APDU.
const (
	ctrlPowerOff = 0x00
	ctrlPowerOn  = 0x01
	ctrlReset    = 0x02
	ctrlGetATR   = 0x04
)

// ErrFrame means vpcd sent a frame the card cannot use.
var ErrFrame = errors.New("vcard: malformed vpcd frame")

// frameReader reads vpcd frames into a reused buffer. before, if set, runs
// before every read (the card sets TCP_QUICKACK there).
type frameReader struct {
	r      io.Reader
	buf    []byte
	before func()
}

// next returns the payload of the next frame; it is valid until the next
// call. Frame lengths are at most 65535 by construction, so the buffer is
// bounded; a zero-length frame is an error.
func (f *frameReader) next() ([]byte, error) {
	var hdr [2]byte
	if f.before != nil {
		f.before()
	}
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 {
		return nil, fmt.Errorf("%w: zero length", ErrFrame)
	}
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	buf := f.buf[:n]
	if f.before != nil {
		f.before()
	}
	if _, err := io.ReadFull(f.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %d-byte body: %w", ErrFrame, n, err)
	}
	return buf, nil
}

// appendFrame appends the length prefix and payload, so that a reply is
// sent with one Write.
func appendFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) > 0xFFFF {
		return dst, fmt.Errorf("%w: %d-byte reply", ErrFrame, len(payload))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...), nil
}

// reply answers one frame from vpcd: nil means send nothing.
func (c *Card) reply(msg []byte) []byte {
	if len(msg) != 1 {
		return c.Transmit(msg)
	}
	switch msg[0] {
	case ctrlGetATR:
		return c.ATR()
	case ctrlPowerOff, ctrlReset:
		c.Reset()
	case ctrlPowerOn:
	default:
		c.log.Debug("vcard: unknown vpcd control code", "code", msg[0])
	}
	return nil
}
