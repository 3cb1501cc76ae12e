# TinyKV Lab.
#
#   make              build the servers, tinykv-ctl and the launcher into bin/
#   make run          run a local cluster: a scheduler and STORES servers (default 3)
#   make test         run every test (the command CI runs)
#   make project1     run the tests of one stage (see README.md for the list)
#   make proto        regenerate proto/pkg from proto/proto
#   make proto-check  fail when the committed proto/pkg is not what proto/proto generates
#   make fmt          gofmt -s every Go file
#   make lint         check formatting (gofmt -s) and go vet

SHELL := /bin/bash
GO ?= go

# Cluster tests of the later stages take minutes each; the bound is for a
# hung test, not a slow one.
TEST_TIMEOUT ?= 60m

# Go files of the module, without test fixtures (testdata/) and the cut
# handout (dist/), which is a module of its own.
GO_FILES = $(shell find . -name '*.go' -not -path './.git/*' -not -path './dist/*' -not -path '*/testdata/*')

.DEFAULT_GOAL := build
.PHONY: build kv ctl launcher scheduler run test proto proto-check fmt lint clean

build: kv ctl launcher scheduler

kv:
	$(GO) build -o bin/tinykv-server ./kv

ctl:
	$(GO) build -o bin/tinykv-ctl ./kv/ctl

launcher:
	$(GO) build -o bin/tinykv-cluster ./kv/cluster

# STORES sets the number of servers; CLUSTER_DATA where data and logs live.
STORES ?= 3
CLUSTER_DATA ?= ./data/cluster
run: build
	bin/tinykv-cluster -stores $(STORES) -data $(CLUSTER_DATA) -bin bin

# tinyscheduler-server: the scheduler (project 3C) on embedded etcd.
scheduler:
	$(GO) build -o bin/tinyscheduler-server ./scheduler

test:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

proto:
	proto/generate_go.sh

proto-check:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	proto/generate_go.sh "$$tmp" || exit 1; \
	if ! diff -ru proto/pkg "$$tmp"; then \
		echo "proto-check: proto/pkg differs from what proto/proto generates (- committed, + generated); run 'make proto' and commit" >&2; \
		exit 1; \
	fi; \
	echo "proto-check: proto/pkg is up to date"

fmt:
	gofmt -s -w $(GO_FILES)

lint:
	@unformatted=$$(gofmt -s -l $(GO_FILES)); \
	if [ -n "$$unformatted" ]; then \
		echo "lint: these files need 'gofmt -s' (run make fmt):" >&2; \
		echo "$$unformatted" >&2; \
		exit 1; \
	fi
	$(GO) vet ./...

clean:
	rm -f bin/tinykv-server bin/tinyscheduler-server bin/tinykv-ctl bin/tinykv-cluster

# Stage targets (make project1 ... make project4c) and the staff targets
# (make handout, make handout-check) come from course/course.mk, which runs
# the grader. Without it, project1 runs the stage 1 tests directly.
-include course/course.mk
ifeq ($(wildcard course/course.mk),)
.PHONY: project1
project1:
	$(GO) test -count=1 -run '1$$' ./kv/server
endif

# Benchmarks: not part of `make test`; each prints one summary line.
.PHONY: bench-raft bench-raftstore bench-snapshot bench-scheduler bench-cluster fuzz-raft

bench-raft:
	$(GO) test ./raft -run '^$$' -bench '^BenchmarkRaft3Nodes$$' -benchtime 3s

# CLIENTS sets the number of writing clients (default 16).
CLIENTS ?= 16
bench-raftstore:
	TINYKV_BENCH_CLIENTS=$(CLIENTS) $(GO) test ./kv/test_raftstore -run '^$$' -bench '^BenchmarkRaftstorePut$$' -benchtime 1x -timeout 10m

# A 3-server cluster of real processes; 16 client goroutines put, then get.
bench-cluster:
	$(GO) test ./kv/e2e -run '^$$' -bench '^BenchmarkClusterRawPutGet$$' -benchtime 1x -timeout 10m

# SNAP_MIB sets the size of the snapshot (default 256).
SNAP_MIB ?= 256
bench-snapshot:
	$(GO) test ./kv/storage/raft_storage -run '^$$' -bench '^BenchmarkSnapshotTransfer$$' -benchtime 1x -timeout 20m -args -snap-mib $(SNAP_MIB)

# The scheduler: heartbeats through its model in-process (no gRPC, no
# etcd), then the real binary over gRPC: region heartbeats of 10,000
# regions on 5 stores and timestamps over one batched stream, each line with
# the scheduler's RSS.
bench-scheduler: scheduler
	$(GO) test ./scheduler/server/schedule -run '^$$' -bench '^BenchmarkRegionHeartbeat$$' -benchtime 200000x
	$(GO) test ./scheduler -run '^$$' -bench '^BenchmarkScheduler' -benchtime 1x -timeout 10m

# FUZZ_TIME sets how long the raft safety fuzzer runs (default 5m).
FUZZ_TIME ?= 5m
fuzz-raft:
	$(GO) test ./raft -run '^$$' -fuzz '^FuzzClusterSafety3A$$' -fuzztime $(FUZZ_TIME) -fuzzminimizetime 1s
