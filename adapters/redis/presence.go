package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/chorus-chat/chorus/projections"
)

// Presence is the shared record of who is online: a user is online while any of their sockets,
// on any gateway, has a live entry. It is ephemeral state, kept in Redis with expiry rather
// than in the event log.
//
// Keys, under the connection's prefix as hash tag ({<prefix>}:, Conn.SlotKey):
//
//	presence:conns:<user>      sorted set: the user's connection ids, scored by expiry (unix ms)
//	presence:announced:<user>  set while the last presence push sent for the user said online
//	presence:entries           sorted set: "<user> <conn>" of every connection, scored by expiry,
//	                           for the sweeper that finds the entries of a crashed gateway
//
// Every transition runs as one Lua script that also appends the presence push to the push
// stream, so the pushes are in the same order as the transitions whatever the gateways racing,
// and the announced flag makes "online" and "offline" alternate: a user is announced online
// once however many sockets they open, and offline once, by whoever removes the last live
// entry (a closing socket, or a sweeper finding it expired). A script touches the user's keys,
// the entries of every user and the push stream: all of them share the stream's hash tag, so on
// a Redis Cluster they are in one slot.
type Presence struct {
	conn    *Conn
	cl      goredis.UniversalClient
	entries string
	stream  string
	maxLen  int64
}

// NewPresence keeps presence under conn's prefix and appends its pushes to the stream of pushes.
func NewPresence(conn *Conn, pushes *Pushes) *Presence {
	return &Presence{
		conn: conn, cl: conn.Client(), entries: conn.SlotKey("presence", "entries"),
		stream: pushes.stream, maxLen: pushes.maxLen,
	}
}

// Close closes the client.
func (p *Presence) Close() error { return p.cl.Close() }

// Script modes: probe asks whether the call would announce a transition (and changes nothing
// if so), push makes the change and appends the push given, silent makes it without a push
// (for a user with no rooms, whom nobody is told about).
const (
	modeProbe  = "probe"
	modePush   = "push"
	modeSilent = "silent"
	needPush   = -1 // a script's answer in probe mode: a transition needs its push
)

// pushXADD appends ARGV[7] as a watermill message (the fields redisstream's default marshaller
// writes: its uuid header and the payload) to the push stream, capped at about ARGV[8] entries.
const pushXADD = `
local function push()
  if ARGV[5] == 'push' then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', '_watermill_message_uuid', ARGV[6], 'payload', ARGV[7])
  end
end
`

// touchScript: KEYS conns, announced, entries, stream; ARGV conn, member, now, expiry, mode,
// msg id, payload, maxlen, ttl. Records conn as live until expiry; announces the user online
// unless they already are.
var touchScript = goredis.NewScript(pushXADD + `
local announced = redis.call('EXISTS', KEYS[2]) == 1
if not announced and ARGV[5] == 'probe' then return -1 end
local expiry = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
redis.call('ZADD', KEYS[3], expiry, ARGV[2])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local last = math.max(expiry, tonumber(top[2]))
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', last))
-- The flag outlives the entries by a ttl, so that a sweeper has that long to announce the
-- offline of a user whose gateway died.
local flagUntil = string.format('%.0f', last + tonumber(ARGV[9]))
if announced then
  redis.call('PEXPIREAT', KEYS[2], flagUntil)
  return 0
end
redis.call('SET', KEYS[2], '1')
redis.call('PEXPIREAT', KEYS[2], flagUntil)
push()
return 1
`)

// leaveScript: KEYS as touchScript; ARGV conn, member, now, mode, msg id, payload, maxlen,
// onlyExpired. Forgets conn; announces the user offline when no live entry is left. With
// onlyExpired (the sweeper) it does nothing unless conn's entry is still there and expired.
// It answers 2 (forgotten, and announces nothing) when conn's entry is not there and nothing
// else says the user is online (no live entry, no announced flag).
var leaveScript = goredis.NewScript(pushXADD + `
local now = tonumber(ARGV[3])
local entry = redis.call('ZSCORE', KEYS[3], ARGV[2])
if not entry then
  -- Already swept (its offline, if due, was announced then), never recorded, or forgotten by
  -- a Redis that restarted.
  redis.call('ZREM', KEYS[1], ARGV[1])
  if ARGV[9] ~= '1' and redis.call('EXISTS', KEYS[2]) == 0 and redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf') == 0 then
    return 2
  end
  return 0
end
if ARGV[9] == '1' and tonumber(entry) > now then return 0 end
local live = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf')
local mine = redis.call('ZSCORE', KEYS[1], ARGV[1])
if mine and tonumber(mine) > now then live = live - 1 end
local offline = live == 0 and redis.call('EXISTS', KEYS[2]) == 1
if offline and ARGV[5] == 'probe' then return -1 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
if not offline then return 0 end
redis.call('DEL', KEYS[2])
push()
return 1
`)

func (p *Presence) keys(user uuid.UUID) []string {
	u := user.String()
	return []string{p.conn.SlotKey("presence", "conns", u), p.conn.SlotKey("presence", "announced", u), p.entries, p.stream}
}

func entryMember(user uuid.UUID, conn string) string { return user.String() + " " + conn }

// Touch records that connection conn of user is alive for ttl more. When that makes the user
// online (they were not announced online), the push that online builds is appended to the
// push stream in the same step, and Touch reports true. online is called only then.
func (p *Presence) Touch(ctx context.Context, user uuid.UUID, conn string, ttl time.Duration, online func() (projections.Push, error)) (bool, error) {
	now := time.Now()
	args := func(mode, id, payload string) []any {
		return []any{conn, entryMember(user, conn), now.UnixMilli(), now.Add(ttl).UnixMilli(), mode, id, payload, p.maxLen, ttl.Milliseconds()}
	}
	n, err := p.transition(ctx, touchScript, user, args, online)
	return n == 1, err
}

// Leave forgets connection conn of user. When it was the user's last live connection, the push
// that offline builds is appended in the same step and Leave reports off. It reports forgotten
// (and appends nothing) when Redis held neither conn's entry nor any other sign of the user
// online: it restarted and lost them, or a sweeper found conn's entry expired and announced the
// offline already. Either way no live socket of the user is known: the caller may end the user's
// session (online time), which nothing else would do after a restart.
func (p *Presence) Leave(ctx context.Context, user uuid.UUID, conn string, offline func() (projections.Push, error)) (off, forgotten bool, err error) {
	n, err := p.leave(ctx, user, conn, false, offline)
	return n == 1, n == leaveForgotten, err
}

// leaveForgotten is leaveScript's answer when nothing in Redis showed the user online.
const leaveForgotten = 2

func (p *Presence) leave(ctx context.Context, user uuid.UUID, conn string, onlyExpired bool, offline func() (projections.Push, error)) (int, error) {
	now := time.Now().UnixMilli()
	flag := "0"
	if onlyExpired {
		flag = "1"
	}
	args := func(mode, id, payload string) []any {
		return []any{conn, entryMember(user, conn), now, "", mode, id, payload, p.maxLen, flag}
	}
	// ARGV[4] is unused here: both scripts keep mode, id, payload and maxlen at ARGV[5..8],
	// where pushXADD reads them.
	return p.transition(ctx, leaveScript, user, args, offline)
}

// transition runs a script in probe mode first, so that the push (which may cost a read-model
// query for the user's rooms) is built only when a transition is due, then again with it. The
// second run decides afresh: if another gateway made the transition in between, nothing is
// announced twice.
func (p *Presence) transition(ctx context.Context, s *goredis.Script, user uuid.UUID, args func(mode, id, payload string) []any, build func() (projections.Push, error)) (int, error) {
	keys := p.keys(user)
	n, err := s.Run(ctx, p.cl, keys, args(modeProbe, "", "")...).Int()
	if err != nil {
		return 0, fmt.Errorf("presence of %s: %w", user, err)
	}
	if n != needPush {
		return n, nil
	}
	push, err := build()
	if err != nil {
		return 0, fmt.Errorf("presence push of %s: %w", user, err)
	}
	mode, payload := modeSilent, ""
	if len(push.Frame) > 0 {
		b, err := json.Marshal(push)
		if err != nil {
			return 0, fmt.Errorf("encode presence push: %w", err)
		}
		mode, payload = modePush, string(b)
	}
	n, err = s.Run(ctx, p.cl, keys, args(mode, uuid.NewString(), payload)...).Int()
	if err != nil {
		return 0, fmt.Errorf("presence of %s: %w", user, err)
	}
	return n, nil
}

// Sweep forgets up to limit connection entries that expired without being left (their gateway
// crashed or lost Redis for longer than their ttl), announcing offline, as Leave does, for each
// user who has no live entry left; offline builds that push. Several gateways may sweep at
// once: each entry is forgotten, and each offline announced, by exactly one. It returns how
// many expired entries it found (limit means there may be more) and how many users it
// announced offline. It tells ended, when it is not nil, of each user it announced offline: the
// connection whose expired entry was their last, and when that entry expired (its last refresh
// plus the ttl it was given), for online time.
func (p *Presence) Sweep(ctx context.Context, limit int, offline func(user uuid.UUID) (projections.Push, error),
	ended func(user uuid.UUID, conn string, expiredAt time.Time)) (found, announced int, err error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	entries, err := p.cl.ZRangeArgsWithScores(ctx, goredis.ZRangeArgs{Key: p.entries, Start: "-inf", Stop: now, ByScore: true, Count: int64(limit)}).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("expired presence entries: %w", err)
	}
	members := make([]string, len(entries))
	for i, z := range entries {
		members[i], _ = z.Member.(string)
	}
	for i, m := range members {
		u, conn, ok := strings.Cut(m, " ")
		user, perr := uuid.Parse(u)
		if !ok || perr != nil {
			// Not ours to understand: drop it rather than find it on every sweep.
			p.cl.ZRem(ctx, p.entries, m)
			continue
		}
		n, err := p.leave(ctx, user, conn, true, func() (projections.Push, error) { return offline(user) })
		if err != nil {
			return len(members), announced, err
		}
		if n == 1 {
			announced++
			if ended != nil {
				ended(user, conn, time.UnixMilli(int64(entries[i].Score)))
			}
		}
	}
	return len(members), announced, nil
}

// Online tells which of users have a live connection, in one pipelined round trip.
func (p *Presence) Online(ctx context.Context, users []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := make(map[uuid.UUID]bool, len(users))
	if len(users) == 0 {
		return out, nil
	}
	lowest := "(" + strconv.FormatInt(time.Now().UnixMilli(), 10)
	pipe := p.cl.Pipeline()
	counts := make([]*goredis.IntCmd, len(users))
	for i, u := range users {
		counts[i] = pipe.ZCount(ctx, p.conn.SlotKey("presence", "conns", u.String()), lowest, "+inf")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("presence lookup: %w", err)
	}
	for i, u := range users {
		out[u] = counts[i].Val() > 0
	}
	return out, nil
}
