package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// Limits keeps what every gateway must agree on to bound one user, wherever their sockets and
// requests land: command budgets (GCRA, github.com/go-redis/redis_rate), attempt counters (wrong
// room passwords) and short locks (room creation). Keys:
//
//	rate:<prefix>:limits:budget:<name>  GCRA state of a budget (redis_rate puts "rate:" first)
//	<prefix>:limits:attempts:<name>     hash: attempts (n) in a fixed window and when it ends (ms)
//	<prefix>:limits:lock:<name>         hash: the holder's random token and when its hold ends (ms)
//
// A real Redis expires every key on its own once idle; the embedded one keeps them (a few
// bytes per user, gone at restart).
type Limits struct {
	conn *Conn
	cl   goredis.UniversalClient
	rate *redis_rate.Limiter
}

// NewLimits keeps limits under conn's prefix.
func NewLimits(conn *Conn) *Limits {
	cl := conn.Client()
	return &Limits{conn: conn, cl: cl, rate: redis_rate.NewLimiter(cl)}
}

// Close closes the client.
func (l *Limits) Close() error { return l.cl.Close() }

// Spend takes one unit from the budget name: rate units per period on average, burst at once.
// Without a unit to spend it changes nothing and says how long until there is one.
func (l *Limits) Spend(ctx context.Context, name string, rate, burst int, period time.Duration) (bool, time.Duration, error) {
	res, err := l.rate.Allow(ctx, l.conn.Key("limits", "budget", name), redis_rate.Limit{Rate: rate, Burst: burst, Period: period})
	if err != nil {
		return false, 0, fmt.Errorf("spend budget: %w", err)
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// nowMs is Redis's clock in milliseconds. The scripts keep their own deadlines from it instead of
// relying on key expiry alone, because the embedded Redis (miniredis) never expires keys in real
// time; the expiries they also set are for a real Redis to forget idle keys.
const nowMs = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// countAttempt increments a counter whose window starts at its first attempt; a count past the
// limit does not extend the window. It returns the count and the milliseconds left.
var countAttempt = goredis.NewScript(nowMs + `
local window = tonumber(ARGV[1])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
if ends <= now then
  n = 0
  ends = now + window
  redis.call('HSET', KEYS[1], 'ends', ends)
  redis.call('PEXPIRE', KEYS[1], window)
end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n)
return {n, ends - now}
`)

// CountAttempt counts one attempt under name in a window of the given length from the first
// one, and returns the attempts so far in the window (this one included) and the time left.
// Counting before the attempt is made, rather than after it failed, keeps concurrent attempts
// from all passing a check that none of them has been counted in yet.
func (l *Limits) CountAttempt(ctx context.Context, name string, window time.Duration) (int64, time.Duration, error) {
	v, err := countAttempt.Run(ctx, l.cl, []string{l.conn.Key("limits", "attempts", name)}, window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, fmt.Errorf("count attempt: %w", err)
	}
	return v[0], time.Duration(v[1]) * time.Millisecond, nil
}

// uncountAttempt takes an attempt back within the current window, never below zero.
var uncountAttempt = goredis.NewScript(nowMs + `
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends') or '0')
if n > 0 and ends > now then
  redis.call('HSET', KEYS[1], 'n', n - 1)
end
return 0
`)

// UncountAttempt takes back an attempt counted by CountAttempt (one that turned out right).
func (l *Limits) UncountAttempt(ctx context.Context, name string) error {
	if err := uncountAttempt.Run(ctx, l.cl, []string{l.conn.Key("limits", "attempts", name)}).Err(); err != nil {
		return fmt.Errorf("uncount attempt: %w", err)
	}
	return nil
}

// tryLock takes a lock that is free or whose holder's time is up.
var tryLock = goredis.NewScript(nowMs + `
local until_ = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if until_ > now then
  return 0
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'until', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// unlock deletes a lock only if it still holds the caller's token: a lock that expired and was
// taken by someone else is theirs.
var unlock = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// TryLock takes the lock name for at most ttl, if nobody holds it. release frees it (if it is
// still the caller's; a failed release leaves it to expire); it is nil when ok is false.
func (l *Limits) TryLock(ctx context.Context, name string, ttl time.Duration) (release func(), ok bool, err error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	key := l.conn.Key("limits", "lock", name)
	got, err := tryLock.Run(ctx, l.cl, []string{key}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return nil, false, fmt.Errorf("take lock: %w", err)
	}
	if got == 0 {
		return nil, false, nil
	}
	return func() {
		// Detached from the caller's context: a canceled request must still release its lock.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = unlock.Run(ctx, l.cl, []string{key}, token).Err()
	}, true, nil
}
