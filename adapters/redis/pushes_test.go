package redis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/projections"
)

// The push reader's tests run against the real Redis, the embedded one and a cluster (backends):
// the consumer-group commands must behave the same on all three.

// numberedPush is push n of a test, its number in its frame.
func numberedPush(n int) projections.Push {
	frame, _ := json.Marshal(map[string]any{"type": "message", "n": n})
	return projections.Push{RoomID: uuid.Nil, Kind: projections.PushMessage, CommandID: uuid.New(), Frame: frame}
}

func pushNumber(t *testing.T, p projections.Push) int {
	t.Helper()
	var f struct {
		N int `json:"n"`
	}
	if err := json.Unmarshal(p.Frame, &f); err != nil {
		t.Fatalf("frame %s: %v", p.Frame, err)
	}
	return f.N
}

// nextPush takes the next delivered push; the wait only keeps a broken reader from hanging the
// test.
func nextPush(t *testing.T, ch <-chan projections.Push) projections.Push {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("no push delivered")
		return projections.Push{}
	}
}

// readerGroups lists the push stream's consumer groups named as readers' groups.
func readerGroups(t *testing.T, conn *redis.Conn) map[string]goredis.XInfoGroup {
	t.Helper()
	cl := conn.Client()
	defer cl.Close()
	groups, err := cl.XInfoGroups(context.Background(), conn.SlotKey("pushes")).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]goredis.XInfoGroup{}
	for _, g := range groups {
		if strings.HasPrefix(g.Name, conn.Key("pushes-reader")+":") {
			out[g.Name] = g
		}
	}
	return out
}

// subscribe starts a reader and returns its pushes, its group and the cancel that stops it.
func subscribe(t *testing.T, conn *redis.Conn, pushes *redis.Pushes) (<-chan projections.Push, string, context.CancelFunc) {
	t.Helper()
	before := readerGroupsOrNone(t, conn)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	got := make(chan projections.Push, 1000)
	if err := pushes.Subscribe(ctx, func(p projections.Push) { got <- p }); err != nil {
		t.Fatal(err)
	}
	var group string
	for name := range readerGroups(t, conn) {
		if _, ok := before[name]; !ok {
			if group != "" {
				t.Fatalf("Subscribe created groups %s and %s", group, name)
			}
			group = name
		}
	}
	if group == "" {
		t.Fatal("Subscribe created no reader group")
	}
	return got, group, cancel
}

// readerGroupsOrNone is readerGroups, or none while the stream does not exist.
func readerGroupsOrNone(t *testing.T, conn *redis.Conn) map[string]goredis.XInfoGroup {
	t.Helper()
	cl := conn.Client()
	defer cl.Close()
	if n, err := cl.Exists(context.Background(), conn.SlotKey("pushes")).Result(); err != nil || n == 0 {
		return nil
	}
	return readerGroups(t, conn)
}

func TestPushReadersEachReadEveryPushInOrderAndRemoveTheirGroup(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet)
		pub, err := pushes.Publisher()
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		// Pushes before the subscription are not delivered.
		if err := pub.Publish([]projections.Push{numberedPush(-1)}); err != nil {
			t.Fatal(err)
		}
		a, groupA, cancelA := subscribe(t, conn, pushes)
		b, groupB, _ := subscribe(t, conn, pushes)
		const n = 60
		for i := 0; i < n; i += 3 { // batches of three pushes, one entry each
			if err := pub.Publish([]projections.Push{numberedPush(i), numberedPush(i + 1), numberedPush(i + 2)}); err != nil {
				t.Fatal(err)
			}
		}
		for name, ch := range map[string]<-chan projections.Push{"a": a, "b": b} {
			for i := 0; i < n; i++ {
				if got := pushNumber(t, nextPush(t, ch)); got != i {
					t.Fatalf("reader %s: push %d is number %d", name, i, got)
				}
			}
		}

		cancelA()
		hang := time.Now().Add(30 * time.Second) // only keeps a reader that never leaves from hanging the test
		for {
			if time.Now().After(hang) {
				t.Fatalf("reader a's group %s is still there", groupA)
			}
			groups := readerGroups(t, conn)
			if _, ok := groups[groupB]; !ok {
				t.Fatalf("reader b's group %s is gone: %v", groupB, groups)
			}
			if _, ok := groups[groupA]; !ok {
				break
			}
			time.Sleep(10 * time.Millisecond) // the reader notices its ctx within its 1 s block
		}
		// b reads on.
		if err := pub.Publish([]projections.Push{numberedPush(n)}); err != nil {
			t.Fatal(err)
		}
		if got := pushNumber(t, nextPush(t, b)); got != n {
			t.Fatalf("reader b: got number %d, want %d", got, n)
		}
	})
}

// A gateway counts every push it reads and the bytes it decodes for them, whether or not its
// sockets want them: the multi-process benchmark compares them with the pushes it needed.
func TestPushReaderCountsWhatItReads(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		m := metrics.New()
		pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, quiet).UseMetrics(m)
		pub, err := pushes.Publisher()
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		got, _, _ := subscribe(t, conn, pushes)
		if err := pub.Publish([]projections.Push{numberedPush(0), numberedPush(1)}); err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish([]projections.Push{numberedPush(2)}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			nextPush(t, got)
		}
		sums, err := m.Sums("chorus_pushes_read_total", "chorus_push_bytes_read_total")
		if err != nil {
			t.Fatal(err)
		}
		if sums["chorus_pushes_read_total"] != 3 {
			t.Errorf("pushes read: %v, want 3", sums["chorus_pushes_read_total"])
		}
		// each entry is at least its pushes' frames
		if b := sums["chorus_push_bytes_read_total"]; b < 3*float64(len(numberedPush(0).Frame)) {
			t.Errorf("push bytes read: %v", b)
		}
	})
}

// lockedBuffer is a log sink the reader's goroutine writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPushReaderCreatesItsGroupAgainWhenItIsGone(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		var logged lockedBuffer
		pushes := redis.NewPushes(conn, redis.PushStreamMaxLen, slog.New(slog.NewTextHandler(&logged, nil)))
		pub, err := pushes.Publisher()
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		got, group, _ := subscribe(t, conn, pushes)
		cl := conn.Client()
		defer cl.Close()
		const n = 200
		for i := 0; i < n; i++ {
			if err := pub.Publish([]projections.Push{numberedPush(i)}); err != nil {
				t.Fatal(err)
			}
			if i%40 == 10 { // destroyed from outside while pushes flow, five times
				if err := cl.XGroupDestroy(context.Background(), conn.SlotKey("pushes"), group).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Every push once, in order: the reader went on from the last entry it delivered. One
		// more push after them shows that none came twice.
		if err := pub.Publish([]projections.Push{numberedPush(n)}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= n; i++ {
			if p := pushNumber(t, nextPush(t, got)); p != i {
				t.Fatalf("push %d is number %d", i, p)
			}
		}
		if _, ok := readerGroups(t, conn)[group]; !ok {
			t.Fatalf("the reader's group %s was not created again", group)
		}
		if !strings.Contains(logged.String(), "created again") {
			t.Fatalf("the reader never found its group gone; its log:\n%s", logged.String())
		}
	})
}

func TestSubscribePrunesReaderGroupsBehindTheStream(t *testing.T) {
	backends(t, func(t *testing.T, conn *redis.Conn) {
		const maxLen = 10
		pushes := redis.NewPushes(conn, maxLen, quiet)
		pub, err := pushes.Publisher()
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		ctx := context.Background()
		cl := conn.Client()
		defer cl.Close()
		stream := conn.SlotKey("pushes")
		dead := conn.Key("pushes-reader:" + uuid.NewString())
		foreign := conn.Key("someone-else")
		for _, g := range []string{dead, foreign} {
			if err := cl.XGroupCreateMkStream(ctx, stream, g, "0-1").Err(); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 3*maxLen; i++ {
			if err := pub.Publish([]projections.Push{numberedPush(i)}); err != nil {
				t.Fatal(err)
			}
		}
		atEnd := conn.Key("pushes-reader:" + uuid.NewString())
		if err := cl.XGroupCreate(ctx, stream, atEnd, "$").Err(); err != nil {
			t.Fatal(err)
		}

		_, own, _ := subscribe(t, conn, pushes)
		groups := readerGroups(t, conn)
		if _, ok := groups[dead]; ok {
			t.Errorf("the group behind the stream (%s) was kept", dead)
		}
		if _, ok := groups[atEnd]; !ok {
			t.Errorf("the group at the stream's end (%s) was removed", atEnd)
		}
		if _, ok := groups[own]; !ok {
			t.Errorf("the subscriber's own group (%s) is missing", own)
		}
		all, err := cl.XInfoGroups(ctx, stream).Result()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, g := range all {
			found = found || (g.Name == foreign && g.LastDeliveredID == "0-1")
		}
		if !found {
			t.Errorf("the group without the reader prefix (%s) was touched: %+v", foreign, all)
		}
	})
}
