package search_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/search"
)

// sameSet tells whether got holds exactly want, in any order.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func TestCJKSubstrings(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, recs := f.log.createRoom(alice, false)
	f.apply(recs)
	for _, text := range []string{
		"你好世界", "世界和平！", "我们明天开会", "界和平的世界", // Chinese
		"東京タワーに行きました。", "こんにちは、元気ですか", // Japanese: kanji, katakana, hiragana
		"안녕하세요 세계여러분", "한국어를 공부해요", // Korean
	} {
		_, recs := f.log.send(room, alice, text)
		f.apply(recs)
	}

	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"世界", []string{"你好世界", "世界和平！", "界和平的世界"}},
		{"界", []string{"你好世界", "世界和平！", "界和平的世界"}},
		{"世界和平", []string{"世界和平！"}}, // 界和平的世界 holds all three pairs, not in that order
		{"你好世界", []string{"你好世界"}},
		{"好世界", []string{"你好世界"}},
		{"好界", nil},   // both characters are there, but not as a substring
		{"世界你好", nil}, // every pair but one is there: a phrase needs them in order
		{"明天", []string{"我们明天开会"}},
		{"タワー", []string{"東京タワーに行きました。"}},
		{"京タ", []string{"東京タワーに行きました。"}}, // across kanji and katakana
		{"行き", []string{"東京タワーに行きました。"}},
		{"元気", []string{"こんにちは、元気ですか"}},
		{"ちは", []string{"こんにちは、元気ですか"}},
		{"세계", []string{"안녕하세요 세계여러분"}},
		{"하세", []string{"안녕하세요 세계여러분"}}, // inside a word
		{"한국어", []string{"한국어를 공부해요"}},
		{"世界 的", []string{"界和平的世界"}}, // two terms, both required, anywhere
		{"宇宙", nil},
	} {
		if got := f.find(alice, tc.q); !sameSet(got, tc.want) {
			t.Errorf("search %q: found %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestEnglishWords(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, recs := f.log.createRoom(alice, false)
	f.apply(recs)
	for _, text := range []string{"Hello World", "hello there, general Kenobi", "Deploying the NEW server", "ＦＵＬＬ width"} {
		_, recs := f.log.send(room, alice, text)
		f.apply(recs)
	}
	// An old event may hold a NUL, which the domain refuses now.
	_, recs = f.log.send(room, alice, "placeholder")
	for i, r := range recs {
		if d, ok := r.Event.Data.(domain.MessageSent); ok {
			d.Message.Content = "nul\x00byte"
			recs[i].Event.Data = d
		}
	}
	f.apply(recs)
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"hello", []string{"Hello World", "hello there, general Kenobi"}},
		{"HELLO", []string{"Hello World", "hello there, general Kenobi"}},
		{"world hello", []string{"Hello World"}}, // every word, in any order
		{"Hello, world!", []string{"Hello World"}},
		{"hello kenobi", []string{"hello there, general Kenobi"}},
		{"hello moon", nil},
		{"server new", []string{"Deploying the NEW server"}},
		{"full", []string{"ＦＵＬＬ width"}}, // NFKC: full-width letters are letters
		{"ＷＩＤＴＨ", []string{"ＦＵＬＬ width"}},
		{"nulbyte", []string{"nulbyte"}}, // Postgres text holds no NUL: it is dropped, not fatal
		{"hell", nil},                    // words, not prefixes
		{"!!!", nil},                     // nothing to search for
	} {
		if got := f.find(alice, tc.q); !sameSet(got, tc.want) {
			t.Errorf("search %q: found %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestEditsReindex(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, recs := f.log.createRoom(alice, false)
	id, sent := f.log.send(room, alice, "apple pie 苹果派")
	f.apply(recs, sent)

	edit := f.log.act(room, alice, domain.EditMessage{MessageID: id, Content: "banana split 香蕉船"})
	f.apply(edit)
	if got := f.find(alice, "apple"); len(got) != 0 {
		t.Fatalf("old words still found after the edit: %q", got)
	}
	if got := f.find(alice, "苹果"); len(got) != 0 {
		t.Fatalf("old CJK text still found after the edit: %q", got)
	}
	for _, q := range []string{"banana", "香蕉"} {
		res := f.search(search.Query{UserID: alice, Text: q})
		if len(res) != 1 || res[0].ID != id || res[0].Content != "banana split 香蕉船" || res[0].EditedAt == nil || res[0].Seq != 1 {
			t.Fatalf("search %q after the edit: %+v, want message %s as edited, with edited_at", q, res, id)
		}
	}

	// A redelivered MessageSent (a replay over surviving rows) does not undo the edit.
	if err := f.store.ApplyBatch(context.Background(), renumber(sent, 1000)); err != nil {
		t.Fatal(err)
	}
	if got := f.find(alice, "banana"); !sameSet(got, []string{"banana split 香蕉船"}) {
		t.Fatalf("after a replayed send: found %q, want the edited message", got)
	}
}

// renumber gives recs fresh offsets from off on, so that the checkpoint does not skip them.
func renumber(recs []search.Record, off int64) []search.Record {
	out := slices.Clone(recs)
	for i := range out {
		out[i].Offset = off + int64(i)
	}
	return out
}

func TestDeletesDisappear(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, recs := f.log.createRoom(alice, false)
	doomed, sent1 := f.log.send(room, alice, "secret plan 秘密计划")
	_, sent2 := f.log.send(room, alice, "public plan 公开计划")
	f.apply(recs, sent1, sent2)

	f.apply(f.log.act(room, alice, domain.DeleteMessage{MessageID: doomed}))
	if got := f.find(alice, "plan"); !sameSet(got, []string{"public plan 公开计划"}) {
		t.Fatalf("after deleting a message: found %q, want only the other one", got)
	}
	if got := f.find(alice, "秘密"); len(got) != 0 {
		t.Fatalf("deleted message found: %q", got)
	}

	f.apply(f.log.act(room, alice, domain.DeleteRoom{}))
	if got := f.find(alice, "计划"); len(got) != 0 {
		t.Fatalf("after deleting the room: found %q", got)
	}
	_, err := f.store.Search(context.Background(), search.Query{UserID: alice, RoomID: room, Text: "plan"})
	if !errors.Is(err, search.ErrRoomNotFound) {
		t.Fatalf("search in a deleted room: %v, want ErrRoomNotFound", err)
	}
}

func TestOnlyReadableRooms(t *testing.T) {
	f := newFixture(t)
	alice, bob, carol := uuid.New(), uuid.New(), uuid.New()
	public, r1 := f.log.createRoom(alice, false)
	private, r2 := f.log.createRoom(bob, true)
	_, m1 := f.log.send(public, alice, "lunch in the public room 午饭")
	_, m2 := f.log.send(private, bob, "lunch in the private room 午饭")
	f.apply(r1, r2, m1, m2)

	if got := f.find(alice, "lunch"); !sameSet(got, []string{"lunch in the public room 午饭"}) {
		t.Fatalf("alice: found %q, want only her room's message", got)
	}
	if got := f.find(bob, "午饭"); !sameSet(got, []string{"lunch in the private room 午饭"}) {
		t.Fatalf("bob: found %q, want only his room's message", got)
	}
	if got := f.find(carol, "lunch"); len(got) != 0 {
		t.Fatalf("carol, in no room: found %q", got)
	}

	// One room: public but not joined is "not a member", private is "no such room".
	for _, tc := range []struct {
		user, room uuid.UUID
		want       error
	}{
		{carol, public, search.ErrNotAMember},
		{carol, private, search.ErrRoomNotFound},
		{alice, private, search.ErrRoomNotFound},
		{carol, uuid.New(), search.ErrRoomNotFound},
	} {
		_, err := f.store.Search(context.Background(), search.Query{UserID: tc.user, RoomID: tc.room, Text: "lunch"})
		if !errors.Is(err, tc.want) {
			t.Errorf("user %s in room %s: %v, want %v", tc.user, tc.room, err, tc.want)
		}
	}
	res := f.search(search.Query{UserID: alice, RoomID: public, Text: "lunch"})
	if len(res) != 1 || res[0].RoomID != public {
		t.Fatalf("alice in her room: %+v", res)
	}

	// Joining opens a room's whole history to search; leaving, a kick or a ban closes it.
	f.apply(f.log.join(public, carol))
	if got := f.find(carol, "lunch"); !sameSet(got, []string{"lunch in the public room 午饭"}) {
		t.Fatalf("carol after joining: found %q", got)
	}
	f.apply(f.log.act(public, carol, domain.LeaveRoom{}))
	if got := f.find(carol, "lunch"); len(got) != 0 {
		t.Fatalf("carol after leaving: found %q", got)
	}
	f.apply(f.log.join(public, carol), f.log.act(public, alice, domain.KickMember{UserID: carol}))
	if got := f.find(carol, "lunch"); len(got) != 0 {
		t.Fatalf("carol after a kick: found %q", got)
	}
	f.apply(f.log.join(public, carol), f.log.act(public, alice, domain.BanMember{UserID: carol}))
	if got := f.find(carol, "lunch"); len(got) != 0 {
		t.Fatalf("carol after a ban: found %q", got)
	}
}

func TestRankingAndPagination(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, recs := f.log.createRoom(alice, false)
	f.apply(recs)
	send := func(text string) uuid.UUID {
		id, recs := f.log.send(room, alice, text)
		f.apply(recs)
		return id
	}
	far := send("the server was slow all morning, so after lunch and a long meeting we finally had to deploy a fix")
	near := send("deploy server")
	if got := ids(f.search(search.Query{UserID: alice, Text: "deploy server"})); !slices.Equal(got, []uuid.UUID{near, far}) {
		t.Fatalf("ranking: got %v, want the short message with the words together (%s) before the long one (%s)", got, near, far)
	}

	// Equal rank: newest first.
	var same []uuid.UUID
	for i := range 25 {
		same = append(same, send(fmt.Sprintf("standup notes %d", i)))
	}
	slices.Reverse(same)
	all := ids(f.search(search.Query{UserID: alice, Text: "standup notes", Limit: 100}))
	if !slices.Equal(all, same) {
		t.Fatalf("equal rank: got %v, want newest first %v", all, same)
	}
	var paged []uuid.UUID
	for off := 0; off < 30; off += 10 {
		page := ids(f.search(search.Query{UserID: alice, Text: "standup notes", Limit: 10, Offset: off}))
		paged = append(paged, page...)
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("pages of 10: got %v, want the single page's order %v", paged, all)
	}
	if got := f.search(search.Query{UserID: alice, Text: "standup"}); len(got) != search.DefaultLimit {
		t.Fatalf("default limit: %d results, want %d", len(got), search.DefaultLimit)
	}
}

func TestReplayIsIdempotent(t *testing.T) {
	f := newFixture(t)
	alice, bob := uuid.New(), uuid.New()
	room, recs := f.log.createRoom(alice, false)
	id1, m1 := f.log.send(room, alice, "first message 第一")
	_, m2 := f.log.send(room, alice, "second message 第二")
	batch := slices.Concat(recs, m1, m2, f.log.join(room, bob),
		f.log.act(room, alice, domain.EditMessage{MessageID: id1, Content: "first message, edited 第一版"}),
		f.log.act(room, bob, domain.LeaveRoom{}))
	f.apply(batch)
	want := f.search(search.Query{UserID: alice, Text: "message"})
	if len(want) != 2 {
		t.Fatalf("before the replay: %+v", want)
	}

	// The same batch again (a redelivery after a crash before the commit was acknowledged).
	f.apply(batch)
	// Part of it again, mixed with new records.
	_, m3 := f.log.send(room, alice, "third message 第三")
	f.apply(batch[len(batch)-3:], m3)

	got := f.search(search.Query{UserID: alice, Text: "message"})
	if len(got) != 3 || !slices.Contains(ids(got), want[0].ID) || !slices.Contains(ids(got), want[1].ID) {
		t.Fatalf("after replays: %+v, want the two messages once each and the third", got)
	}
	if res := f.find(alice, "第一"); !sameSet(res, []string{"first message, edited 第一版"}) {
		t.Fatalf("after replays: %q", res)
	}
	if res := f.find(bob, "message"); len(res) != 0 {
		t.Fatalf("bob left, yet after replays he finds %q", res)
	}
}

func TestWaitFor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := uuid.New()
	_, recs := f.log.createRoom(alice, false)
	last := recs[len(recs)-1]
	pos := domain.Position{Topic: chatTopic, Partition: last.Partition, Offset: last.Offset}

	if err := f.store.WaitFor(ctx, pos, 50*time.Millisecond); !errors.Is(err, search.ErrNotCaughtUp) {
		t.Fatalf("before the batch: %v, want ErrNotCaughtUp", err)
	}
	// A topic the index does not read has nothing to wait for.
	if err := f.store.WaitFor(ctx, domain.Position{Topic: "user-events", Offset: 99}, 50*time.Millisecond); err != nil {
		t.Fatalf("position in user-events: %v, want nil", err)
	}

	// Applied by another process: the poller sees the checkpoint.
	other := search.NewStore(f.pool, chatTopic)
	done := make(chan error, 1)
	go func() { done <- f.store.WaitFor(ctx, pos, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	if err := other.ApplyBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("waiting across stores: %v", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("WaitFor did not return")
	}
}

// Runs of messages go in as one statement: in one batch, each keeps its own fields, an edit or
// a deletion after it in the batch applies to it, and a message after the deletion is indexed.
func TestOneBatchKeepsTheLogOrder(t *testing.T) {
	f := newFixture(t)
	alice := uuid.New()
	room, recs := f.log.createRoom(alice, false)
	first, sent1 := f.log.send(room, alice, "walnut first")
	reply := f.log.act(room, alice, domain.SendMessage{Content: "https://example.com/walnut.png", MessageType: domain.MessageImage, ReplyToMessageID: &first})
	doomed, sent3 := f.log.send(room, alice, "walnut doomed")
	edited, sent4 := f.log.send(room, alice, "walnut draft")
	f.apply(recs, sent1, reply, sent3, sent4,
		f.log.act(room, alice, domain.DeleteMessage{MessageID: doomed}),
		f.log.act(room, alice, domain.EditMessage{MessageID: edited, Content: "walnut final"}))
	_, after := f.log.send(room, alice, "walnut after")
	f.apply(after)

	res := f.search(search.Query{UserID: alice, Text: "walnut", Limit: 10})
	got := map[string]projections.Message{}
	for _, m := range res {
		got[m.Content] = m
	}
	if len(res) != 4 || got["walnut doomed"].ID != uuid.Nil || got["walnut draft"].ID != uuid.Nil {
		t.Fatalf("found %d: %+v", len(res), res)
	}
	if m := got["https://example.com/walnut.png"]; m.MessageType != domain.MessageImage || m.ReplyToMessageID == nil || *m.ReplyToMessageID != first || m.Seq != 2 {
		t.Fatalf("the reply: %+v", m)
	}
	if m := got["walnut first"]; m.ReplyToMessageID != nil || m.MessageType != domain.MessageText || m.ID != first {
		t.Fatalf("the first message: %+v", m)
	}
	if m := got["walnut final"]; m.ID != edited || m.EditedAt == nil {
		t.Fatalf("the edited message: %+v", m)
	}
}

// A search ranks the newest RankWindow matches, whichever way it finds them (through the GIN
// index's room keys, newest first, or in a slice of the newest messages, deep enough or not),
// and its pages are cut from that one window.
func TestRankWindowEveryWay(t *testing.T) {
	f := newFixture(t)
	alice, bob := uuid.New(), uuid.New()
	room, recs := f.log.createRoom(alice, false)
	other, otherRecs := f.log.createRoom(bob, false)
	all := [][]search.Record{recs, otherRecs, f.log.join(room, bob)}
	// The oldest matches repeat the word: they would rank first, were they in the window.
	var old []uuid.UUID
	for i := range 30 {
		id, recs := f.log.send(room, alice, fmt.Sprintf("deploy deploy deploy %d", i))
		old = append(old, id)
		all = append(all, recs)
	}
	var newest []uuid.UUID
	for i := range search.RankWindow + 20 {
		id, recs := f.log.send(room, alice, fmt.Sprintf("we deploy on day %d of the sprint", i))
		newest = append(newest, id)
		all = append(all, recs)
		if i%100 == 0 {
			// In a room bob may read but alice may not.
			_, recs := f.log.send(other, bob, "deploy deploy")
			all = append(all, recs)
		}
	}
	f.apply(all...)
	// The slices are cut by the statistics' histogram of creation times.
	if _, err := f.pool.Exec(context.Background(), "ANALYZE search_messages"); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(newest)
	window := newest[:search.RankWindow]

	pages := func(user uuid.UUID, text string) []uuid.UUID {
		var got []uuid.UUID
		for off := 0; off <= search.MaxOffset; off += search.MaxLimit {
			got = append(got, ids(f.search(search.Query{UserID: user, Text: text, Limit: search.MaxLimit, Offset: off}))...)
		}
		return got
	}
	ways := []struct {
		name  string
		force func()
	}{
		{"through the room keys", func() { search.ForceRecency(f.store, false) }},
		{"newest first", func() { search.ForceRecency(f.store, true) }},
		// All but the oldest 1 %: the window of "deploy", not the old messages of "deploy 7".
		{"in a slice of 99 %", func() { search.ForceSlice(f.store, 0.99) }},
		// Too shallow for any window here: the search runs again through the room keys.
		{"in a slice of 30 %", func() { search.ForceSlice(f.store, 0.3) }},
	}
	for _, w := range ways {
		w.force()
		recency := w.name
		// Equal rank (the same words, the same length): newest first, exactly the window.
		if got := pages(alice, "deploy"); !slices.Equal(got, window) {
			t.Fatalf("%s: pages of alice's search hold %d messages, want the newest %d in order (first %v, want %v)",
				recency, len(got), len(window), got[:min(3, len(got))], window[:3])
		}
		if got := ids(f.search(search.Query{UserID: alice, Text: "deploy", Limit: 5, Offset: 3})); !slices.Equal(got, window[3:8]) {
			t.Fatalf("%s: page at offset 3: %v, want %v", recency, got, window[3:8])
		}
		// A rarer query reaches the old messages, best first.
		got := ids(f.search(search.Query{UserID: alice, Text: "deploy 7", Limit: search.MaxLimit}))
		if len(got) == 0 || got[0] != old[7] {
			t.Fatalf("%s: \"deploy 7\" found %v first, want the old message that repeats the word (%s)", recency, got, old[7])
		}
		// bob reads both rooms: his own room's messages rank first (shorter, word repeated).
		bobs := ids(f.search(search.Query{UserID: bob, Text: "deploy", Limit: 20}))
		if len(bobs) != 20 || slices.Contains(window, bobs[0]) {
			t.Fatalf("%s: bob's best match %v is not one of his own room's", recency, bobs[:1])
		}
		// A room filter, and nothing at all.
		if got := ids(f.search(search.Query{UserID: alice, RoomID: room, Text: "deploy", Limit: 3})); !slices.Equal(got, window[:3]) {
			t.Fatalf("%s: one room: %v, want %v", recency, got, window[:3])
		}
		if got := f.search(search.Query{UserID: alice, Text: "nowhere"}); len(got) != 0 {
			t.Fatalf("%s: \"nowhere\" found %d", recency, len(got))
		}
	}
}
