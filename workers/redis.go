package workers

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// QuickTimeout bounds every call on a QuickRedis client.
const QuickTimeout = time.Second

// QuickRedis returns a Redis client whose every call gives up after about
// QuickTimeout (dial, read, write, waiting for a pooled connection) and that honours
// its context's deadline. The request path (the enqueue after commit, the rate
// limiter, /readyz) and the relay use it, so that a stalled Redis (CLIENT PAUSE, a
// failover) slows an answer by at most a second instead of stalling it.
func QuickRedis(opt asynq.RedisConnOpt) redis.UniversalClient {
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
