package webhooks

import (
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Outcome classifies an attempt.
type Outcome int

// The outcomes of an attempt.
const (
	// Delivered: a 2xx answer.
	Delivered Outcome = iota
	// Retry: a network error, a timeout, 404, 408, 429 or 5xx.
	Retry
	// Rejected: any other answer (other 4xx, 3xx, 1xx), or a body that could not be
	// signed; not retried.
	Rejected
	// Gone: 410; not retried, and the destination is disabled.
	Gone
	// Skipped: the destination was disabled; nothing was sent.
	Skipped
)

var outcomeNames = map[Outcome]string{
	Delivered: "delivered", Retry: "retry", Rejected: "rejected", Gone: "gone", Skipped: "skipped",
}

// String names the outcome, as metrics label it.
func (o Outcome) String() string { return outcomeNames[o] }

// Policy says when a failed delivery is tried again, when it is given up, and when its
// destination is disabled.
type Policy struct {
	MaxAttempts int
	MaxAge      time.Duration
	// Backoff returns the delay after the given (1-based) failed attempt.
	Backoff func(attempt int) time.Duration
	// MaxInterval caps any delay, including a Retry-After.
	MaxInterval time.Duration
	// DisableAfter disables a destination that has failed this long without a success.
	DisableAfter time.Duration
}

// Attempt is what the policy reads of one attempt: its outcome, its number (1-based),
// the delay the endpoint asked for (Retry-After, zero if none), when it was made and when
// the delivery's current cycle of attempts started.
type Attempt struct {
	Outcome      Outcome
	Number       int
	RetryAfter   time.Duration
	At           time.Time
	CycleStarted time.Time
	Error        string
}

// Step is what follows an attempt.
type Step int

// What can follow an attempt.
const (
	// StepDelivered: the delivery landed.
	StepDelivered Step = iota
	// StepRetry: try again after the step's delay.
	StepRetry
	// StepFail: give up for good.
	StepFail
)

// Next is the decision after an attempt: the step, the delay before the next attempt
// (StepRetry), why the delivery was given up (StepFail), and whether the answer itself
// disables the destination (410).
type Next struct {
	Step       Step
	RetryIn    time.Duration
	Error      string
	DisableFor string
}

// Next decides what follows an attempt: delivered on a 2xx; for a retryable failure the
// next attempt after the endpoint's Retry-After or the backoff delay (capped at
// MaxInterval), unless that is past MaxAttempts or MaxAge from the cycle's start; a 410
// fails and disables the destination; anything else fails.
func (p Policy) Next(a Attempt) Next {
	switch a.Outcome {
	case Delivered:
		return Next{Step: StepDelivered}
	case Retry:
		delay := a.RetryAfter
		if delay <= 0 {
			delay = p.Backoff(a.Number)
		}
		delay = min(delay, p.MaxInterval)
		if a.Number >= p.MaxAttempts || a.At.Add(delay).Sub(a.CycleStarted) > p.MaxAge {
			return Next{Step: StepFail, Error: fmt.Sprintf("gave up after %d attempts: %s", a.Number, a.Error)}
		}
		return Next{Step: StepRetry, RetryIn: delay, Error: a.Error}
	case Gone:
		return Next{Step: StepFail, Error: a.Error, DisableFor: "the endpoint answered 410 Gone"}
	}
	return Next{Step: StepFail, Error: a.Error}
}

// ShouldDisable says whether a destination failing since failingSince (nil: its last
// attempt succeeded) is disabled at now, and why: after DisableAfter without a success.
func (p Policy) ShouldDisable(failingSince *time.Time, now time.Time) (bool, string) {
	if failingSince == nil || now.Sub(*failingSince) < p.DisableAfter {
		return false, ""
	}
	return true, "failing without a success since " + failingSince.UTC().Format(time.RFC3339Nano)
}

// Backoff computes retry delays: exponential from Initial, doubling, with ±50% jitter,
// capped at Max (cenkalti/backoff's ExponentialBackOff).
type Backoff struct {
	Initial, Max time.Duration
}

// Delay returns the delay after the given (1-based) failed attempt.
func (b Backoff) Delay(attempt int) time.Duration {
	eb := backoff.NewExponentialBackOff()
	eb.InitialInterval = b.Initial
	eb.MaxInterval = b.Max
	eb.Multiplier = 2
	eb.RandomizationFactor = 0.5
	eb.MaxElapsedTime = 0
	eb.Reset()
	d := eb.NextBackOff()
	for i := 1; i < attempt; i++ {
		d = eb.NextBackOff()
	}
	return min(d, b.Max)
}
