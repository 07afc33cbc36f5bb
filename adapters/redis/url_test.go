package redis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
)

// A CHORUS_REDIS_URL that cannot be right is refused at startup, saying what is wrong, before
// anything is dialled.
func TestDialRefusesBadURLs(t *testing.T) {
	for url, want := range map[string]string{
		"127.0.0.1:6379":                                   "no scheme",
		"http://127.0.0.1:6379":                            `scheme "http"`,
		"redis+shard://127.0.0.1:6379":                     `scheme "redis+shard"`,
		"redis://127.0.0.1:7000,127.0.0.1:7001":            "use redis+cluster://",
		"redis+cluster://127.0.0.1:7000,127.0.0.1":         `address "127.0.0.1": want host:port`,
		"redis+cluster://127.0.0.1:7000,127.0.0.1:99999":   "bad port",
		"redis+cluster://127.0.0.1:7000/2":                 "a cluster has no databases",
		"redis+cluster://127.0.0.1:7000?dial_timeout=soon": "dial_timeout",
		"redis+cluster://127.0.0.1:7000?colour=blue":       "unexpected option: colour",
		"redis+sentinel://127.0.0.1:26379":                 "no master name",
		"redis+sentinel://127.0.0.1:26379/m?master_name=x": "option master_name",
		"redis+sentinel://127.0.0.1:26379/m/zero":          "invalid database number",
	} {
		_, err := redis.Dial(context.Background(), url, "chorus")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial(%q): %v, want an error saying %q", url, err, want)
		}
	}
	for _, prefix := range []string{"", "chorus{a}"} {
		if _, err := redis.Dial(context.Background(), "redis://127.0.0.1:6379", prefix); err == nil || !strings.Contains(err.Error(), "redis prefix") {
			t.Errorf("prefix %q: %v, want refused", prefix, err)
		}
	}
}

// One seed is enough to reach a whole cluster: the scheme, not the number of addresses, says
// it is one, so keys of every master's slots are reached (followed through MOVED).
func TestClusterURLWithOneSeedReachesEveryMaster(t *testing.T) {
	cluster := redistest.SharedCluster(t)
	conn := redistest.Dial(t, "redis+cluster://"+cluster.Addrs()[0]+"?dial_timeout=2s")
	cl := conn.Client()
	defer cl.Close()
	ctx := context.Background()
	masters := map[string]bool{}
	for range 30 {
		key := conn.Key(uuid.NewString())
		if err := cl.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
		master, _, err := cluster.Serving(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		masters[master] = true
	}
	if len(masters) != 3 {
		t.Fatalf("30 keys went to %d masters, want all 3", len(masters))
	}
}
