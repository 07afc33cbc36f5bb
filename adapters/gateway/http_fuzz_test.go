package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/queries"
	"github.com/chorus-chat/chorus/projections/search"
)

// fuzzRoute is one HTTP route the fuzz target drives; {room}, {msg} and {bob} are filled in per
// run. body: the route reads a JSON body (optional: an empty one is allowed).
type fuzzRoute struct {
	method, path   string
	body, optional bool
}

var fuzzRoutes = []fuzzRoute{
	{"POST", "/api/v1/auth/register", true, false},
	{"POST", "/api/v1/auth/login", true, false},
	{"PATCH", "/api/v1/users/me", true, false},
	{"POST", "/api/v1/rooms", true, false},
	{"PATCH", "/api/v1/rooms/{room}", true, false},
	{"POST", "/api/v1/rooms/{room}/join", true, true},
	{"POST", "/api/v1/rooms/{room}/messages", true, false},
	{"PATCH", "/api/v1/rooms/{room}/messages/{msg}", true, false},
	{"PUT", "/api/v1/rooms/{room}/members/{bob}/role", true, false},
	{"PUT", "/api/v1/rooms/{room}/bans/{bob}", true, true},
	{"POST", "/api/v1/rooms/{room}/invitations", true, false},
	{"POST", "/api/v1/rooms/{room}/read", true, false},
	{"GET", "/api/v1/rooms/{room}/messages", false, false},
	{"GET", "/api/v1/users", false, false},
	{"GET", "/api/v1/rooms", false, false},
	{"GET", "/api/v1/rooms/{room}", false, false},
	{"GET", "/api/v1/rooms/{room}/members", false, false},
	{"GET", "/api/v1/users/me", false, false},
	{"GET", "/api/v1/notifications", false, false},
	{"GET", "/api/v1/search/messages", false, false},
	{"POST", "/api/v1/admin/system-events", true, false},
	{"GET", "/api/v1/admin/events", false, false},
	{"GET", "/api/v1/admin/events/stats", false, false},
	{"GET", "/api/v1/admin/projections", false, false},
	{"POST", "/api/v1/admin/projections/readmodel/rebuild", true, true},
	{"POST", "/api/v1/admin/projections/search/verify", true, true},
}

// intQueryBounds are the integer query parameters of the routes above and the range each
// accepts (the contract's limits): a 2xx answer means every one given was in range.
var intQueryBounds = map[string]map[string][2]int64{
	"/api/v1/rooms/{room}/messages": {"before_seq": {0, 1<<63 - 1}, "after_seq": {0, 1<<63 - 1}, "limit": {1, queries.MaxHistoryLimit}},
	"/api/v1/users":                 {"limit": {1, queries.MaxUsersLimit}, "offset": {0, 1<<31 - 1}},
	"/api/v1/notifications":         {"limit": {1, queries.MaxNotificationsLimit}},
	"/api/v1/search/messages":       {"limit": {1, search.MaxLimit}, "offset": {0, search.MaxOffset}},
}

// acceptedQuery checks, per route, the query parameters other than integers that an accepted
// request had: a problem found is a parameter the route should have refused.
var acceptedQuery = map[string]func(url.Values) string{
	"/api/v1/notifications": func(q url.Values) string {
		if v := q.Get("unread"); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return "unread=" + strconv.Quote(v)
			}
		}
		if v := q.Get("before"); v != "" {
			if _, err := uuid.Parse(v); err != nil {
				return "before=" + strconv.Quote(v)
			}
		}
		return ""
	},
	"/api/v1/admin/events": func(q url.Values) string {
		if f := q.Get("format"); f != "" && f != ops.FormatJSONL && f != ops.FormatCSV {
			return "format=" + strconv.Quote(f)
		}
		if f := q.Get("follow"); f != "" && f != "true" && f != "false" {
			return "follow=" + strconv.Quote(f)
		}
		return eventQueryProblem(q)
	},
	"/api/v1/admin/events/stats": eventQueryProblem,
	"/api/v1/search/messages": func(q url.Values) string {
		text := strings.TrimSpace(q.Get("q"))
		if n := utf8.RuneCountInString(text); n == 0 || n > queries.MaxSearchTextRunes || !utf8.ValidString(text) {
			return "q=" + strconv.Quote(q.Get("q"))
		}
		if v := q.Get("room_id"); v != "" {
			if _, err := uuid.Parse(v); err != nil {
				return "room_id=" + strconv.Quote(v)
			}
		}
		return ""
	},
}

// eventQueryProblem: an admin event query the gateway accepted must be one ops accepts.
func eventQueryProblem(q url.Values) string {
	list := func(name string) []string {
		var out []string
		for _, v := range q[name] {
			out = append(out, strings.Split(v, ",")...)
		}
		return out
	}
	if _, err := ops.NewEventQuery(ops.EventQuerySpec{Topics: list("topic"), From: q.Get("from"), To: q.Get("to"),
		Types: list("type"), Room: q.Get("room"), User: q.Get("user")}, nil); err != nil {
		return "an event query ops refuses: " + err.Error()
	}
	return ""
}

// noOps stands for the admin operations, each done at once with nothing to report, so that
// the fuzz target reaches the decoding of the admin queries and bodies.
type noOps struct{}

func (noOps) Replay(context.Context, ops.EventQuery, string, bool, func() error, io.Writer) (ops.ReplayStats, error) {
	return ops.ReplayStats{}, nil
}
func (noOps) EventStats(context.Context, ops.EventQuery) (ops.EventStats, error) {
	return ops.EventStats{}, nil
}
func (noOps) Status(context.Context, ops.StatusOptions) (ops.StatusReport, error) {
	return ops.StatusReport{}, nil
}
func (noOps) Rebuild(context.Context, string, ops.RebuildOptions) (ops.RebuildResult, error) {
	return ops.RebuildResult{}, nil
}
func (noOps) Verify(context.Context, string, ops.VerifyOptions) (ops.VerifyResult, error) {
	return ops.VerifyResult{}, nil
}

// noNotes and noSearch stand for a notification store and a search index with nothing in them,
// so that the fuzz target reaches the decoding of their query parameters.
type noNotes struct{}

func (noNotes) List(context.Context, uuid.UUID, notify.ListQuery) ([]notify.Notification, bool, error) {
	return nil, false, nil
}
func (noNotes) MarkRead(context.Context, uuid.UUID, uuid.UUID) (notify.Notification, error) {
	return notify.Notification{}, notify.ErrNotFound
}
func (noNotes) WaitFor(context.Context, domain.Position, time.Duration) error { return nil }

type noSearch struct{}

func (noSearch) Search(context.Context, search.Query) ([]projections.Message, error) { return nil, nil }
func (noSearch) WaitFor(context.Context, domain.Position, time.Duration) error       { return nil }

// serveJSON answers one request straight from the handler (no TCP: the fuzz target makes
// several per run).
func serveJSON(h http.Handler, method, path, rawQuery, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL = &url.URL{Path: path, RawQuery: rawQuery}
	req.RequestURI = req.URL.RequestURI()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzHTTPRequest drives the HTTP API with arbitrary bodies and query strings on the routes that
// read them, as alice, the owner of a fresh room with one message and a member bob. Whatever
// arrives, the answer is never a 500; an error is the contract's body {"error":{"code",
// "message"}} with a code of the contract and that code's status; a body that is not JSON is
// 400 validation_failed; an accepted request's integer query parameters are within their
// limits; and every command it dispatched survives the command topic's JSON unchanged, so
// the processor decides on what the gateway checked. A room id in the path that is no UUID is
// 404 room_not_found.
func FuzzHTTPRequest(f *testing.F) {
	seeds := []struct {
		route int
		query string
		body  string
	}{
		{0, "", `{"username":"fuzz_1","password":"secret-password"}`},
		{0, "", `{"username":"a\u0000b","password":"secret-password"}`},
		{1, "", `{"username":"alice","password":"password-alice"}`},
		{1, "", `{"username":1,"password":null}`},
		{2, "", `{"display_name":"A","avatar_url":"https://x/a.png","email":""}`},
		{2, "", `{"display_name":5}`},
		{3, "", `{"name":"room","description":"d","is_private":true,"password":"p"}`},
		{3, "", `{"name":"` + strings.Repeat("n", 101) + `"}`},
		{3, "", "{\"name\":\"\xff\xfe\"}"},
		{3, "", `{"name":"x","is_private":"yes"}`},
		{4, "", `{"name":"renamed","description":null}`},
		{4, "", ``},
		{5, "", ``},
		{5, "", `{"password":7}`},
		{6, "", `{"content":"hi","client_msg_id":"c1"}`},
		{6, "", `{"content":"` + strings.Repeat("é", 4001) + `"}`},
		{6, "", `{"content":"x","message_type":"image"}`},
		{6, "", `{"content":"x","reply_to_message_id":"nope"}`},
		{6, "", `{"content":"https://x/y.png","message_type":"image"}`},
		{6, "", `{"content":"{\"url\":\"https://x/y\",\"size\":1e400}","message_type":"file"}`},
		{7, "", `{"content":"edited"}`},
		{8, "", `{"role":"admin"}`},
		{8, "", `{"role":"owner"}`},
		{9, "", `{"reason":"spam"}`},
		{10, "", `{"user_id":"not-a-uuid"}`},
		{11, "", `{"seq":1}`},
		{11, "", `{"seq":-1}`},
		{11, "", `{"seq":1e3}`},
		{11, "", `{"seq":99999999999999999999}`},
		{12, "limit=10&before_seq=5", ``},
		{12, "after_seq=1&before_seq=2", ``},
		{12, "limit=0", ``},
		{12, "limit=201", ``},
		{12, "limit=%00", ``},
		{12, "before_seq=9223372036854775808", ``},
		{12, "position=chat-events:0:1", ``},
		{12, "position=chat-events:0:-1", ``},
		{13, "q=al&limit=5&offset=0", ``},
		{13, "limit=-1", ``},
		{13, "offset=2147483648", ``},
		{14, "q=%ff", ``},
		{15, "position=x", ``},
		{16, "position=", ``},
		{18, "unread=maybe&limit=5&before=x", ``},
		{19, "q=hello&limit=5&offset=0&room_id=nope", ``},
		{20, "", `{"event_type":"maintenance","message":"at noon","data":{"a": [1, "<b>"]}}`},
		{20, "", `{"event_type":"security_alert","message":"` + "\u0000" + `","data":1e400}`},
		{21, "topic=chat-events&from=2026-01-01&to=2026-01-02&type=MessageSent&format=csv", ``},
		{21, "from=offset:5&to=offset:5", ``},
		{21, "follow=true&to=offset:3", ``},
		{21, "format=xml&follow=yes", ``},
		{21, "from=0000-01-01T00:00:00%2B01:00", ``},
		{22, "topic=,&room=not-a-uuid", ``},
		{23, "projection=readmodel,,nope", ``},
		{24, "", `{"restart":true,"drop":true}`},
		{24, "", `{"batch":-1}`},
		{25, "", `{"examples":101}`},
		{25, "", `{"examples":1e2}`},
		{3, "", `[]`}, {3, "", `null`}, {3, "", `"x"`}, {3, "", `{`}, {3, "", `{"name":"a"} x`},
		{3, "", strings.Repeat("[", 100000)},
		{6, "", `{"content":"` + strings.Repeat("a", 70<<10) + `"}`},
	}
	// A room id in the path that is not the room's.
	for _, id := range []string{"not-a-uuid", "6F1C2A4E-8B3D-4C5E-9F7A-1B2C3D4E5F60", "%00", "{6f1c2a4e-8b3d-4c5e-9f7a-1b2c3d4e5f60}", strings.Repeat("9", 300)} {
		f.Add(uint8(6), "", []byte(`{"content":"hi"}`), id)
		f.Add(uint8(12), "limit=1", []byte(nil), id)
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.query, []byte(s.body), "")
	}

	e := newEnvWith(f, func(c *Config) { c.RateLimits = RateLimits{RequestRate: -1, AuthRate: -1} }, func(d *Deps) {
		d.Notifications, d.Search, d.Operations, d.Admins = noNotes{}, noSearch{}, ops.NewAdmin(noOps{}), []string{"alice"}
	})
	token, _ := e.user("alice")
	bobToken, bob := e.user("bob")
	handler := e.srv.Config.Handler

	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte, roomInPath string) {
		// A fresh room per run, so that no run depends on what an earlier one changed.
		setup := func(method, path, token, body string, want int) map[string]any {
			rec := serveJSON(handler, method, path, "", token, []byte(body))
			var out map[string]any
			if rec.Code != want || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
				t.Fatalf("setup %s %s: %d %s", method, path, rec.Code, rec.Body)
			}
			return out
		}
		created := setup("POST", "/api/v1/rooms", token, `{"name":"fuzz"}`, http.StatusCreated)
		room := uuid.MustParse(created["room"].(map[string]any)["id"].(string))
		msg := setup("POST", "/api/v1/rooms/"+room.String()+"/messages", token, `{"content":"m"}`, http.StatusCreated)
		msgID := msg["message"].(map[string]any)["id"].(string)
		setup("POST", "/api/v1/rooms/"+room.String()+"/join", bobToken, "", http.StatusOK)
		e.w.set(func(w *world) { w.dispatched = nil })
		defer e.w.set(func(w *world) {
			delete(w.rooms, room)
			delete(w.aggs, room)
			clear(w.replies) // every command id is new: nothing is retried across runs
		})

		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		pathRoom := room.String()
		if roomInPath != "" && strings.Contains(r.path, "{room}") {
			pathRoom = url.PathEscape(roomInPath)
		}
		path := strings.NewReplacer("{room}", pathRoom, "{msg}", msgID, "{bob}", bob.String()).Replace(r.path)
		rec := serveJSON(handler, r.method, path, query, token, body)

		status, raw := rec.Code, rec.Body.Bytes()
		what := func() string {
			return r.method + " " + r.path + "?" + strconv.Quote(query) + " " + strconv.Quote(string(body))
		}
		if status >= 500 && status != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d: %s", what(), status, raw)
		}
		if replay := r.path == "/api/v1/admin/events" && status < 300; !replay && (!json.Valid(raw) || !utf8.Valid(raw)) {
			t.Fatalf("%s: status %d with a body that is not JSON: %q", what(), status, raw)
		}
		if _, err := uuid.Parse(roomInPath); roomInPath != "" && strings.Contains(r.path, "{room}") && err != nil &&
			(status != http.StatusNotFound || !strings.Contains(string(raw), `"`+domain.CodeRoomNotFound+`"`)) {
			t.Fatalf("%s with room id %q in the path: %d %s, want 404 room_not_found", what(), roomInPath, status, raw)
		}
		if status >= 400 {
			var eb struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.Unmarshal(raw, &eb)
			code := eb.Error.Code
			if _, known := statusByCode[code]; !known || eb.Error.Message == "" {
				t.Fatalf("%s: status %d with code %q (not the contract's) or no message: %s", what(), status, code, raw)
			}
			if status != statusOf(code) && !(code == domain.CodeRoomDeleted && status == http.StatusNotFound) {
				t.Fatalf("%s: code %s with status %d, the contract says %d", what(), code, status, statusOf(code))
			}
			if r.body && pathRoom == room.String() && len(body) <= maxBodyBytes && len(bytes.TrimSpace(body)) > 0 &&
				!json.Valid(body) && code != domain.CodeValidationFailed { // (a bad path id is answered first)
				t.Fatalf("%s: a body that is not JSON answered %s, want validation_failed", what(), code)
			}
			return
		}
		if r.body && !r.optional && len(bytes.TrimSpace(body)) == 0 {
			t.Fatalf("%s: no body, yet status %d", what(), status)
		}
		if r.body && len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
			t.Fatalf("%s: a body that is not JSON was accepted (%d)", what(), status)
		}
		q, _ := url.ParseQuery(query)
		for name, bounds := range intQueryBounds[r.path] {
			if v := q.Get(name); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < bounds[0] || n > bounds[1] {
					t.Fatalf("%s: %s=%q accepted (%d), want %d..%d", what(), name, v, status, bounds[0], bounds[1])
				}
			}
		}
		if check := acceptedQuery[r.path]; check != nil {
			if problem := check(q); problem != "" {
				t.Fatalf("%s: accepted (%d) with %s", what(), status, problem)
			}
		}
		if v := q.Get("position"); v != "" && r.method == "GET" && !strings.HasPrefix(r.path, "/api/v1/admin/") {
			if _, err := domain.ParsePosition(v); err != nil {
				t.Fatalf("%s: accepted (%d) with a malformed position", what(), status)
			}
		}
		var sent []domain.Command
		e.w.set(func(w *world) { sent = append(sent, w.dispatched...) })
		for _, c := range sent {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatalf("%s: dispatched command does not encode: %v", what(), err)
			}
			var back domain.Command
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s: dispatched %s, which the processor cannot decode: %v", what(), b, err)
			}
			got, want := back.Payload, c.Payload
			if g, ok := got.(domain.PublishSystemEvent); ok && jsonSameValue(g.Data, want.(domain.PublishSystemEvent).Data) {
				// Data is raw JSON, which encoding/json compacts (and escapes <, >, &) again.
				w := want.(domain.PublishSystemEvent)
				g.Data, w.Data = nil, nil
				got, want = g, w
			}
			if !reflect.DeepEqual(got, want) || back.ID != c.ID || back.AggregateID != c.AggregateID {
				t.Fatalf("%s: dispatched %#v, the processor reads %#v", what(), c, back)
			}
		}
	})
}

// jsonSameValue: a and b hold the same JSON value (or are both empty).
func jsonSameValue(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}
