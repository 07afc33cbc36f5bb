package readmodel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// ApplyBatchIn writes another schema's copy of the read-model tables (a rebuild's generation),
// with its checkpoint in the shared projection_checkpoints, and leaves the live tables alone; the
// same batch gives the same rows as ApplyBatch does in public.
func TestApplyBatchInWritesTheGivenSchema(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	alice, _, r1 := log.register("alice")
	bob, _, r2 := log.register("bob")
	room, r3 := log.createRoom(alice, "General", false, "")
	joined := log.join(room, bob)
	log.now = log.now.Add(123456789 * time.Nanosecond) // times below a microsecond, which Postgres drops
	one, two := log.send(room, alice, "one"), log.send(room, bob, "two")
	// Edits and deletions of messages sent in the same batch are folded into the copied rows.
	batch := concat(r1, r2, r3, joined, one, two,
		log.act(room, alice, domain.EditMessage{MessageID: messageID(t, one), Content: "one, edited"}),
		log.act(room, bob, domain.EditMessage{MessageID: messageID(t, two), Content: "two, edited"}),
		log.act(room, alice, domain.EditMessage{MessageID: messageID(t, one), Content: "one, edited twice"}),
		log.act(room, bob, domain.DeleteMessage{MessageID: messageID(t, two)}))
	// A proxy grant and a message a delegate sent (sent_by), copied into the generation as inserted live.
	batch = append(batch, log.do(domain.NewCommand(uuid.New(), domain.ProxiesIDFor(alice), alice, "alice", log.now, domain.GrantProxy{
		PrincipalID: alice, DelegateID: bob, Scope: domain.ProxyScopeMessages, StartsAt: log.now, EndsAt: log.now.Add(time.Hour)}))...)
	send := domain.NewCommand(uuid.New(), room, alice, "alice", log.now, domain.SendMessage{Content: "for alice", MessageType: domain.MessageText})
	send.ActingID = &bob
	batch = append(batch, log.do(send)...)

	tables := []string{"users", "rooms", "room_members", "room_bans", "room_invitations", "messages", "room_message_changes", "user_proxies"}
	const schema = `Gen "1"` // needs quoting
	if _, err := pool.Exec(ctx, `CREATE SCHEMA "Gen ""1"""`); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if _, err := pool.Exec(ctx, `CREATE TABLE "Gen ""1""".`+tb+` (LIKE public.`+tb+` INCLUDING ALL)`); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.ApplyBatchIn(ctx, schema, "readmodel@gen", batch); err != nil {
		t.Fatalf("ApplyBatchIn: %v", err)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM public.messages`) + count(`SELECT count(*) FROM public.users`); n != 0 {
		t.Fatalf("ApplyBatchIn wrote %d rows into the live tables", n)
	}
	if n := count(`SELECT count(*) FROM "Gen ""1""".messages WHERE sent_by IS NULL`); n != 2 {
		t.Fatalf("generation has %d messages of their senders, want 2", n)
	}
	if n := count(`SELECT count(*) FROM "Gen ""1""".messages WHERE sent_by IS NOT NULL`); n != 1 {
		t.Fatalf("generation has %d messages of a delegate, want 1", n)
	}
	if n := count(`SELECT count(*) FROM projection_checkpoints WHERE projection = 'readmodel@gen'`); n == 0 {
		t.Fatal("no checkpoint for the generation")
	}
	if n := count(`SELECT count(*) FROM projection_checkpoints WHERE projection = 'readmodel'`); n != 0 {
		t.Fatal("ApplyBatchIn moved the live checkpoints")
	}
	// Redelivery into the generation is skipped as for the live projection.
	if err := store.ApplyBatchIn(ctx, schema, "readmodel@gen", batch); err != nil {
		t.Fatal(err)
	}
	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if n := differingRows(t, pool, `public.`+tb, `"Gen ""1"""."`+tb+`"`); n != 0 {
			t.Errorf("%s: %d rows differ between ApplyBatch and ApplyBatchIn", tb, n)
		}
	}
	if err := store.ApplyBatchIn(ctx, "", "readmodel@gen", batch); err == nil {
		t.Error("ApplyBatchIn without a schema should fail")
	}

	// A message the log holds twice (at a later offset, say from a bad import) cannot be copied
	// in again: the batch goes in the way ApplyBatch would apply it, which keeps the first.
	again := log.send(room, bob, "three")
	var dup readmodel.Record
	for _, r := range batch {
		if d, ok := r.Event.Data.(domain.MessageSent); ok && d.Message.Content == "one" {
			dup = r
		}
	}
	dup.Offset = again[0].Offset + 1
	log.offsets[dup.Topic] = dup.Offset + 1 // the records after it come after it
	d := dup.Event.Data.(domain.MessageSent)
	d.Message.Content = "one, a second time"
	dup.Event.Data = d
	more := append(slices.Clone(again), dup)
	for _, apply := range []func() error{
		func() error { return store.ApplyBatchIn(ctx, schema, "readmodel@gen", more) },
		func() error { return store.ApplyBatch(ctx, readmodel.Projection, more) },
	} {
		if err := apply(); err != nil {
			t.Fatalf("a batch with a message already applied: %v", err)
		}
	}
	if n := count(`SELECT count(*) FROM "Gen ""1""".messages WHERE content IN ('one, edited twice', 'three')`); n != 2 {
		t.Fatalf("after the duplicate: %d of messages one and three in the generation, want both (the first one kept)", n)
	}
	// Edits and deletions of messages of earlier batches, beside those of the batch's own.
	last := concat(log.act(room, bob, domain.EditMessage{MessageID: messageID(t, again), Content: "three, edited"}),
		log.act(room, alice, domain.DeleteMessage{MessageID: messageID(t, one)}))
	four := log.send(room, alice, "four")
	last = concat(last, four, log.act(room, alice, domain.EditMessage{MessageID: messageID(t, four), Content: "four, edited"}))
	for _, apply := range []func() error{
		func() error { return store.ApplyBatchIn(ctx, schema, "readmodel@gen", last) },
		func() error { return store.ApplyBatch(ctx, readmodel.Projection, last) },
	} {
		if err := apply(); err != nil {
			t.Fatalf("a batch of edits and deletions: %v", err)
		}
	}
	rows, _ := pool.Query(ctx, `SELECT content || CASE WHEN deleted THEN ' (deleted)' ELSE '' END || CASE WHEN edited_at IS NOT NULL THEN ' (edited)' ELSE '' END
		FROM "Gen ""1""".messages ORDER BY seq`)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{" (deleted) (edited)", " (deleted) (edited)", "for alice", "three, edited (edited)", "four, edited (edited)"}
	if !slices.Equal(got, want) {
		t.Errorf("generation's messages by seq: %q, want %q", got, want)
	}
	if n := count(`SELECT count(*) FROM "Gen ""1""".room_message_changes WHERE kind <> 'sent'`); n != 7 {
		t.Errorf("generation's change log has %d edits and deletions, want 7", n)
	}
	for _, tb := range tables {
		if n := differingRows(t, pool, `public.`+tb, `"Gen ""1"""."`+tb+`"`); n != 0 {
			t.Errorf("%s: %d rows differ between ApplyBatch and ApplyBatchIn after a duplicate and edits", tb, n)
		}
	}
}

// differingRows counts the rows of tables a and b found in one only.
func differingRows(t *testing.T, pool *pgxpool.Pool, a, b string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM (TABLE `+a+` EXCEPT ALL TABLE `+b+`) x) + (SELECT count(*) FROM (TABLE `+b+` EXCEPT ALL TABLE `+a+`) y)`).Scan(&n); err != nil {
		t.Fatalf("compare %s with %s: %v", a, b, err)
	}
	return n
}

// A batch's runs of joins (two statements for the run) leave the same rows as the joins applied
// one batch each: membership, role, read marker (the last message before each join), the rooms'
// member counts and the invitations the joins end, with a leave and a rejoin between them.
func TestJoinRunsMatchJoinsOneByOne(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	store := readmodel.NewStore(pool)
	log := newEventLog(t)
	var batch []readmodel.Record
	var users []uuid.UUID
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		id, _, recs := log.register(name)
		users, batch = append(users, id), append(batch, recs...)
	}
	alice, bob, carol, dave := users[0], users[1], users[2], users[3]
	general, recs := log.createRoom(alice, "General", false, "")
	batch = append(batch, recs...)
	secret, recs := log.createRoom(alice, "Secret", true, "")
	batch = concat(batch, recs, log.act(secret, alice, domain.InviteUser{UserID: carol}),
		log.join(general, bob), log.send(general, alice, "before carol"), log.join(general, carol),
		log.join(secret, carol), log.send(general, bob, "before dave"), log.join(general, dave),
		log.leave(general, bob), log.send(general, carol, "after the leave"), log.join(general, bob))

	tables := []string{"users", "rooms", "room_members", "room_bans", "room_invitations", "messages", "room_message_changes", "user_proxies"}
	if _, err := pool.Exec(ctx, `CREATE SCHEMA one`); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if _, err := pool.Exec(ctx, `CREATE TABLE one.`+tb+` (LIKE public.`+tb+` INCLUDING ALL)`); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range batch {
		if err := store.ApplyBatchIn(ctx, "one", "readmodel@one", []readmodel.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.ApplyBatch(ctx, readmodel.Projection, batch); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if n := differingRows(t, pool, "public."+tb, "one."+tb); n != 0 {
			t.Errorf("%s: %d rows differ between joins in runs and one by one", tb, n)
		}
	}
	var count, invitations int
	var marker int64
	if err := pool.QueryRow(ctx, `SELECT member_count, (SELECT count(*) FROM room_invitations),
		(SELECT last_read_seq FROM room_members WHERE room_id = $1 AND user_id = $2) FROM rooms WHERE id = $1`, general, bob).Scan(&count, &invitations, &marker); err != nil {
		t.Fatal(err)
	}
	if count != 4 || invitations != 0 || marker != 3 {
		t.Errorf("General: %d members, %d invitations left, bob's marker after his rejoin %d; want 4, 0, 3", count, invitations, marker)
	}
}
