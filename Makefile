# camnode — the two commands of the README are `make demo` and `make test`.
# Each installs what it needs first (scripts/deps.sh), so both work on a fresh Debian/Ubuntu.

SHELL := /bin/bash
GODIR  = $(shell scripts/deps.sh $(1) | tail -n1)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: demo test build deps lint bench fuzz clean

## demo: build camnode and run `camnode demo` (embedded broker + ingest + test source);
## installs mosquitto-clients for the lines it prints (and fonts-noto-cjk if CAMNODE_DANMAKU has burn)
demo:
	@gobin="$(call GODIR,demo)"; export PATH="$$gobin:$$PATH"; \
	go build -ldflags '$(LDFLAGS)' -o bin/camnode ./cmd/camnode && ./bin/camnode demo

## test: install the real peers, then vet, format check and every test with -race
test:
	@gobin="$(call GODIR,all)"; export PATH="$$gobin:/usr/sbin:/sbin:$$PATH"; \
	set -e; \
	echo "go: $$(go version)"; \
	unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi; \
	go vet ./...; \
	rm -rf bench/out/secrets; mkdir -p bench/out/secrets; \
	PEERS_REQUIRED=1 SECRETS_SWEEP_DIR=$$(pwd)/bench/out/secrets go test -race -count=1 -timeout 20m ./...; \
	for check in scripts/ci/*.sh; do [ -e "$$check" ] || continue; echo "== $$check"; bash "$$check"; done

## build: the camnode binary in bin/
build:
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; \
	go build -ldflags '$(LDFLAGS)' -o bin/camnode ./cmd/camnode

deps:
	@scripts/deps.sh all >/dev/null

## bench: per-frame benchmarks and the bench/ scripts against the real peers
bench:
	@gobin="$(call GODIR,all)"; export PATH="$$gobin:/usr/sbin:/sbin:$$PATH"; \
	bench/run.sh

## fuzz: run every fuzz target for FUZZTIME each (default 60s), corpus under testdata/fuzz
FUZZTIME ?= 60s
fuzz:
	@gobin="$(call GODIR,go)"; export PATH="$$gobin:$$PATH"; \
	for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; go test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin

# Targets of their own (cross builds, release, VM tests) live in mk/*.mk.
-include mk/*.mk
