package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/projections"
)

// Caps of the push stream: pushes are for sockets that are connected now; anything older is
// read from history. miniredis scans a stream linearly on every XREAD (measured: 55 reads/s
// at 100k entries, 278/s at 20k), so the embedded Redis gets a short stream.
const (
	PushStreamMaxLen         = 100_000
	EmbeddedPushStreamMaxLen = 1_000
)

// Pushes is the push stream: the push projector appends, every gateway reads all of it (fan-out,
// no consumer group) and delivers to its own sockets.
type Pushes struct {
	conn   *Conn
	stream string
	maxLen int64
	log    *slog.Logger
	met    *metrics.Metrics // nil: not measured (UseMetrics)
}

// NewPushes names the stream under the connection's prefix; appends keep it at about maxLen
// entries.
func NewPushes(conn *Conn, maxLen int64, log *slog.Logger) *Pushes {
	return &Pushes{conn: conn, stream: conn.Key("pushes"), maxLen: maxLen, log: log}
}

// PushPublisher appends pushes to the stream.
type PushPublisher struct {
	stream string
	pub    *redisstream.Publisher
	met    *metrics.Metrics
}

// Publisher opens a publisher (with its own client).
func (p *Pushes) Publisher() (*PushPublisher, error) {
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{
		Client:        p.conn.Client(),
		DefaultMaxlen: p.maxLen,
	}, watermill.NewSlogLogger(p.log))
	if err != nil {
		return nil, fmt.Errorf("push publisher: %w", err)
	}
	return &PushPublisher{stream: p.stream, pub: pub, met: p.met}, nil
}

// Publish appends pushes in order.
func (pp *PushPublisher) Publish(pushes []projections.Push) error {
	if len(pushes) == 0 {
		return nil
	}
	msgs := make([]*message.Message, len(pushes))
	for i, p := range pushes {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode push: %w", err)
		}
		msgs[i] = message.NewMessage(watermill.NewUUID(), b)
	}
	if err := pp.pub.Publish(pp.stream, msgs...); err != nil {
		pp.met.RedisError("publish_pushes")
		return err
	}
	return nil
}

// Close closes the publisher and its client.
func (pp *PushPublisher) Close() error { return pp.pub.Close() }

// Subscribe reads every push appended after it returns and calls deliver for each, in stream
// order, until ctx ends.
func (p *Pushes) Subscribe(ctx context.Context, deliver func(projections.Push)) error {
	// Start after the stream's current last entry, read here rather than with "$" when the
	// reader gets to it: every push appended after Subscribe returns is delivered.
	start := "0"
	cl := p.conn.Client()
	last, err := cl.XRevRangeN(ctx, p.stream, "+", "-", 1).Result()
	_ = cl.Close()
	if err != nil {
		p.met.RedisError("subscribe_pushes")
		return fmt.Errorf("push stream %s: %w", p.stream, err)
	}
	if len(last) > 0 {
		start = last[0].ID
	}
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:                        p.conn.Client(),
		FanOutOldestId:                start,
		DisableIndefiniteInitialBlock: true,
	}, watermill.NewSlogLogger(quietOnClose(p.log)))
	if err != nil {
		return fmt.Errorf("push subscriber: %w", err)
	}
	msgs, err := sub.Subscribe(ctx, p.stream)
	if err != nil {
		p.met.RedisError("subscribe_pushes")
		_ = sub.Close()
		return fmt.Errorf("subscribe %s: %w", p.stream, err)
	}
	go func() {
		defer sub.Close()
		for m := range msgs {
			var push projections.Push
			if err := json.Unmarshal(m.Payload, &push); err != nil {
				p.log.Warn("bad push skipped", "err", err)
			} else {
				deliver(push)
			}
			m.Ack()
		}
	}()
	return nil
}

// quietOnClose drops the ERROR that watermill-redisstream logs on every normal Close
// ("read fail ... context canceled").
func quietOnClose(l *slog.Logger) *slog.Logger {
	return slog.New(&dropHandler{Handler: l.Handler()})
}

type dropHandler struct{ slog.Handler }

func (h *dropHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && strings.Contains(r.Message, "read fail") {
		drop := false
		r.Attrs(func(a slog.Attr) bool {
			if strings.Contains(a.Value.String(), "context canceled") {
				drop = true
				return false
			}
			return true
		})
		if drop {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *dropHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &dropHandler{Handler: h.Handler.WithAttrs(as)}
}

func (h *dropHandler) WithGroup(name string) slog.Handler {
	return &dropHandler{Handler: h.Handler.WithGroup(name)}
}
