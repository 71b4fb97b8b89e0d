# agora: the targets a developer and CI use. `make test` is what CI runs.
GO ?= go

.PHONY: build test lint bench load run cluster

build:
	$(GO) build -o bin/agora ./cmd/agora

# The whole suite: vet, then every test with the race detector, with the
# services it needs started by scripts/test.sh.
test:
	bash scripts/test.sh

lint:
	gofmt -l . | (! grep .) || (echo "gofmt: the files above need formatting" && exit 1)
	$(GO) vet ./...

# Benchmarks behind docs/PERFORMANCE.md.
bench:
	bash scripts/bench.sh

# The replaced system's load test against a production-size conversation
# (scripts/load.sh: STORE=postgres, --mode capacity|throughput, PROFILE=20).
load:
	bash scripts/load.sh

run:
	$(GO) run ./cmd/agora serve

# A local 3-node cluster on 127.0.0.1-3 with a throwaway PostgreSQL.
cluster:
	bash scripts/cluster.sh
