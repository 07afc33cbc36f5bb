package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/adapters/metrics"
	"github.com/chorus-chat/chorus/projections"
)

// Caps of the push stream: pushes are for sockets that are connected now; anything older is
// read from history. miniredis scans a stream linearly on every XREAD (measured: 55 reads/s
// at 100k entries, 278/s at 20k), so the embedded Redis got a short stream; readers now read
// through consumer groups, which it does not scan (see read); the cap has stayed.
const (
	PushStreamMaxLen         = 100_000
	EmbeddedPushStreamMaxLen = 1_000
)

// Pushes are the push streams: the push projector and the gateways append, each gateway reads
// what its sockets need (routes.go) through consumer groups of its own and delivers to its
// sockets. With one shard (the default) there is one stream, which every gateway reads whole.
type Pushes struct {
	conn   *Conn
	stream string // the broadcast stream; with one shard, the only one
	maxLen int64
	shards int
	// roomStreams and userStreams name the shards' streams (routes.go), when shards > 1.
	roomStreams, userStreams []string
	// idle and sweepEvery are feedIdle and feedSweepEvery (shorter in tests).
	idle, sweepEvery time.Duration
	log              *slog.Logger
	met              *metrics.Metrics // nil: not measured (UseMetrics)
}

// NewPushes names the streams under the connection's prefix; appends keep each at about maxLen
// entries. It has one shard until Shards says otherwise.
func NewPushes(conn *Conn, maxLen int64, log *slog.Logger) *Pushes {
	return &Pushes{conn: conn, stream: conn.SlotKey("pushes"), maxLen: maxLen, shards: 1, idle: feedIdle, sweepEvery: feedSweepEvery, log: log}
}

// streamReader is one reader of one stream: its consumer group, where it started, and the last
// entry it delivered. mu is held while it delivers what one read brought, so that a catch-up
// (Feed.joined) sees a position no delivery is moving.
type streamReader struct {
	stream, group string
	start         string // the entry it started after ("0": the stream's first)

	mu   sync.Mutex
	last string // the last entry delivered (start before any)
}

// startReader creates a reader's group on stream, after the entry after (or, when after is
// empty, after the stream's current last entry, read here rather than with "$" when the reader
// gets to it: every push appended once startReader returns is delivered). It first removes the
// groups of readers that fell behind the stream (pruneGroups).
func (p *Pushes) startReader(ctx context.Context, stream, after string) (*streamReader, error) {
	cl := p.conn.Client()
	defer cl.Close()
	p.pruneGroups(ctx, cl, stream)
	if after == "" {
		after = "0"
		last, err := cl.XRevRangeN(ctx, stream, "+", "-", 1).Result()
		if err != nil {
			p.met.RedisError("subscribe_pushes")
			return nil, fmt.Errorf("push stream %s: %w", stream, err)
		}
		if len(last) > 0 {
			after = last[0].ID
		}
	}
	group := p.readerGroupPrefix() + uuid.NewString()
	if err := cl.XGroupCreateMkStream(ctx, stream, group, after).Err(); err != nil {
		p.met.RedisError("subscribe_pushes")
		return nil, fmt.Errorf("push stream %s: reader group: %w", stream, err)
	}
	return &streamReader{stream: stream, group: group, start: after, last: after}, nil
}

// readerGroupPrefix starts the name of every reader's consumer group: only groups named so are
// ever pruned.
func (p *Pushes) readerGroupPrefix() string { return p.conn.Key("pushes-reader") + ":" }

// pushReaderConsumer is the one consumer of each reader's group.
const pushReaderConsumer = "reader"

// pushReadBatch is how many pushes one XREADGROUP takes at most.
const pushReadBatch = 512

// read delivers the stream's entries after start, in order, until ctx ends, then removes its
// group. It reads the entries the publisher (watermill-redisstream) wrote, decoded with its
// unmarshaller, but not with its subscriber: in fan-out mode that reads one entry per XREAD, and
// the embedded Redis scans the whole stream on each, so at 1,000 messages/s a gateway fell behind
// by half a second (docs/benchmarks.md, 2026-12-04). Here one read takes everything that is
// there, up to pushReadBatch, and blocks only when nothing is.
//
// It reads with XREADGROUP (NOACK, so no pending entries are kept) through a group of its own
// rather than with XREAD: miniredis runs every blocked read again after every command any
// client sends, and its XREAD walks the stream from its first entry, parsing every id, to find
// those after the reader's (15% of a core at 1,000 messages/s with the embedded stream's 1,000
// entries), while it finds a group's position with a binary search. Each reader having its own
// group keeps the fan-out: every gateway reads everything.
//
// The reader remembers the last entry it delivered; if its group is gone (NOGROUP: Redis
// restarted, or pruneGroups removed it), it creates it again there and goes on, missing nothing
// after it and delivering nothing before it again.
func (p *Pushes) read(ctx context.Context, r *streamReader, deliver func(projections.Push)) {
	cl := p.conn.Client()
	defer cl.Close()
	defer p.removeGroup(cl, r.stream, r.group)
	group := r.group
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		res, err := cl.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: group, Consumer: pushReaderConsumer, Streams: []string{r.stream, ">"},
			Count: pushReadBatch, Block: time.Second, NoAck: true,
		}).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil && ctx.Err() == nil && isNoGroup(err) {
			r.mu.Lock()
			last := r.last
			r.mu.Unlock()
			err = cl.XGroupCreateMkStream(ctx, r.stream, group, last).Err()
			if err == nil {
				p.log.Warn("push reader's group was gone; created again", "stream", r.stream, "group", group, "after", last)
				continue
			}
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
		r.mu.Lock()
		for _, xs := range res {
			for _, m := range xs.Messages {
				r.last = m.ID
				pushes, err := decodePushes(m.Values)
				if err != nil {
					p.log.Warn("bad push entry skipped", "stream", r.stream, "id", m.ID, "err", err)
					continue
				}
				p.met.PushEntryRead(len(pushes), entryBytes(m.Values))
				now := time.Now()
				for _, push := range pushes {
					p.met.Stage(metrics.StagePushRead, push.OccurredAt, now)
					deliver(push)
				}
			}
		}
		r.mu.Unlock()
	}
}

// removeGroup destroys a reader's group once its ctx has ended (so with a timeout of its own),
// at best: a group left behind is pruned when a reader of its stream next starts.
func (p *Pushes) removeGroup(cl goredis.UniversalClient, stream, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := cl.XGroupDestroy(ctx, stream, group).Err(); err != nil {
		p.log.Warn("remove push reader group", "group", group, "err", err)
	}
}

// pruneGroups removes the reader groups that have fallen behind the stream: those whose last
// delivered entry is older than the stream's first, so that entries they had not read were
// trimmed. They are the groups of gateways that died without removing theirs (kill -9), or of
// a reader so far behind that it has lost pushes anyway. Removing a group is always safe: a
// live reader whose group is gone gets NOGROUP on its next read and creates it again at the last
// entry it delivered (read), so it misses nothing and repeats nothing; it costs it one round
// trip. Only groups named with readerGroupPrefix are touched. Errors are logged, not returned:
// a group left behind costs memory, no reads.
func (p *Pushes) pruneGroups(ctx context.Context, cl goredis.UniversalClient, stream string) {
	first, err := cl.XRangeN(ctx, stream, "-", "+", 1).Result()
	if err != nil || len(first) == 0 {
		if err != nil {
			p.log.Warn("prune push reader groups", "err", err)
		}
		return
	}
	oldest, ok := parseStreamID(first[0].ID)
	if !ok {
		return
	}
	groups, err := cl.XInfoGroups(ctx, stream).Result()
	if err != nil {
		p.log.Warn("prune push reader groups", "err", err)
		return
	}
	prefix := p.readerGroupPrefix()
	for _, g := range groups {
		at, ok := parseStreamID(g.LastDeliveredID)
		if !strings.HasPrefix(g.Name, prefix) || !ok || !at.before(oldest) {
			continue
		}
		if err := cl.XGroupDestroy(ctx, stream, g.Name).Err(); err != nil {
			p.log.Warn("prune push reader group", "group", g.Name, "err", err)
			continue
		}
		p.log.Info("pruned a push reader group behind the stream", "stream", stream, "group", g.Name, "last_delivered", g.LastDeliveredID, "first_entry", first[0].ID)
	}
}

// streamID is a stream entry id, <milliseconds>-<sequence>.
type streamID struct{ ms, seq uint64 }

// parseStreamID reads "<ms>-<seq>" or "<ms>".
func parseStreamID(s string) (streamID, bool) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, false
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return streamID{}, false
		}
	}
	return streamID{ms, seq}, true
}

func (a streamID) before(b streamID) bool { return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq) }

// isNoGroup says whether a read failed because the group (or the stream) is gone.
func isNoGroup(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "NOGROUP")
}

// entryBytes is the size of a stream entry's values as read (its payload, mostly): what a
// reader received and decoded, counted whether or not its sockets wanted the pushes.
func entryBytes(values map[string]any) int {
	n := 0
	for _, v := range values {
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
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
	pushes, err := projections.DecodePushes(msg.Payload)
	if err != nil {
		return nil, err
	}
	if err := projections.CheckFrames(pushes); err != nil {
		return nil, err
	}
	return pushes, nil
}
