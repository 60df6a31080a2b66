package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// setupHealth declares the flags of `health`: a probe for container healthchecks (the
// image has no shell or curl).
func setupHealth(fs *flag.FlagSet) action {
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "the URL to GET")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	return func(ctx context.Context, e env) error {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
		if err != nil {
			return fmt.Errorf("%w: --url: %v", errUsage, err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("health: %w", err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		fmt.Fprintf(e.stdout, "%d %s\n", res.StatusCode, body)
		if res.StatusCode/100 != 2 {
			return fmt.Errorf("health: %s answered %d", *url, res.StatusCode)
		}
		return nil
	}
}
