package pcsc

import (
	"context"
	"time"

	"github.com/ebfe/scard"
)

// scardContext is the part of a PC/SC context this package uses. The real one
// is *scard.Context (behind realContext); tests use a fake.
type scardContext interface {
	ListReaders() ([]string, error)
	GetStatusChange(states []scard.ReaderState, timeout time.Duration) error
	Cancel() error
	Release() error
	Connect(reader string) (scardCard, error)
}

// scardCard is the part of a PC/SC card handle this package uses.
type scardCard interface {
	BeginTransaction() error
	EndTransaction(scard.Disposition) error
	Transmit(cmd []byte) ([]byte, error)
	Status() (*scard.CardStatus, error)
	Disconnect(scard.Disposition) error
}

// establishFunc opens a PC/SC context.
type establishFunc func() (scardContext, error)

// establishPCSC opens a context with pcscd through libpcsclite.
func establishPCSC() (scardContext, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, scardError("establish context", err)
	}
	return realContext{c}, nil
}

type realContext struct{ *scard.Context }

func (c realContext) Connect(reader string) (scardCard, error) {
	card, err := c.Context.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, err
	}
	return card, nil
}

// infinite is the GetStatusChange timeout that never expires.
const infinite time.Duration = -1

// cancelRetry is how often a cancelled wait repeats SCardCancel: pcsc-lite
// only interrupts a call that is already waiting, so a Cancel that lands just
// before the call starts would be lost.
const cancelRetry = 20 * time.Millisecond

// getStatusChange waits without a timeout for a change of the given reader
// states and returns ctx.Err() as soon as ctx is done (it calls SCardCancel
// then, and repeats it until the call has returned). Nothing polls while ctx
// is live.
func getStatusChange(ctx context.Context, sc scardContext, states []scard.ReaderState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	returned := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTicker(cancelRetry)
		defer t.Stop()
		for {
			_ = sc.Cancel()
			select {
			case <-returned:
				return
			case <-t.C:
			}
		}
	})
	err := sc.GetStatusChange(states, infinite)
	close(returned)
	stop()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}
