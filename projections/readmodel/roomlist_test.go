package readmodel_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// roomWorld is a viewer beside more rooms than one page holds: 260 public rooms of another
// user (every tenth named the same, so that the id decides their order), 30 of which the viewer
// joined and has unread messages in, 5 private rooms of the viewer's own, one private room the
// viewer is invited to, and 10 private rooms the viewer may not see.
type roomWorld struct {
	store   *readmodel.Store
	pool    *pgxpool.Pool
	log     *eventLog
	me      uuid.UUID
	other   uuid.UUID
	visible map[uuid.UUID]bool
	// unread is the viewer's unread count in each room they are a member of.
	unread map[uuid.UUID]int64
}

func newRoomWorld(t *testing.T) *roomWorld {
	t.Helper()
	pool := pgtest.New(t)
	w := &roomWorld{
		store: readmodel.NewStore(pool), pool: pool, log: newEventLog(t),
		visible: map[uuid.UUID]bool{}, unread: map[uuid.UUID]int64{},
	}
	var recs []readmodel.Record
	add := func(r ...[]readmodel.Record) { recs = concat(append([][]readmodel.Record{recs}, r...)...) }
	var r []readmodel.Record
	w.me, _, r = w.log.register("viewer")
	add(r)
	w.other, _, r = w.log.register("other")
	add(r)
	for i := range 260 {
		name := fmt.Sprintf("room %03d", i)
		if i%10 == 0 {
			name = "same name"
		}
		id, r := w.log.createRoom(w.other, name, false, "")
		add(r)
		w.visible[id] = true
		if i%7 == 3 && len(w.unread) < 30 {
			add(w.log.join(id, w.me))
			n := int64(len(w.unread) % 4)
			for range n {
				add(w.log.send(id, w.other, "unread"))
			}
			add(w.log.send(id, w.me, "mine are never unread"))
			w.unread[id] = n
		}
	}
	for i := range 5 {
		id, r := w.log.createRoom(w.me, fmt.Sprintf("my private %d", i), true, "")
		add(r)
		w.visible[id], w.unread[id] = true, 0
	}
	invited, r := w.log.createRoom(w.other, "invitation", true, "")
	add(r, w.log.act(invited, w.other, domain.InviteUser{UserID: w.me}))
	w.visible[invited] = true
	for i := range 10 {
		_, r := w.log.createRoom(w.other, fmt.Sprintf("room %03d hidden", i), true, "")
		add(r)
	}
	apply(t, w.store, recs)
	if len(w.unread) != 35 {
		t.Fatalf("the world has %d rooms of the viewer, want 35", len(w.unread))
	}
	return w
}

// order is the ids in the listing's order (name, then id), as the database sorts them.
func (w *roomWorld) order(t *testing.T, ids map[uuid.UUID]bool) []uuid.UUID {
	t.Helper()
	rows, err := w.pool.Query(context.Background(), `SELECT id FROM rooms WHERE id = ANY($1) ORDER BY name, id`, slices.Collect(maps.Keys(ids)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pages lists every page of q, calling between after each page with what was listed so far;
// the cursor goes through its opaque form, as a client passes it back.
func (w *roomWorld) pages(t *testing.T, q readmodel.RoomListQuery, between func(page int, next readmodel.RoomCursor, listed []projections.Room)) (all []projections.Room, sizes []int) {
	t.Helper()
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("more than 1000 pages: the cursor does not advance")
		}
		rooms, next, err := w.store.ListRooms(context.Background(), w.me, q)
		if err != nil {
			t.Fatalf("ListRooms page %d: %v", page, err)
		}
		all, sizes = append(all, rooms...), append(sizes, len(rooms))
		if next == nil {
			return all, sizes
		}
		c, err := readmodel.ParseRoomCursor(next.String())
		if err != nil || c != *next {
			t.Fatalf("cursor %+v does not survive its opaque form: %+v, %v", *next, c, err)
		}
		q.After = &c
		if between != nil {
			between(page, c, all)
		}
	}
}

// checkUnread checks that the viewer's own rooms carry their unread counts and the others none.
func (w *roomWorld) checkUnread(t *testing.T, rooms []projections.Room) {
	t.Helper()
	for _, r := range rooms {
		want, mine := w.unread[r.ID]
		switch {
		case mine && (r.UnreadCount == nil || r.LastReadSeq == nil):
			t.Errorf("own room %s has no unread count", r.Name)
		case mine && *r.UnreadCount != want:
			t.Errorf("own room %s: unread_count %d, want %d", r.Name, *r.UnreadCount, want)
		case !mine && (r.UnreadCount != nil || r.LastReadSeq != nil):
			t.Errorf("room %s (not the viewer's) carries unread state", r.Name)
		}
	}
}

func ids(rooms []projections.Room) []uuid.UUID {
	out := make([]uuid.UUID, len(rooms))
	for i, r := range rooms {
		out[i] = r.ID
	}
	return out
}

// A viewer beside 266 visible rooms reaches every one of them exactly once, in order, across
// pages of any size; the viewer's own rooms carry their unread counts wherever they fall.
func TestListRoomsPaging(t *testing.T) {
	w := newRoomWorld(t)
	want := w.order(t, w.visible)
	if len(want) != 266 {
		t.Fatalf("%d visible rooms, want 266", len(want))
	}

	// The default page is the largest, the size of the listing before paging.
	first, next, err := w.store.ListRooms(context.Background(), w.me, readmodel.RoomListQuery{})
	if err != nil || len(first) != readmodel.MaxRoomList || next == nil {
		t.Fatalf("first page = %d rooms, next %v, %v; want %d and a next cursor", len(first), next, err, readmodel.MaxRoomList)
	}
	for _, limit := range []int{0, 1, 7, 50, 200, 266, 1000} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			all, sizes := w.pages(t, readmodel.RoomListQuery{Limit: limit}, nil)
			if got := ids(all); !slices.Equal(got, want) {
				t.Errorf("pages hold %d rooms (%d distinct), want the %d visible ones in order", len(got), len(distinct(got)), len(want))
			}
			page := min(max(limit, 0), readmodel.MaxRoomList)
			if limit <= 0 {
				page = readmodel.MaxRoomList
			}
			for i, n := range sizes[:len(sizes)-1] {
				if n != page {
					t.Errorf("page %d holds %d rooms, want %d", i, n, page)
				}
			}
			if last := sizes[len(sizes)-1]; last == 0 && len(sizes) > 1 {
				t.Error("a next cursor led to an empty page: the last page was not known to be last")
			}
			w.checkUnread(t, all)
		})
	}

	// Mine: only the viewer's own rooms, each with its unread count, however many others exist.
	mine, _ := w.pages(t, readmodel.RoomListQuery{Mine: true, Limit: 8}, nil)
	if got, want := ids(mine), w.order(t, keys(w.unread)); !slices.Equal(got, want) {
		t.Errorf("mine lists %d rooms, want the viewer's %d in order", len(got), len(want))
	}
	w.checkUnread(t, mine)

	// A filter pages the same way: "same name" is 26 rooms that only their ids tell apart.
	same, _ := w.pages(t, readmodel.RoomListQuery{Q: "SAME", Limit: 5}, nil)
	if len(same) != 26 || len(distinct(ids(same))) != 26 {
		t.Errorf("q=SAME pages hold %d rooms (%d distinct), want 26", len(same), len(distinct(ids(same))))
	}
}

// Rooms created and deleted between pages: every room that was there throughout is listed
// exactly once, no room twice, and rooms created past the cursor are reached.
func TestListRoomsPagingWhileRoomsChange(t *testing.T) {
	w := newRoomWorld(t)
	throughout := map[uuid.UUID]bool{}
	for id := range w.visible {
		throughout[id] = true
	}
	var (
		late    = map[uuid.UUID]bool{} // sorted after every room: always ahead of the cursor
		deleted = map[uuid.UUID]bool{}
	)
	initial := w.order(t, throughout)
	all, _ := w.pages(t, readmodel.RoomListQuery{Limit: 40}, func(page int, at readmodel.RoomCursor, listed []projections.Room) {
		var recs []readmodel.Record
		// One before every room, one with the cursor's own name (its id decides the side),
		// one after every room.
		for _, name := range []string{fmt.Sprintf("aaa early %d", page), at.Name, fmt.Sprintf("zzz late %d", page)} {
			id, r := w.log.createRoom(w.other, name, false, "")
			recs = append(recs, r...)
			if name[:3] == "zzz" {
				late[id] = true
			}
		}
		// And the last room not listed yet goes away.
		gone := distinct(ids(listed))
		for _, id := range slices.Backward(initial) {
			if !gone[id] && !deleted[id] && !w.isMine(id) {
				recs = append(recs, w.log.act(id, w.other, domain.DeleteRoom{})...)
				deleted[id] = true
				delete(throughout, id)
				break
			}
		}
		apply(t, w.store, recs)
	})
	seen := map[uuid.UUID]int{}
	for _, r := range all {
		seen[r.ID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("room %s listed %d times", id, n)
		}
		if deleted[id] {
			t.Errorf("room %s listed after it was deleted", id)
		}
	}
	for id := range throughout {
		if seen[id] != 1 {
			t.Errorf("room %s, there throughout, listed %d times", id, seen[id])
		}
	}
	for id := range late {
		if seen[id] != 1 {
			t.Errorf("room %s, created ahead of the cursor, listed %d times", id, seen[id])
		}
	}
	if len(deleted) == 0 || len(late) < 5 {
		t.Fatalf("the test changed too little: %d deleted, %d created late", len(deleted), len(late))
	}
	w.checkUnread(t, all)
}

func (w *roomWorld) isMine(id uuid.UUID) bool { _, ok := w.unread[id]; return ok }

func distinct(ids []uuid.UUID) map[uuid.UUID]bool {
	m := map[uuid.UUID]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func keys[V any](m map[uuid.UUID]V) map[uuid.UUID]bool {
	out := map[uuid.UUID]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// A cursor is what a page handed out, or it is refused: never a query error, never a 500.
func TestParseRoomCursor(t *testing.T) {
	good := readmodel.RoomCursor{Name: "Lobby ☕", ID: uuid.New()}
	if c, err := readmodel.ParseRoomCursor(good.String()); err != nil || c != good {
		t.Fatalf("round trip = %+v, %v; want %+v", c, err, good)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	id := uuid.NewString()
	for _, bad := range []string{
		"", "not a cursor", "!!!!", good.String() + "=", good.String()[:10],
		enc(`{}`), enc(`[]`), enc(`null`), enc(`"x"`),
		enc(`{"v":1,"n":"Lobby"}`),                                        // no id
		enc(`{"v":1,"n":"Lobby","i":"` + uuid.Nil.String() + `"}`),        // nil id
		enc(`{"v":1,"n":"Lobby","i":"nope"}`),                             // bad id
		enc(`{"v":2,"n":"Lobby","i":"` + id + `"}`),                       // unknown version
		enc(`{"v":1,"n":"Lo\u0000bby","i":"` + id + `"}`),                 // NUL, which Postgres refuses
		enc("{\"v\":1,\"n\":\"\xff\",\"i\":\"" + id + "\"}"),              // invalid UTF-8
		enc(`{"v":1,"n":"Lobby","i":"` + id + `","x":1}`),                 // unknown field
		enc(`{"v":1,"n":"Lobby","i":"` + id + `"} {}`),                    // trailing value
		enc(`{"v":1,"n":"` + string(make([]byte, 2000)) + `","i":"` + id), // too long
	} {
		if _, err := readmodel.ParseRoomCursor(bad); !errors.Is(err, readmodel.ErrBadCursor) {
			t.Errorf("ParseRoomCursor(%.60q) error = %v, want ErrBadCursor", bad, err)
		}
	}
}
