package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/commands"
)

// Replies carries command replies from the processors to the gateway that waits: each gateway
// listens on its own pub/sub channel, named in the command's reply-to header. Pub/sub is enough:
// a reply nobody hears (the gateway is gone) is harmless, the client retries with the same id;
// and one nobody heard because the gateway's subscription was moving (a failover) is published
// again for a few seconds (republish).
// It is classic pub/sub, which a Redis Cluster forwards to every node, rather than sharded pub/sub
// (SPUBLISH), which the embedded Redis and Redis 6 lack: one code path for every deployment.
//
// A reply to a channel listened to in this same process (the all-in-one server, or a process
// running both a gateway and command processors) is handed over in memory instead: the same
// reply, one Redis round trip and two wake-ups less on the acknowledgement's path.
type Replies struct {
	conn *Conn
	pub  goredis.UniversalClient
	log  *slog.Logger
	met  *metrics.Metrics // nil: not measured (UseMetrics)

	mu    sync.RWMutex
	local map[string]localListener // channels listened to in this process

	republishing atomic.Int32 // batches of unheard replies being published again (republish)
	closed       context.Context
	stop         context.CancelFunc
}

type localListener struct {
	ctx context.Context // the listener's: once it ends, its channel is not served here
	fn  func(commands.Reply)
}

// NewReplies makes the reply bus.
func NewReplies(conn *Conn, log *slog.Logger) *Replies {
	r := &Replies{conn: conn, pub: conn.Client(), log: log}
	r.closed, r.stop = context.WithCancel(context.Background())
	return r
}

// Close stops publishing again the replies nobody heard, and closes the publishing client.
func (r *Replies) Close() error {
	r.stop()
	return r.pub.Close()
}

// Channel is the reply address of a gateway instance.
func (r *Replies) Channel(instance string) string { return r.conn.Key("replies", instance) }

// Reply delivers a batch of replies: those for this process's own listeners at once, the
// others published in one round trip. A published reply no subscriber heard is published again
// in the background for a while (republish): see unheardRetry.
func (r *Replies) Reply(ctx context.Context, replies []commands.AddressedReply) error {
	var out []published
	for _, a := range replies {
		r.mu.RLock()
		l, ok := r.local[a.To]
		r.mu.RUnlock()
		if ok && l.ctx.Err() == nil {
			l.fn(a.Reply)
			continue
		}
		b, err := json.Marshal(a.Reply)
		if err != nil {
			return fmt.Errorf("encode reply: %w", err)
		}
		out = append(out, published{to: a.To, payload: b})
	}
	if len(out) == 0 {
		return nil
	}
	unheard, err := r.publish(ctx, out)
	if len(unheard) > 0 {
		r.republish(unheard)
	}
	return err
}

// published is a reply on its way through Redis.
type published struct {
	to      string
	payload []byte
}

// publish publishes replies in one round trip and returns those that no subscriber heard: all of
// them when the round trip failed (some may have been heard: a reply heard twice is harmless, the
// gateway's dispatcher hands it to whoever still waits for its command id). On a Redis Cluster a reply counts as heard once published
// (PUBLISH there counts the subscribers of the node it was sent to only, and the cluster bus
// carries it to the others).
func (r *Replies) publish(ctx context.Context, replies []published) ([]published, error) {
	pipe := r.pub.Pipeline()
	cmds := make([]*goredis.IntCmd, len(replies))
	for i, p := range replies {
		cmds[i] = pipe.Publish(ctx, p.to, p.payload)
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		r.met.RedisError("publish_replies")
		return replies, err
	}
	if _, cluster := r.pub.(*goredis.ClusterClient); cluster {
		return nil, nil
	}
	var unheard []published
	for i, c := range cmds {
		if c.Val() == 0 {
			unheard = append(unheard, replies[i])
		}
	}
	return unheard, nil
}

// unheardRetry is how often, and unheardFor how long, a reply that no subscriber heard is
// published again; at most maxRepublishing batches are retried at once. A gateway's
// subscription is away for a moment when Redis fails over or restarts (a Sentinel-managed master
// moves: the gateway subscribes again on the new master within milliseconds, subscribe) and the
// command's reply would be lost, leaving its client a timeout to retry. Within unheardFor,
// below the gateways' default command timeout of 5 s, the reply reaches it still; a gateway
// that is gone costs a few publishes.
const (
	unheardRetry    = 100 * time.Millisecond
	unheardFor      = 3 * time.Second
	maxRepublishing = 64
)

// republish publishes replies again every unheardRetry until each is heard or unheardFor has
// passed, in the background: the command processor that called Reply goes on with its next
// batch.
func (r *Replies) republish(replies []published) {
	if r.republishing.Add(1) > maxRepublishing {
		r.republishing.Add(-1)
		r.log.Debug("replies nobody heard, not published again: too many such batches already", "count", len(replies))
		return
	}
	go func() {
		defer r.republishing.Add(-1)
		ctx, cancel := context.WithTimeout(r.closed, unheardFor)
		defer cancel()
		t := time.NewTicker(unheardRetry)
		defer t.Stop()
		for len(replies) > 0 {
			select {
			case <-ctx.Done():
				if r.closed.Err() != nil {
					return
				}
				r.log.Info("replies nobody heard; their clients time out and retry", "count", len(replies), "to", replies[0].to)
				return
			case <-t.C:
			}
			replies, _ = r.publish(ctx, replies)
		}
	}()
}

// Listen subscribes to channel and calls fn for every reply until ctx ends. It returns once the
// subscription is active, so no reply to a command sent after it can be missed.
//
// fn may be called from several goroutines at once (replies from this process's own command
// processors come from theirs) and must not block.
func (r *Replies) Listen(ctx context.Context, channel string, fn func(commands.Reply)) error {
	err := subscribe(ctx, r.conn, channel, r.met, "subscribe_replies", r.log, func(payload []byte) {
		var rep commands.Reply
		if err := json.Unmarshal(payload, &rep); err != nil {
			r.log.Warn("bad reply on channel", "channel", channel, "err", err)
			return
		}
		fn(rep)
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.local == nil {
		r.local = map[string]localListener{}
	}
	r.local[channel] = localListener{ctx: ctx, fn: fn}
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		if r.local[channel].ctx == ctx {
			delete(r.local, channel)
		}
		r.mu.Unlock()
	})
	return nil
}

// subscribe subscribes to channel on a client of its own and hands every message's payload to
// fn, from one goroutine, until ctx ends. It returns once the subscription is active, so nothing
// published after it can be missed; a failure to subscribe is counted under op. On a
// Sentinel-managed master it subscribes again when the master moves (switches.go); messages
// published between the switch and the new subscription are lost, as in any failover (but the
// replies nobody heard are published again: Replies.republish).
func subscribe(ctx context.Context, conn *Conn, channel string, met *metrics.Metrics, op string, log *slog.Logger, fn func(payload []byte)) error {
	if log == nil {
		log = slog.Default()
	}
	cl := conn.Client()
	sub := cl.Subscribe(ctx, channel)
	if _, err := sub.Receive(ctx); err != nil {
		met.RedisError(op)
		_ = sub.Close()
		_ = cl.Close()
		return fmt.Errorf("subscribe %s: %w", channel, err)
	}
	switches := conn.masterSwitches(ctx, log)
	go func() {
		defer cl.Close()
		defer func() { _ = sub.Close() }()
		ch := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case <-switches:
				// A new PubSub dials the master the Sentinels name now.
				_ = sub.Close()
				sub = cl.Subscribe(ctx, channel)
				if _, err := sub.Receive(ctx); err != nil && ctx.Err() == nil {
					met.RedisError(op)
					log.Warn("subscribe again after the master moved; go-redis retries", "channel", channel, "err", err)
				}
				ch = sub.Channel()
			case m, ok := <-ch:
				if !ok {
					return
				}
				fn([]byte(m.Payload))
			}
		}
	}()
	return nil
}
