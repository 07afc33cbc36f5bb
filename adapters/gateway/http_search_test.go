package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/search"
)

// fakeSearcher records the searches and position waits it is asked for and answers with what
// the test set. The search index itself is tested against Postgres in projections/search.
type fakeSearcher struct {
	mu      sync.Mutex
	queries []search.Query
	waits   []domain.Position
	results []projections.Message
	err     error // returned by Search
	waitErr error // returned by WaitFor
}

func (f *fakeSearcher) Search(_ context.Context, q search.Query) ([]projections.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return f.results, f.err
}

func (f *fakeSearcher) WaitFor(_ context.Context, pos domain.Position, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, pos)
	return f.waitErr
}

func (f *fakeSearcher) last(t *testing.T) search.Query {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		t.Fatal("the searcher was not asked")
	}
	return f.queries[len(f.queries)-1]
}

func (f *fakeSearcher) set(fn func(*fakeSearcher)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeSearcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

func searchPath(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return "/api/v1/search/messages?" + v.Encode()
}

func TestSearchParams(t *testing.T) {
	fs := &fakeSearcher{}
	e := newEnvWith(t, nil, func(d *Deps) { d.Search = fs })
	tok, uid := e.user("searcher")

	// Invalid input never reaches the index.
	for _, tc := range []struct {
		name   string
		path   string
		status int
		code   string
	}{
		{"no q", searchPath(), 400, domain.CodeValidationFailed},
		{"blank q", searchPath("q", "   "), 400, domain.CodeValidationFailed},
		{"q over 200 characters", searchPath("q", strings.Repeat("a", 201)), 400, domain.CodeValidationFailed},
		{"limit 0", searchPath("q", "hi", "limit", "0"), 400, domain.CodeValidationFailed},
		{"limit 101", searchPath("q", "hi", "limit", "101"), 400, domain.CodeValidationFailed},
		{"limit not a number", searchPath("q", "hi", "limit", "ten"), 400, domain.CodeValidationFailed},
		{"negative offset", searchPath("q", "hi", "offset", "-1"), 400, domain.CodeValidationFailed},
		{"offset too deep", searchPath("q", "hi", "offset", "1001"), 400, domain.CodeValidationFailed},
		{"malformed position", searchPath("q", "hi", "position", "nowhere"), 400, domain.CodeValidationFailed},
		{"malformed room id", searchPath("q", "hi", "room_id", "not-a-uuid"), 404, domain.CodeRoomNotFound},
	} {
		wantErr(t, tc.name, e.do("GET", tc.path, tok, nil), tc.status, tc.code)
	}
	wantErr(t, "no token", e.do("GET", searchPath("q", "hi"), "", nil), 401, codeUnauthorized)
	if n := fs.count(); n != 0 {
		t.Fatalf("invalid searches reached the index %d times", n)
	}

	// 200 characters are counted as characters, not bytes: 200 CJK characters are fine.
	e.mustDo(http.StatusOK, "GET", searchPath("q", strings.Repeat("世", 200)), tok, nil)

	// Defaults: the caller's rooms, 20 results, from the start; q is trimmed.
	r := e.mustDo(http.StatusOK, "GET", searchPath("q", "  hello world "), tok, nil)
	if res, ok := r.body["results"].([]any); !ok || len(res) != 0 {
		t.Fatalf("no matches: body %s, want {\"results\": []}", r.raw)
	}
	q := fs.last(t)
	if q.UserID != uid || q.RoomID != uuid.Nil || q.Text != "hello world" || q.Limit != 20 || q.Offset != 0 {
		t.Fatalf("searched %+v, want the caller's rooms, text %q, limit 20, offset 0", q, "hello world")
	}

	// Everything given is passed on, and the results come back as Message views.
	room := uuid.New()
	msg := projections.Message{
		ID: uuid.New(), RoomID: room, SenderID: uid, Content: "你好世界", MessageType: "text", Seq: 7,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	fs.set(func(f *fakeSearcher) { f.results = []projections.Message{msg} })
	r = e.mustDo(http.StatusOK, "GET", searchPath("q", "世界", "room_id", room.String(), "limit", "100", "offset", "40"), tok, nil)
	q = fs.last(t)
	if q.RoomID != room || q.Text != "世界" || q.Limit != 100 || q.Offset != 40 {
		t.Fatalf("searched %+v, want room %s, text 世界, limit 100, offset 40", q, room)
	}
	res, _ := r.body["results"].([]any)
	if len(res) != 1 {
		t.Fatalf("results %s, want the one message", r.raw)
	}
	got, _ := res[0].(map[string]any)
	if got["id"] != msg.ID.String() || got["content"] != "你好世界" || got["seq"] != float64(7) || got["deleted"] != false {
		t.Fatalf("result %v, want the message view of %+v", got, msg)
	}
}

func TestSearchRoomAccess(t *testing.T) {
	fs := &fakeSearcher{}
	e := newEnvWith(t, nil, func(d *Deps) { d.Search = fs })
	tok, _ := e.user("outsider")
	room := uuid.New().String()

	fs.set(func(f *fakeSearcher) { f.err = search.ErrRoomNotFound })
	wantErr(t, "room the caller may not know of", e.do("GET", searchPath("q", "hi", "room_id", room), tok, nil), 404, domain.CodeRoomNotFound)
	fs.set(func(f *fakeSearcher) { f.err = search.ErrNotAMember })
	wantErr(t, "public room the caller is not in", e.do("GET", searchPath("q", "hi", "room_id", room), tok, nil), 403, domain.CodeNotAMember)
	fs.set(func(f *fakeSearcher) { f.err = errors.New("connection reset") })
	wantErr(t, "index failure", e.do("GET", searchPath("q", "hi"), tok, nil), 500, codeInternal)
}

func TestSearchPositionWaitsForTheIndex(t *testing.T) {
	fs := &fakeSearcher{}
	e := newEnvWith(t, nil, func(d *Deps) { d.Search = fs })
	tok, _ := e.user("waiter")
	pos := domain.Position{Topic: "chat-events", Partition: 3, Offset: 41}

	// The read model is behind, the index is not: search answers, because it waits on the index.
	e.w.set(func(w *world) { w.waitErr = errors.New("read model wait must not be used by search") })
	e.mustDo(http.StatusOK, "GET", searchPath("q", "hi", "position", pos.String()), tok, nil)
	fs.mu.Lock()
	waits := append([]domain.Position(nil), fs.waits...)
	fs.mu.Unlock()
	if len(waits) != 1 || waits[0] != pos {
		t.Fatalf("waited for %v, want %v on the search index", waits, pos)
	}

	// The index does not catch up: 503 not_caught_up, and no search.
	before := fs.count()
	fs.set(func(f *fakeSearcher) { f.waitErr = search.ErrNotCaughtUp })
	wantErr(t, "index behind", e.do("GET", searchPath("q", "hi", "position", pos.String()), tok, nil), 503, codeNotCaughtUp)
	if fs.count() != before {
		t.Fatal("searched although the index had not reached the position")
	}
}

func TestSearchWithoutSearcher(t *testing.T) {
	e := newEnv(t, nil)
	tok, _ := e.user("early")
	wantErr(t, "no searcher", e.do("GET", searchPath("q", "hi"), tok, nil), 503, codeUnavailable)
}
