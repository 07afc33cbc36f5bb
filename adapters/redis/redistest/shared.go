package redistest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
)

// shared is the one cluster of a test package: starting one takes a few seconds, so its tests
// share it, each under a prefix of its own (Dial).
var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// SharedCluster is the package's cluster, started on first use; the package's TestMain calls
// StopShared after its tests. A machine without redis-server skips the test.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = StartCluster() })
	if errors.Is(shared.err, ErrNoRedisServer) {
		t.Skipf("Redis Cluster tests need the machine's redis-server: %v", shared.err)
	}
	if shared.err != nil {
		t.Fatalf("start the Redis Cluster: %v", shared.err)
	}
	return shared.c
}

// StopShared kills the package's cluster, if it was started.
func StopShared() {
	if shared.c != nil {
		shared.c.Close()
	}
}

// Dial connects to url under a fresh prefix, whose keys are forgotten when t ends.
func Dial(t testing.TB, url string) *redis.Conn {
	t.Helper()
	conn, err := redis.Dial(context.Background(), url, "chorus-test-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatalf("redis %s: %v", url, err)
	}
	t.Cleanup(func() {
		if err := Forget(context.Background(), conn); err != nil {
			t.Errorf("forget the test's keys: %v", err)
		}
	})
	return conn
}

// SentinelFor starts a Sentinel deployment (StartSentinel) for a test, which closes it at its
// end. A machine without redis-server skips the test.
func SentinelFor(t testing.TB) *Sentinel {
	t.Helper()
	s, err := StartSentinel()
	if errors.Is(err, ErrNoRedisServer) {
		t.Skipf("Sentinel tests need the machine's redis-server: %v", err)
	}
	if err != nil {
		t.Fatalf("start the Sentinel deployment: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
