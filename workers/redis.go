package workers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// QuickTimeout bounds every call on a QuickRedis client.
const QuickTimeout = time.Second

// QuickPause is how long a QuickRedis client fails its calls at once, without asking
// Redis, after one call found Redis stalled or down.
const QuickPause = 2 * time.Second

// ErrRedisStalled is the error of a QuickRedis call made within QuickPause of a call
// that Redis did not answer: it was not sent.
var ErrRedisStalled = errors.New("redis did not answer a call a moment ago; not asked again yet")

// QuickRedis returns a Redis client whose every call gives up after about
// QuickTimeout (dial, read, write, waiting for a pooled connection) and that honours
// its context's deadline. Once Redis left a call unanswered for half of QuickTimeout
// (or refused the connection), the calls of the next QuickPause fail at once with
// ErrRedisStalled (a circuit breaker), so that one request pays for finding Redis
// stalled, not every request. The request path (the enqueue after commit, the rate
// limiter, /readyz) and the relay use it: a stalled Redis (CLIENT PAUSE, a failover)
// slows an answer by at most a second instead of stalling it, and the relay enqueues
// what was committed meanwhile.
func QuickRedis(opt asynq.RedisConnOpt) redis.UniversalClient {
	client := quickClient(opt)
	client.AddHook(&stallBreaker{pause: QuickPause, patience: QuickTimeout / 2})
	return client
}

func quickClient(opt asynq.RedisConnOpt) redis.UniversalClient {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return redis.NewClient(&redis.Options{
			Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password,
			DB: o.DB, PoolSize: o.PoolSize, TLSConfig: o.TLSConfig,
			DialTimeout: QuickTimeout, ReadTimeout: QuickTimeout, WriteTimeout: QuickTimeout,
			PoolTimeout: QuickTimeout, ContextTimeoutEnabled: true,
			// One attempt at a command and at a dial: a retry would multiply the wait.
			MaxRetries: -1, DialerRetries: 1,
		})
	case asynq.RedisFailoverClientOpt:
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = QuickTimeout, QuickTimeout, QuickTimeout
		return o.MakeRedisClient().(redis.UniversalClient)
	case asynq.RedisClusterClientOpt:
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = QuickTimeout, QuickTimeout, QuickTimeout
		return o.MakeRedisClient().(redis.UniversalClient)
	}
	return opt.MakeRedisClient().(redis.UniversalClient)
}

// stallBreaker is a go-redis hook: after a call Redis left unanswered for patience (a
// timeout, a pool with no connection to give) or that failed without an answer (a
// refused or broken connection), every call fails with ErrRedisStalled, naming what
// opened it, until pause has passed; then calls go to Redis again, and the first that
// fails so opens it anew. These do not open it: an error Redis answered (redis.Nil,
// WRONGTYPE), a cancelled call, a call whose context was done before it started, and a
// timeout sooner than patience (the caller's budget, not Redis, ran out).
type stallBreaker struct {
	pause, patience time.Duration
	// openUntil (Unix nanoseconds) is when calls go to Redis again.
	openUntil atomic.Int64
	// cause is the error that opened the breaker last.
	cause atomic.Pointer[string]
}

// closed reports ErrRedisStalled, with what opened it, while the breaker is open.
func (b *stallBreaker) closed() error {
	if time.Now().UnixNano() < b.openUntil.Load() {
		if cause := b.cause.Load(); cause != nil {
			return fmt.Errorf("%w (%s)", ErrRedisStalled, *cause)
		}
		return ErrRedisStalled
	}
	return nil
}

// observe opens the breaker if err, from a call that began at start, says Redis did
// not answer: a timeout after patience at least (a shorter one is the caller's own
// budget running out), or a failure without an answer (refused, reset); it returns err.
func (b *stallBreaker) observe(start time.Time, err error) error {
	if !unanswered(err) || (timedOut(err) && time.Since(start) < b.patience) {
		return err
	}
	cause := err.Error()
	b.cause.Store(&cause)
	b.openUntil.Store(time.Now().Add(b.pause).UnixNano())
	return err
}

// timedOut reports whether err is a timeout: a deadline, a network timeout, or no
// pooled connection in time.
func timedOut(err error) bool {
	var nerr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) ||
		(errors.As(err, &nerr) && nerr.Timeout())
}

// unanswered reports whether err means Redis gave no answer.
func unanswered(err error) bool {
	var answered redis.Error
	switch {
	case err == nil, errors.As(err, &answered), errors.Is(err, context.Canceled),
		errors.Is(err, ErrRedisStalled):
		return false
	}
	return true
}

// DialHook implements redis.Hook: dials pass through (a failed dial fails its call,
// which ProcessHook sees).
func (b *stallBreaker) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (b *stallBreaker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return b.call(ctx, cmd.SetErr, func() error { return next(ctx, cmd) })
	}
}

// ProcessPipelineHook implements redis.Hook.
func (b *stallBreaker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		fail := func(err error) {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
		}
		return b.call(ctx, fail, func() error { return next(ctx, cmds) })
	}
}

// call runs one call (a command or a pipeline) through the breaker: while it is open,
// the call fails at once with fail; otherwise it runs and observe sees its result. A
// call whose context is done already runs as is (go-redis reports the done context;
// that is not Redis's doing).
func (b *stallBreaker) call(ctx context.Context, fail func(error), run func() error) error {
	if ctx.Err() != nil {
		return run()
	}
	if err := b.closed(); err != nil {
		fail(err)
		return err
	}
	start := time.Now()
	return b.observe(start, run())
}
