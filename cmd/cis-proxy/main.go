// Command cis-proxy puts CIS smartcard logins in front of a web application
// written in any language: a reverse proxy that keeps the CIS session (the
// middleware's, package middleware), guards paths by the selected role's
// activity codes, job role and organisation, and tells the application who
// is logged in and in which role in X-CIS-* headers. With a signing key and
// service providers' metadata it is also a SAML 2.0 identity provider for
// applications that speak SAML.
//
//	cis-proxy --env NAME|FILE --upstream URL [--config FILE] [--listen 127.0.0.1:8090]
//	          [--external-url URL] [--tls-cert PEM --tls-key PEM] [--upstream-ca PEM]
//	          [--revalidate 60s] [--redis URL [--redis-prefix cis-proxy:]] [--cookie-keys FILE]
//	          [--agent-url http://127.0.0.1:7444|none] [--notify=true] [--sso-logout]
//	          [--trusted-origin ORIGIN]... [--cis2 auto|off] [--title NAME]
//	          [--idp-key PEM --idp-cert PEM --sp-metadata FILE...]
//	          [--metrics-listen 127.0.0.1:9464|off] [--log-level info]
//
// SIGHUP reloads --config (rules and SAML service providers) without
// dropping connections; a file that does not load keeps the running
// configuration, and the log says why. SIGINT and SIGTERM stop it
// gracefully. See docs/cis-proxy.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stderr, hup, nil)
	stop()
	os.Exit(code)
}
