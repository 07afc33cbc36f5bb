package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
)

// Routed pushes (docs/architecture.md, "Routed pushes").
//
// With S > 1 shards, the pushes of a room go to the stream of the room's shard and the pushes
// of a user (read markers, an organization's broadcast) to the stream of the user's shard; a
// room and a user hash into the same S streams. What names no room or user (system events,
// presence, which the presence scripts append) goes to the broadcast stream, which every
// gateway reads. A gateway reads a shard while one of its sockets is subscribed to a room of it
// or belongs to a user of it, so its reading follows its own sockets' traffic, not the whole
// system's. Per-room order holds: a room's pushes are in one stream, in the order appended.
//
// Reading a shard from "now on" is what a new socket needs (Feed.Read before it subscribes):
// pushes appended before it was subscribed are read from history, as with one stream. The one
// case that needs more is a join: the user_joined is in the room's shard, which the joining
// user's gateway may not read. So the publisher also appends a signal (TargetJoined) to the
// user's shard naming the entry that holds the user_joined; a gateway holding the user's
// sockets then reads the room's shard from that entry on, or, if it already read the shard
// from a later point, reads the entries it skipped once and hands them to the user's sockets
// (Feed.joined). Neither way delivers an entry twice to a socket, and per-room order holds.
//
// A new socket's rooms come from the read model, which may lag behind the pushes: the gateway
// waits for the read model to include its user's membership changes that came before the socket
// (adapters/gateway, membership.go). It sees only its shards' changes, so the publisher also
// keeps, per user, the log position of the newest join or leave (MembershipPositions), written
// before the pushes.

// MaxPushShards bounds CHORUS_PUSH_SHARDS: each shard a gateway reads is a blocked read (one
// connection) of its own.
const MaxPushShards = 256

// Shards routes pushes over n streams (1: one stream that every gateway reads, as before
// routing). Every process of a deployment must use the same n.
func (p *Pushes) Shards(n int) *Pushes {
	p.shards = max(1, n)
	p.roomStreams, p.userStreams = nil, nil
	if p.routed() {
		// Named once: the publisher routes every push, the feed every socket's rooms.
		for i := range p.shards {
			p.roomStreams = append(p.roomStreams, "{"+p.conn.Key("pushes", "r"+strconv.Itoa(i))+"}")
			p.userStreams = append(p.userStreams, "{"+p.conn.Key("pushes", "u"+strconv.Itoa(i))+"}")
		}
	}
	return p
}

// routed says whether the pushes are routed over several shards.
func (p *Pushes) routed() bool { return p.shards > 1 }

// RoomStream is the stream of a room's shard, UserStream of a user's (with one shard, both are
// the one stream). Rooms and users have shards of their own: a gateway holds the sockets of many
// users, whose shards would cover most of a room family, while it holds a share of the rooms.
// Each shard is its own hash tag, so that a cluster spreads them over its masters.
func (p *Pushes) RoomStream(room uuid.UUID) string { return p.shardStream(p.roomStreams, room) }

// UserStream is the stream of a user's shard (RoomStream).
func (p *Pushes) UserStream(user uuid.UUID) string { return p.shardStream(p.userStreams, user) }

func (p *Pushes) shardStream(streams []string, id uuid.UUID) string {
	if !p.routed() {
		return p.stream
	}
	// FNV-1a over the id's bytes: room ids are UUIDv7, whose first bytes are a time.
	h := uint32(2166136261)
	for _, b := range id {
		h ^= uint32(b)
		h *= 16777619
	}
	return streams[h%uint32(p.shards)]
}

// membershipKey holds a user's newest membership change per log partition (routes.go, top).
func (p *Pushes) membershipKey(user uuid.UUID) string {
	return p.conn.Key("membership", user.String())
}

// membershipTTL is how long a user's membership positions are kept after their last change: far
// longer than the read model takes to apply a change, short enough not to keep every user.
const membershipTTL = 24 * time.Hour

// raiseMembership sets each field (a log partition) of KEYS[1] to its value (an offset) unless
// it holds a larger one already (a projector re-sending after a crash), then renews the expiry.
var raiseMembership = goredis.NewScript(`
for i = 1, #ARGV - 1, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or tonumber(cur) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
return 0
`)

// PushPublisher appends pushes to the streams they are routed to.
type PushPublisher struct {
	p  *Pushes
	cl goredis.UniversalClient
}

// Publisher opens a publisher (with its own client).
func (p *Pushes) Publisher() (*PushPublisher, error) {
	return &PushPublisher{p: p, cl: p.conn.Client()}, nil
}

// Close closes the publisher's client.
func (pp *PushPublisher) Close() error { return pp.cl.Close() }

// maxPushEntry bounds the pushes' JSON in one stream entry: a batch larger than that (an
// organization's broadcast to many thousands) is written as several entries.
const maxPushEntry = 256 << 10

// publishTimeout bounds one Publish.
const publishTimeout = 10 * time.Second

// Publish appends pushes in order. A batch's pushes for one stream are one stream entry (one
// XADD), whose payload is the JSON array of those pushes, split only past maxPushEntry: one
// entry per batch rather than per push saves a round trip per push, and the embedded Redis's
// stream (capped in entries) holds a longer span of time. The entries are written as
// watermill-redisstream's publisher writes them (its marshaller), through XADD itself because
// the join signals need the entries' ids.
//
// With routing, the membership positions are written first, then the streams' entries (one
// pipeline), then the join signals, which name the entries of the second step.
func (pp *PushPublisher) Publish(pushes []projections.Push) error {
	if len(pushes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := pp.publish(ctx, pushes); err != nil {
		pp.p.met.RedisError("publish_pushes")
		return err
	}
	return nil
}

func (pp *PushPublisher) publish(ctx context.Context, pushes []projections.Push) error {
	p := pp.p
	if !p.routed() {
		_, err := pp.append(ctx, []streamBatch{{stream: p.stream, pushes: pushes}})
		return err
	}
	if err := pp.raiseMemberships(ctx, pushes); err != nil {
		return err
	}
	batches := p.route(pushes)
	ids, err := pp.append(ctx, batches)
	if err != nil {
		return err
	}
	// The signals of the joins, to the joining users' shards.
	var signals []projections.Push
	for i, b := range batches {
		for j, push := range b.pushes {
			if push.Kind == projections.PushUserJoined && push.Target == projections.TargetRoom {
				s := push
				s.Target, s.Entry = projections.TargetJoined, ids[i][b.entryOf[j]]
				signals = append(signals, s)
			}
		}
	}
	if len(signals) == 0 {
		return nil
	}
	_, err = pp.append(ctx, p.route(signals))
	return err
}

// raiseMemberships writes the joins' and leaves' positions per user (routes.go, top).
func (pp *PushPublisher) raiseMemberships(ctx context.Context, pushes []projections.Push) error {
	byUser := map[uuid.UUID]map[string]int64{}
	for _, push := range pushes {
		if push.Target != projections.TargetRoom || (push.Kind != projections.PushUserJoined && push.Kind != projections.PushUserLeft) {
			continue
		}
		pos, err := domain.ParsePosition(push.Position)
		if err != nil {
			continue // a gateway's own push, or an older projector's: nothing to wait for
		}
		parts := byUser[push.UserID]
		if parts == nil {
			parts = map[string]int64{}
			byUser[push.UserID] = parts
		}
		f := pos.Topic + ":" + strconv.Itoa(int(pos.Partition))
		parts[f] = max(parts[f], pos.Offset)
	}
	if len(byUser) == 0 {
		return nil
	}
	pipe := pp.cl.Pipeline()
	for user, parts := range byUser {
		args := make([]any, 0, 2*len(parts)+1)
		for f, off := range parts {
			args = append(args, f, off)
		}
		args = append(args, int64(membershipTTL/time.Second))
		// Eval, not Run: a pipeline cannot fall back from EVALSHA on NOSCRIPT.
		raiseMembership.Eval(ctx, pipe, []string{pp.p.membershipKey(user)}, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("membership positions: %w", err)
	}
	return nil
}

// streamBatch is the pushes of one Publish for one stream; entryOf gives, per push, which of
// the entries written for them holds it.
type streamBatch struct {
	stream  string
	pushes  []projections.Push
	entryOf []int
}

// batches gathers pushes per stream, in the order of their first push, keeping their order
// within each.
type batches struct {
	out []streamBatch
	at  map[string]int
}

func (b *batches) add(stream string, push projections.Push) {
	if b.at == nil {
		b.at = map[string]int{}
	}
	i, ok := b.at[stream]
	if !ok {
		i = len(b.out)
		b.at[stream] = i
		b.out = append(b.out, streamBatch{stream: stream})
	}
	b.out[i].pushes = append(b.out[i].pushes, push)
}

// route splits pushes by the stream each goes to.
func (p *Pushes) route(pushes []projections.Push) []streamBatch {
	var b batches
	for _, push := range pushes {
		switch push.Target {
		case projections.TargetRoom:
			b.add(p.RoomStream(push.RoomID), push)
		case projections.TargetUser, projections.TargetJoined:
			b.add(p.UserStream(push.UserID), push)
		case projections.TargetUsers:
			// One push per shard, naming that shard's users.
			users := map[string][]uuid.UUID{}
			var order []string
			for _, u := range push.UserIDs {
				s := p.UserStream(u)
				if _, ok := users[s]; !ok {
					order = append(order, s)
				}
				users[s] = append(users[s], u)
			}
			for _, s := range order {
				part := push
				part.UserIDs = users[s]
				b.add(s, part)
			}
		default:
			b.add(p.stream, push)
		}
	}
	return b.out
}

// append writes each batch as one entry or, past maxPushEntry, several, in one pipeline, and
// returns the ids of each batch's entries. It fills the batches' entryOf.
func (pp *PushPublisher) append(ctx context.Context, batches []streamBatch) ([][]string, error) {
	var marshal redisstream.DefaultMarshallerUnmarshaller
	pipe := pp.cl.Pipeline()
	cmds := make([][]*goredis.StringCmd, len(batches))
	var enc []byte // one push's JSON, reused
	for i := range batches {
		b := &batches[i]
		b.entryOf = make([]int, len(b.pushes))
		buf := []byte{'['}
		flush := func() error {
			if len(buf) == 1 {
				return nil
			}
			buf = append(buf, ']')
			values, err := marshal.Marshal(b.stream, message.NewMessage(watermill.NewUUID(), buf))
			if err != nil {
				return err
			}
			cmds[i] = append(cmds[i], pipe.XAdd(ctx, &goredis.XAddArgs{Stream: b.stream, Values: values, MaxLen: pp.p.maxLen, Approx: true}))
			buf = []byte{'['}
			return nil
		}
		for j := range b.pushes {
			var err error
			enc, err = b.pushes[j].AppendJSON(enc[:0])
			if err != nil {
				return nil, fmt.Errorf("encode push: %w", err)
			}
			if len(buf) > 1 && len(buf)+len(enc) > maxPushEntry {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			if len(buf) > 1 {
				buf = append(buf, ',')
			}
			buf = append(buf, enc...)
			b.entryOf[j] = len(cmds[i])
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	ids := make([][]string, len(batches))
	for i, cs := range cmds {
		for _, c := range cs {
			ids[i] = append(ids[i], c.Val())
		}
	}
	return ids, nil
}

// PushSink is what a gateway does with the pushes routed to it (adapters/gateway's Gateway).
type PushSink interface {
	// Deliver hands a push to the sockets it targets.
	Deliver(projections.Push)
	// HasUser says whether the gateway holds (or is setting up) a socket of user.
	HasUser(user uuid.UUID) bool
	// JoinedUnread subscribes the user's sockets that are not subscribed to room and hands them
	// pushes, the room's from its user_joined on, which the gateway read before they were.
	JoinedUnread(user, room uuid.UUID, pushes []projections.Push)
	// Interest calls room with every room a socket is subscribed to and user with every user
	// with a socket: the shards of those are the ones to read.
	Interest(room, user func(uuid.UUID))
}

// Feed reads the streams a gateway's sockets need: the broadcast stream always; with routing,
// each shard from the first Read that needs it until no socket has needed it for feedIdle.
type Feed struct {
	p    *Pushes
	sink PushSink
	ctx  context.Context
	// cl serves the feed's own requests (a socket's membership positions, a join's catch-up);
	// nil with one shard. The readers have clients of their own (blocked reads).
	cl goredis.UniversalClient

	mu      sync.Mutex
	readers map[string]*feedReader
	signals chan projections.Push
}

// feedReader is a stream being read for the feed.
type feedReader struct {
	*streamReader
	cancel    context.CancelFunc
	permanent bool
	pins      int       // Reads and catch-ups in progress
	idleSince time.Time // zero: needed at the last look
}

// feedIdle is how long a shard no socket needs is still read (a room left and joined again, or
// a user who reconnects, does not restart it); feedSweepEvery is how often the feed looks for
// shards to stop reading.
const feedIdle, feedSweepEvery = 30 * time.Second, 10 * time.Second

// Route starts reading for sink until ctx ends: the broadcast stream now, the shards as Read
// asks.
func (p *Pushes) Route(ctx context.Context, sink PushSink) (*Feed, error) {
	f := &Feed{p: p, sink: sink, ctx: ctx, readers: map[string]*feedReader{}, signals: make(chan projections.Push, 1024)}
	f.mu.Lock()
	r, err := f.startLocked(ctx, p.stream, "")
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r.permanent = true
	if p.routed() {
		f.cl = p.conn.Client()
		context.AfterFunc(ctx, func() { _ = f.cl.Close() })
		go f.joins()
		go f.sweep()
	}
	return f, nil
}

// Read makes sure that the shards of rooms and users are read, each from a point no later than
// now: every push for them appended once Read returns is delivered. Call release once the
// sockets are subscribed to rooms (or registered under users): until then the shards are not
// stopped.
func (f *Feed) Read(ctx context.Context, rooms, users []uuid.UUID) (release func(), err error) {
	if !f.p.routed() {
		return func() {}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var pinned []*feedReader
	unpin := func() {
		for _, r := range pinned {
			r.pins--
			r.idleSince = time.Time{}
		}
	}
	streams := make([]string, 0, len(rooms)+len(users))
	for _, r := range rooms {
		streams = append(streams, f.p.RoomStream(r))
	}
	for _, u := range users {
		streams = append(streams, f.p.UserStream(u))
	}
	for _, stream := range streams {
		r := f.readers[stream]
		if r == nil {
			if r, err = f.startLocked(ctx, stream, ""); err != nil {
				unpin()
				return nil, err
			}
		}
		r.pins++
		pinned = append(pinned, r)
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		unpin()
	}, nil
}

// startLocked starts reading stream after the entry after ("": after its last).
// The setup's round trips run under setup; the reading, until the feed's ctx ends or sweep
// stops it.
func (f *Feed) startLocked(setup context.Context, stream, after string) (*feedReader, error) {
	ctx, cancel := context.WithCancel(f.ctx)
	sr, err := f.p.startReader(setup, stream, after)
	if err != nil {
		cancel()
		return nil, err
	}
	r := &feedReader{streamReader: sr, cancel: cancel}
	f.readers[stream] = r
	f.p.met.PushStreamsRead(len(f.readers))
	go f.p.read(ctx, sr, f.deliver)
	return r, nil
}

// deliver hands a push to the sink, or a join's signal to the feed.
func (f *Feed) deliver(push projections.Push) {
	if push.Target != projections.TargetJoined {
		f.sink.Deliver(push)
		return
	}
	// Handled by its own goroutine: a catch-up waits for the room's shard's reader, which may be
	// waiting for this one's.
	select {
	case f.signals <- push:
	case <-f.ctx.Done():
	}
}

// joins handles the join signals in the order read.
func (f *Feed) joins() {
	for {
		select {
		case <-f.ctx.Done():
			return
		case s := <-f.signals:
			f.joined(s)
		}
	}
}

// joined makes sure that a user whose sockets are here reads the room they joined from the
// user_joined on (routes.go, top).
func (f *Feed) joined(s projections.Push) {
	if !f.sink.HasUser(s.UserID) {
		return // a new socket of the user waits for the read model to include the join
	}
	entry, ok := parseStreamID(s.Entry)
	if !ok {
		f.p.log.Warn("join signal without an entry; skipped", "room_id", s.RoomID, "user_id", s.UserID)
		return
	}
	stream := f.p.RoomStream(s.RoomID)
	f.mu.Lock()
	r := f.readers[stream]
	if r == nil {
		// Not read here: read it from just before the join's entry.
		setup, cancel := context.WithTimeout(f.ctx, 10*time.Second)
		_, err := f.startLocked(setup, stream, entry.prev().String())
		cancel()
		f.mu.Unlock()
		if err != nil {
			f.p.log.Warn("cannot read the shard of a room joined; the user's sockets miss it until they reconnect",
				"room_id", s.RoomID, "user_id", s.UserID, "err", err)
		}
		return
	}
	r.pins++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		r.pins--
		f.mu.Unlock()
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	start, ok := parseStreamID(r.start)
	if !ok || start.before(entry) {
		return // the reader delivers, or has delivered, the join itself
	}
	// The reader started after the join: hand the user's sockets what it skipped.
	pushes, err := f.skipped(s, r.last)
	if err != nil {
		f.p.log.Warn("cannot read a room joined from its join; the user's sockets miss it until they reconnect",
			"room_id", s.RoomID, "user_id", s.UserID, "err", err)
		return
	}
	f.sink.JoinedUnread(s.UserID, s.RoomID, pushes)
}

// skipped reads the room's pushes from its user_joined (in entry s.Entry) to last.
func (f *Feed) skipped(s projections.Push, last string) ([]projections.Push, error) {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	entries, err := f.cl.XRange(ctx, f.p.RoomStream(s.RoomID), s.Entry, last).Result()
	if err != nil {
		return nil, err
	}
	var out []projections.Push
	for i, m := range entries {
		if i == 0 && m.ID != s.Entry {
			return nil, fmt.Errorf("the entry of the join (%s) is no longer in the stream", s.Entry)
		}
		pushes, err := decodePushes(m.Values)
		if err != nil {
			continue
		}
		for _, push := range pushes {
			if push.RoomID != s.RoomID || push.Target != projections.TargetRoom {
				continue
			}
			if len(out) == 0 && (push.Kind != projections.PushUserJoined || push.UserID != s.UserID) {
				continue // before the join
			}
			out = append(out, push)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the join is not in its entry")
	}
	return out, nil
}

// sweep stops reading the shards no socket has needed for feedIdle.
func (f *Feed) sweep() {
	t := time.NewTicker(f.p.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		wanted := map[string]bool{}
		f.sink.Interest(func(r uuid.UUID) { wanted[f.p.RoomStream(r)] = true }, func(u uuid.UUID) { wanted[f.p.UserStream(u)] = true })
		now := time.Now()
		f.mu.Lock()
		for stream, r := range f.readers {
			switch {
			case r.permanent || wanted[stream] || r.pins > 0:
				r.idleSince = time.Time{}
			case r.idleSince.IsZero():
				r.idleSince = now
			case now.Sub(r.idleSince) >= f.p.idle:
				r.cancel() // its reader removes its group
				delete(f.readers, stream)
				f.p.met.PushStreamsRead(len(f.readers))
			}
		}
		f.mu.Unlock()
	}
}

// prev is the id just before a.
func (a streamID) prev() streamID {
	if a.seq > 0 {
		return streamID{a.ms, a.seq - 1}
	}
	if a.ms == 0 {
		return a
	}
	return streamID{a.ms - 1, ^uint64(0)}
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// MembershipPositions are the log positions of a user's newest joins and leaves, one per
// partition, as the publisher wrote them (none with one shard: every gateway sees every change).
func (f *Feed) MembershipPositions(ctx context.Context, user uuid.UUID) ([]domain.Position, error) {
	if !f.p.routed() {
		return nil, nil
	}
	fields, err := f.cl.HGetAll(ctx, f.p.membershipKey(user)).Result()
	if err != nil {
		f.p.met.RedisError("membership_positions")
		return nil, fmt.Errorf("membership positions: %w", err)
	}
	var out []domain.Position
	for field, v := range fields {
		pos, err := domain.ParsePosition(field + ":" + v)
		if err != nil {
			continue
		}
		out = append(out, pos)
	}
	return out, nil
}
