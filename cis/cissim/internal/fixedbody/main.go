// Command fixedbody is the baseline of the cis-sim load test
// (scripts/sim-load.sh): a bare net/http TLS server that answers every
// request with the same body, read from a file, using the same kind of
// certificate (ECDSA P-256) and server timeouts as cis-sim. It prints its
// address on stdout once listening.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/opencis/cisauth/cis/cissim"
)

func main() {
	fs := flag.NewFlagSet("fixedbody", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	bodyFile := fs.String("body", "", "file whose contents every answer carries")
	ctype := fs.String("content-type", "text/xml; charset=utf-8", "Content-Type of the answers")
	fs.Parse(os.Args[1:])
	if err := run(*addr, *bodyFile, *ctype); err != nil {
		fmt.Fprintln(os.Stderr, "fixedbody:", err)
		os.Exit(1)
	}
}

func run(addr, bodyFile, ctype string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	ca, caKey, err := cissim.NewCA(pkix.Name{CommonName: "fixedbody CA"}, nil, time.Now())
	if err != nil {
		return err
	}
	cert, err := cissim.IssueServerCert(ca, caKey, []string{"127.0.0.1", "localhost"}, time.Now(), nil)
	if err != nil {
		return err
	}
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{ctype}
			h["Content-Length"] = []string{length}
			w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // wrk's closing handshakes
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); err != http.ErrServerClosed {
		return err
	}
	return nil
}
