# Chorus: build, run and test. `make run` starts everything on one machine (embedded broker and
# Redis, the local Postgres); `make test` is what CI runs (.ci/run starts Postgres and Redis first).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# Go lives in /usr/local/go/bin on our machines, which is not always on PATH.
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := $(PATH):/usr/local/go/bin
endif

GO ?= go
# Arguments for `make run`, e.g. make run ARGS='--roles gateway'.
ARGS ?=
# How long each benchmark runs in `make bench` (go test's -benchtime).
BENCHTIME ?= 1x
BENCH_ARGS ?=
# How long `make fuzz` fuzzes each fuzz target, and `make test` after the tests (go test's
# -fuzztime; .ci/fuzz.sh finds the targets, docs/operations.md#fuzzing says more).
FUZZTIME ?= 2m
FUZZTIME_TEST ?= 2s

.PHONY: build run test chaos fuzz bench bench-compare bench-peer bench-cluster bench-replay bench-rebuild bench-micro fmt vet lint clean

build:
	$(GO) build -o bin/chorus ./cmd/chorus
	$(if $(wildcard cmd/chorusctl/*.go),$(GO) build -o bin/chorusctl ./cmd/chorusctl)

run: build
	./bin/chorus $(ARGS)

# Starts nothing: Postgres (127.0.0.1:5432) and Redis (127.0.0.1:6379) must be running; the
# Kafka side runs on the embedded broker, and the end-to-end tests build the binary themselves.
# Then every fuzz target is fuzzed for FUZZTIME_TEST (its seed corpus already ran with the tests).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 14m ./...
	GO=$(GO) .ci/fuzz.sh $(FUZZTIME_TEST)

# Fuzzes every fuzz target for FUZZTIME, one after another (15 targets: about half an hour at
# 2m). A failing input lands in the target's testdata/fuzz/; commit it with the fix.
fuzz:
	GO=$(GO) .ci/fuzz.sh $(FUZZTIME)

# The fault suite (cmd/chorus/chaos_test.go) for longer: CHAOS_ROUNDS rounds of every fault
# (kill -9 of each role and of the broker, Postgres out for 10-30 s, Redis restarted, a command
# processor frozen, the broker's disk full, a gateway cut off), in random order at random moments,
# under 8 writers, on the multi-process deployment and the all-in-one server; the tables go to
# CHAOS_REPORT. `make test` runs one round. CHAOS_FAULTS=broker keeps the faults whose name has it.
CHAOS_ROUNDS ?= 5
CHAOS_REPORT ?= chaos-report.md
CHAOS_FAULTS ?=
chaos:
	@rm -f $(CHAOS_REPORT)
	CHORUS_CHAOS_ROUNDS=$(CHAOS_ROUNDS) CHORUS_CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) CHORUS_CHAOS_FAULTS='$(CHAOS_FAULTS)' \
		$(GO) test -count=1 -timeout 80m -run '^TestChaos' -v ./cmd/chorus/ | grep --line-buffered -E 'chaos|^\s+\||^--- |^(ok|FAIL)'
	@echo "chaos: the tables are in $(CHAOS_REPORT)"

# cmd/chorus-bench starts bin/chorus itself, hence the build; BENCH_ARGS go to it
# (see `go run ./cmd/chorus-bench --help`).
bench: build
	@if [ -d cmd/chorus-bench ]; then \
		$(GO) run ./cmd/chorus-bench $(BENCH_ARGS); \
	else \
		out=$$(mktemp); \
		$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./... | tee "$$out"; \
		if ! grep -q '^Benchmark' "$$out"; then echo "bench: no benchmarks found (and no cmd/chorus-bench)"; fi; \
		rm -f "$$out"; \
	fi
	$(GO) run ./cmd/chorus-bench --idle 2000 $(IDLE_BENCH_ARGS) # what an idle socket costs the server: 2,000 quiet sockets, without and with compression offered (about 5 minutes)
	$(GO) run ./cmd/chorus-search-bench $(SEARCH_BENCH_ARGS) # message search over 1M messages (a few minutes)
	$(GO) run ./cmd/chorus-recovery-bench $(RECOVERY_BENCH_ARGS) # partition takeover over 1M events, with and without a snapshot (a few minutes)
	$(GO) run ./cmd/chorus-directory-bench $(DIRECTORY_BENCH_ARGS) # the organization directory: 50,000 members in 2,000 departments (a minute or two)
	$(GO) run ./cmd/chorus-org-bench $(ORG_BENCH_ARGS) # moving a department of 5,000 members with its rooms; snapshot and takeover of a 50,000-member organization (a few minutes)
	$(GO) run ./cmd/chorus-onlinetime-bench $(ONLINETIME_BENCH_ARGS) # the online-time report of a 5,000-member department over 30 days (450,000 sessions), from the daily totals against the sessions (a few minutes)
	$(MAKE) --no-print-directory bench-replay
	$(MAKE) --no-print-directory bench-rebuild
	$(MAKE) --no-print-directory bench-micro

# Chorus against a real peer (issue 12): the same load generator (cmd/chorus-bench --peer) on
# the all-in-one Chorus with its embedded Redis, again on the Redis at CENTRIFUGO_REDIS, then on
# Centrifugo with its memory engine and with its Redis engine (that same Redis; every run's keys
# under a prefix of its own, removed after), printing the ratios and the deliveries lost (Chorus's
# clients reconnect and resume when a socket is cut). Centrifugo is installed with go install into
# bin/peer on first use (needs the module proxy once). Not part of `make test` nor `make bench`;
# about 4 minutes.
# Before and after: the working tree's build (B) against the one of BASE, a git revision (A),
# run A B B A, ROUNDS times (cmd/chorus-bench --against); e.g. make bench-compare BASE=main~3.
ROUNDS ?= 2
bench-compare: build
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<git revision> [ROUNDS=2] [BENCH_ARGS=...]"; exit 2; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		git archive "$(BASE)" | tar -x -C "$$tmp" && \
		(cd "$$tmp" && $(GO) build -o "$(abspath bin/chorus-base)" ./cmd/chorus) && \
		echo "bench-compare: A = $(BASE) (bin/chorus-base), B = the working tree (bin/chorus)"
	$(GO) run ./cmd/chorus-bench --binary bin/chorus-base --against bin/chorus --rounds $(ROUNDS) $(BENCH_ARGS)

CENTRIFUGO_VERSION ?= v6.9.1
CENTRIFUGO_REDIS ?= 127.0.0.1:6379
PEER_BENCH_ARGS ?=
bench-peer: build
	@if ! $(GO) version -m bin/peer/centrifugo 2>/dev/null | grep -qE "mod\s+github.com/centrifugal/centrifugo/v6\s+$(CENTRIFUGO_VERSION)\s"; then \
		echo "bench-peer: installing centrifugo $(CENTRIFUGO_VERSION) into bin/peer"; \
		GOBIN=$(abspath bin/peer) $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION); \
	fi
	$(GO) run ./cmd/chorus-bench --peer --centrifugo bin/peer/centrifugo --centrifugo-redis '$(CENTRIFUGO_REDIS)' $(PEER_BENCH_ARGS)

# The multi-process deployment under the same load generator (cmd/chorus-bench --cluster,
# docs/benchmarks.md): a standalone broker, 2 command processors, one projectors process per
# projection group (push, readmodel, search, notifications, the organization ones), 4 gateways,
# the Redis at CLUSTER_REDIS (keys under a prefix of the run's own, removed after) and a fresh
# database. 12 rooms x 10 members, room r's sockets on gateway r*4/12 (each gateway a quarter of
# the rooms); gateways idle, 1,000 msg/s for 20 s, saturation for 10 s, then one room of 20
# members sending as fast as they can. Prints CPU per accepted message and RSS per role, and per
# gateway the pushes it read against those its sockets needed. Not part of `make test` nor
# `make bench`; about 2 minutes.
CLUSTER_REDIS ?= redis://127.0.0.1:6379
CLUSTER_BENCH_ARGS ?=
bench-cluster: build
	$(GO) run ./cmd/chorus-bench --cluster --cluster-redis '$(CLUSTER_REDIS)' --rooms 12 --members 10 $(CLUSTER_BENCH_ARGS)

# The Go benchmarks of the hot paths that need no server: deciding a command, a partition
# snapshot's encoding and decoding, event decoding. Compare two builds with benchstat (several
# -count runs of each, interleaved): docs/benchmarks.md shows how.
MICRO_COUNT ?= 1
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -count $(MICRO_COUNT) ./commands/ ./domain/ ./adapters/kafka/ ./projections/

# chorusctl events replay against kcat -C -e, on one log of REPLAY_EVENTS events in a
# `chorus broker` of its own (kcat: Debian package kcat; skipped with a note when missing).
REPLAY_EVENTS ?= 100000
bench-replay: build
	@dir=$$(mktemp -d); port=19192; \
	CHORUS_DATA_DIR=$$dir ./bin/chorus broker --addr 127.0.0.1:$$port >$$dir/broker.log 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf '"$$dir" EXIT; \
	for i in $$(seq 1 50); do (echo >/dev/tcp/127.0.0.1/$$port) 2>/dev/null && break; sleep 0.2; done; \
	echo "replay: $(REPLAY_EVENTS) events, 12 partitions, transactions of 50 (as the command processor writes them)"; \
	CHORUS_REPLAY_BENCH=$(REPLAY_EVENTS) CHORUS_REPLAY_BENCH_BROKERS=127.0.0.1:$$port \
		$(GO) test -count=1 -run TestReplayThroughput -v ./cmd/chorusctl/ | grep -E 'seeded|round|stats'; \
	if command -v kcat >/dev/null; then \
		for round in 1 2 3; do \
			start=$$(date +%s.%N); \
			kcat -C -b 127.0.0.1:$$port -t chat-events -e -q -X isolation.level=read_committed >$$dir/kcat.out; \
			end=$$(date +%s.%N); \
			awk -v s=$$start -v e=$$end -v n=$$(wc -l <$$dir/kcat.out) 'BEGIN { printf "kcat -C -e round %d: %d records in %.3fs: %.0f records/s\n", '"$$round"', n, e-s, n/(e-s) }'; \
		done; \
	else echo "kcat not installed (apt-get install kcat): no comparison"; fi

# chorusctl projections rebuild readmodel against a raw COPY of the rows it ends with, on a
# made-up chat's history of REBUILD_EVENTS events (embedded broker, a database of its own on the
# local Postgres). Only the test's own lines are kept: its figures, or why it failed.
REBUILD_EVENTS ?= 200000
bench-rebuild:
	@CHORUS_REBUILD_BENCH=$(REBUILD_EVENTS) $(GO) test -count=1 -timeout 30m -run TestRebuildThroughput -v ./cmd/chorusctl/ \
		| grep -E 'rebuild_bench_test\.go:|^--- FAIL'

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet ./...

# go vet and golangci-lint with the checked-in .golangci.yml (errcheck, staticcheck, revive,
# gocritic, bodyclose, sqlclosecheck, ...; docs/dependencies.md says why each). The pinned version
# is installed with go install on first use, so lint needs the module proxy once; .ci/run runs it
# before the tests.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(shell $(GO) env GOPATH)/bin/golangci-lint
lint: vet
	@if ! "$(GOLANGCI_LINT)" version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
		echo "lint: installing golangci-lint $(GOLANGCI_LINT_VERSION)"; \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi
	$(GOLANGCI_LINT) run ./...

# Leaves ./data (the embedded broker's log) alone: it is state, not a build product.
clean:
	rm -rf bin
