//go:build linux || darwin || freebsd || netbsd || openbsd

package pinread

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readNoEcho turns the terminal's echo off, then writes prompt and reads a
// line: echo is off before the prompt shows, so a PIN typed ahead of it is
// not shown either (reading with golang.org/x/term after the prompt leaves
// that gap open). The terminal's settings are restored afterwards.
func readNoEcho(f *os.File, out io.Writer, prompt string) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
	if err != nil {
		return nil, fmt.Errorf("read PIN: %w", err)
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG | unix.ECHONL
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlSetTermios, &t); err != nil {
		return nil, fmt.Errorf("read PIN: %w", err)
	}
	defer unix.IoctlSetTermios(fd, ioctlSetTermios, old) //nolint:errcheck // best effort, as x/term does
	fmt.Fprint(out, prompt)
	return readLine(f)
}

// readLine reads up to a line end, MaxSize bytes at most, one byte at a
// time (nothing after the line is taken from the terminal).
func readLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, MaxSize)
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			switch b[0] {
			case '\n':
				return buf, nil
			case '\r':
				continue
			}
			if len(buf) == MaxSize {
				clear(buf)
				return nil, fmt.Errorf("read PIN: more than %d bytes", MaxSize)
			}
			buf = append(buf, b[0])
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return buf, nil
			}
			clear(buf)
			return nil, fmt.Errorf("read PIN: %w", err)
		}
	}
}
