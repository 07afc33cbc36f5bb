package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// dump renders the projected tables as text, to compare states.
func dump(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	queries := []string{
		`SELECT id, username, username_lower, display_name, email, avatar_url, status, created_at, updated_at FROM users ORDER BY id`,
		`SELECT id, name, description, owner_id, is_private, password_hash, member_count, last_seq, created_at, updated_at, deleted_at FROM rooms ORDER BY id`,
		`SELECT room_id, user_id, role, username, joined_at, last_read_seq FROM room_members ORDER BY room_id, user_id`,
		`SELECT id, room_id, seq, sender_id, content, message_type, reply_to_message_id, created_at, edited_at, deleted FROM messages ORDER BY room_id, seq`,
		`SELECT room_id, user_id, banned_by, reason, banned_at FROM room_bans ORDER BY room_id, user_id`,
		`SELECT room_id, user_id, invited_by, invited_at FROM room_invitations ORDER BY room_id, user_id`,
		`SELECT room_id, version, kind, message_id, seq FROM room_message_changes ORDER BY room_id, version`,
		`SELECT projection, topic, partition, next_offset FROM projection_checkpoints ORDER BY 1, 2, 3`,
	}
	var b strings.Builder
	for _, q := range queries {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatalf("dump: %v", err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump: %v", err)
		}
		b.WriteString("--\n")
	}
	return b.String()
}

func TestApplyBatchIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	bob, _, r2 := log.register("bob")
	room, r3 := log.createRoom(alice, "General", false, "")
	batch := concat(r1, r2, r3,
		log.join(room, bob),
		log.send(room, alice, "one"),
		log.send(room, bob, "two"),
		log.leave(room, bob),
		log.join(room, bob),
		log.send(room, bob, "three"),
	)

	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	first := dump(t, pool)

	got, err := store.Room(ctx, room)
	if err != nil {
		t.Fatalf("Room: %v", err)
	}
	if got.MemberCount != 2 {
		t.Errorf("member_count = %d, want 2 (owner and bob, who left and came back)", got.MemberCount)
	}
	msgs, _, err := store.Messages(ctx, room, readmodel.HistoryQuery{})
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Messages = %d messages, %v; want 3", len(msgs), err)
	}
	cps, err := store.Checkpoints(ctx, readmodel.Projection)
	if err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	if cps[chatTopic][0] != log.offsets[chatTopic] || cps[userTopic][0] != log.offsets[userTopic] {
		t.Errorf("checkpoints = %v, want chat %d, user %d", cps, log.offsets[chatTopic], log.offsets[userTopic])
	}

	// Redelivery of the whole batch (the consumer crashed before committing its offsets).
	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if second := dump(t, pool); second != first {
		t.Errorf("state changed on redelivery:\nfirst:\n%s\nsecond:\n%s", first, second)
	}

	// Replay over surviving rows with the checkpoints gone (a rebuild that kept the tables):
	// the upserts themselves must not double anything.
	if _, err := pool.Exec(ctx, `DELETE FROM projection_checkpoints`); err != nil {
		t.Fatal(err)
	}
	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if replayed := dump(t, pool); replayed != first {
		t.Errorf("state changed on replay without checkpoints:\nfirst:\n%s\nreplayed:\n%s", first, replayed)
	}
}

func TestApplyBatchSkipsRecordsBelowCheckpoint(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("alice")
	room, r2 := log.createRoom(alice, "General", false, "")
	sent := log.send(room, alice, "hello")
	apply(t, store, r1, r2, sent)

	// A different event under an offset that was already applied must have no effect, while a
	// record after the checkpoint in the same batch must.
	impostor := sent[0]
	impostor.Event.Data = domain.MessageSent{RoomID: room, Message: domain.MessageData{
		ID: uuid.New(), RoomID: room, SenderID: alice, Content: "impostor", MessageType: "text", Seq: 99,
		CreatedAt: sent[0].Event.OccurredAt,
	}}
	next := log.send(room, alice, "world")
	if err := store.ApplyBatch(ctx, readmodel.Projection, concat([]readmodel.Record{impostor}, next)); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}

	msgs, _, err := store.Messages(ctx, room, readmodel.HistoryQuery{})
	if err != nil {
		t.Fatalf("Messages: %v", err)
	}
	var contents []string
	for _, m := range msgs {
		contents = append(contents, m.Content)
	}
	if got := strings.Join(contents, ","); got != "hello,world" {
		t.Errorf("history = %s, want hello,world", got)
	}
	r, err := store.Room(ctx, room)
	if err != nil {
		t.Fatalf("Room: %v", err)
	}
	if r.UpdatedAt != next[0].Event.OccurredAt {
		t.Errorf("room updated_at = %v, want the last message's time %v", r.UpdatedAt, next[0].Event.OccurredAt)
	}
	var lastSeq int64
	if err := pool.QueryRow(ctx, `SELECT last_seq FROM rooms WHERE id = $1`, room).Scan(&lastSeq); err != nil {
		t.Fatal(err)
	}
	if lastSeq != 2 {
		t.Errorf("last_seq = %d, want 2", lastSeq)
	}
}

func TestApplyBatchKeepsProjectionsApart(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	_, _, recs := log.register("alice")

	if err := store.ApplyBatch(ctx, "other", recs); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
	cps, err := store.Checkpoints(ctx, readmodel.Projection)
	if err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	if len(cps) != 0 {
		t.Errorf("readmodel checkpoints = %v after applying under another projection, want none", cps)
	}
	other, err := store.Checkpoints(ctx, "other")
	if err != nil {
		t.Fatalf("Checkpoints: %v", err)
	}
	if other[userTopic][0] != 1 {
		t.Errorf("other checkpoints = %v, want user-events/0 at 1", other)
	}
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)

	alice, _, r1 := log.register("Alice")
	_, _, r2 := log.register("bob")
	_, _, r3 := log.registerAs("carol_x", "100% Carol")
	apply(t, store, r1, r2, r3)

	u, err := store.UserByID(ctx, alice)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if u.Username != "Alice" || u.DisplayName != "Alice Display" || u.Email != "Alice@example.com" || u.Status != "offline" {
		t.Errorf("UserByID = %+v", u)
	}
	if u.CreatedAt != r1[0].Event.OccurredAt {
		t.Errorf("created_at = %v, want %v", u.CreatedAt, r1[0].Event.OccurredAt)
	}
	if _, err := store.UserByID(ctx, uuid.New()); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("UserByID(unknown) error = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		q       string
		byEmail bool
		want    string
	}{
		{"", false, "Alice,bob,carol_x"},
		{"ALI", false, "Alice"},
		{"display", false, "Alice,bob"}, // display name
		{"BOB@EXAMPLE", true, "bob"},    // email, for an admin
		{"BOB@EXAMPLE", false, ""},      // nobody else finds a user by email
		{"example.com", false, ""},
		{"0% c", false, "carol_x"}, // % is no wildcard
		{"_", false, "carol_x"},    // nor is _
		{"l%", false, ""},          // would match "Alice" as a LIKE pattern
		{"zed", true, ""},
	} {
		users, err := store.SearchUsers(ctx, tc.q, 0, 0, tc.byEmail)
		if err != nil {
			t.Fatalf("SearchUsers(%q): %v", tc.q, err)
		}
		var names []string
		for _, u := range users {
			names = append(names, u.Username)
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("SearchUsers(%q, by email %v) = %s, want %s", tc.q, tc.byEmail, got, tc.want)
		}
	}
	page, err := store.SearchUsers(ctx, "", 1, 1, false)
	if err != nil || len(page) != 1 || page[0].Username != "bob" {
		t.Errorf("SearchUsers limit 1 offset 1 = %v, %v; want [bob]", page, err)
	}
}

// BenchmarkApplyBatch measures a projector batch of 500 messages to one room.
func BenchmarkApplyBatch(b *testing.B) {
	store := readmodel.NewStore(pgtest.New(b))
	log := newEventLog(b)
	alice, _, r1 := log.register("alice")
	room, r2 := log.createRoom(alice, "General", false, "")
	apply(b, store, r1, r2)
	batches := make([][]readmodel.Record, b.N)
	for i := range batches {
		for range 500 {
			batches[i] = append(batches[i], log.send(room, alice, "hello there")...)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := store.ApplyBatch(context.Background(), readmodel.Projection, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}
