package queries

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// fakeRoom is a room of fakeReadModel with the viewers' standing in it.
type fakeRoom struct {
	room                     projections.Room
	deleted                  bool
	members, invited, banned map[uuid.UUID]bool
}

// fakeReadModel answers the queries' reads from memory.
type fakeReadModel struct {
	users    map[uuid.UUID]projections.User
	rooms    map[uuid.UUID]*fakeRoom
	messages []projections.Message
	history  readmodel.HistoryQuery // the last history read
	byEmail  bool                   // the last user search's
}

func (f *fakeReadModel) UserByID(_ context.Context, id uuid.UUID) (projections.User, error) {
	u, ok := f.users[id]
	if !ok {
		return projections.User{}, projections.ErrNotFound
	}
	return u, nil
}

func (f *fakeReadModel) SearchUsers(_ context.Context, _ string, _, _ int, byEmail bool) ([]projections.User, error) {
	f.byEmail = byEmail
	var out []projections.User
	for _, u := range f.users {
		out = append(out, u)
	}
	return out, nil
}

func (f *fakeReadModel) ListRooms(context.Context, uuid.UUID, readmodel.RoomListQuery) ([]projections.Room, *readmodel.RoomCursor, error) {
	return nil, nil, nil
}

func (f *fakeReadModel) Room(_ context.Context, id uuid.UUID) (projections.Room, error) {
	r, ok := f.rooms[id]
	switch {
	case !ok:
		return projections.Room{}, projections.ErrNotFound
	case r.deleted:
		return projections.Room{}, projections.ErrRoomDeleted
	}
	return r.room, nil
}

func (f *fakeReadModel) IsMember(_ context.Context, room, user uuid.UUID) (bool, error) {
	return f.rooms[room] != nil && f.rooms[room].members[user], nil
}

func (f *fakeReadModel) IsInvited(_ context.Context, room, user uuid.UUID) (bool, error) {
	return f.rooms[room] != nil && f.rooms[room].invited[user], nil
}

func (f *fakeReadModel) IsBanned(_ context.Context, room, user uuid.UUID) (bool, error) {
	return f.rooms[room] != nil && f.rooms[room].banned[user], nil
}

func (f *fakeReadModel) Members(_ context.Context, room uuid.UUID) ([]projections.Member, error) {
	var out []projections.Member
	for id := range f.rooms[room].members {
		out = append(out, projections.Member{User: f.users[id], Role: "member"})
	}
	return out, nil
}

func (f *fakeReadModel) RoomIDsOf(_ context.Context, user uuid.UUID) ([]uuid.UUID, error) {
	var out []uuid.UUID
	for id, r := range f.rooms {
		if r.members[user] {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f *fakeReadModel) Messages(_ context.Context, _ uuid.UUID, q readmodel.HistoryQuery) ([]projections.Message, bool, error) {
	f.history = q
	return f.messages, false, nil
}

// world is a read model with an owner, a member, an invitee, a banned invitee and a stranger,
// and a public and a private room, each also deleted.
type world struct {
	rm                                       *fakeReadModel
	owner, member, invitee, banned, stranger uuid.UUID
	public, private, deletedPub, deletedPriv uuid.UUID
}

func newWorld() *world {
	w := &world{rm: &fakeReadModel{users: map[uuid.UUID]projections.User{}, rooms: map[uuid.UUID]*fakeRoom{}}}
	for _, p := range []*uuid.UUID{&w.owner, &w.member, &w.invitee, &w.banned, &w.stranger} {
		*p = uuid.New()
		w.rm.users[*p] = projections.User{ID: *p, Username: p.String()[:8], Email: p.String()[:8] + "@mail.example", Status: "offline"}
	}
	for _, r := range []struct {
		id               *uuid.UUID
		private, deleted bool
	}{{&w.public, false, false}, {&w.private, true, false}, {&w.deletedPub, false, true}, {&w.deletedPriv, true, true}} {
		*r.id = uuid.New()
		w.rm.rooms[*r.id] = &fakeRoom{
			room:    projections.Room{ID: *r.id, OwnerID: w.owner, IsPrivate: r.private},
			deleted: r.deleted,
			members: map[uuid.UUID]bool{w.owner: true, w.member: true},
			invited: map[uuid.UUID]bool{w.invitee: true, w.banned: true},
			banned:  map[uuid.UUID]bool{w.banned: true},
		}
	}
	return w
}

// codeOf is the code of a query's *Error, "" for none, "other" for another error.
func codeOf(err error) string {
	var qe *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &qe):
		return qe.Code
	}
	return "other: " + err.Error()
}

// Who may see a room and read its history: a public room everyone, a private one its members
// and open invitees; a deleted one is room_deleted to its members and invitees only; history is
// for members only, and a private room's non-member is not told it exists.
func TestRoomVisibilityAndHistory(t *testing.T) {
	w := newWorld()
	a := NewApplication(Deps{ReadModel: w.rm})
	ctx := context.Background()
	const (
		ok       = ""
		notFound = domain.CodeRoomNotFound
		deleted  = domain.CodeRoomDeleted
		notMem   = domain.CodeNotAMember
	)
	for _, tc := range []struct {
		name         string
		room, viewer uuid.UUID
		see, history string
	}{
		{"public, member", w.public, w.member, ok, ok},
		{"public, stranger", w.public, w.stranger, ok, notMem},
		{"private, member", w.private, w.member, ok, ok},
		{"private, invitee", w.private, w.invitee, ok, notFound},
		{"private, banned invitee", w.private, w.banned, notFound, notFound},
		{"private, stranger", w.private, w.stranger, notFound, notFound},
		{"deleted public, member", w.deletedPub, w.member, deleted, deleted},
		{"deleted public, stranger", w.deletedPub, w.stranger, notFound, notFound},
		{"deleted private, invitee", w.deletedPriv, w.invitee, deleted, deleted},
		{"unknown", uuid.New(), w.member, notFound, notFound},
	} {
		_, err := a.Room(ctx, tc.viewer, tc.room)
		if got := codeOf(err); got != tc.see {
			t.Errorf("%s: Room answered %q, want %q", tc.name, got, tc.see)
		}
		_, err = a.Members(ctx, tc.viewer, tc.room)
		if got := codeOf(err); got != tc.see {
			t.Errorf("%s: Members answered %q, want %q", tc.name, got, tc.see)
		}
		_, err = a.History(ctx, tc.viewer, History{RoomID: tc.room, Limit: 10})
		if got := codeOf(err); got != tc.history {
			t.Errorf("%s: History answered %q, want %q", tc.name, got, tc.history)
		}
	}
}

func TestHistoryBounds(t *testing.T) {
	w := newWorld()
	a := NewApplication(Deps{ReadModel: w.rm})
	ctx := context.Background()
	seq := func(n int64) *int64 { return &n }
	if _, err := a.History(ctx, w.member, History{RoomID: w.public, BeforeSeq: seq(5), AfterSeq: seq(1)}); codeOf(err) != domain.CodeValidationFailed {
		t.Fatalf("both bounds: %v, want validation_failed", err)
	}
	page, err := a.History(ctx, w.member, History{RoomID: w.public, AfterSeq: seq(0), Limit: 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := (readmodel.HistoryQuery{After: true, Limit: 7}); w.rm.history != want {
		t.Fatalf("after_seq=0 read %+v, want %+v", w.rm.history, want)
	}
	if page.Messages == nil {
		t.Fatal("an empty page must be [], not null")
	}
	if _, err := a.History(ctx, w.member, History{RoomID: w.public, BeforeSeq: seq(9)}); err != nil {
		t.Fatal(err)
	}
	if want := (readmodel.HistoryQuery{BeforeSeq: 9}); w.rm.history != want {
		t.Fatalf("before_seq=9 read %+v, want %+v", w.rm.history, want)
	}
}

// fakeNames names users by the read model, counting the lookups.
type fakeNames struct {
	rm    *fakeReadModel
	asked int
}

func (n *fakeNames) ActorName(_ context.Context, id uuid.UUID) (string, error) {
	n.asked++
	return n.rm.users[id].Username, nil
}

// An email is shown to its owner and the server's admins only, and only admins search by it.
func TestEmailsArePrivate(t *testing.T) {
	w := newWorld()
	names := &fakeNames{rm: w.rm}
	a := NewApplication(Deps{ReadModel: w.rm, Names: names, Admins: []string{" " + w.rm.users[w.owner].Username + " "}})
	ctx := context.Background()
	for _, tc := range []struct {
		viewer, user uuid.UUID
		shown        bool
	}{{w.member, w.member, true}, {w.member, w.invitee, false}, {w.owner, w.invitee, true}} {
		u, err := a.User(ctx, tc.viewer, tc.user)
		if err != nil {
			t.Fatal(err)
		}
		if (u.Email != "") != tc.shown {
			t.Errorf("viewer %s sees user %s's email %q; shown: want %v", tc.viewer, tc.user, u.Email, tc.shown)
		}
	}
	if _, err := a.User(ctx, w.member, uuid.New()); codeOf(err) != domain.CodeUserNotFound {
		t.Fatalf("unknown user: %v", err)
	}
	for _, tc := range []struct {
		viewer uuid.UUID
		admin  bool
	}{{w.member, false}, {w.owner, true}} {
		users, err := a.SearchUsers(ctx, tc.viewer, SearchUsers{Text: "mail"})
		if err != nil {
			t.Fatal(err)
		}
		if w.rm.byEmail != tc.admin {
			t.Errorf("search by %s matched emails: %v, want %v", tc.viewer, w.rm.byEmail, tc.admin)
		}
		for _, u := range users {
			if u.Email != "" && !tc.admin && u.ID != tc.viewer {
				t.Errorf("search by %s shows %s's email", tc.viewer, u.ID)
			}
		}
	}
	members, err := a.Members(ctx, w.member, w.public)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.User.Email != "" && m.User.ID != w.member {
			t.Errorf("member list shows %s's email to a non-admin", m.User.ID)
		}
	}

	// Without admins nobody's name is asked for.
	names.asked = 0
	b := NewApplication(Deps{ReadModel: w.rm, Names: names})
	if _, err := b.User(ctx, w.member, w.owner); err != nil {
		t.Fatal(err)
	}
	if names.asked != 0 {
		t.Fatalf("asked %d names without admins", names.asked)
	}
}

// fakeSearcher answers every search with err and every wait with waitErr.
type fakeSearcher struct {
	err, waitErr error
	q            search.Query
}

func (f *fakeSearcher) Search(_ context.Context, q search.Query) ([]projections.Message, error) {
	f.q = q
	return nil, f.err
}

func (f *fakeSearcher) WaitFor(context.Context, domain.Position, time.Duration) error {
	return f.waitErr
}

func TestSearchMessages(t *testing.T) {
	ctx := context.Background()
	viewer := uuid.New()
	if _, err := NewApplication(Deps{}).SearchMessages(ctx, viewer, SearchMessages{Text: "hi"}); codeOf(err) != CodeUnavailable {
		t.Fatalf("without a searcher: %v", err)
	}
	fs := &fakeSearcher{}
	a := NewApplication(Deps{Search: fs})
	for _, text := range []string{"", "   ", string(make([]rune, MaxSearchTextRunes+1))} {
		if _, err := a.SearchMessages(ctx, viewer, SearchMessages{Text: text}); codeOf(err) != domain.CodeValidationFailed {
			t.Errorf("text %q: %v, want validation_failed", text, err)
		}
	}
	res, err := a.SearchMessages(ctx, viewer, SearchMessages{Text: "  hi  ", Limit: 3})
	if err != nil || res.Results == nil {
		t.Fatalf("search: %+v, %v", res, err)
	}
	if fs.q.Text != "hi" || fs.q.UserID != viewer || fs.q.Limit != 3 {
		t.Fatalf("searched %+v", fs.q)
	}
	pos := domain.Position{Topic: "chat-events", Offset: 4}
	for _, tc := range []struct {
		err, waitErr error
		code         string
	}{
		{search.ErrRoomNotFound, nil, domain.CodeRoomNotFound},
		{search.ErrNotAMember, nil, domain.CodeNotAMember},
		{nil, search.ErrNotCaughtUp, CodeNotCaughtUp},
	} {
		fs.err, fs.waitErr = tc.err, tc.waitErr
		if _, err := a.SearchMessages(ctx, viewer, SearchMessages{Text: "hi", Position: pos}); codeOf(err) != tc.code {
			t.Errorf("%v/%v: %v, want %s", tc.err, tc.waitErr, err, tc.code)
		}
	}
}

// fakeNotes answers every list with err.
type fakeNotes struct{ err error }

func (f *fakeNotes) List(context.Context, uuid.UUID, notify.ListQuery) ([]notify.Notification, bool, error) {
	return nil, false, f.err
}

func (f *fakeNotes) MarkRead(context.Context, uuid.UUID, uuid.UUID) (notify.Notification, error) {
	return notify.Notification{}, f.err
}

func (f *fakeNotes) WaitFor(context.Context, domain.Position, time.Duration) error { return nil }

func TestNotifications(t *testing.T) {
	ctx := context.Background()
	viewer := uuid.New()
	none := NewApplication(Deps{})
	if _, err := none.Notifications(ctx, viewer, Notifications{}); codeOf(err) != CodeUnavailable {
		t.Fatalf("not served: %v", err)
	}
	if _, err := none.MarkNotificationRead(ctx, viewer, uuid.New()); codeOf(err) != CodeUnavailable {
		t.Fatalf("not served: %v", err)
	}
	notes := &fakeNotes{}
	a := NewApplication(Deps{Notifications: notes})
	page, err := a.Notifications(ctx, viewer, Notifications{})
	if err != nil || page.Notifications == nil {
		t.Fatalf("empty page: %+v, %v", page, err)
	}
	notes.err = notify.ErrNotFound
	if _, err := a.Notifications(ctx, viewer, Notifications{}); codeOf(err) != domain.CodeValidationFailed {
		t.Fatalf("unknown before: %v", err)
	}
	if _, err := a.MarkNotificationRead(ctx, viewer, uuid.New()); codeOf(err) != CodeNotFound {
		t.Fatalf("unknown notification: %v", err)
	}
}

// fakeChanges has changes in every room: n of them, or more than any limit.
type fakeChanges struct{ n int }

func (f fakeChanges) MessageChangesAfter(_ context.Context, room uuid.UUID, _ int64, limit int) ([]readmodel.MessageChange, bool, error) {
	out := make([]readmodel.MessageChange, min(f.n, limit))
	for i := range out {
		out[i] = readmodel.MessageChange{Kind: projections.PushMessage, Message: projections.Message{RoomID: room, Seq: int64(i + 1)}}
	}
	return out, f.n <= limit, nil
}

// A resume replays a member's rooms whole, or not at all.
func TestResume(t *testing.T) {
	w := newWorld()
	ctx := context.Background()
	rooms := map[uuid.UUID]int64{w.public: 0, w.private: 3}
	in := Resume{Rooms: rooms, Limit: 5}
	collect := func(got *int) func([]readmodel.MessageChange) bool {
		return func(ch []readmodel.MessageChange) bool { *got += len(ch); return true }
	}
	for _, tc := range []struct {
		name      string
		changes   MessageChanges
		viewer    uuid.UUID
		recovered bool
		sent      int
	}{
		{"member", fakeChanges{n: 2}, w.member, true, 4},
		{"too many missed", fakeChanges{n: 6}, w.member, false, 0},
		{"not a member", fakeChanges{n: 2}, w.invitee, false, 0},
		{"no changes served", nil, w.member, false, 0},
	} {
		a := NewApplication(Deps{ReadModel: w.rm, MessageChanges: tc.changes})
		sent := 0
		got, err := a.Resume(ctx, tc.viewer, in, collect(&sent))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(got) != len(rooms) || got[w.public] != tc.recovered || got[w.private] != tc.recovered || sent != tc.sent {
			t.Errorf("%s: recovered %v, sent %d; want %v in every room, %d sent", tc.name, got, sent, tc.recovered, tc.sent)
		}
	}
	a := NewApplication(Deps{ReadModel: w.rm, MessageChanges: fakeChanges{n: 1}})
	if _, err := a.Resume(ctx, w.member, in, func([]readmodel.MessageChange) bool { return false }); !errors.Is(err, ErrStopped) {
		t.Fatalf("receiver gone: %v, want ErrStopped", err)
	}
}
