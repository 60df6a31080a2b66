package workers

import (
	"context"
	"errors"
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
// its context's deadline. Once a call went unanswered, the calls of the next
// QuickPause fail at once with ErrRedisStalled (a circuit breaker), so that one
// request pays for finding Redis stalled, not every request. The request path (the
// enqueue after commit, the rate limiter, /readyz) and the relay use it: a stalled
// Redis (CLIENT PAUSE, a failover) slows an answer by at most a second instead of
// stalling it, and the relay enqueues what was committed meanwhile.
func QuickRedis(opt asynq.RedisConnOpt) redis.UniversalClient {
	client := quickClient(opt)
	client.AddHook(&stallBreaker{pause: QuickPause})
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
			// One dial attempt: a retry would double the wait.
			MaxRetries: -1,
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

// stallBreaker is a go-redis hook: after a call failed for want of an answer (a
// timeout, a refused or broken connection), every call fails with ErrRedisStalled
// until pause has passed; then calls go to Redis again, and the first that fails
// opens it anew. An error Redis answered (redis.Nil, WRONGTYPE) is an answer, and a
// call its caller cancelled says nothing about Redis: neither opens it.
type stallBreaker struct {
	pause time.Duration
	// openUntil (Unix nanoseconds) is when calls go to Redis again.
	openUntil atomic.Int64
}

// closed reports ErrRedisStalled while the breaker is open.
func (b *stallBreaker) closed() error {
	if time.Now().UnixNano() < b.openUntil.Load() {
		return ErrRedisStalled
	}
	return nil
}

// observe opens the breaker if err says Redis did not answer, and returns err.
func (b *stallBreaker) observe(err error) error {
	if unanswered(err) {
		b.openUntil.Store(time.Now().Add(b.pause).UnixNano())
	}
	return err
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

// DialHook implements redis.Hook.
func (b *stallBreaker) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := b.closed(); err != nil {
			return nil, err
		}
		conn, err := next(ctx, network, addr)
		return conn, b.observe(err)
	}
}

// ProcessHook implements redis.Hook.
func (b *stallBreaker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := b.closed(); err != nil {
			cmd.SetErr(err)
			return err
		}
		return b.observe(next(ctx, cmd))
	}
}

// ProcessPipelineHook implements redis.Hook.
func (b *stallBreaker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := b.closed(); err != nil {
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
			return err
		}
		return b.observe(next(ctx, cmds))
	}
}
