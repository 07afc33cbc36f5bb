package redis

import (
	"context"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// A Sentinel failover leaves pub/sub subscriptions on the demoted master. go-redis' failover
// client, told of the switch, closes its pooled connections to the old master, but not those of
// its subscriptions: a gateway kept listening for replies on a server the command processors no
// longer published to, and its commands timed out (for at least the 10 s TestE2ERedisSentinel
// watched). So a subscription on a
// Sentinel-managed master also listens to the Sentinels' +switch-master and subscribes again,
// through a new connection to the new master, when it hears one.

// masterSwitches signals, until ctx ends, each time a Sentinel announces that the master moved;
// nil (never) when the connection is not to a Sentinel-managed master. It listens to every
// Sentinel of the URL: each announces the switch, and a repeat costs one more subscription.
func (c *Conn) masterSwitches(ctx context.Context, log *slog.Logger) <-chan struct{} {
	o := c.sentinel
	if o == nil {
		return nil
	}
	out := make(chan struct{}, 1)
	for _, addr := range o.SentinelAddrs {
		sc := goredis.NewSentinelClient(&goredis.Options{
			Addr: addr, Username: o.SentinelUsername, Password: o.SentinelPassword, TLSConfig: o.TLSConfig,
		})
		sub := sc.Subscribe(ctx, "+switch-master")
		go func() {
			defer sc.Close()
			defer sub.Close()
			ch := sub.Channel()
			for {
				select {
				case <-ctx.Done():
					return
				case m, ok := <-ch:
					if !ok {
						return
					}
					// "<master name> <old ip> <old port> <new ip> <new port>"
					if name, _, _ := strings.Cut(m.Payload, " "); name != o.MasterName {
						continue
					}
					log.Info("the Sentinel moved the master; subscriptions follow", "sentinel", addr, "switch", m.Payload)
					select {
					case out <- struct{}{}:
					default: // one pending signal is enough
					}
				}
			}
		}()
	}
	return out
}
