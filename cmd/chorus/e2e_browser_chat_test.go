package main_test

// The chat client (adapters/webui/static, served at /) in a real browser, two users in two
// browser contexts against the multi-process deployment: what each of them sees.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/jackc/pgx/v5"
)

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitJS waits until the JavaScript expression is truthy in the page.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond))
}

// withText is a JavaScript expression: the first element css selects whose text holds s, or undefined.
func withText(css, s string) string {
	return fmt.Sprintf(`[...document.querySelectorAll(%s)].find((e) => e.textContent.includes(%s))`, jsString(css), jsString(s))
}

// waitText waits until an element css selects shows s.
func waitText(css, s string) chromedp.Action[chromedp.Void] {
	return waitJS(withText(css, s))
}

// clickIn waits for the element css selects whose text holds s and clicks what inner selects
// inside it (itself when inner is empty), as a script (message actions show on hover only).
func clickIn(css, s, inner string) chromedp.Action[chromedp.Void] {
	return waitJS(fmt.Sprintf(`(() => { const e = %s; const b = e && (%s ? e.querySelector(%s) : e); if (!b) return false; b.click(); return true; })()`,
		withText(css, s), jsString(inner), jsString(inner)))
}

// evalJS evaluates expr in the tab.
func evalJS[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// watchErrors fails the test at its end if the page threw an uncaught exception.
func watchErrors(t *testing.T, tab context.Context, name string) {
	var mu sync.Mutex
	var errs []string
	console := chromedp.Events(tab, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				parts = append(parts, string(a.Value))
			}
			t.Logf("%s console.%s: %s", name, ev.Type, strings.Join(parts, " "))
		}
	}()
	events := chromedp.Events(tab, runtime.ExceptionThrown)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			errs = append(errs, msg)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("%s's page threw: %s", name, e)
		}
	})
}

func signInTab(t *testing.T, tab context.Context, base, username string) {
	t.Helper()
	run(t, tab, "sign in "+username, 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Sign in"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), username),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`form[aria-label="Sign in"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#me`)),
		// Signed in means online too: the socket is subscribed to the user's rooms once it is
		// open, so every push after this reaches the tab. A message posted before it opened is
		// only in history, which the read model may not have yet when the room is opened:
		// TestBrowserChatReconnect's first message was missed that way in CI.
		waitJS(`document.querySelector('#conn')?.dataset.state === 'open'`),
	)
}

// send types text into the open room's composer and presses Enter.
func send(text string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(`#compose`), text+kb.Enter)
}

const noXSS = `window.__xss === undefined && document.querySelectorAll('.messages img, #rooms img, .typing img').length === 0`

// TestBrowserChat: ana registers in the page (her display name a script), creates a room (its
// name a script too); bob, on the other gateway, finds and joins it. They chat live, each sees
// the other typing, mentions complete, edits and deletions show on both screens, markup in
// messages, names and room names stays text, CJK and right-to-left text render as such, and
// bob's unread count and divider follow his read marker, also after a reload.
func TestBrowserChat(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	register(t, c.gwURL(1), "bob")
	b := newBrowser(t)
	ana, bob := b.tab(), b.tab()
	watchErrors(t, ana, "ana")
	watchErrors(t, bob, "bob")

	xssName := `<img src=x onerror=window.__xss=1>`
	roomName := `<script>window.__xss=1</script> Lobby`
	run(t, ana, "open the page", 30*time.Second,
		chromedp.Navigate(c.gwURL(0)+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Sign in"]`)))
	screenshot(t, ana, "chat-sign-in")
	run(t, ana, "register ana", 30*time.Second,
		chromedp.Click(chromedp.CSS(`form[aria-label="Sign in"] button.secondary`)),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Register"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "ana"),
		chromedp.SendKeys(chromedp.CSS(`input[name=display_name]`), xssName),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`form[aria-label="Register"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#me`)),
		chromedp.Click(chromedp.CSS(`#new-room`)),
		chromedp.SendKeys(chromedp.CSS(`form[aria-label="Create a room"] input[name=name]`), roomName),
		chromedp.Click(chromedp.CSS(`form[aria-label="Create a room"] button[type=submit]`)),
		waitJS(`document.querySelector('.conversation h2')?.textContent === `+jsString(roomName)),
		waitText(`#rooms button.room`, roomName),
	)

	signInTab(t, bob, c.gwURL(1), "bob")
	run(t, bob, "bob joins", 30*time.Second,
		chromedp.Click(chromedp.CSS(`#browse-rooms`)),
		clickIn(`.browse li`, "Lobby", "button"),
		waitJS(`document.querySelector('.conversation h2')?.textContent === `+jsString(roomName)),
		waitText(`.members li, .tools button`, "Members (2)"),
	)

	// live both ways, and each sees the other typing
	run(t, ana, "ana types", 20*time.Second, chromedp.SendKeys(chromedp.CSS(`#compose`), "hello bob"))
	run(t, bob, "bob sees ana typing", 20*time.Second, waitText(`.typing`, xssName+" is typing"))
	run(t, ana, "ana sends", 20*time.Second, chromedp.SendKeys(chromedp.CSS(`#compose`), kb.Enter), waitText(`.messages .msg:not(.pending) .text`, "hello bob"))
	run(t, bob, "bob sees it, no longer typing", 20*time.Second, waitText(`.messages .text`, "hello bob"),
		waitJS(`document.querySelector('.typing').textContent === ''`),
		chromedp.SendKeys(chromedp.CSS(`#compose`), "hi ana"))
	run(t, ana, "ana sees bob typing", 20*time.Second, waitText(`.typing`, "E2E bob is typing"))
	run(t, bob, "bob sends", 20*time.Second, chromedp.SendKeys(chromedp.CSS(`#compose`), kb.Enter))
	run(t, ana, "ana sees bob's message", 20*time.Second, waitText(`.messages .text`, "hi ana"))

	// markup stays text: in messages, a display name, a room name
	scripts := []string{`<img src=x onerror=window.__xss=1>`, `<script>window.__xss=1</script>`}
	run(t, bob, "bob sends markup", 20*time.Second, send(scripts[0]), send(scripts[1]),
		waitText(`.messages .msg:not(.pending) .text`, scripts[1]))
	for name, tab := range map[string]context.Context{"ana": ana, "bob": bob} {
		run(t, tab, name+" sees markup as text", 20*time.Second, waitText(`.messages .text`, scripts[0]), waitText(`.messages .text`, scripts[1]),
			waitText(`.messages .meta`, xssName), waitText(`.conversation h2`, roomName))
		if !evalJS[bool](t, tab, noXSS) {
			t.Fatalf("%s: markup from a message or a name ran or became elements", name)
		}
	}

	// long CJK text wraps inside the column; right-to-left text runs right to left
	cjk := strings.Repeat("漢字かな交じり文の長い段落、", 40)
	rtl := "مرحبا بالعالم، هذه رسالة طويلة"
	run(t, ana, "ana sends CJK and RTL", 20*time.Second, send(cjk), send(rtl), waitText(`.messages .msg:not(.pending) .text`, rtl))
	run(t, bob, "bob sees CJK and RTL", 20*time.Second, waitText(`.messages .text`, cjk), waitText(`.messages .text`, rtl))
	if !evalJS[bool](t, bob, fmt.Sprintf(`(() => { const e = %s; return e.dir === 'auto' && e.matches(':dir(rtl)'); })()`, withText(`.messages .text`, rtl))) {
		t.Fatal("the Arabic message is not shown right to left (dir=auto)")
	}
	if !evalJS[bool](t, bob, fmt.Sprintf(`(() => { const e = %s; return e.dir === 'auto' && e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().height > 60; })()`, withText(`.messages .text`, cjk))) {
		t.Fatal("the long CJK message does not wrap inside the column")
	}

	// @ completes the room's members; the mentioned user sees it marked
	run(t, bob, "bob mentions ana", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#compose`), "@an"),
		waitText(`#mentions li`, "@ana"),
		chromedp.SendKeys(chromedp.CSS(`#compose`), kb.Enter),
		waitJS(`document.querySelector('#compose').value === '@ana '`),
		send("look at this"))
	run(t, ana, "ana sees the mention", 20*time.Second, waitJS(withText(`.messages .mention.me`, "@ana")))

	// an edit and a deletion show on both screens
	run(t, ana, "ana edits", 20*time.Second,
		clickIn(`.messages .msg`, "hello bob", "button.edit"),
		chromedp.WaitVisible(chromedp.CSS(`.edit-text`)),
		chromedp.SetValue(chromedp.CSS(`.edit-text`), "hello bob, edited"),
		chromedp.SendKeys(chromedp.CSS(`.edit-text`), kb.Enter),
		waitText(`.messages .text`, "hello bob, edited"))
	run(t, bob, "bob deletes his message", 20*time.Second,
		waitText(`.messages .msg`, "hello bob, edited"),
		waitJS(withText(`.messages .msg`, "hello bob, edited")+`.querySelector('.edited')`),
		waitJS(fmt.Sprintf(`(() => { const e = %s; const b = e && e.querySelector('button.delete'); if (!b) return false; b.click(); b.click(); return true; })()`, withText(`.messages .msg`, "hi ana"))),
		waitText(`.messages .text.deleted`, "deleted"))
	run(t, ana, "ana sees the deletion", 20*time.Second,
		waitText(`.messages .text.deleted`, "deleted"),
		waitJS(`!`+withText(`.messages .text`, "hi ana")))
	screenshot(t, ana, "chat-conversation")

	// bob elsewhere: ana's messages count as unread; opening the room shows the divider and reads
	run(t, bob, "bob opens a room of his own", 20*time.Second,
		chromedp.Click(chromedp.CSS(`#new-room`)),
		chromedp.SendKeys(chromedp.CSS(`form[aria-label="Create a room"] input[name=name]`), "Side room"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Create a room"] button[type=submit]`)),
		waitJS(`document.querySelector('.conversation h2')?.textContent === 'Side room'`))
	run(t, ana, "ana sends two", 20*time.Second, send("unread one"), send("unread two"), waitText(`.messages .msg:not(.pending) .text`, "unread two"))
	lobbyBadge := withText(`#rooms button.room`, "Lobby") + `?.querySelector('.badge')?.textContent`
	run(t, bob, "bob sees 2 unread", 20*time.Second, waitJS(lobbyBadge+` === '2'`))
	screenshot(t, bob, "chat-room-list")
	run(t, bob, "bob opens the room", 20*time.Second,
		clickIn(`#rooms button.room`, "Lobby", ""),
		waitText(`.messages .text`, "unread two"))
	run(t, bob, "bob sees the divider", 20*time.Second,
		waitJS(`(() => { const d = document.querySelector('.messages .divider'); return d && d.nextElementSibling.textContent.includes('unread one'); })()`))
	run(t, bob, "bob's unread count goes", 20*time.Second,
		waitJS(lobbyBadge+` === undefined`))
	// The reloaded page reads the room list once, from the read model, which may store the read
	// marker a little after the tab's mark_read was answered: reload until it shows it.
	eventuallyWithin(t, "the read marker after a reload", 10*time.Second, func() (bool, string) {
		run(t, bob, "bob reloads the page", 30*time.Second,
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`#me`)),
			waitJS(`document.querySelectorAll('#rooms button.room').length === 2`))
		v := evalJS[any](t, bob, lobbyBadge+" ?? null")
		return v == nil, fmt.Sprintf("after a reload the room shows %v unread: the read marker did not move", v)
	})
	if !evalJS[bool](t, bob, noXSS) || !evalJS[bool](t, ana, noXSS) {
		t.Fatal("markup ran")
	}
}

// TestBrowserChatReconnect: ana's tab talks to gateway 1, which is killed (-9) and started again
// at the same address while bob keeps sending over HTTP to gateway 2. The tab shows
// "Reconnecting…", a message ana types meanwhile waits as pending, and once back every message
// is shown exactly once, in order, hers delivered once. Then she sends for bob, who granted her a
// proxy, and the message shows as sent by her for him.
func TestBrowserChatReconnect(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	anaUser := register(t, c.gwURL(0), "ana")
	anaAcc := account{user: anaUser, token: login(t, c.gwURL(0), "ana"), base: c.gwURL(0)}
	bob := newAccount(t, c.gwURL(1), "bob")
	room, _ := bob.createRoom(t, "Relay")
	anaAcc.join(t, room.ID)
	// bob lets ana send messages for him
	call(t, bob.base, bob.token, "POST", "/api/v1/users/me/proxies", map[string]any{
		"delegate_id": anaUser.ID, "scope": "messages", "ends_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}, http.StatusCreated, nil)
	post := func(text string) {
		call(t, bob.base, bob.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": text}, http.StatusCreated, nil)
	}

	b := newBrowser(t)
	tab := b.tab()
	watchErrors(t, tab, "ana")
	signInTab(t, tab, c.gwURL(0), "ana")
	post("before 1")
	run(t, tab, "open the room", 30*time.Second,
		clickIn(`#rooms button.room`, "Relay", ""),
		waitText(`.messages .text`, "before 1"))

	c.gw[0].kill9()
	run(t, tab, "shows reconnecting", 20*time.Second,
		waitJS(`document.querySelector('#conn').dataset.state === 'reconnecting' && document.querySelector('#conn').textContent === 'Reconnecting…'`))
	for i := 1; i <= 5; i++ {
		post(fmt.Sprintf("while down %d", i))
	}
	run(t, tab, "type while down", 20*time.Second, send("typed offline"), waitText(`.messages .msg.pending`, "typed offline"))
	screenshot(t, tab, "chat-reconnecting")
	if err := c.gw[0].run(); err != nil {
		t.Fatalf("restart gateway: %v", err)
	}
	c.h.waitReady(c.gw[0])
	run(t, tab, "catches up", 60*time.Second,
		waitJS(`document.querySelector('#conn').dataset.state === 'open'`),
		waitText(`.messages .msg:not(.pending) .text`, "while down 5"),
		waitText(`.messages .msg:not(.pending) .text`, "typed offline"),
		waitJS(`document.querySelectorAll('.messages .msg.pending').length === 0`))
	post("after")
	run(t, tab, "live again", 20*time.Second, waitText(`.messages .text`, "after"))

	want := []string{"before 1", "while down 1", "while down 2", "while down 3", "while down 4", "while down 5", "typed offline", "after"}
	got := evalJS[[]string](t, tab, `[...document.querySelectorAll('.messages .msg')].map((e) => e.querySelector('.text').textContent)`)
	if !slices.Equal(got, want) {
		t.Fatalf("the tab shows %q, want each message once in order: %q", got, want)
	}
	seqs := evalJS[[]float64](t, tab, `[...document.querySelectorAll('.messages .msg')].map((e) => Number(e.dataset.seq))`)
	if !slices.IsSorted(seqs) {
		t.Fatalf("messages not in seq order: %v", seqs)
	}
	// The tab shows it from its ack and push; the read model may store it a little later.
	var page historyPage
	eventuallyWithin(t, "the message typed offline in history once", 5*time.Second, func() (bool, string) {
		page = historyPage{}
		call(t, bob.base, bob.token, "GET", "/api/v1/rooms/"+room.ID+"/messages?"+url.Values{"limit": {"50"}}.Encode(), nil, http.StatusOK, &page)
		n := 0
		for _, m := range page.Messages {
			if m.Content == "typed offline" {
				n++
			}
		}
		return n == 1, fmt.Sprintf("the message typed offline is in history %d times, want once", n)
	})
	screenshot(t, tab, "chat-reconnected")

	// acting for bob under his grant: the message is his, shown as sent by ana for him
	run(t, tab, "act for bob", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#act-as`)),
		chromedp.SetValue(chromedp.CSS(`#act-as`), bob.user.ID),
		waitJS(`document.querySelector('#act-as').dispatchEvent(new Event('change')) || true`),
		waitText(`.composer .acting`, "Sending for bob"),
		send("on bob's behalf"),
		waitJS(withText(`.messages .msg:not(.pending)`, "on bob's behalf")+`?.querySelector('.sentby')?.textContent === 'sent by E2E ana for E2E bob'`))
	// The tab shows it from its push; the read model, which gathers its fetches for 20 ms, may
	// store it a little later (docs/protocol.md: pages read right after a push may lack it).
	eventuallyWithin(t, "the message sent for bob in history", 5*time.Second, func() (bool, string) {
		page = historyPage{}
		call(t, bob.base, bob.token, "GET", "/api/v1/rooms/"+room.ID+"/messages?limit=1", nil, http.StatusOK, &page)
		return len(page.Messages) == 1 && page.Messages[0].Content == "on bob's behalf", fmt.Sprintf("%+v", page.Messages)
	})
	if page.Messages[0].SenderID != bob.user.ID {
		t.Fatalf("the message sent for bob: %+v, want it bob's", page.Messages)
	}
}

// TestBrowserRoomOpenedBeforeTheReadModelHasItsMessage: bob's tab is pushed a message of a room
// he has not opened while the read model cannot store it yet (the test holds a lock on its
// messages table that lets reads through, as a read model a few milliseconds behind would answer).
// He opens the room: its history page lacks the message, and the tab shows it anyway, from the
// push, rather than the page alone.
func TestBrowserRoomOpenedBeforeTheReadModelHasItsMessage(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	ana := newAccount(t, c.gwURL(0), "ana_lag")
	bob := newAccount(t, c.gwURL(1), "bob_lag")
	room, created := ana.createRoom(t, "lagging")
	ana.waitPosition(t, room.ID, created)
	bob.waitPosition(t, room.ID, bob.join(t, room.ID))

	b := newBrowser(t)
	tab := b.tab()
	watchErrors(t, tab, "bob")
	signInTab(t, tab, c.gwURL(1), "bob_lag")
	run(t, tab, "bob's room list", 30*time.Second, waitText(`#rooms button.room`, "lagging"))

	ctx := context.Background()
	db, err := pgx.Connect(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	lock, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck // released below; this is for a failure before
	if _, err := lock.Exec(ctx, `LOCK TABLE messages IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Message  apiMessage `json:"message"`
		Position string     `json:"position"`
	}
	call(t, ana.base, ana.token, "POST", "/api/v1/rooms/"+room.ID+"/messages", map[string]any{"content": "sent while the history lags"}, http.StatusCreated, &sent)
	run(t, tab, "bob is pushed the message (an unread count)", 30*time.Second,
		waitJS(`document.querySelector('#rooms button.room .badge')?.textContent === '1'`))
	if page := bob.history(t, room.ID, nil); len(page.Messages) != 0 {
		t.Fatalf("the history already has %d messages: the read model was not held back", len(page.Messages))
	}
	run(t, tab, "bob opens the room and sees the message", 20*time.Second,
		clickIn(`#rooms li`, "lagging", "button.room"),
		waitText(`.messages .msg .text`, "sent while the history lags"))
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Once the read model has it, the page and the push agree: one message, not two.
	page := bob.fullHistory(t, room.ID, sent.Position)
	if len(page) != 1 || page[0].ID != sent.Message.ID {
		t.Fatalf("history after the lock: %+v", page)
	}
	if n := evalJS[float64](t, tab, `document.querySelectorAll('.messages .msg').length`); n != 1 {
		t.Fatalf("the room shows %v messages, want the one", n)
	}
}
