// Package pinread reads a PIN handed to a command without putting it on
// the command line or in the environment: the first line of a file or
// descriptor, or a prompt on the terminal without echo. The bytes it
// returns are the caller's to clear; its own buffers are cleared.
package pinread

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// MaxSize caps what is read for a PIN.
const MaxSize = 256

// FirstLine returns the first line of r (without its line end), reading
// at most MaxSize bytes; name says what r is in errors. It also serves
// other secrets handed over the same way (a ticket on a descriptor).
func FirstLine(r io.Reader, name string) ([]byte, error) {
	buf := make([]byte, MaxSize+1)
	defer clear(buf)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if n > MaxSize {
		return nil, fmt.Errorf("%s holds more than %d bytes", name, MaxSize)
	}
	sc := bufio.NewScanner(bytes.NewReader(buf[:n]))
	if !sc.Scan() {
		return nil, fmt.Errorf("%s is empty", name)
	}
	pin := bytes.Clone(bytes.TrimRight(sc.Bytes(), "\r"))
	return pin, nil
}

// Prompt writes prompt to out and reads a line from the terminal f
// without echo: echo is off before the prompt shows, so nothing typed
// ahead of it is shown either. f must be a terminal.
func Prompt(f *os.File, out io.Writer, prompt string) ([]byte, error) {
	if !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("not a terminal")
	}
	pin, err := readNoEcho(f, out, prompt)
	fmt.Fprintln(out)
	return pin, err
}
