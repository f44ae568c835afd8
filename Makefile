# Two commands do all set-up on a fresh Debian machine:
#   make demo   installs what is missing and starts the embedded demo
#   make test   installs what is missing, brings up the real parts, runs every test
SHELL := /bin/bash
GO ?= go
STACK_DIR ?= $(CURDIR)/.stack
# Debian packages the build, the demo and the tests need (see README).
DEB_PACKAGES := pcscd libpcsclite-dev vsmartcard-vpcd softhsm2 opensc opensc-pkcs11 pcsc-tools xmlsec1 wrk openssl curl pkg-config redis-server chromium
GOTEST_FLAGS ?=

.PHONY: all build deps test test-unit vet demo stack-up stack-down bench bench-proxy fuzz clean

all: build

deps:
	@scripts/deps.sh $(DEB_PACKAGES)

build: deps
	$(GO) build ./...

vet: deps
	$(GO) vet ./...

# make test: go vet, then every test with -race against the real card stack.
test: deps
	@scripts/test.sh $(GOTEST_FLAGS)

# Only the tests that need no outside parts (they skip the real-stack ones).
test-unit:
	$(GO) test -race ./...

stack-up: deps
	@scripts/cardstack.sh up "$(STACK_DIR)"

stack-down:
	@scripts/cardstack.sh down "$(STACK_DIR)"

demo: deps
	@scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# cis-proxy under wrk against the bare peer and the upstream alone, in one run
# (docs/benchmarks.md#cis-proxy). BENCH_PROXY_ARGS: DURATION ROUNDS CONNECTIONS.
bench-proxy: deps
	@scripts/proxy-bench.sh $(BENCH_PROXY_ARGS)

clean:
	rm -rf "$(STACK_DIR)" bin
