package redis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/redis"
)

// Two Limits on one Redis stand for two gateways: a budget spent through one is gone for the
// other, and the refusal says how long until the next unit.
func TestLimitsBudgetIsSharedByEveryClient(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx := context.Background()
		a, b := redis.NewLimits(conn), redis.NewLimits(conn)
		defer a.Close()
		defer b.Close()
		for i := range 6 {
			l := a
			if i%2 == 1 {
				l = b
			}
			ok, _, err := l.Spend(ctx, "alice", 1, 6, time.Minute)
			if err != nil || !ok {
				t.Fatalf("spend %d of a burst of 6: ok=%v err=%v", i+1, ok, err)
			}
		}
		for _, l := range []*redis.Limits{a, b} {
			ok, wait, err := l.Spend(ctx, "alice", 1, 6, time.Minute)
			if err != nil || ok {
				t.Fatalf("7th spend: ok=%v err=%v, want refused", ok, err)
			}
			if wait <= 0 || wait > time.Minute {
				t.Errorf("retry after %v, want within the minute one unit takes", wait)
			}
		}
		// Another budget name is untouched.
		if ok, _, err := b.Spend(ctx, "bob", 1, 6, time.Minute); err != nil || !ok {
			t.Fatalf("bob's first spend: ok=%v err=%v", ok, err)
		}
	})
}

// Concurrent attempts are counted one by one, so exactly the allowed number sees a count within
// the limit however many race; taking one back lowers the count without resetting the window.
func TestLimitsCountAttemptsUnderConcurrency(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx := context.Background()
		l := redis.NewLimits(conn)
		defer l.Close()
		var within atomic.Int64
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				n, left, err := l.CountAttempt(ctx, "alice:room", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if left <= 0 || left > time.Minute {
					t.Errorf("window left %v, want (0, 1m]", left)
				}
				if n <= 5 {
					within.Add(1)
				}
			})
		}
		wg.Wait()
		if got := within.Load(); got != 5 {
			t.Fatalf("%d of 40 concurrent attempts counted within a limit of 5, want 5", got)
		}
		if err := l.UncountAttempt(ctx, "alice:room"); err != nil {
			t.Fatal(err)
		}
		n, _, err := l.CountAttempt(ctx, "alice:room", time.Minute)
		if err != nil || n != 40 {
			t.Fatalf("after taking one back the next attempt is %d (err %v), want 40", n, err)
		}
		// The window ends: counting starts over.
		n, left, err := l.CountAttempt(ctx, "short", 150*time.Millisecond)
		if err != nil || n != 1 || left > 150*time.Millisecond {
			t.Fatalf("first attempt: n=%d left=%v err=%v", n, left, err)
		}
		time.Sleep(300 * time.Millisecond)
		if n, _, err = l.CountAttempt(ctx, "short", 150*time.Millisecond); err != nil || n != 1 {
			t.Fatalf("attempt after the window: n=%d err=%v, want 1", n, err)
		}
	})
}

// A lock is held by one caller at a time across clients; releasing lets the next take it, and a
// holder that never releases loses it after its ttl.
func TestLimitsLockIsExclusive(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		ctx := context.Background()
		a, b := redis.NewLimits(conn), redis.NewLimits(conn)
		defer a.Close()
		defer b.Close()
		unlock, ok, err := a.TryLock(ctx, "create:alice", 10*time.Second)
		if err != nil || !ok {
			t.Fatalf("first lock: ok=%v err=%v", ok, err)
		}
		if _, ok, err := b.TryLock(ctx, "create:alice", 10*time.Second); err != nil || ok {
			t.Fatalf("second lock while held: ok=%v err=%v, want refused", ok, err)
		}
		unlock()
		unlockB, ok, err := b.TryLock(ctx, "create:alice", 200*time.Millisecond)
		if err != nil || !ok {
			t.Fatalf("lock after release: ok=%v err=%v", ok, err)
		}
		// The stale release of the first holder must not free b's lock.
		unlock()
		if _, ok, _ := a.TryLock(ctx, "create:alice", time.Second); ok {
			t.Fatal("a stale unlock released another holder's lock")
		}
		_ = unlockB
		time.Sleep(400 * time.Millisecond)
		if _, ok, err := a.TryLock(ctx, "create:alice", time.Second); err != nil || !ok {
			t.Fatalf("lock after the holder's ttl: ok=%v err=%v", ok, err)
		}
	})
}
