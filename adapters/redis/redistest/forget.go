package redistest

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/adapters/redis"
)

// Forget deletes every key under conn's prefix (Key's and SlotKey's), as a Redis restarted
// without persistence has lost them. On a cluster it scans every master: a SCAN or KEYS sees
// only the node it is sent to.
func Forget(ctx context.Context, conn *redis.Conn) error {
	cl := conn.Client()
	defer cl.Close()
	if cc, ok := cl.(*goredis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			return forgetOn(ctx, node, conn.Prefix)
		})
	}
	return forgetOn(ctx, cl, conn.Prefix)
}

// forgetOn deletes the prefix's keys that one server holds, one DEL each: on a cluster node
// they are of many slots, which one DEL may not mix.
func forgetOn(ctx context.Context, cl goredis.Cmdable, prefix string) error {
	for _, pattern := range []string{prefix + ":*", "{" + prefix + "}:*"} {
		iter := cl.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			if err := cl.Del(ctx, iter.Val()).Err(); err != nil {
				return fmt.Errorf("forget %s: %w", iter.Val(), err)
			}
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("forget %s: %w", pattern, err)
		}
	}
	return nil
}
