package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// -help prints the usage and succeeds without running anything; a wrong flag fails.
func TestHelpPrintsUsageAndSucceeds(t *testing.T) {
	for _, arg := range []string{"-help", "--help", "-h"} {
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(context.Background(), []string{arg}, &stdout, &stderr), arg)
		require.Contains(t, stderr.String(), "-variants", arg)
		require.Empty(t, stdout.String(), "%s: nothing ran", arg)
	}
	var stdout, stderr bytes.Buffer
	require.Error(t, run(context.Background(), []string{"-no-such-flag"}, &stdout, &stderr))
}
