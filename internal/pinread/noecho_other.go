//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package pinread

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// readNoEcho writes prompt and reads a line without echo.
func readNoEcho(f *os.File, out io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(out, prompt)
	pin, err := term.ReadPassword(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("read PIN: %w", err)
	}
	return pin, nil
}
