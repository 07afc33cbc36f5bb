package main_test

// End-to-end tests of the ephemeral side across two gateway processes: presence, typing and
// resume after a reconnect (see e2e_harness_test.go for the cluster).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// resumeBound is the cluster's CHORUS_RESUME_LIMIT: low, so that a test can miss more.
const resumeBound = 5

func TestE2ERealtime(t *testing.T) {
	skipShort(t)
	c := startCluster(t, map[string]string{"CHORUS_RESUME_LIMIT": fmt.Sprint(resumeBound)})
	c.warmUp()
	sfx := randomHex(3)

	t.Run("PresenceAcrossGateways", func(t *testing.T) { testPresenceAcrossGateways(t, c, sfx) })
	t.Run("TypingAcrossGateways", func(t *testing.T) { testTypingAcrossGateways(t, c, sfx) })
	t.Run("ResumeAfterDisconnect", func(t *testing.T) { testResumeAfterDisconnect(t, c, sfx) })
	// Last: it leaves an undecodable record in chat-events.
	t.Run("PoisonedEventIsDeadLettered", func(t *testing.T) { testPoisonedEventIsDeadLettered(t, c, sfx) })
}

// fields decodes a frame as a JSON object.
func (f wsFrame) fields() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(f.raw), &m)
	return m
}

func (f wsFrame) field(k string) string {
	s, _ := f.fields()[k].(string)
	return s
}

// ofType matches frames of a type whose fields have the given values.
func ofType(typ string, want map[string]string) func(wsFrame) bool {
	return func(f wsFrame) bool {
		if f.Type != typ {
			return false
		}
		for k, v := range want {
			if f.field(k) != v {
				return false
			}
		}
		return true
	}
}

// barrier waits for the answer to a ping sent now and returns the frames that came before it.
func (c *wsClient) barrier(t *testing.T) []wsFrame {
	t.Helper()
	id := "barrier-" + randomHex(4)
	if err := c.sendJSON(map[string]any{"type": "ping", "id": id}); err != nil {
		t.Fatalf("%s: ping: %v", c.name, err)
	}
	_, skipped, err := c.waitFor(10*time.Second, answerTo(id))
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return skipped
}

// roomWithTwo has alice (on gateway 1) create a room and bob (on gateway 2) join it, both in
// the read model before it returns.
func roomWithTwo(t *testing.T, c *cluster, name string) (alice, bob account, roomID string) {
	t.Helper()
	alice = newAccount(t, c.gwURL(0), "alice_"+name)
	bob = newAccount(t, c.gwURL(1), "bob_"+name)
	room, created := alice.createRoom(t, "room-"+name)
	alice.waitPosition(t, room.ID, created)
	bob.waitPosition(t, room.ID, bob.join(t, room.ID))
	return alice, bob, room.ID
}

// statuses reads the live status of a room's members, by username.
func (a account) statuses(t *testing.T, roomID string) map[string]string {
	t.Helper()
	var out struct {
		Members []struct {
			User apiUser `json:"user"`
		} `json:"members"`
	}
	call(t, a.base, a.token, "GET", "/api/v1/rooms/"+roomID+"/members", nil, http.StatusOK, &out)
	m := map[string]string{}
	for _, mem := range out.Members {
		m[mem.User.Username] = mem.User.Status
	}
	return m
}

// Bob comes online on gateway 2 and goes away: alice, a member of his room on gateway 1, is
// told both, and member listings on either gateway show his live status.
func testPresenceAcrossGateways(t *testing.T, c *cluster, sfx string) {
	alice, bob, room := roomWithTwo(t, c, "presence_"+sfx)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	aws.barrier(t) // a socket answers frames once its presence is recorded
	if s := bob.statuses(t, room); s[alice.user.Username] != "online" || s[bob.user.Username] != "offline" {
		t.Fatalf("before bob connects: %v", s)
	}

	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	if _, _, err := aws.waitFor(10*time.Second, ofType("presence", map[string]string{"user_id": bob.user.ID, "status": "online"})); err != nil {
		t.Fatalf("alice was not told bob is online: %v", err)
	}
	for _, f := range bws.barrier(t) {
		if f.Type == "presence" {
			t.Fatalf("bob was told about himself: %s", f.raw)
		}
	}
	if s := alice.statuses(t, room); s[bob.user.Username] != "online" {
		t.Fatalf("with bob connected: %v", s)
	}
	var u apiUser
	call(t, c.gwURL(0), alice.token, "GET", "/api/v1/users/"+bob.user.ID, nil, http.StatusOK, &u)
	if u.Status != "online" {
		t.Fatalf("GET /users/{bob}: %+v", u)
	}

	bws.close() // gone without a close frame, as a dropped connection
	if _, _, err := aws.waitFor(10*time.Second, ofType("presence", map[string]string{"user_id": bob.user.ID, "status": "offline"})); err != nil {
		t.Fatalf("alice was not told bob went offline: %v", err)
	}
	if s := bob.statuses(t, room); s[bob.user.Username] != "offline" || s[alice.user.Username] != "online" {
		t.Fatalf("after bob left: %v", s)
	}
}

// Bob types on gateway 2: alice hears it on gateway 1; bob's own sockets, on either gateway,
// do not, and his typing is not answered.
func testTypingAcrossGateways(t *testing.T, c *cluster, sfx string) {
	alice, bob, room := roomWithTwo(t, c, "typing_"+sfx)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	bob2 := dialWS(t, "bob@gateway1", c.gwURL(0), bob.token)
	for _, ws := range []*wsClient{aws, bws, bob2} {
		ws.barrier(t)
	}

	if err := bws.sendJSON(map[string]any{"type": "typing", "id": "t1", "room_id": room}); err != nil {
		t.Fatal(err)
	}
	f, _, err := aws.waitFor(10*time.Second, ofType("typing", map[string]string{"user_id": bob.user.ID}))
	if err != nil {
		t.Fatalf("alice did not hear bob type: %v", err)
	}
	if f.field("room_id") != room || len(f.fields()) != 3 {
		t.Fatalf("typing frame %s", f.raw)
	}
	// Bob's socket on alice's gateway was offered the same push before alice read it.
	for _, f := range bob2.barrier(t) {
		if f.Type == "typing" {
			t.Fatalf("bob's other socket heard his own typing: %s", f.raw)
		}
	}
	// The stream is delivered in order: once bob's gateway gives him alice's typing, it has
	// handled his own, which must not have reached him.
	if err := aws.sendJSON(map[string]any{"type": "typing", "room_id": room}); err != nil {
		t.Fatal(err)
	}
	_, before, err := bws.waitFor(10*time.Second, ofType("typing", map[string]string{"user_id": alice.user.ID, "room_id": room}))
	if err != nil {
		t.Fatalf("bob did not hear alice type: %v", err)
	}
	for _, f := range before {
		if f.Type == "typing" || f.ID == "t1" {
			t.Fatalf("bob's typing socket got %s", f.raw)
		}
	}
}

// post sends a message over HTTP and returns it with its position.
func (a account) post(t *testing.T, roomID, content string) messageAnswer {
	t.Helper()
	var out messageAnswer
	call(t, a.base, a.token, "POST", "/api/v1/rooms/"+roomID+"/messages", map[string]any{"content": content}, http.StatusCreated, &out)
	return out
}

// Bob drops off, alice sends, edits and deletes; bob reconnects to the other gateway and resumes
// from the last seq he saw: he gets exactly what he missed, in order, then recovered: true. When
// he misses more than the bound, he gets no frames for the room and recovered: false.
func testResumeAfterDisconnect(t *testing.T, c *cluster, sfx string) {
	alice, bob, room := roomWithTwo(t, c, "resume_"+sfx)
	elsewhere, created := alice.createRoom(t, "not-bobs-"+sfx)
	alice.waitPosition(t, elsewhere.ID, created)
	aws := dialWS(t, "alice@gateway1", alice.base, alice.token)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	aws.barrier(t)
	bws.barrier(t)

	alice.post(t, room, "one")
	seen := alice.post(t, room, "two")
	if _, _, err := bws.waitFor(10*time.Second, messagePush(seen.Message.ID)); err != nil {
		t.Fatalf("bob did not get %q: %v", "two", err)
	}
	bws.close()

	m3 := alice.post(t, room, "three")
	m4 := alice.post(t, room, "four")
	m5 := alice.post(t, room, "five")
	var edited messageAnswer
	call(t, alice.base, alice.token, "PATCH", "/api/v1/rooms/"+room+"/messages/"+seen.Message.ID, map[string]any{"content": "two, edited"}, http.StatusOK, &edited)
	var deleted struct {
		Position string `json:"position"`
	}
	call(t, alice.base, alice.token, "DELETE", "/api/v1/rooms/"+room+"/messages/"+m4.Message.ID, nil, http.StatusOK, &deleted)
	// Everything is in the read model, and its pushes went out (alice got the last one), so
	// nothing of it can reach bob's next socket live.
	alice.waitPosition(t, room, deleted.Position)
	if _, _, err := aws.waitFor(10*time.Second, ofType("message_deleted", map[string]string{"message_id": m4.Message.ID})); err != nil {
		t.Fatalf("alice did not get the deletion: %v", err)
	}

	resume := func(name, base string, rooms map[string]int64) ([]wsFrame, map[string]any) {
		t.Helper()
		ws := dialWS(t, name, base, bob.token)
		if err := ws.sendJSON(map[string]any{"type": "resume", "id": "r-" + name, "rooms": rooms}); err != nil {
			t.Fatal(err)
		}
		f, before, err := ws.waitFor(20*time.Second, func(f wsFrame) bool { return f.Type == "resumed" || f.Type == "error" })
		if err != nil || f.Type != "resumed" || f.ID != "r-"+name {
			t.Fatalf("%s: resume answered %s (%v)", name, f.raw, err)
		}
		var missed []wsFrame
		for _, b := range before {
			switch b.Type {
			case "message", "message_updated", "message_deleted":
				missed = append(missed, b)
			}
		}
		ws.close()
		got, _ := f.fields()["rooms"].(map[string]any)
		return missed, got
	}
	recovered := func(rooms map[string]any, id string) any {
		r, _ := rooms[id].(map[string]any)
		return r["recovered"]
	}

	missed, rooms := resume("bob@gateway1", c.gwURL(0), map[string]int64{room: seen.Message.Seq})
	var got []string
	for _, f := range missed {
		switch f.Type {
		case "message_deleted":
			got = append(got, fmt.Sprintf("deleted %s seq %v", f.field("message_id"), f.fields()["seq"]))
		default:
			m, err := f.pushed()
			if err != nil {
				t.Fatalf("%s: %v", f.raw, err)
			}
			if m.RoomID != room {
				t.Fatalf("replayed a frame of another room: %s", f.raw)
			}
			s := fmt.Sprintf("%s %s seq %d", f.Type, m.ID, m.Seq)
			if f.Type == "message_updated" {
				s += " " + m.Content
			}
			got = append(got, s)
		}
	}
	want := []string{
		fmt.Sprintf("message %s seq %d", m3.Message.ID, m3.Message.Seq),
		fmt.Sprintf("message %s seq %d", m4.Message.ID, m4.Message.Seq),
		fmt.Sprintf("message %s seq %d", m5.Message.ID, m5.Message.Seq),
		fmt.Sprintf("message_updated %s seq %d two, edited", seen.Message.ID, seen.Message.Seq),
		fmt.Sprintf("deleted %s seq %d", m4.Message.ID, m4.Message.Seq),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed\n  %v\nwant\n  %v", got, want)
	}
	if recovered(rooms, room) != true || len(rooms) != 1 {
		t.Fatalf("resumed rooms %v, want %s recovered", rooms, room)
	}

	// Bob drops off again and misses more than the bound.
	var last messageAnswer
	for i := range resumeBound + 1 {
		last = alice.post(t, room, fmt.Sprint("burst ", i))
	}
	alice.waitPosition(t, room, last.Position)
	if _, _, err := aws.waitFor(10*time.Second, messagePush(last.Message.ID)); err != nil {
		t.Fatalf("alice did not get the last burst message: %v", err)
	}
	missed, rooms = resume("bob@gateway2", c.gwURL(1), map[string]int64{room: m5.Message.Seq, elsewhere.ID: 0})
	if len(missed) != 0 {
		t.Fatalf("over the bound, %d frames were replayed: %s", len(missed), missed[0].raw)
	}
	if recovered(rooms, room) != false || recovered(rooms, elsewhere.ID) != false || len(rooms) != 2 {
		t.Fatalf("resumed rooms %v, want both unrecovered", rooms)
	}
	// What the client does then: reload from history.
	if h := bob.history(t, room, nil); len(h.Messages) == 0 || h.Messages[len(h.Messages)-1].ID != last.Message.ID {
		t.Fatalf("history after an unrecovered resume ends with %+v", h.Messages)
	}
}

// envOf is the value of a CHORUS_* variable a process was started with.
func (p *proc) envOf(key string) string {
	for _, kv := range p.env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// A record in chat-events that no projection can read (a bad producer, a bug) does not stop
// the projectors: after their retries the read model, the push and the notification
// projections each append it to chorus-dead-letters with its error, count it in
// projection_dead_letters, and move on, so a message sent after it is in history and pushed.
func testPoisonedEventIsDeadLettered(t *testing.T, c *cluster, sfx string) {
	alice, bob, room := roomWithTwo(t, c, "poison_"+sfx)
	bws := dialWS(t, "bob@gateway2", bob.base, bob.token)
	bws.barrier(t)
	brokers := []string{c.broker.args[2]} // broker --addr <addr>
	kcfg := kafka.Config{Brokers: brokers, Topics: kafka.DefaultTopics(), Partitions: clusterPartitions, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}

	// The poison goes where the room's events go, so the next message of the room is behind it.
	part := kafka.PartitionFor(room, clusterPartitions)
	sc := kcfg.Sarama()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	_, poisonOffset, err := producer.SendMessage(&sarama.ProducerMessage{
		Topic: kcfg.Topics.ChatEvents, Partition: part, Key: sarama.StringEncoder(room), Value: sarama.StringEncoder("{not an event"),
	})
	producer.Close()
	if err != nil {
		t.Fatal(err)
	}
	after := alice.post(t, room, "after the poison")
	alice.waitPosition(t, room, after.Position) // waits up to 5 s: the read model moved on
	if _, _, err := bws.waitFor(20*time.Second, messagePush(after.Message.ID)); err != nil {
		t.Fatalf("the push projector did not move past the poisoned record: %v", err)
	}

	// Counted once per projection, where chorusctl reads it: the read model and the pushes
	// (checked above), and the notifications on their own time (they gather their fetches for
	// 200 ms: the table was once read before their row came). Search reads chat-events too, but
	// passes over a record that is no event (search.Handler.Undecodable).
	want := []string{"notifications", "push", "readmodel"}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.proj.envOf("CHORUS_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	type row struct {
		Projection, Topic string
		Partition         int32
		Offset            int64
		Error             string
	}
	var got []row
	eventuallyWithin(t, "a dead letter counted for each of "+fmt.Sprint(want), 20*time.Second, func() (bool, string) {
		rows, err := db.Query(ctx, `SELECT projection, source_topic, source_partition, source_offset, error
			FROM projection_dead_letters ORDER BY projection`)
		if err != nil {
			t.Fatal(err)
		}
		if got, err = pgx.CollectRows(rows, pgx.RowToStructByPos[row]); err != nil {
			t.Fatal(err)
		}
		return len(got) >= len(want), fmt.Sprint(got)
	})
	var projections []string
	for _, r := range got {
		if r.Topic != kcfg.Topics.ChatEvents || r.Partition != part || r.Offset != poisonOffset || !strings.Contains(r.Error, "event at") {
			t.Errorf("dead letter row %+v, want chat-events/%d/%d with the decoding error", r, part, poisonOffset)
		}
		projections = append(projections, r.Projection)
	}
	if !slices.Equal(projections, want) {
		t.Fatalf("dead letters counted for %v, want %v", projections, want)
	}

	// In the dead-letter topic, with headers saying who gave up on what, and why.
	client, err := sarama.NewClient(brokers, kcfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	letters := readDeadLetters(t, client, kcfg.Topics.DeadLetters)
	if len(letters) != len(want) {
		t.Fatalf("%d dead letters, want %d", len(letters), len(want))
	}
	var by []string
	for _, l := range letters {
		if l.value != "{not an event" || l.key != room {
			t.Errorf("dead letter %q=%q, want the poisoned record", l.key, l.value)
		}
		h := l.headers
		if h[kafka.HeaderDeadLetterTopic] != kcfg.Topics.ChatEvents || h[kafka.HeaderDeadLetterPartition] != strconv.Itoa(int(part)) ||
			h[kafka.HeaderDeadLetterOffset] != strconv.FormatInt(poisonOffset, 10) || !strings.Contains(h[kafka.HeaderDeadLetterError], "event at") {
			t.Errorf("dead letter headers %v", h)
		}
		by = append(by, h[kafka.HeaderDeadLetterProjection])
	}
	slices.Sort(by)
	if !slices.Equal(by, want) {
		t.Fatalf("dead letters of projections %v, want %v", by, want)
	}
}

type deadLetterRecord struct {
	key, value string
	headers    map[string]string
}

// readDeadLetters reads every record of the dead-letter topic.
func readDeadLetters(t *testing.T, client sarama.Client, topic string) []deadLetterRecord {
	t.Helper()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var out []deadLetterRecord
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for m := range pc.Messages() {
			h := map[string]string{}
			for _, rh := range m.Headers {
				h[string(rh.Key)] = string(rh.Value)
			}
			out = append(out, deadLetterRecord{key: string(m.Key), value: string(m.Value), headers: h})
			if m.Offset+1 >= end {
				break
			}
		}
		pc.Close()
	}
	return out
}
