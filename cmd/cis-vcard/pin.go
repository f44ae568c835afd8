package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// maxPINFile caps what is read from a PIN file.
const maxPINFile = 256

// readPIN returns the PIN from --pin, else --pin-file ("-" is stdin), else a
// prompt without echo on the terminal. The caller clears the result.
func readPIN(flagPIN, pinFile string, e env) ([]byte, error) {
	switch {
	case flagPIN != "" && pinFile != "":
		return nil, fmt.Errorf("%w: give --pin or --pin-file, not both", errUsage)
	case flagPIN != "":
		return []byte(flagPIN), nil
	case pinFile == "-":
		return readPINFrom(e.stdin, "standard input")
	case pinFile != "":
		f, err := os.Open(pinFile)
		if err != nil {
			return nil, fmt.Errorf("PIN file: %w", err)
		}
		defer f.Close()
		return readPINFrom(f, pinFile)
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("%w: no PIN: give --pin-file FILE (or - for standard input), or run on a terminal to be asked", errUsage)
	}
	fmt.Fprint(e.stderr, "PIN for the new card: ")
	pin, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("read PIN: %w", err)
	}
	fmt.Fprint(e.stderr, "again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	defer clear(again)
	if err != nil {
		clear(pin)
		return nil, fmt.Errorf("read PIN: %w", err)
	}
	if !bytes.Equal(pin, again) {
		clear(pin)
		return nil, errors.New("the two PINs differ")
	}
	return pin, nil
}

// readPINFrom takes the first line of r.
func readPINFrom(r io.Reader, name string) ([]byte, error) {
	buf := make([]byte, maxPINFile+1)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(buf)
		return nil, fmt.Errorf("read PIN from %s: %w", name, err)
	}
	if n > maxPINFile {
		clear(buf)
		return nil, fmt.Errorf("PIN file %s is larger than %d bytes", name, maxPINFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(buf[:n]))
	var pin []byte
	if sc.Scan() {
		pin = append([]byte(nil), bytes.TrimRight(sc.Bytes(), "\r")...)
	}
	clear(buf)
	return pin, nil
}
