package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	goredis "github.com/redis/go-redis/v9"

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
	go p.read(ctx, start, deliver)
	return nil
}

// pushReadBatch is how many pushes one XREAD takes at most.
const pushReadBatch = 512

// read delivers the stream's entries after start, in order, until ctx ends. It reads the
// entries the publisher (watermill-redisstream) wrote, decoded with its unmarshaller, but not
// with its subscriber: in fan-out mode that reads one entry per XREAD, and the embedded Redis
// scans the whole stream on each, so at 1,000 messages/s a gateway fell behind by half a second
// (docs/benchmarks.md, 2026-12-04). Here one XREAD takes everything that is there, up to
// pushReadBatch, and blocks only when nothing is.
func (p *Pushes) read(ctx context.Context, start string, deliver func(projections.Push)) {
	cl := p.conn.Client()
	defer cl.Close()
	last := start
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		res, err := cl.XRead(ctx, &goredis.XReadArgs{Streams: []string{p.stream, last}, Count: pushReadBatch, Block: time.Second}).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.met.RedisError("read_pushes")
			p.log.Warn("read pushes; retrying", "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		for _, xs := range res {
			for _, m := range xs.Messages {
				last = m.ID
				push, err := decodePush(m.Values)
				if err != nil {
					p.log.Warn("bad push skipped", "id", m.ID, "err", err)
					continue
				}
				deliver(push)
			}
		}
	}
}

// decodePush reads one stream entry as the publisher (watermill-redisstream) wrote it; anything
// else in the stream is an error (FuzzDecodePush).
func decodePush(values map[string]any) (push projections.Push, err error) {
	var unmarshal redisstream.DefaultMarshallerUnmarshaller
	msg, err := unmarshal.Unmarshal(values)
	if err != nil {
		return push, err
	}
	if err := json.Unmarshal(msg.Payload, &push); err != nil {
		return push, err
	}
	// The frame goes to sockets as it is: one that is not a JSON object (absent, null, a
	// number) would reach clients as a frame they cannot read.
	if f := bytes.TrimSpace(push.Frame); len(f) == 0 || f[0] != '{' {
		return push, fmt.Errorf("push without a frame object")
	}
	return push, nil
}
