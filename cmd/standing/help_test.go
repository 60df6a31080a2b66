package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHelpForEveryCommandWritesNothing runs every command with --help (and -h, and
// `help COMMAND`) in an empty working directory with no configuration at all: each
// prints its usage, returns no error, and leaves the directory empty (dev mode would
// otherwise create ./.standing).
func TestHelpForEveryCommandWritesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	// A value that would stop start-up: --help must not even read the configuration.
	vars := envFrom(map[string]string{"STANDING_WORKER_CONCURRENCY": "abc"})
	ctx := context.Background()
	for _, c := range commands() {
		words := strings.Fields(c.name)
		for _, args := range [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
		} {
			var out bytes.Buffer
			require.NoError(t, run(ctx, args, vars, &out, io.Discard), "%v", args)
			require.Contains(t, out.String(), "usage: standing "+c.name, "%v", args)
			require.Contains(t, out.String(), c.summary[1:10], "%v", args)
		}
	}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"apps", "--help"}, vars, &out, io.Discard))
	require.Contains(t, out.String(), "apps create --name NAME")
	require.Contains(t, out.String(), "apps list")
	out.Reset()
	require.NoError(t, run(ctx, []string{"--help"}, vars, &out, io.Discard))
	for _, c := range commands() {
		require.Contains(t, out.String(), c.name)
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"apps", "create", "--help"}, vars, &out, io.Discard))
	require.Contains(t, out.String(), "-api-key")
	require.Contains(t, out.String(), "-name")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "--help wrote nothing")
}

func TestBadCommandLinesAndValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noEnv := envFrom(nil)
	for _, args := range [][]string{nil, {"launch"}, {"apps"}, {"apps", "delete"}, {"ingest", "extra"}, {"work", "--port", "1"}, {"help", "launch"}} {
		require.ErrorIs(t, run(ctx, args, noEnv, io.Discard, io.Discard), errUsage, "%v", args)
	}
	err := run(ctx, []string{"work"}, envFrom(map[string]string{"STANDING_WORKER_CONCURRENCY": "abc"}), io.Discard, io.Discard)
	require.EqualError(t, err, `STANDING_WORKER_CONCURRENCY: must be a whole number like 8 (got "abc")`)
	err = run(ctx, []string{"work"}, envFrom(map[string]string{"STANDING_METRICS_ADDR": "9090"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "STANDING_METRICS_ADDR: must be a listen address host:port")
}
