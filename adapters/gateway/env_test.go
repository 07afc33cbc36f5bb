package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"
)

// env is a gateway served by httptest over the in-memory world.
type env struct {
	t   testing.TB
	w   *world
	gw  *Gateway
	srv *httptest.Server
}

func newEnv(t testing.TB, tune func(*Config)) *env { return newEnvWith(t, tune, nil) }

// newEnvWith is newEnv with the optional dependencies that deps sets.
func newEnvWith(t testing.TB, tune func(*Config), deps func(*Deps)) *env {
	t.Helper()
	return buildEnv(t, nil, tune, setup{deps: deps}, nil)
}

// setup wires a test gateway: deps sets its dependencies before it is built, start (after it
// is built, before it serves) connects what needs the gateway itself. Either may be nil.
type setup struct {
	deps  func(*Deps)
	start func(*Gateway)
}

// buildEnv builds a gateway over w (a new world if nil) and serves it with serve (an
// httptest.NewServer if nil).
func buildEnv(t testing.TB, w *world, tune func(*Config), s setup, serve func(http.Handler) *httptest.Server) *env {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BcryptCost = bcrypt.MinCost
	if tune != nil {
		tune(&cfg)
	}
	if w == nil {
		w = newWorld()
	}
	deps := Deps{Dispatcher: w, ReadModel: w, Accounts: w, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if s.deps != nil {
		s.deps(&deps)
	}
	gw := New(cfg, deps)
	w.set(func(w *world) {
		if w.gw == nil {
			w.gw = gw
		}
	})
	if s.start != nil {
		s.start(gw)
	}
	e := echo.New()
	e.HideBanner = true
	gw.Routes(e)
	if serve == nil {
		serve = httptest.NewServer
	}
	srv := serve(e)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	return &env{t: t, w: w, gw: gw, srv: srv}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	body   map[string]any
	raw    string
}

func (r response) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// do sends a request; body is JSON-encoded unless it is a string (sent as is).
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	return e.doHeaders(method, path, token, nil, body)
}

// doHeaders is do with more request headers.
func (e *env) doHeaders(method, path, token string, headers map[string]string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// mustDo is do that fails the test unless the status is want.
func (e *env) mustDo(want int, method, path, token string, body any) response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// user registers and logs in a user, returning its token and id.
func (e *env) user(name string) (string, uuid.UUID) {
	e.t.Helper()
	e.mustDo(http.StatusCreated, "POST", "/api/v1/auth/register", "", map[string]any{"username": name, "password": "password-" + name})
	r := e.mustDo(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]any{"username": name, "password": "password-" + name})
	user := r.body["user"].(map[string]any)
	return r.body["token"].(string), uuid.MustParse(user["id"].(string))
}

// room creates a room as token's user and returns its id.
func (e *env) room(token string, body map[string]any) uuid.UUID {
	e.t.Helper()
	r := e.mustDo(http.StatusCreated, "POST", "/api/v1/rooms", token, body)
	return uuid.MustParse(r.body["room"].(map[string]any)["id"].(string))
}

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws" + query
}

// dial opens a socket with a token.
func (e *env) dial(token string) *websocket.Conn {
	e.t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL("?token="+token), nil)
	if err != nil {
		e.t.Fatalf("dial: %v (%v)", err, resp)
	}
	e.t.Cleanup(func() { ws.Close() })
	return ws
}

// frame is a decoded server frame.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

func (f frame) obj(k string) frame { m, _ := f[k].(map[string]any); return m }

// read reads one server frame, skipping the server's heartbeat pings.
func read(t *testing.T, ws *websocket.Conn) frame {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		if mt != websocket.TextMessage {
			t.Fatalf("frame type %d, want text", mt)
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %q is not JSON: %v", data, err)
		}
		if f.str("type") == "ping" && f["id"] == nil {
			continue
		}
		return f
	}
}

func send(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	var data []byte
	switch b := v.(type) {
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// expect reads a frame and checks its type (and id, when given).
func expect(t *testing.T, ws *websocket.Conn, typ, id string) frame {
	t.Helper()
	f := read(t, ws)
	if f.str("type") != typ || (id != "" && f.str("id") != id) {
		t.Fatalf("got frame %v, want type %q id %q", f, typ, id)
	}
	return f
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
