package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/commands"
)

// Replies carries command replies from the processors to the gateway that waits: each gateway
// listens on its own pub/sub channel, named in the command's reply-to header. Pub/sub is enough:
// a reply nobody hears (the gateway is gone) is harmless, the client retries with the same id.
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
}

type localListener struct {
	ctx context.Context // the listener's: once it ends, its channel is not served here
	fn  func(commands.Reply)
}

// NewReplies makes the reply bus.
func NewReplies(conn *Conn, log *slog.Logger) *Replies {
	return &Replies{conn: conn, pub: conn.Client(), log: log}
}

// Close closes the publishing client.
func (r *Replies) Close() error { return r.pub.Close() }

// Channel is the reply address of a gateway instance.
func (r *Replies) Channel(instance string) string { return r.conn.Key("replies", instance) }

// Reply delivers a batch of replies: those for this process's own listeners at once, the
// others published in one round trip.
func (r *Replies) Reply(ctx context.Context, replies []commands.AddressedReply) error {
	var pipe goredis.Pipeliner
	for _, a := range replies {
		r.mu.RLock()
		l, ok := r.local[a.To]
		r.mu.RUnlock()
		if ok && l.ctx.Err() == nil {
			l.fn(a.Reply)
			continue
		}
		if pipe == nil {
			pipe = r.pub.Pipeline()
		}
		b, err := json.Marshal(a.Reply)
		if err != nil {
			return fmt.Errorf("encode reply: %w", err)
		}
		pipe.Publish(ctx, a.To, b)
	}
	if pipe == nil {
		return nil
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		r.met.RedisError("publish_replies")
	}
	return err
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
// published between the switch and the new subscription are lost, as in any failover.
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
