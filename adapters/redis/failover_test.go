package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
	"github.com/chorus-chat/chorus/projections"
)

// The master holding the push stream fails over to its replica (CLUSTER FAILOVER on the
// replica) while pushes are written and read and presence entries refreshed.
func TestClusterFailoverDuringTraffic(t *testing.T) {
	cluster := redistest.SharedCluster(t)
	conn := redistest.Dial(t, cluster.URL())
	failoverDuringTraffic(t, conn, true, func(ctx context.Context) error {
		from, to, err := cluster.Failover(ctx, conn.SlotKey("pushes"))
		t.Logf("push stream's master %s failed over to %s", from, to)
		return err
	})
}

// The Sentinel promotes the replica (SENTINEL FAILOVER) during the same traffic. Unlike a
// cluster's manual failover it does not stop the old master's writes first: what the old master
// acknowledged between the promotion and its own demotion is lost (replication is asynchronous),
// so pushes appended during the failover may be missing; none after it.
func TestSentinelFailoverDuringTraffic(t *testing.T) {
	s := redistest.SentinelFor(t)
	conn := redistest.Dial(t, s.URL())
	failoverDuringTraffic(t, conn, false, func(ctx context.Context) error {
		to, err := s.Failover(ctx)
		t.Logf("the Sentinel promoted %s", to)
		return err
	})
}

// failoverDuringTraffic runs failover while a publisher appends numbered pushes (retrying a
// failed append, as the push projector does) and two readers read them, and checks what a user
// would notice: every push whose append was acknowledged reaches both readers, in order, and
// no reader delivers one stream entry twice (each append attempt carries a command id of its
// own); presence recorded before the failover is still there, and transitions afterwards are
// announced. Unless lossless, the pushes acknowledged while failover ran may be missing.
func failoverDuringTraffic(t *testing.T, conn *redis.Conn, lossless bool, failover func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet)
	readers := subscribeReaders(t, ctx, pushes, 2, 100_000)
	pub, err := pushes.Publisher()
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	presence := redis.NewPresence(conn, pushes)
	defer presence.Close()
	users := make([]uuid.UUID, 20)
	var built = func(user uuid.UUID, status string) func() (projections.Push, error) {
		return func() (projections.Push, error) { return presencePush(user, status, uuid.New()), nil }
	}
	for i := range users {
		users[i] = uuid.New()
		if on, err := presence.Touch(ctx, users[i], "s", time.Minute, built(users[i], "online")); err != nil || !on {
			t.Fatalf("touch before the failover: %v %v", on, err)
		}
	}

	// The publisher: push n is appended until an append of it is acknowledged.
	stop := make(chan struct{})
	var mu sync.Mutex
	var acked []int // in order
	var failed int
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 0; ; n++ {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := pub.Publish([]projections.Push{numberedPush(n)})
				mu.Lock()
				if err == nil {
					acked = append(acked, n)
				} else {
					failed++
				}
				mu.Unlock()
				if err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	// Sockets keep refreshing their presence through the failover; failures are allowed then.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, u := range users {
				_, _ = presence.Touch(ctx, u, "s", time.Minute, built(u, "online"))
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := len(acked) // acknowledged before the failover began
	mu.Unlock()
	err = failover(ctx)
	mu.Lock()
	during := len(acked) // and before it ended
	mu.Unlock()
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("failover: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // traffic after the failover too
	close(stop)
	wg.Wait()
	t.Logf("%d pushes acknowledged (%d during the failover), %d append attempts failed", len(acked), during-before, failed)
	if len(acked) == 0 {
		t.Fatal("no push acknowledged")
	}

	for r, ch := range readers {
		seen := map[uuid.UUID]bool{}
		want := 0 // index in acked of the next acknowledged push to see
		last := -1
		for want < len(acked) {
			p := nextPush(t, ch)
			if p.Kind == "presence" {
				continue
			}
			if seen[p.CommandID] {
				t.Fatalf("reader %d delivered one entry twice (push %d)", r, pushNumber(t, p))
			}
			seen[p.CommandID] = true
			n := pushNumber(t, p)
			if n < last {
				t.Fatalf("reader %d: push %d after %d", r, n, last)
			}
			last = n
			for want < len(acked) && n > acked[want] {
				if lossless || want < before || want >= during {
					t.Fatalf("reader %d: acknowledged push %d never delivered (got %d next)", r, acked[want], n)
				}
				want++ // lost in the failover
			}
			if want < len(acked) && n == acked[want] {
				want++
			}
		}
	}

	online, err := presence.Online(ctx, users)
	if err != nil {
		t.Fatalf("presence after the failover: %v", err)
	}
	for _, u := range users {
		if !online[u] {
			t.Fatalf("user %s online before the failover is not any more", u)
		}
		off, _, err := presence.Leave(ctx, u, "s", built(u, "offline"))
		if err != nil || !off {
			t.Fatalf("leave after the failover: off %v, %v", off, err)
		}
	}
}
