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

// maxPushEntry bounds the pushes' JSON in one stream entry: a batch larger than that (an
// organization's broadcast to many thousands) is written as several entries.
const maxPushEntry = 256 << 10

// Publish appends pushes in order: a batch is one stream entry (one XADD), whose payload is the
// JSON array of its pushes, split only past maxPushEntry. One entry per batch rather than per
// push saves a round trip per push, and a reader's scan of the embedded Redis's stream (which
// miniredis walks entry by entry on every read) is shorter for the same span of time.
func (pp *PushPublisher) Publish(pushes []projections.Push) error {
	if len(pushes) == 0 {
		return nil
	}
	var msgs []*message.Message
	buf := []byte{'['}
	flush := func() {
		if len(buf) > 1 {
			buf = append(buf, ']')
			msgs = append(msgs, message.NewMessage(watermill.NewUUID(), buf))
			buf = []byte{'['}
		}
	}
	for _, p := range pushes {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode push: %w", err)
		}
		if len(buf) > 1 && len(buf)+len(b) > maxPushEntry {
			flush()
		}
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	flush()
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
				pushes, err := decodePushes(m.Values)
				if err != nil {
					p.log.Warn("bad push entry skipped", "id", m.ID, "err", err)
					continue
				}
				now := time.Now()
				for _, push := range pushes {
					p.met.Stage(metrics.StagePushRead, push.OccurredAt, now)
					deliver(push)
				}
			}
		}
	}
}

// decodePushes reads one stream entry as the publisher (watermill-redisstream) wrote it: the
// JSON array of a batch's pushes, or (written before batches were one entry) a single push
// object. Anything else in the stream is an error (FuzzDecodePush), and so is the whole entry
// when one of its pushes is.
func decodePushes(values map[string]any) ([]projections.Push, error) {
	var unmarshal redisstream.DefaultMarshallerUnmarshaller
	msg, err := unmarshal.Unmarshal(values)
	if err != nil {
		return nil, err
	}
	payload := bytes.TrimSpace(msg.Payload)
	var pushes []projections.Push
	if len(payload) > 0 && payload[0] == '[' {
		if err := json.Unmarshal(payload, &pushes); err != nil {
			return nil, err
		}
	} else {
		var push projections.Push
		if err := json.Unmarshal(payload, &push); err != nil {
			return nil, err
		}
		pushes = []projections.Push{push}
	}
	for _, push := range pushes {
		// The frame goes to sockets as it is: one that is not a JSON object (absent, null, a
		// number) would reach clients as a frame they cannot read.
		if f := bytes.TrimSpace(push.Frame); len(f) == 0 || f[0] != '{' {
			return nil, fmt.Errorf("push without a frame object")
		}
	}
	return pushes, nil
}
