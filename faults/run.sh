#!/usr/bin/env bash
# The fault suite: starts a PostgreSQL cluster (port 55432, initdb in a temporary
# directory) and a redis-server (port 56379) of its own, never the test servers, runs
# Standing's production processes under load through each fault, prints the table and
# exits non-zero on any loss or a convergence past the target.
#   STANDING_FAULTS_ONLY=Redis faults/run.sh     # only the faults whose name contains Redis
#   STANDING_FAULTS_PGBIN=/usr/lib/postgresql/15/bin (default)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p faults/results
export STANDING_FAULTS_REPORT="${STANDING_FAULTS_REPORT:-$PWD/faults/results/table.md}"
set +e
go test -tags faults -run '^TestFaults$' -count=1 -timeout 30m -v ./cmd/standing/ 2>&1 | tee faults/results/run.log
status=${PIPESTATUS[0]}
set -e
echo
cat "$STANDING_FAULTS_REPORT" 2>/dev/null || true
exit "$status"
