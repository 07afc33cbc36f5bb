package main_test

// Client helpers for the end-to-end tests, written against docs/protocol.md only: JSON over HTTP with
// a bearer token, and a WebSocket client that reads frames into an inbox.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The contract's views, as far as the tests read them.
type (
	apiUser struct {
		ID          string `json:"id"`
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		Status      string `json:"status"`
	}
	apiRoom struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		OwnerID     string `json:"owner_id"`
		IsPrivate   bool   `json:"is_private"`
		MemberCount int    `json:"member_count"`
	}
	apiMessage struct {
		ID          string `json:"id"`
		RoomID      string `json:"room_id"`
		SenderID    string `json:"sender_id"`
		Content     string `json:"content"`
		MessageType string `json:"message_type"`
		Seq         int64  `json:"seq"`
		Deleted     bool   `json:"deleted"`
	}
	messageAnswer struct {
		Message  apiMessage `json:"message"`
		Position string     `json:"position"`
	}
	historyPage struct {
		Messages []apiMessage `json:"messages"`
		HasMore  bool         `json:"has_more"`
	}
)

// httpClient is shared by all calls; its timeout is well above the server's command timeout.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// result is an HTTP answer.
type result struct {
	Status int
	Body   []byte
}

func (r result) String() string {
	b := string(r.Body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.Status, strings.TrimSpace(b))
}

// errCode is the contract's error code of an error answer.
func (r result) errCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// doJSON makes one call; body (if not nil) is sent as JSON. A transport failure is an error,
// any HTTP status is a result.
func doJSON(ctx context.Context, base, token, method, path string, body any) (result, error) {
	return doJSONWith(ctx, base, token, method, path, body, nil)
}

// doJSONWith is doJSON with more request headers (On-Behalf-Of, Idempotency-Key).
func doJSONWith(ctx context.Context, base, token, method, path string, body any, header http.Header) (result, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return result{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return result{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{Status: resp.StatusCode, Body: b}, nil
}

// call makes a call that must answer want, and decodes the answer into out (if not nil).
func call(t testing.TB, base, token, method, path string, body any, want int, out any) result {
	t.Helper()
	res, err := doJSON(context.Background(), base, token, method, path, body)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	if res.Status != want {
		t.Fatalf("%s %s%s: got %v, want status %d", method, base, path, res, want)
	}
	if out != nil {
		if err := json.Unmarshal(res.Body, out); err != nil {
			t.Fatalf("%s %s%s: decode %q: %v", method, base, path, res.Body, err)
		}
	}
	return res
}

// expectError makes a call that must fail with status and the contract's error code.
func expectError(t testing.TB, base, token, method, path string, body any, status int, code string) {
	t.Helper()
	res, err := doJSON(context.Background(), base, token, method, path, body)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	if res.Status != status || res.errCode() != code {
		t.Fatalf("%s %s%s: got %v, want %d %s", method, base, path, res, status, code)
	}
}

const testPassword = "correct horse battery"

// register creates an account (synchronous: it can log in right away).
func register(t testing.TB, base, username string) apiUser {
	t.Helper()
	var out struct {
		User apiUser `json:"user"`
	}
	call(t, base, "", "POST", "/api/v1/auth/register",
		map[string]any{"username": username, "password": testPassword, "display_name": "E2E " + username}, http.StatusCreated, &out)
	if out.User.ID == "" || out.User.Username != username {
		t.Fatalf("register %s: unexpected user %+v", username, out.User)
	}
	return out.User
}

// login returns a bearer token.
func login(t testing.TB, base, username string) string {
	t.Helper()
	var out struct {
		Token string  `json:"token"`
		User  apiUser `json:"user"`
	}
	call(t, base, "", "POST", "/api/v1/auth/login", map[string]any{"username": username, "password": testPassword}, http.StatusOK, &out)
	if out.Token == "" || out.User.Username != username {
		t.Fatalf("login %s: unexpected answer %+v", username, out)
	}
	return out.Token
}

// account is a registered, logged-in user and the gateway it talks to.
type account struct {
	user  apiUser
	token string
	base  string
}

func newAccount(t testing.TB, base, username string) account {
	t.Helper()
	u := register(t, base, username)
	return account{user: u, token: login(t, base, username), base: base}
}

// createRoom creates a public room and returns it with the command's position.
func (a account) createRoom(t testing.TB, name string) (apiRoom, string) {
	t.Helper()
	var out struct {
		Room     apiRoom `json:"room"`
		Position string  `json:"position"`
	}
	call(t, a.base, a.token, "POST", "/api/v1/rooms", map[string]any{"name": name}, http.StatusCreated, &out)
	if out.Room.ID == "" || out.Position == "" {
		t.Fatalf("create room: unexpected answer %+v", out)
	}
	return out.Room, out.Position
}

// join joins a room and returns the command's position.
func (a account) join(t testing.TB, roomID string) string {
	t.Helper()
	var out struct {
		Position string `json:"position"`
	}
	call(t, a.base, a.token, "POST", "/api/v1/rooms/"+roomID+"/join", nil, http.StatusOK, &out)
	if out.Position == "" {
		t.Fatalf("join %s: no position", roomID)
	}
	return out.Position
}

// waitPosition makes a query that answers only once the read model includes position.
func (a account) waitPosition(t testing.TB, roomID, position string) {
	t.Helper()
	call(t, a.base, a.token, "GET", "/api/v1/rooms/"+roomID+"/messages?limit=1&position="+url.QueryEscape(position), nil, http.StatusOK, nil)
}

// history reads one page of a room's history.
func (a account) history(t testing.TB, roomID string, q url.Values) historyPage {
	t.Helper()
	var page historyPage
	call(t, a.base, a.token, "GET", "/api/v1/rooms/"+roomID+"/messages?"+q.Encode(), nil, http.StatusOK, &page)
	return page
}

// fullHistory reads a room's whole history from the start, paging forward with after_seq.
func (a account) fullHistory(t testing.TB, roomID, position string) []apiMessage {
	t.Helper()
	var all []apiMessage
	after := int64(0)
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("history of %s: more than 1000 pages", roomID)
		}
		q := url.Values{"after_seq": {fmt.Sprint(after)}, "limit": {"200"}}
		if position != "" {
			q.Set("position", position)
		}
		p := a.history(t, roomID, q)
		all = append(all, p.Messages...)
		if len(p.Messages) > 0 {
			after = p.Messages[len(p.Messages)-1].Seq
		}
		if !p.HasMore || len(p.Messages) == 0 {
			return all
		}
	}
}

// fullHistoryBackward reads a room's whole history from the latest page back, paging with
// before_seq, and returns it oldest first.
func (a account) fullHistoryBackward(t testing.TB, roomID, position string) []apiMessage {
	t.Helper()
	var all []apiMessage
	q := url.Values{"limit": {"200"}}
	if position != "" {
		q.Set("position", position)
	}
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("history of %s: more than 1000 pages", roomID)
		}
		p := a.history(t, roomID, q)
		all = append(append([]apiMessage(nil), p.Messages...), all...)
		if !p.HasMore || len(p.Messages) == 0 {
			return all
		}
		q.Set("before_seq", fmt.Sprint(p.Messages[0].Seq))
	}
}

// ---------------------------------------------------------------------------------------------
// WebSocket

// wsFrame is a server frame. Message is raw: an object in message pushes, a string in errors.
type wsFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Code    string          `json:"code"`
	Result  json.RawMessage `json:"result"`
	Message json.RawMessage `json:"message"`
	raw     string
}

// pushed is the Message of a message or message_updated push.
func (f wsFrame) pushed() (apiMessage, error) {
	var m apiMessage
	err := json.Unmarshal(f.Message, &m)
	return m, err
}

// ackMessage is the {"message","position"} result of the ack of a send_message.
func (f wsFrame) ackMessage() (messageAnswer, error) {
	var a messageAnswer
	if err := json.Unmarshal(f.Result, &a); err != nil {
		return a, err
	}
	if a.Message.ID == "" || a.Position == "" {
		return a, fmt.Errorf("ack without message or position: %s", f.raw)
	}
	return a, nil
}

// wsClient is a socket whose frames a reader goroutine puts in an unbounded inbox, so that the
// server never sees a slow client however many pushes arrive.
type wsClient struct {
	name string
	conn *websocket.Conn

	mu      sync.Mutex
	inbox   []wsFrame
	notify  chan struct{}
	done    chan struct{}
	readErr error

	wmu sync.Mutex
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

// dialWS opens a socket with the token in the Authorization header.
func dialWS(t testing.TB, name, base, token string) *wsClient {
	t.Helper()
	// A write buffer larger than any frame the tests send makes every frame one write, so that
	// the close frame gorilla echoes when the server closes cannot cut into a frame being written
	// (the oversized-frame test relies on it).
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, WriteBufferSize: 128 << 10}
	h := http.Header{"Authorization": {"Bearer " + token}}
	conn, resp, err := d.Dial(wsURL(base), h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("%s: dial %s: %v (HTTP %d)", name, wsURL(base), err, status)
	}
	c := &wsClient{name: name, conn: conn, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		mt, b, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		f := wsFrame{raw: string(b)}
		if mt != websocket.TextMessage || json.Unmarshal(b, &f) != nil {
			f = wsFrame{Type: "<undecodable>", raw: string(b)}
		}
		f.raw = string(b)
		c.mu.Lock()
		c.inbox = append(c.inbox, f)
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
}

func (c *wsClient) close() { _ = c.conn.Close() }

// sendJSON writes one text frame.
func (c *wsClient) sendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.sendRaw(b)
}

func (c *wsClient) sendRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

var errClosed = errors.New("socket closed")

// next returns the next frame, waiting up to timeout. After the socket ended and its frames
// were all taken, it returns errClosed.
func (c *wsClient) next(timeout time.Duration) (wsFrame, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if len(c.inbox) > 0 {
			f := c.inbox[0]
			c.inbox = c.inbox[1:]
			c.mu.Unlock()
			return f, nil
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
			c.mu.Lock()
			empty := len(c.inbox) == 0
			c.mu.Unlock()
			if empty {
				return wsFrame{}, errClosed
			}
		case <-deadline.C:
			return wsFrame{}, fmt.Errorf("%s: no frame within %v", c.name, timeout)
		}
	}
}

// waitFor returns the first frame that matches, skipping (and returning) the others.
func (c *wsClient) waitFor(timeout time.Duration, match func(wsFrame) bool) (wsFrame, []wsFrame, error) {
	end := time.Now().Add(timeout)
	var skipped []wsFrame
	for {
		left := time.Until(end)
		if left <= 0 {
			return wsFrame{}, skipped, fmt.Errorf("%s: no matching frame within %v (%d others skipped)", c.name, timeout, len(skipped))
		}
		f, err := c.next(left)
		if err != nil {
			return wsFrame{}, skipped, err
		}
		if match(f) {
			return f, skipped, nil
		}
		skipped = append(skipped, f)
	}
}

// answerTo matches the ack or error that answers the client frame with id.
func answerTo(id string) func(wsFrame) bool {
	return func(f wsFrame) bool { return (f.Type == "ack" || f.Type == "error" || f.Type == "pong") && f.ID == id }
}

// messagePush matches the message push of the message with id.
func messagePush(id string) func(wsFrame) bool {
	return func(f wsFrame) bool {
		if f.Type != "message" {
			return false
		}
		m, err := f.pushed()
		return err == nil && m.ID == id
	}
}

// closeError is how the socket ended, once it has.
func (c *wsClient) closeError(timeout time.Duration) (bool, error) {
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return true, c.readErr
	case <-time.After(timeout):
		return false, nil
	}
}
