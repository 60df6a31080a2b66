# Standing's developer commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: test services run bench vet faults

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

## bench: run the benchmarks
bench: services
	$(GO) test -run '^$$' -bench . -benchmem ./...

vet:
	$(GO) vet ./...

## faults: the fault suite (own PostgreSQL on 55432 and Redis on 56379; about 4 minutes)
faults:
	@bash faults/run.sh
