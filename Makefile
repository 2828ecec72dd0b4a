# Frostline. `make help` lists the targets.
GO      ?= go
BIN     := bin
PKGS    := ./...
TESTFLAGS ?=
FUZZTIME ?= 20s

.PHONY: help build test test-short e2e chaos bench loadtest demo lint fmtcheck vet tidy fuzz clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

build: ## build the three binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN)/ ./cmd/...

test: ## the whole suite, with the race detector
	$(GO) test -race -count=1 -timeout 12m $(TESTFLAGS) $(PKGS)

test-short: ## unit tests only (no servers)
	$(GO) test -short -count=1 $(PKGS)

e2e: ## the end-to-end test alone: the binaries on real servers (part of test)
	$(GO) test -race -count=1 -timeout 8m -v ./deploy/e2e

CHAOS_SEED     ?= 1
CHAOS_SPEED    ?= 60
CHAOS_STORES   ?= 10
CHAOS_DURATION ?= 15m
chaos: ## the chaos drill, long: CHAOS_STORES stores under faults for CHAOS_DURATION at CHAOS_SPEED, seeded by CHAOS_SEED (short form in test)
	FROSTLINE_CHAOS_SEED=$(CHAOS_SEED) FROSTLINE_CHAOS_SPEED=$(CHAOS_SPEED) FROSTLINE_CHAOS_STORES=$(CHAOS_STORES) \
	FROSTLINE_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -race -p 1 -count=1 -timeout 90m -v -run '^TestChaos$$' ./deploy/e2e

bench: ## benchmarks (figures go to docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(PKGS)

STORES ?= 1000
DURATION ?= 3m
PER_DAY ?= 5
OUTAGE_FOR ?= 6h
loadtest: ## fleet load test on real servers (STORES, DURATION, PER_DAY, OUTAGE_FOR; figures in docs/benchmarks.md)
	FROSTLINE_LOAD_STORES=$(STORES) FROSTLINE_LOAD_DURATION=$(DURATION) FROSTLINE_LOAD_PER_DAY=$(PER_DAY) \
	FROSTLINE_LOAD_OUTAGE_FOR=$(OUTAGE_FOR) $(GO) test -count=1 -timeout 60m -run '^TestLoad$$' -v ./deploy/e2e

demo: ## the main job on embedded defaults
	$(GO) run ./cmd/frostline demo

lint: fmtcheck vet ## gofmt and go vet

fmtcheck: ## fail when gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet $(PKGS)

tidy: ## fail when go.mod or go.sum drift from the code
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s || exit 1; \
	  done; \
	done

clean: ## remove build output
	rm -rf $(BIN)
