package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opencis/cisauth/internal/logtest"
)

// openPTY opens a pseudo-terminal: the test types into master, the agent's
// terminal face reads slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("pseudo-terminal: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// screen collects what the terminal shows.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func newScreen(f *os.File) *screen {
	s := &screen{ch: make(chan struct{}, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			select {
			case s.ch <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitFor waits until the screen shows text, and returns all of it.
func (s *screen) waitFor(t *testing.T, text string) string {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		s.mu.Lock()
		all := s.buf.String()
		s.mu.Unlock()
		if strings.Contains(all, text) {
			return all
		}
		select {
		case <-s.ch:
		case <-timeout:
			t.Fatalf("the terminal never showed %q; it shows:\n%s", text, all)
		}
	}
}

// TestTerminalPINWithoutEcho: on a real (pseudo-)terminal the PIN is read
// without echo; the final try needs "yes"; roles are chosen by number.
func TestTerminalPINWithoutEcho(t *testing.T) {
	h := newHarness(t)
	master, slave := openPTY(t)
	scr := newScreen(master)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Terminal{In: slave, Out: slave}).Run(ctx, h.a) }()
	t.Cleanup(func() {
		cancel()
		// The terminal may be waiting on a read: a line frees it.
		master.Write([]byte("\n"))
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Terminal.Run = %v", err)
		}
	})

	card := newFakeCard(t, h.srv, uidBob, 0)
	card.tries = 1
	h.readers.insert(readerA, card)
	scr.waitFor(t, "Type yes to use the final try: ")
	master.Write([]byte("yes\n"))
	scr.waitFor(t, "PIN: ")
	master.Write([]byte(testPIN + "\n"))
	all := scr.waitFor(t, "Role number: ")
	if strings.Contains(all, testPIN) {
		t.Fatalf("the PIN was echoed:\n%s", all)
	}
	if !strings.Contains(all, "Final try: a wrong PIN locks the card") || !strings.Contains(all, "4. Health Professional Access Role at RKF") {
		t.Errorf("screen:\n%s", all)
	}
	master.Write([]byte("4\n"))
	if ev := h.event(EventRoleSelected); ev.RoleID != "555000000204" {
		t.Errorf("role %+v", ev)
	}
	scr.waitFor(t, "Logged in as Smith Bob Mr: Health Professional Access Role at RKF")
}

// TestTerminalDeclinesFinalTry: anything but "yes" on the final try sends
// no PIN.
func TestTerminalDeclinesFinalTry(t *testing.T) {
	h := newHarness(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var out logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&Terminal{In: r, Out: &out}).Run(ctx, h.a)
	card := newFakeCard(t, h.srv, uidAlice, 0)
	card.tries = 1
	h.readers.insert(readerA, card)
	w.Write([]byte("no\n"))
	h.message(func(m string) bool { return m == "Login cancelled" })
	if pins, _ := card.counts(); pins != 0 {
		t.Errorf("%d PINs sent after declining the final try", pins)
	}
}
