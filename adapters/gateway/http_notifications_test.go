package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/notify"
)

// notifyEnv is a gateway over the in-memory world whose accepted events also feed the real
// notification projection (notify.Store on a fresh Postgres database), with a relay that
// pushes through the gateway's own Deliver: a command's notifications are stored and pushed
// before the command is answered.
type notifyEnv struct {
	*env
	pool  *pgxpool.Pool
	store *notify.Store
}

// discardRecords is the notification-events log of the tests: the relay's records go nowhere.
type discardRecords struct{}

func (discardRecords) Append(context.Context, []notify.Created) error { return nil }

// deliverPushes hands pushes straight to a gateway, as the push stream would.
type deliverPushes struct{ gw *Gateway }

func (d deliverPushes) Publish(ps []projections.Push) error {
	for _, p := range ps {
		d.gw.Deliver(p)
	}
	return nil
}

func newNotifyEnv(t *testing.T, tune func(*Config), admins []string) *notifyEnv {
	t.Helper()
	pool := pgtest.New(t)
	store := notify.NewStore(pool, "chat-events")
	e := newEnvWith(t, tune, func(d *Deps) { d.Notifications, d.Admins = store, admins })
	relay := notify.NewRelay(store, discardRecords{}, deliverPushes{e.gw}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var mu sync.Mutex
	e.w.set(func(w *world) {
		w.afterDeliver = func(cmd domain.Command) {
			mu.Lock()
			defer mu.Unlock()
			w.mu.Lock()
			reply := w.replies[cmd.ID]
			w.mu.Unlock()
			if !reply.Accepted || len(reply.Events) == 0 {
				return
			}
			// The world numbers its events 1, 2, ... on one partition and answers the number of a
			// command's last event as its position: the records get the same offsets, so that
			// ?position= waits for exactly what the command caused.
			pos, err := domain.ParsePosition(reply.Position)
			if err != nil {
				t.Errorf("position %q: %v", reply.Position, err)
				return
			}
			n := int64(len(reply.Events))
			recs := make([]notify.Record, n)
			for i, ev := range reply.Events {
				recs[i] = notify.Record{Topic: pos.Topic, Partition: pos.Partition, Offset: pos.Offset - n + 1 + int64(i), Event: ev}
			}
			if err := store.ApplyBatch(context.Background(), recs); err != nil {
				t.Errorf("apply notifications: %v", err)
				return
			}
			if _, err := relay.Flush(context.Background()); err != nil {
				t.Errorf("relay: %v", err)
			}
		}
	})
	return &notifyEnv{env: e, pool: pool, store: store}
}

// user registers and logs in a user and, as the read-model projector would, puts them in the
// users table that security alerts go to.
func (e *notifyEnv) user(name string) (string, uuid.UUID) {
	e.t.Helper()
	token, id := e.env.user(name)
	_, err := e.pool.Exec(context.Background(), `INSERT INTO users (id, username, username_lower, display_name, created_at, updated_at)
		VALUES ($1, $2, lower($2), $2, now() - interval '1 hour', now())`, id, name)
	if err != nil {
		e.t.Fatalf("mirror user %s: %v", name, err)
	}
	return token, id
}

// readType reads frames until one of type typ, skipping others (pings, presence, pushes).
func readType(t *testing.T, ws *websocket.Conn, typ string) frame {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if f := read(t, ws); f.str("type") == typ {
			return f
		}
	}
	t.Fatalf("no %s frame within 5 s", typ)
	return nil
}

func notificationsOf(t *testing.T, r response) []frame {
	t.Helper()
	list, ok := r.body["notifications"].([]any)
	if !ok {
		t.Fatalf("no notifications list: %s", r.raw)
	}
	out := make([]frame, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}

func TestMentionIsPushedListedAndMarkedRead(t *testing.T) {
	e := newNotifyEnv(t, nil, nil)
	aliceTok, alice := e.user("alice")
	bobTok, bob := e.user("bob")
	carolTok, _ := e.user("carol")
	room := e.room(aliceTok, map[string]any{"name": "General"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bobTok, nil)
	bws := e.dial(bobTok)

	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", aliceTok,
		map[string]any{"content": "lunch @Bob? and @carol"})
	msgID := r.body["message"].(map[string]any)["id"].(string)
	position := r.body["position"].(string)

	// Bob's socket hears of it, in the contract's shape.
	f := readType(t, bws, "notification").obj("notification")
	if f.str("user_id") != bob.String() || f.str("notification_type") != "mention" || f["read"] != false ||
		f.str("message") != "alice mentioned you in General: lunch @Bob? and @carol" || f.str("id") == "" ||
		f.str("room_id") != room.String() || f.str("message_id") != msgID || f.str("actor_id") != alice.String() {
		t.Fatalf("notification frame %v", f)
	}
	if _, err := time.Parse(time.RFC3339Nano, f.str("created_at")); err != nil || !strings.HasSuffix(f.str("created_at"), "Z") {
		t.Fatalf("created_at %q is not RFC 3339 UTC", f.str("created_at"))
	}

	// Listed for bob (after the command's position), for nobody else.
	r = e.mustDo(http.StatusOK, "GET", "/api/v1/notifications?position="+position, bobTok, nil)
	list := notificationsOf(t, r)
	if len(list) != 1 || list[0].str("id") != f.str("id") || r.body["has_more"] != false {
		t.Fatalf("bob's notifications: %s", r.raw)
	}
	// The author is not told of her own mention (only, as the owner, of bob's join); carol is no member.
	if l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications", aliceTok, nil)); len(l) != 1 ||
		l[0].str("notification_type") != "user_joined_room" || l[0].str("message") != "bob joined your room General" {
		t.Fatalf("alice's notifications: %v", l)
	}
	if l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications", carolTok, nil)); len(l) != 0 {
		t.Fatalf("a non-member was notified: %v", l)
	}

	// Only bob can mark it read.
	id := f.str("id")
	if r := e.mustDo(http.StatusNotFound, "POST", "/api/v1/notifications/"+id+"/read", aliceTok, nil); r.errCode() != codeNotFound {
		t.Fatalf("alice marking bob's notification: %s", r.raw)
	}
	r = e.mustDo(http.StatusOK, "POST", "/api/v1/notifications/"+id+"/read", bobTok, nil)
	if n := r.body["notification"].(map[string]any); n["id"] != id || n["read"] != true {
		t.Fatalf("mark read answered %s", r.raw)
	}
	e.mustDo(http.StatusOK, "POST", "/api/v1/notifications/"+id+"/read", bobTok, nil) // again: fine
	if l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications?unread=true", bobTok, nil)); len(l) != 0 {
		t.Fatalf("unread after marking: %v", l)
	}
	if l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications?unread=false", bobTok, nil)); len(l) != 1 || l[0]["read"] != true {
		t.Fatalf("all after marking: %v", l)
	}
}

func TestNotificationPagingAndBadInput(t *testing.T) {
	e := newNotifyEnv(t, func(c *Config) { c.PositionWait = 100 * time.Millisecond }, nil)
	aliceTok, _ := e.user("alice")
	bobTok, _ := e.user("bob")
	room := e.room(aliceTok, map[string]any{"name": "General"})
	e.mustDo(http.StatusOK, "POST", "/api/v1/rooms/"+room.String()+"/join", bobTok, nil)
	for _, c := range []string{"@bob one", "@bob two", "@bob three"} {
		e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms/"+room.String()+"/messages", aliceTok, map[string]any{"content": c})
	}
	// Alice: bob's join. Bob: three mentions, newest first, two pages.
	r := e.mustDo(http.StatusOK, "GET", "/api/v1/notifications?limit=2", bobTok, nil)
	page := notificationsOf(t, r)
	if len(page) != 2 || r.body["has_more"] != true || !strings.HasSuffix(page[0].str("message"), "three") || !strings.HasSuffix(page[1].str("message"), "two") {
		t.Fatalf("first page: %s", r.raw)
	}
	r = e.mustDo(http.StatusOK, "GET", "/api/v1/notifications?limit=2&before="+page[1].str("id"), bobTok, nil)
	page = notificationsOf(t, r)
	if len(page) != 1 || r.body["has_more"] != false || !strings.HasSuffix(page[0].str("message"), "one") {
		t.Fatalf("second page: %s", r.raw)
	}
	if l := notificationsOf(t, e.mustDo(http.StatusOK, "GET", "/api/v1/notifications", aliceTok, nil)); len(l) != 1 || l[0].str("notification_type") != "user_joined_room" {
		t.Fatalf("alice: %v", l)
	}

	// Bad parameters; a before that names another user's notification is as unknown as any.
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "unread=maybe", "before=nope", "before=" + uuid.NewString(),
		"before=" + page[0].str("id"), "position=garbage"} {
		if r := e.do("GET", "/api/v1/notifications?"+q, aliceTok, nil); r.status != http.StatusBadRequest || r.errCode() != domain.CodeValidationFailed {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
	// A position the projection has not reached: 503 not_caught_up after PositionWait.
	r = e.do("GET", "/api/v1/notifications?position=chat-events:0:999", bobTok, nil)
	if r.status != http.StatusServiceUnavailable || r.errCode() != codeNotCaughtUp {
		t.Fatalf("unreached position: %s", r.raw)
	}
	for _, path := range []string{"/api/v1/notifications/not-a-uuid/read", "/api/v1/notifications/" + uuid.NewString() + "/read"} {
		if r := e.do("POST", path, bobTok, nil); r.status != http.StatusNotFound || r.errCode() != codeNotFound {
			t.Errorf("%s: %s", path, r.raw)
		}
	}
	if r := e.do("GET", "/api/v1/notifications", "", nil); r.status != http.StatusUnauthorized || r.errCode() != codeUnauthorized {
		t.Errorf("no token: %s", r.raw)
	}
	if r := e.do("POST", "/api/v1/notifications/"+uuid.NewString()+"/read", "bad-token", nil); r.status != http.StatusUnauthorized {
		t.Errorf("bad token: %s", r.raw)
	}
}

func TestNotificationsUnconfiguredAnswerUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	tok, _ := e.user("alice")
	if r := e.do("GET", "/api/v1/notifications", tok, nil); r.status != http.StatusServiceUnavailable || r.errCode() != codeUnavailable {
		t.Fatalf("no store: %s", r.raw)
	}
}
