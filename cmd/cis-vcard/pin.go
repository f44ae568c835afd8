package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/opencis/cisauth/internal/pinread"
)

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
	pin, err := pinread.Prompt(f, e.stderr, "PIN for the new card: ")
	if err != nil {
		return nil, err
	}
	again, err := pinread.Prompt(f, e.stderr, "again: ")
	defer clear(again)
	if err != nil {
		clear(pin)
		return nil, err
	}
	if !bytes.Equal(pin, again) {
		clear(pin)
		return nil, errors.New("the two PINs differ")
	}
	return pin, nil
}

// readPINFrom takes the first line of r.
func readPINFrom(r io.Reader, name string) ([]byte, error) { return pinread.FirstLine(r, name) }
