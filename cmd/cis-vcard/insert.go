package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencis/cisauth/pcsc/vcard"
)

// insertTimeout bounds the connect to vpcd and its first ATR request.
const insertTimeout = 10 * time.Second

func insert(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("cis-vcard insert", flag.ContinueOnError)
	addr := fs.String("vpcd", "127.0.0.1:35963", "vpcd reader address `host:port` (35963 is reader \"Virtual PCD 00 00\")")
	pullAfter := fs.Duration("pull-after", 0, "pull the card after this `duration` (0: keep it until SIGINT/SIGTERM)")
	verbose := fs.Bool("verbose", false, "log every APDU (instruction and status word only)")
	pos, err := parseInterspersed(fs, args, e.stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: insert takes one card file", errUsage)
	}
	if *pullAfter < 0 {
		return fmt.Errorf("%w: --pull-after must not be negative", errUsage)
	}
	cf, err := vcard.Load(pos[0])
	if err != nil {
		return err
	}
	cfg := cf.Config()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	card, err := vcard.New(cfg)
	clear(cf.PIN)
	if err != nil {
		return err
	}

	ictx, cancel := context.WithTimeout(ctx, insertTimeout)
	in, err := card.Insert(ictx, *addr)
	cancel()
	if err != nil {
		return fmt.Errorf("%w (is pcscd running with the vpcd reader, and is no other card in it?)", err)
	}
	fmt.Fprintf(e.stderr, "inserted card %s into vpcd %s; SIGINT or SIGTERM pulls it\n", cf.UID, *addr)

	var timer <-chan time.Time
	if *pullAfter > 0 {
		t := time.NewTimer(*pullAfter)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-timer:
	case <-in.Done():
		return fmt.Errorf("card out of the reader: %w", in.Wait())
	}
	if err := in.Pull(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "pulled card %s\n", cf.UID)
	return nil
}
