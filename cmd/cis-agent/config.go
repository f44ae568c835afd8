package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/opencis/cisauth/internal/agent"
	"github.com/opencis/cisauth/internal/regfile"
)

// cmdConfig: config import FILE.reg, config show.
func cmdConfig(_ context.Context, args []string, s stdio) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: config import FILE.reg | config show", errUsage)
	}
	switch args[0] {
	case "import":
		return configImport(args[1:], s)
	case "show":
		fs := flag.NewFlagSet("cis-agent config show", flag.ContinueOnError)
		sf := newSettingsFlags(fs)
		if pos, err := parse(fs, args[1:], s.stderr); err != nil || len(pos) != 0 {
			return errors.Join(err, fmt.Errorf("%w: config show takes flags only", errUsage))
		}
		settings, err := sf.settings(s.getenv)
		if err != nil {
			return err
		}
		if _, err := settings.Build(nil); err != nil {
			return err
		}
		b, err := settings.YAML()
		if err != nil {
			return err
		}
		_, err = s.stdout.Write(b)
		return err
	}
	return fmt.Errorf("%w: unknown config command %q", errUsage, args[0])
}

// configImport turns an Identity Agent registry file into a configuration,
// on standard output or in a new file.
func configImport(args []string, s stdio) error {
	fs := flag.NewFlagSet("cis-agent config import", flag.ContinueOnError)
	out := fs.String("out", "", "write the configuration to this new `file` (default: standard output)")
	ssb := fs.String("ssb-url", "", "SSB base `URL`, when the file names none and its GAS is not a known environment's")
	ca := fs.String("ca", "", "PEM `file` of the TLS trust anchors of an environment that is not a preset")
	pos, err := parse(fs, args, s.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: config import takes one .reg file", errUsage)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, regfile.MaxSize+1))
	if err != nil {
		return err
	}
	im, err := agent.ImportRegistry(data, agent.ImportOptions{SSBURL: *ssb, TrustAnchors: *ca})
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	y, err := im.YAML(pos[0])
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = s.stdout.Write(y)
		return err
	}
	w, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("%w (the import does not overwrite a file)", err)
	}
	if _, err := w.Write(y); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
