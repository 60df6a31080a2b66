# Standing's developer commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: test services run bench microbench vet faults

## test: make sure PostgreSQL and Redis are up, then run every test with the race detector
test: services
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...

## services: start (or, as root on Debian, install) the PostgreSQL and Redis the tests use
services:
	@bash .ci/services

## run: run Standing in dev mode (embedded store, in-process Redis)
run:
	$(GO) run ./cmd/standing dev

## bench: the throughput benchmark (own PostgreSQL on 25532 and Redis on 26479, pgbench
## beside it); BENCH_FLAGS passes flags, e.g. BENCH_FLAGS='-variants 1 -json before.json'
bench:
	$(GO) run ./bench/cmd/standing-bench $(BENCH_FLAGS)

## microbench: the Go micro-benchmarks of the pure parts
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

vet:
	$(GO) vet ./...

## faults: the fault suite (own PostgreSQL on 25432 and Redis on 26379; about 4 minutes)
faults:
	@bash faults/run.sh
