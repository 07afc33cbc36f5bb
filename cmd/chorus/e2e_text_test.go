package main_test

// Hostile text over the real stack (issue 8, defect 1): a NUL in a room name, a message, an edit
// or a display name is refused with 400 validation_failed instead of being accepted and then lost
// by the projections; and events with NUL already in the log (written before the text rule, or
// by another writer) are projected by every projection, none failing or dead-lettering.
//
//	go test -count=1 -run 'E2EHostileText' ./cmd/chorus/ -v

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
)

func TestE2EHostileText(t *testing.T) {
	skipShort(t)
	dbURL := pgtest.URL(t)
	h := newHarness(t)
	addr, brokerAddr := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	p := h.start("all-in-one", map[string]string{
		"CHORUS_HTTP_ADDR":                  addr,
		"CHORUS_EMBEDDED_KAFKA_ADDR":        brokerAddr,
		"CHORUS_DATABASE_URL":               dbURL,
		"CHORUS_DATA_DIR":                   h.dir + "/data",
		"CHORUS_PARTITIONS":                 fmt.Sprint(clusterPartitions),
		"CHORUS_KAFKA_SESSION_TIMEOUT":      "2s",
		"CHORUS_KAFKA_HEARTBEAT":            "300ms",
		"CHORUS_BROKER_MIN_SESSION_TIMEOUT": "500ms",
		"CHORUS_BCRYPT_COST":                "4",
	})
	h.waitReady(p)
	warmUpGateway(t, base)
	sfx := randomHex(3)
	alice := newAccount(t, base, "alice_"+sfx)
	bob := newAccount(t, base, "bob_"+sfx)

	// Refused at the door, with the contract's code.
	expectError(t, base, alice.token, "POST", "/api/v1/rooms", map[string]any{"name": "nul\x00room"}, http.StatusBadRequest, "validation_failed")
	room, created := alice.createRoom(t, "text-"+sfx)
	alice.waitPosition(t, room.ID, created)
	var one, three messageAnswer
	call(t, base, alice.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "one"}, http.StatusCreated, &one)
	expectError(t, base, alice.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "two\x00"}, http.StatusBadRequest, "validation_failed")
	expectError(t, base, alice.token, "PATCH", "/api/v1/rooms/"+room.ID+"/messages/"+one.Message.ID, map[string]any{"content": "edited\x00"}, http.StatusBadRequest, "validation_failed")
	call(t, base, alice.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "three"}, http.StatusCreated, &three)
	// History without gaps, the refused edit not applied.
	hist := alice.fullHistory(t, room.ID, three.Position)
	if len(hist) != 2 || hist[0].Seq != 1 || hist[0].Content != "one" || hist[1].Seq != 2 || hist[1].Content != "three" {
		t.Fatalf("history %+v, want one (seq 1) and three (seq 2)", hist)
	}
	// A display name with NUL: refused, and the username is not taken by it: it registers and
	// logs in afterwards.
	carol := "carol_" + sfx
	expectError(t, base, "", "POST", "/api/v1/auth/register",
		map[string]any{"username": carol, "password": testPassword, "display_name": "Car\x00ol"}, http.StatusBadRequest, "validation_failed")
	register(t, base, carol)
	login(t, base, carol)
	// Text that reaches Postgres from a query or a login is refused as bad input, not a 500.
	expectError(t, base, "", "POST", "/api/v1/auth/login", map[string]any{"username": carol + "\x00", "password": testPassword}, http.StatusUnauthorized, "invalid_credentials")
	for _, path := range []string{"/api/v1/rooms?q=a%00", "/api/v1/users?q=%FF", "/api/v1/search/messages?q=a%00b"} {
		expectError(t, base, alice.token, "GET", path, nil, http.StatusBadRequest, "validation_failed")
	}

	// Events with NUL written straight to the log, bypassing the domain: a room created with one
	// in its name, bob joining, a message with one that mentions bob.
	aliceID, bobID := uuid.MustParse(alice.user.ID), uuid.MustParse(bob.user.ID)
	roomID := uuid.New()
	agg := domain.NewAggregate(domain.AggregateRoom, roomID)
	var events []domain.Event
	decide := func(actor uuid.UUID, name string, p domain.CommandData) {
		t.Helper()
		now := time.Now()
		evs, err := agg.Decide(domain.NewCommand(uuid.New(), roomID, actor, name, now, p), now)
		if err != nil {
			t.Fatalf("decide %T: %v", p, err)
		}
		for _, e := range evs {
			agg.Apply(e)
		}
		events = append(events, evs...)
	}
	decide(aliceID, alice.user.Username, domain.CreateRoom{Name: "placeholder"})
	decide(bobID, bob.user.Username, domain.JoinRoom{})
	decide(aliceID, alice.user.Username, domain.SendMessage{Content: "placeholder"})
	for i, e := range events {
		switch d := e.Data.(type) {
		case domain.RoomCreated:
			d.Name = "old\x00room"
			events[i].Data = d
		case domain.MessageSent:
			d.Message.Content = "hi\x00 @" + bob.user.Username
			events[i].Data = d
		}
	}
	// The room first; the message once bob's socket is subscribed to the room.
	produceEvents(t, brokerAddr, roomID, events[:len(events)-1])

	// Every projection stores them, NUL stripped.
	eventually(t, "the room with a NUL in its name is in the read model, bob a member", func() (bool, string) {
		res, err := doJSON(t.Context(), base, alice.token, "GET", "/api/v1/rooms/"+roomID.String(), nil)
		return err == nil && res.Status == http.StatusOK && strings.Contains(string(res.Body), `"name":"oldroom"`) &&
			strings.Contains(string(res.Body), `"member_count":2`), res.String()
	})
	bws := dialWS(t, "bob", base, bob.token) // subscribed to bob's rooms, the injected one included
	produceEvents(t, brokerAddr, roomID, events[len(events)-1:])
	sentID := events[len(events)-1].Data.(domain.MessageSent).Message.ID.String()
	f, _, err := bws.waitFor(15*time.Second, messagePush(sentID))
	if err != nil {
		t.Fatalf("bob's socket never got the message: %v", err)
	}
	if m, err := f.pushed(); err != nil || m.Content != "hi @"+bob.user.Username {
		t.Fatalf("push %s: the content differs from what history holds", f.raw)
	}
	eventually(t, "the message with a NUL is in the history", func() (bool, string) {
		page := alice.history(t, roomID.String(), url.Values{})
		return len(page.Messages) == 1 && page.Messages[0].Content == "hi @"+bob.user.Username && page.Messages[0].Seq == 1, fmt.Sprint(page)
	})
	eventually(t, "bob is notified of the mention", func() (bool, string) {
		var page struct {
			Notifications []apiNotification `json:"notifications"`
		}
		call(t, base, bob.token, "GET", "/api/v1/notifications", nil, http.StatusOK, &page)
		for _, n := range page.Notifications {
			if n.NotificationType == "mention" && strings.Contains(n.Message, "oldroom: hi @"+bob.user.Username) {
				return true, ""
			}
		}
		return false, fmt.Sprint(page)
	})
	eventually(t, "search finds the message", func() (bool, string) {
		res, err := doJSON(t.Context(), base, alice.token, "GET", "/api/v1/search/messages?q=hi&room_id="+roomID.String(), nil)
		return err == nil && res.Status == http.StatusOK && strings.Contains(string(res.Body), "hi @"+bob.user.Username), res.String()
	})

	// Nothing failed, nothing was dead-lettered: /readyz says so per projection, and the metrics.
	var ready struct {
		Ready       bool `json:"ready"`
		Degraded    bool `json:"degraded"`
		Projections map[string]struct {
			Status       string `json:"status"`
			DeadLettered int64  `json:"dead_lettered"`
		} `json:"projections"`
	}
	res, err := doJSON(t.Context(), base, "", "GET", "/readyz", nil)
	if err != nil || res.Status != http.StatusOK || json.Unmarshal(res.Body, &ready) != nil {
		t.Fatalf("/readyz: %v %v", res, err)
	}
	if !ready.Ready || ready.Degraded || len(ready.Projections) < 4 {
		t.Fatalf("/readyz %s", res.Body)
	}
	for name, ph := range ready.Projections {
		if ph.Status != "ok" || ph.DeadLettered != 0 {
			t.Fatalf("/readyz: projection %s is %+v: %s", name, ph, res.Body)
		}
	}
	series := scrape(t, addr)
	if v, found := sum(series, "chorus_projector_dead_letters_total", nil); !found || v != 0 {
		t.Fatalf("chorus_projector_dead_letters_total = %v (found %v)", v, found)
	}
	if v, found := sum(series, "chorus_projection_failing", nil); !found || v != 0 {
		t.Fatalf("chorus_projection_failing = %v (found %v)", v, found)
	}
}

// produceEvents appends events to chat-events as the command processor would (the aggregate's
// partition, keyed by its id), but without any command: straight into the log.
func produceEvents(t *testing.T, broker string, aggID uuid.UUID, events []domain.Event) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	pr, err := sarama.NewSyncProducer([]string{broker}, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	part := kafka.PartitionFor(aggID.String(), clusterPartitions)
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := pr.SendMessage(&sarama.ProducerMessage{
			Topic: kafka.DefaultTopics().ChatEvents, Partition: part, Key: sarama.StringEncoder(aggID.String()), Value: sarama.ByteEncoder(b),
		}); err != nil {
			t.Fatal(err)
		}
	}
}
