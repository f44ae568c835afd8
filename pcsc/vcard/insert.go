package vcard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrInserted means the card is already in a reader.
var ErrInserted = errors.New("vcard: card already inserted")

// ErrNoATRRequest means vpcd accepted the connection but did not ask for
// the ATR before the context ended: typically another card occupies that
// reader (vpcd takes one card per reader) or pcscd is not polling it.
var ErrNoATRRequest = errors.New("vcard: vpcd did not ask for the ATR")

// Inserted is a card in a vpcd reader. Pull takes it out.
type Inserted struct {
	card *Card
	conn net.Conn
	addr string
	done chan struct{}

	closeOnce sync.Once
	mu        sync.Mutex
	pulled    bool
	err       error
}

// Insert connects the card to the vpcd reader listening at addr (host:port,
// e.g. 127.0.0.1:35963) and serves it in a goroutine. It returns once vpcd
// has asked for the ATR and got it, which is when pcscd starts to see the
// card (within its next poll, up to about 400 ms later). ctx bounds the
// connect and that first exchange only; the card then stays in until Pull or
// until vpcd closes the link.
func (c *Card) Insert(ctx context.Context, addr string) (*Inserted, error) {
	c.mu.Lock()
	if c.inserted != nil {
		c.mu.Unlock()
		return nil, ErrInserted
	}
	in := &Inserted{card: c, addr: addr, done: make(chan struct{})}
	c.inserted = in
	c.resetLocked()
	c.mu.Unlock()

	d := net.Dialer{Timeout: c.dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.release(in)
		return nil, fmt.Errorf("vcard: insert into vpcd at %s: %w", addr, err)
	}
	in.conn = conn
	first := make(chan struct{})
	go in.serve(first)
	select {
	case <-first:
		c.log.Debug("vcard: inserted", "vpcd", addr)
		return in, nil
	case <-in.done:
		err := in.Wait()
		if err == nil {
			err = errors.New("link closed")
		}
		return nil, fmt.Errorf("vcard: insert into vpcd at %s: %w", addr, err)
	case <-ctx.Done():
		// The ATR may have been answered just as ctx ended; select picks at
		// random among ready cases, so look again before giving up.
		select {
		case <-first:
			c.log.Debug("vcard: inserted", "vpcd", addr)
			return in, nil
		default:
		}
		_ = in.Pull()
		return nil, fmt.Errorf("vcard: insert into vpcd at %s: %w (%w)", addr, ErrNoATRRequest, ctx.Err())
	}
}

func (c *Card) release(in *Inserted) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inserted == in {
		c.inserted = nil
		c.resetLocked()
	}
}

// serve answers vpcd until the link ends; first is closed after the first
// ATR reply.
func (in *Inserted) serve(first chan struct{}) {
	defer close(in.done)
	defer in.card.release(in)
	fr := frameReader{r: in.conn}
	if in.card.quickAck {
		fr.before = func() { quickAck(in.conn) }
	}
	var out []byte
	answeredATR := false
	for {
		msg, err := fr.next()
		if err != nil {
			in.finish(err)
			return
		}
		isATR := len(msg) == 1 && msg[0] == ctrlGetATR
		resp := in.card.reply(msg)
		if resp == nil {
			continue
		}
		out, err = appendFrame(out[:0], resp)
		if err == nil {
			_, err = in.conn.Write(out)
		}
		if err != nil {
			in.finish(err)
			return
		}
		if isATR && !answeredATR {
			answeredATR = true
			close(first)
		}
	}
}

// finish records why the link ended (nothing when Pull ended it).
func (in *Inserted) finish(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.pulled {
		in.err = fmt.Errorf("vcard: vpcd link %s: %w", in.addr, err)
	}
	in.closeConn()
}

func (in *Inserted) closeConn() {
	in.closeOnce.Do(func() { _ = in.conn.Close() })
}

// Pull takes the card out of the reader: it closes the link and waits for
// the serving goroutine to end. pcscd notices within its next poll (about
// 400 ms). Pull returns the error that had already ended the link, if any;
// calling it again is harmless.
func (in *Inserted) Pull() error {
	in.mu.Lock()
	in.pulled = true
	in.closeConn()
	in.mu.Unlock()
	return in.Wait()
}

// Wait blocks until the card is out of the reader (Pull, or vpcd closed the
// link) and returns the error that ended the link, nil after a Pull.
func (in *Inserted) Wait() error {
	<-in.done
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// Done is closed when the card is out of the reader.
func (in *Inserted) Done() <-chan struct{} { return in.done }

// Addr returns the vpcd address the card is in.
func (in *Inserted) Addr() string { return in.addr }
