package notify_test

// Integration tests of the notification projection against a real Postgres (adapters/postgres/
// pgtest: a fresh database per test). Events come from the real domain aggregates.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/notify"
)

const (
	chatTopic   = "chat-events"
	systemTopic = "system-events"
	orgTopic    = "org-events"
)

// world decides commands with the domain's aggregates and records their events as a log would
// hand them to the projector: chat events on partition 0 of chat-events, system events on
// partition 0 of system-events, offsets counting up.
type world struct {
	t      *testing.T
	aggs   map[uuid.UUID]domain.Aggregate
	offset map[string]int64
	clock  time.Time
	log    []notify.Record
}

func newWorld(t *testing.T) *world {
	return &world{t: t, aggs: map[uuid.UUID]domain.Aggregate{}, offset: map[string]int64{},
		clock: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

var names = map[uuid.UUID]string{}

func user(name string) uuid.UUID {
	id := domain.UserIDFor(name)
	names[id] = name
	return id
}

// do decides a command on aggregate id by actor and returns the records of its events.
func (w *world) do(aggID, actor uuid.UUID, p domain.CommandData) []notify.Record {
	w.t.Helper()
	w.clock = w.clock.Add(time.Second)
	cmd := domain.NewCommand(uuid.New(), aggID, actor, names[actor], w.clock, p)
	agg := w.aggs[aggID]
	if agg == nil {
		agg = domain.NewAggregate(cmd.AggregateType, aggID)
		w.aggs[aggID] = agg
	}
	evs, err := agg.Decide(cmd, w.clock)
	if err != nil {
		w.t.Fatalf("%s by %s: %v", cmd.Type, names[actor], err)
	}
	topic := chatTopic
	switch cmd.AggregateType {
	case domain.AggregateSystem:
		topic = systemTopic
	case domain.AggregateOrganization:
		topic = orgTopic
	}
	var out []notify.Record
	for _, e := range evs {
		agg.Apply(e)
		out = append(out, notify.Record{Topic: topic, Partition: 0, Offset: w.offset[topic], Event: e})
		w.offset[topic]++
	}
	w.log = append(w.log, out...)
	return out
}

func (w *world) createRoom(owner uuid.UUID, name string, private bool) uuid.UUID {
	id := uuid.New()
	w.do(id, owner, domain.CreateRoom{Name: name, IsPrivate: private})
	return id
}

func (w *world) send(room, sender uuid.UUID, content string) uuid.UUID {
	recs := w.do(room, sender, domain.SendMessage{Content: content})
	return recs[0].Event.Data.(domain.MessageSent).Message.ID
}

func (w *world) alert(admin uuid.UUID, kind, msg string) notify.Record {
	return w.do(domain.SystemAggregateID, admin, domain.PublishSystemEvent{Kind: kind, Message: msg})[0]
}

// fixture is a migrated database with a store, and the world feeding it.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	store *notify.Store
	w     *world
	// applied is how much of w.log was applied.
	applied int
}

func newFixture(t *testing.T) *fixture {
	pool := pgtest.New(t)
	return &fixture{t: t, ctx: context.Background(), pool: pool, store: notify.NewStore(pool, chatTopic, systemTopic), w: newWorld(t)}
}

// sync applies everything the world logged since the last sync, in one batch.
func (f *fixture) sync() {
	f.t.Helper()
	if err := f.store.ApplyBatch(f.ctx, f.w.log[f.applied:]); err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	f.applied = len(f.w.log)
}

// registered puts users in the read model's users table, as the read-model projector would.
func (f *fixture) registered(at time.Time, usernames ...string) {
	f.t.Helper()
	for _, n := range usernames {
		_, err := f.pool.Exec(f.ctx, `INSERT INTO users (id, username, username_lower, display_name, created_at, updated_at)
			VALUES ($1, $2, $3, $2, $4, $4)`, user(n), n, strings.ToLower(n), at)
		if err != nil {
			f.t.Fatalf("register %s: %v", n, err)
		}
	}
}

func (f *fixture) list(u uuid.UUID) []notify.Notification {
	f.t.Helper()
	ns, _, err := f.store.List(f.ctx, u, notify.ListQuery{Limit: 200})
	if err != nil {
		f.t.Fatalf("list: %v", err)
	}
	return ns
}

func summary(ns []notify.Notification) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.NotificationType+": "+n.Message)
	}
	return out
}

func (f *fixture) expect(u uuid.UUID, want ...string) []notify.Notification {
	f.t.Helper()
	ns := f.list(u)
	got := summary(ns)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		f.t.Fatalf("%s's notifications:\n got %q\nwant %q", names[u], got, want)
	}
	for _, n := range ns {
		if n.UserID != u || n.Read || n.ID == uuid.Nil || n.CreatedAt.IsZero() || n.CreatedAt.Location() != time.UTC {
			f.t.Fatalf("notification %+v", n)
		}
	}
	return ns
}

func (f *fixture) count(table string) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

var (
	alice = user("alice")
	bob   = user("bob")
	carol = user("carol")
	dave  = user("dave")
	erin  = user("erin")
)

func TestMentionsNotifyMembersOtherThanTheAuthor(t *testing.T) {
	f := newFixture(t)
	w := f.w
	room := w.createRoom(alice, "General", false)
	w.do(room, bob, domain.JoinRoom{})
	msg := w.send(room, alice, "hi @bob, @carol (not a member), @alice (me) and @nobody")
	w.send(room, bob, "@ALICE: yes.   Case and\nspacing do not matter")
	f.sync()

	ns := f.expect(bob, "mention: alice mentioned you in General: hi @bob, @carol (not a member), @alice (me) and @nobody")
	if ns[0].RoomID == nil || *ns[0].RoomID != room || ns[0].MessageID == nil || *ns[0].MessageID != msg ||
		ns[0].ActorID == nil || *ns[0].ActorID != alice {
		t.Fatalf("the mention is about room, message and author: %+v", ns[0])
	}
	// The owner also hears of bob's join; newest first.
	f.expect(alice, "mention: bob mentioned you in General: @ALICE: yes. Case and spacing do not matter",
		"user_joined_room: bob joined your room General")
	f.expect(carol)

	// An image's content is a URL, not prose: no mention.
	w.do(room, alice, domain.SendMessage{Content: "https://example.com/@bob.png", MessageType: domain.MessageImage})
	// A member who left is no longer told.
	w.do(room, bob, domain.LeaveRoom{})
	w.send(room, alice, "@bob are you there?")
	f.sync()
	if got := len(f.list(bob)); got != 1 {
		t.Fatalf("bob has %d notifications, want still 1", got)
	}
}

func TestEditNotifiesOnlyNewlyMentionedMembers(t *testing.T) {
	f := newFixture(t)
	w := f.w
	room := w.createRoom(alice, "General", false)
	w.do(room, bob, domain.JoinRoom{})
	w.do(room, carol, domain.JoinRoom{})
	msg := w.send(room, alice, "ping @bob")
	f.sync()
	w.do(room, alice, domain.EditMessage{MessageID: msg, Content: "ping @bob and @carol"})
	w.do(room, alice, domain.EditMessage{MessageID: msg, Content: "ping @carol, @bob, again"})
	f.sync()
	f.expect(bob, "mention: alice mentioned you in General: ping @bob")
	ns := f.expect(carol, "mention: alice mentioned you in General: ping @bob and @carol")
	if *ns[0].MessageID != msg {
		t.Fatalf("the edit's mention names the message: %+v", ns[0])
	}
}

func TestInvitationAndOwnerNotices(t *testing.T) {
	f := newFixture(t)
	w := f.w
	secret := w.createRoom(alice, "Secret", true)
	w.do(secret, alice, domain.InviteUser{UserID: erin})
	w.do(secret, erin, domain.JoinRoom{})
	w.do(secret, alice, domain.UpdateRoom{Name: ptr("Renamed")})
	w.do(secret, alice, domain.SetRole{UserID: erin, Role: domain.RoleAdmin})
	w.do(secret, erin, domain.InviteUser{UserID: dave})
	w.do(secret, erin, domain.LeaveRoom{})
	f.sync()

	f.expect(erin, "room_invitation: alice invited you to Secret")
	f.expect(dave, "room_invitation: erin invited you to Renamed")
	// The owner's own join (creating the room) tells nobody; others' joins and leaves tell the owner.
	f.expect(alice, "user_left_room: erin left your room Renamed", "user_joined_room: erin joined your room Secret")
}

func TestSecurityAlertReachesEveryRegisteredUser(t *testing.T) {
	f := newFixture(t)
	w := f.w
	f.registered(w.clock.Add(-time.Hour), "alice", "bob", "carol")
	w.alert(alice, domain.SystemMaintenance, "down tonight")
	rec := w.alert(alice, domain.SystemSecurityAlert, "rotate your passwords")
	f.registered(w.clock.Add(time.Minute), "dave") // registered after the alert
	f.sync()

	for _, u := range []uuid.UUID{alice, bob, carol} {
		ns := f.expect(u, "system_alert: rotate your passwords")
		if ns[0].ID != notify.ID(rec.Event.ID, u) || !ns[0].CreatedAt.Equal(rec.Event.OccurredAt) {
			t.Fatalf("alert notification %+v (event %s at %s)", ns[0], rec.Event.ID, rec.Event.OccurredAt)
		}
	}
	f.expect(dave)
	if n := f.count("notification_outbox"); n != 3 {
		t.Fatalf("outbox holds %d, want the 3 alerts", n)
	}
}

func TestReplayIsIdempotentAndRebuildKeepsReadFlags(t *testing.T) {
	f := newFixture(t)
	w := f.w
	f.registered(w.clock.Add(-time.Hour), "alice", "bob")
	room := w.createRoom(alice, "General", false)
	w.do(room, bob, domain.JoinRoom{})
	w.send(room, bob, "hey @alice")
	w.alert(bob, domain.SystemSecurityAlert, "breach")
	f.sync()
	before := f.list(alice)
	if len(before) != 3 {
		t.Fatalf("alice has %v", summary(before))
	}
	read, err := f.store.MarkRead(f.ctx, alice, before[1].ID)
	if err != nil || !read.Read || read.ID != before[1].ID {
		t.Fatalf("mark read: %+v %v", read, err)
	}
	outbox := f.count("notification_outbox")

	// Redelivery of the whole log: below the checkpoint, skipped.
	if err := f.store.ApplyBatch(f.ctx, w.log); err != nil {
		t.Fatal(err)
	}
	// A rebuild: the projection's tables and checkpoints go, the log is replayed. Only the read
	// flags (user state) stay.
	for _, q := range []string{
		`TRUNCATE notifications, notify_rooms, notify_members, notify_org_members, notification_outbox`,
		`DELETE FROM projection_checkpoints WHERE projection = 'notifications'`,
	} {
		if _, err := f.pool.Exec(f.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Replayed in two batches cut at another place, and the second batch twice.
	half := len(w.log) / 2
	for _, batch := range [][]notify.Record{w.log[:half], w.log[half:], w.log[half:]} {
		if err := f.store.ApplyBatch(f.ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	after := f.list(alice)
	if len(after) != len(before) {
		t.Fatalf("after the rebuild alice has %v, before %v", summary(after), summary(before))
	}
	for i, b := range before {
		a := after[i]
		if a.ID != b.ID || a.Message != b.Message || a.NotificationType != b.NotificationType || !a.CreatedAt.Equal(b.CreatedAt) || a.Read != (i == 1) {
			t.Fatalf("notification %d: after the rebuild %+v, before %+v (only the second was marked read)", i, a, b)
		}
	}
	if n := f.count("notifications"); n != 4 {
		t.Fatalf("%d notifications, want 4 (3 for alice, 1 alert for bob)", n)
	}
	if n := f.count("notification_outbox"); n != outbox {
		t.Fatalf("outbox holds %d after the rebuild, %d before", n, outbox)
	}
}

func TestGoAndPostgresAgreeOnNotificationIDs(t *testing.T) {
	f := newFixture(t)
	for range 20 {
		src, rcpt := uuid.New(), uuid.New()
		var got uuid.UUID
		if err := f.pool.QueryRow(f.ctx, `SELECT notification_id($1, $2)`, src, rcpt).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := notify.ID(src, rcpt); got != want {
			t.Fatalf("notification_id(%s, %s) = %s, Go says %s", src, rcpt, got, want)
		}
		if got.Version() != 3 || got.Variant() != uuid.RFC4122 {
			t.Fatalf("%s is not an RFC 4122 v3 uuid", got)
		}
	}
	if notify.ID(alice, bob) == notify.ID(bob, alice) {
		t.Fatal("source and recipient must not commute")
	}
}

func TestListPagesNewestFirstAndMarksRead(t *testing.T) {
	f := newFixture(t)
	w := f.w
	room := w.createRoom(alice, "General", false)
	w.do(room, bob, domain.JoinRoom{})
	for i := range 5 {
		w.send(room, alice, fmt.Sprintf("@bob number %d", i))
	}
	// Two mentions from one batch share a creation time: paging must still not skip one.
	f.sync()
	var got []string
	var before *uuid.UUID
	for page := 0; ; page++ {
		ns, more, err := f.store.List(f.ctx, bob, notify.ListQuery{Limit: 2, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			got = append(got, n.Message)
		}
		if !more {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
		before = &ns[len(ns)-1].ID
	}
	want := []string{}
	for i := 4; i >= 0; i-- {
		want = append(want, fmt.Sprintf("alice mentioned you in General: @bob number %d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages: %q, want %q", got, want)
	}

	all := f.list(bob)
	if _, err := f.store.MarkRead(f.ctx, bob, all[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.MarkRead(f.ctx, bob, all[0].ID); err != nil { // twice is fine
		t.Fatal(err)
	}
	unread, more, err := f.store.List(f.ctx, bob, notify.ListQuery{UnreadOnly: true, Limit: 10})
	if err != nil || more || len(unread) != 4 || unread[0].ID != all[1].ID {
		t.Fatalf("unread: %v %v %v", summary(unread), more, err)
	}
	if ns := f.list(bob); !ns[0].Read || ns[1].Read {
		t.Fatalf("read flags %v %v", ns[0].Read, ns[1].Read)
	}
	// Not alice's, and unknown: not found.
	if _, err := f.store.MarkRead(f.ctx, alice, all[1].ID); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("marking another user's notification: %v", err)
	}
	if _, err := f.store.MarkRead(f.ctx, bob, uuid.New()); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("marking an unknown notification: %v", err)
	}
	if ns := f.list(bob); ns[1].Read {
		t.Fatal("alice's attempt marked bob's notification read")
	}
	if _, _, err := f.store.List(f.ctx, alice, notify.ListQuery{Limit: 10, Before: &all[1].ID}); !errors.Is(err, notify.ErrNotFound) {
		t.Fatalf("paging from another user's notification: %v", err)
	}
}

// fakeLog and fakePusher record what the relay announces; failures can be switched on.
type fakeLog struct {
	mu   sync.Mutex
	recs []notify.Created
	fail error
}

func (l *fakeLog) Append(_ context.Context, recs []notify.Created) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.recs = append(l.recs, recs...)
	return nil
}

type fakePusher struct {
	mu     sync.Mutex
	pushes []projections.Push
}

func (p *fakePusher) Publish(ps []projections.Push) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushes = append(p.pushes, ps...)
	return nil
}

func TestRelayAnnouncesEachCommittedNotificationAtLeastOnce(t *testing.T) {
	f := newFixture(t)
	w := f.w
	f.registered(w.clock.Add(-time.Hour), "alice", "bob", "carol")
	room := w.createRoom(alice, "General", false)
	w.do(room, bob, domain.JoinRoom{})
	w.send(room, alice, "@bob look")
	w.alert(alice, domain.SystemSecurityAlert, "breach")
	f.sync()
	select {
	case <-f.store.Committed():
	default:
		t.Fatal("a batch with notifications did not signal the relay")
	}

	log, pushes := &fakeLog{fail: errors.New("broker down")}, &fakePusher{}
	relay := notify.NewRelay(f.store, log, pushes, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := relay.Flush(f.ctx); err == nil {
		t.Fatal("a failed append must fail the flush")
	}
	if n := f.count("notification_outbox"); n != 5 {
		t.Fatalf("after a failed flush the outbox holds %d, want all 5", n)
	}
	log.fail = nil
	n, err := relay.Flush(f.ctx)
	if err != nil || n != 5 {
		t.Fatalf("flush: %d %v", n, err)
	}
	if n, err := relay.Flush(f.ctx); err != nil || n != 0 {
		t.Fatalf("second flush: %d %v", n, err)
	}
	if len(log.recs) != 5 || len(pushes.pushes) != 5 {
		t.Fatalf("%d records, %d pushes", len(log.recs), len(pushes.pushes))
	}
	stored := map[uuid.UUID]notify.Notification{}
	for _, u := range []uuid.UUID{alice, bob, carol} {
		for _, n := range f.list(u) {
			stored[n.ID] = n
		}
	}
	for i, rec := range log.recs {
		n, ok := stored[rec.ID]
		if !ok || rec.Type != "NotificationCreated" || rec.UserID != n.UserID || rec.Notification.Message != n.Message ||
			rec.SourceEventID == uuid.Nil || !rec.OccurredAt.Equal(n.CreatedAt) {
			t.Fatalf("record %+v for stored %+v", rec, n)
		}
		p := pushes.pushes[i]
		if p.Target != projections.TargetUser || p.UserID != n.UserID || p.Kind != "notification" ||
			!strings.Contains(string(p.Frame), `"type":"notification"`) || !strings.Contains(string(p.Frame), `"id":"`+n.ID.String()+`"`) ||
			!strings.Contains(string(p.Frame), `"notification_type":"`+n.NotificationType+`"`) || !strings.Contains(string(p.Frame), `"read":false`) {
			t.Fatalf("push %+v (%s) for %+v", p, p.Frame, n)
		}
	}
	// In the order the events were: bob's join (told to alice), the mention, the alerts.
	var order []string
	for _, r := range log.recs {
		order = append(order, r.Notification.NotificationType)
	}
	if want := []string{"user_joined_room", "mention", "system_alert", "system_alert", "system_alert"}; !slices.Equal(order, want) {
		t.Fatalf("records in order %v, want %v", order, want)
	}
}

func TestWaitFor(t *testing.T) {
	f := newFixture(t)
	w := f.w
	room := w.createRoom(alice, "General", false)
	rec := w.do(room, bob, domain.JoinRoom{})[0]
	pos := domain.Position{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}

	if err := f.store.WaitFor(f.ctx, pos, 50*time.Millisecond); !errors.Is(err, notify.ErrNotCaughtUp) {
		t.Fatalf("before the batch: %v", err)
	}
	// A position on a topic the projection does not read is reached at once.
	if err := f.store.WaitFor(f.ctx, domain.Position{Topic: "user-events", Offset: 99}, time.Millisecond); err != nil {
		t.Fatalf("other topic: %v", err)
	}
	// Another process applies the batch: the poller sees the checkpoint move.
	other := notify.NewStore(f.pool, chatTopic, systemTopic)
	done := make(chan error, 1)
	go func() { done <- f.store.WaitFor(f.ctx, pos, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	if err := other.ApplyBatch(f.ctx, w.log); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter never woke")
	}
	if err := f.store.WaitFor(f.ctx, pos, time.Millisecond); err != nil {
		t.Fatalf("once reached: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
