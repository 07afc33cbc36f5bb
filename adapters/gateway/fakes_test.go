package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// world is an in-memory stand-in for the write side, the read model and the accounts store,
// all at once. It decides commands with the real domain aggregates, projects their events at
// once and hands the pushes to the gateway before replying, the way the real pipeline can
// when the projector is faster than the reply. The Kafka and Postgres wiring is tested
// elsewhere; here it only has to behave like it.
type world struct {
	mu      sync.Mutex
	aggs    map[uuid.UUID]domain.Aggregate
	replies map[uuid.UUID]commands.Reply
	offset  int64

	users    map[uuid.UUID]projections.User
	rooms    map[uuid.UUID]*roomRow
	attempts map[uuid.UUID]string // command id -> password hash
	creds    map[string]cred      // lower-cased username
	sessions map[string]uuid.UUID

	// Set by tests.
	gw           *Gateway
	dispatchErr  error                // returned by Dispatch instead of deciding
	waitErr      error                // returned by WaitFor
	listRoomsErr error                // returned by ListRooms
	afterDeliver func(domain.Command) // runs between Deliver and the reply
	ownedDelay   time.Duration        // RoomsOwnedBy takes this long after counting
	dispatched   []domain.Command
}

type roomRow struct {
	room     projections.Room
	hash     string
	members  map[uuid.UUID]projections.Member
	messages []projections.Message
	invited  map[uuid.UUID]bool
	banned   map[uuid.UUID]bool
	read     map[uuid.UUID]int64
	deleted  bool
}

type cred struct {
	id   uuid.UUID
	hash string
}

func newWorld() *world {
	return &world{
		aggs: map[uuid.UUID]domain.Aggregate{}, replies: map[uuid.UUID]commands.Reply{},
		users: map[uuid.UUID]projections.User{}, rooms: map[uuid.UUID]*roomRow{},
		attempts: map[uuid.UUID]string{}, creds: map[string]cred{}, sessions: map[string]uuid.UUID{},
	}
}

func (w *world) set(f func(*world)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w)
}

// Dispatch implements Dispatcher.
func (w *world) Dispatch(ctx context.Context, cmd domain.Command) (commands.Reply, error) {
	w.mu.Lock()
	w.dispatched = append(w.dispatched, cmd)
	if err := w.dispatchErr; err != nil {
		w.mu.Unlock()
		return commands.Reply{}, err
	}
	if r, ok := w.replies[cmd.ID]; ok {
		w.mu.Unlock()
		return r, nil
	}
	agg := w.aggs[cmd.AggregateID]
	if agg == nil {
		agg = domain.NewAggregate(cmd.AggregateType, cmd.AggregateID)
		w.aggs[cmd.AggregateID] = agg
	}
	reply := commands.Reply{CommandID: cmd.ID}
	events, err := agg.Decide(cmd, time.Now())
	var pushes []projections.Push
	if err != nil {
		reply.Code, reply.Message = domain.CodeOf(err), err.Error()
	} else {
		reply.Accepted, reply.Events = true, events
		for _, e := range events {
			agg.Apply(e)
			w.project(e)
			ps, err := projections.PushesOf(e)
			if err != nil {
				panic(err)
			}
			pushes = append(pushes, ps...)
			w.offset++
		}
		if len(events) > 0 { // an accepted command without events (mark_read) has no position
			reply.Position = domain.Position{Topic: "chat-events", Offset: w.offset}.String()
		}
	}
	w.replies[cmd.ID] = reply
	gw, after := w.gw, w.afterDeliver
	w.mu.Unlock()

	if gw != nil {
		for _, p := range pushes {
			gw.Deliver(p)
		}
	}
	if after != nil {
		after(cmd)
	}
	return reply, ctx.Err()
}

// project is the read-model projector (w.mu held).
func (w *world) project(e domain.Event) {
	switch d := e.Data.(type) {
	case domain.UserRegistered:
		w.users[d.UserID] = projections.UserOf(d)
		w.creds[strings.ToLower(d.Username)] = cred{id: d.UserID, hash: w.attempts[e.CommandID]}
	case domain.RoomCreated:
		r := projections.RoomOf(d)
		r.MemberCount = 0
		w.rooms[d.RoomID] = &roomRow{room: r, hash: d.PasswordHash, members: map[uuid.UUID]projections.Member{},
			invited: map[uuid.UUID]bool{}, banned: map[uuid.UUID]bool{}, read: map[uuid.UUID]int64{}}
	case domain.UserJoinedRoom:
		r := w.rooms[d.RoomID]
		r.members[d.UserID] = projections.Member{User: w.users[d.UserID], Role: d.Role, JoinedAt: d.JoinedAt}
		r.room.MemberCount = len(r.members)
		delete(r.invited, d.UserID)
	case domain.UserLeftRoom:
		r := w.rooms[d.RoomID]
		delete(r.members, d.UserID)
		r.room.MemberCount = len(r.members)
	case domain.MessageSent:
		r := w.rooms[d.RoomID]
		r.messages = append(r.messages, projections.MessageOf(d.Message))
	case domain.UserProfileUpdated:
		u := w.users[d.UserID]
		if d.DisplayName != nil {
			u.DisplayName = *d.DisplayName
		}
		if d.AvatarURL != nil {
			u.AvatarURL = *d.AvatarURL
		}
		if d.Email != nil {
			u.Email = *d.Email
		}
		w.users[d.UserID] = u
	case domain.RoomUpdated:
		r := w.rooms[d.RoomID]
		if d.Name != nil {
			r.room.Name = *d.Name
		}
		if d.Description != nil {
			r.room.Description = *d.Description
		}
		r.room.UpdatedAt = d.UpdatedAt
	case domain.RoomDeleted:
		w.rooms[d.RoomID].deleted = true
	case domain.MemberRoleChanged:
		r := w.rooms[d.RoomID]
		m := r.members[d.UserID]
		m.Role = d.Role
		r.members[d.UserID] = m
	case domain.MemberKicked:
		r := w.rooms[d.RoomID]
		delete(r.members, d.UserID)
		r.room.MemberCount = len(r.members)
	case domain.UserBanned:
		r := w.rooms[d.RoomID]
		delete(r.members, d.UserID)
		delete(r.invited, d.UserID)
		r.banned[d.UserID] = true
		r.room.MemberCount = len(r.members)
	case domain.UserUnbanned:
		delete(w.rooms[d.RoomID].banned, d.UserID)
	case domain.UserInvited:
		w.rooms[d.RoomID].invited[d.UserID] = true
	case domain.MessageUpdated:
		r := w.rooms[d.RoomID]
		for i, m := range r.messages {
			if m.ID == d.MessageID {
				r.messages[i] = projections.MessageOfUpdate(d)
			}
		}
	case domain.MessageDeleted:
		r := w.rooms[d.RoomID]
		for i, m := range r.messages {
			if m.ID == d.MessageID {
				r.messages[i].Deleted, r.messages[i].Content = true, ""
			}
		}
	case domain.ReadMarkerUpdated:
		w.rooms[d.RoomID].read[d.UserID] = d.Seq
	}
}

// ReadModel.

func (w *world) UserByID(_ context.Context, id uuid.UUID) (projections.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u, ok := w.users[id]
	if !ok {
		return u, readmodel.ErrNotFound
	}
	return u, nil
}

func (w *world) SearchUsers(_ context.Context, q string, limit, offset int) ([]projections.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []projections.User
	for _, u := range w.users {
		if strings.Contains(strings.ToLower(u.Username), strings.ToLower(q)) {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	if offset >= len(out) {
		return nil, nil
	}
	out = out[offset:]
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (w *world) ListRooms(_ context.Context, viewer uuid.UUID, q string) ([]projections.Room, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listRoomsErr != nil {
		return nil, w.listRoomsErr
	}
	var out []projections.Room
	for _, r := range w.rooms {
		_, member := r.members[viewer]
		if !r.deleted && (!r.room.IsPrivate || member || r.invited[viewer]) && strings.Contains(strings.ToLower(r.room.Name), strings.ToLower(q)) {
			room := r.room
			if member {
				last, unread := r.read[viewer], int64(0)
				for _, m := range r.messages {
					if m.Seq > last && m.SenderID != viewer && !m.Deleted {
						unread++
					}
				}
				room.LastReadSeq, room.UnreadCount = &last, &unread
			}
			out = append(out, room)
		}
	}
	return out, nil
}

func (w *world) Room(_ context.Context, id uuid.UUID) (projections.Room, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.rooms[id]
	if !ok {
		return projections.Room{}, readmodel.ErrNotFound
	}
	if r.deleted {
		return projections.Room{}, readmodel.ErrRoomDeleted
	}
	return r.room, nil
}

func (w *world) RoomPasswordHash(_ context.Context, id uuid.UUID) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.rooms[id]
	if !ok {
		return "", readmodel.ErrNotFound
	}
	return r.hash, nil
}

func (w *world) IsMember(_ context.Context, roomID, userID uuid.UUID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.rooms[roomID]
	if !ok {
		return false, nil
	}
	_, member := r.members[userID]
	return member, nil
}

func (w *world) IsInvited(_ context.Context, roomID, userID uuid.UUID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.rooms[roomID]
	return ok && r.invited[userID], nil
}

func (w *world) IsBanned(_ context.Context, roomID, userID uuid.UUID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.rooms[roomID]
	return ok && r.banned[userID], nil
}

func (w *world) Members(_ context.Context, roomID uuid.UUID) ([]projections.Member, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []projections.Member
	for _, m := range w.rooms[roomID].members {
		out = append(out, m)
	}
	return out, nil
}

func (w *world) RoomIDsOf(_ context.Context, userID uuid.UUID) ([]uuid.UUID, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []uuid.UUID
	for id, r := range w.rooms {
		if _, ok := r.members[userID]; ok && !r.deleted {
			out = append(out, id)
		}
	}
	return out, nil
}

func (w *world) RoomsOwnedBy(_ context.Context, userID uuid.UUID) (int, error) {
	w.mu.Lock()
	n, delay := 0, w.ownedDelay
	for _, r := range w.rooms {
		if r.room.OwnerID == userID && !r.deleted {
			n++
		}
	}
	w.mu.Unlock()
	time.Sleep(delay) // the read model's latency, which widens the window of a race
	return n, nil
}

func (w *world) Messages(_ context.Context, roomID uuid.UUID, q readmodel.HistoryQuery) ([]projections.Message, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var sel []projections.Message
	for _, m := range w.rooms[roomID].messages {
		if (q.AfterSeq == 0 || m.Seq > q.AfterSeq) && (q.BeforeSeq == 0 || m.Seq < q.BeforeSeq) {
			sel = append(sel, m)
		}
	}
	more := len(sel) > q.Limit
	if more {
		if q.AfterSeq > 0 {
			sel = sel[:q.Limit]
		} else {
			sel = sel[len(sel)-q.Limit:]
		}
	}
	return append([]projections.Message(nil), sel...), more, nil
}

func (w *world) WaitFor(_ context.Context, _ domain.Position, _ time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waitErr
}

// Accounts.

func (w *world) SaveRegistrationAttempt(_ context.Context, commandID, _ uuid.UUID, hash string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts[commandID] = hash
	return nil
}

func (w *world) Credentials(_ context.Context, username string) (uuid.UUID, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.creds[strings.ToLower(username)]
	if !ok {
		return uuid.Nil, "", readmodel.ErrNotFound
	}
	return c.id, c.hash, nil
}

func (w *world) CreateSession(_ context.Context, userID uuid.UUID, ttl time.Duration) (string, time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	token := fmt.Sprintf("tok-%s", uuid.NewString())
	w.sessions[token] = userID
	return token, time.Now().Add(ttl), nil
}

func (w *world) SessionUser(_ context.Context, token string) (uuid.UUID, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, ok := w.sessions[token]
	if !ok {
		return uuid.Nil, readmodel.ErrNotFound
	}
	return id, nil
}

var errBoom = errors.New("database exploded: secret detail")
