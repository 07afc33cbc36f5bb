package main_test

// The chat client's search, notifications and organizations sections in a real browser
// (e2e_browser_test.go), against the multi-process deployment:
//
//	go test -count=1 -run 'TestBrowserExtras' ./cmd/chorus/ -v

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// extrasWait waits until the JavaScript expression is true in tab, polling it from here (the
// page's CSP forbids the string evaluation chromedp.Poll runs in the page).
func extrasWait(t *testing.T, tab context.Context, what string, timeout time.Duration, expr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(tab, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			shot := screenshot(t, tab, "failed-"+what)
			t.Fatalf("%s: not true within %v: %s (last error %v, screenshot %s)", what, timeout, expr, err, shot)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// extrasEval evaluates a JavaScript expression in tab.
func extrasEval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// extrasPost posts a message and returns the command's position.
func extrasPost(t *testing.T, a account, roomID, content string) string {
	t.Helper()
	var out messageAnswer
	call(t, a.base, a.token, "POST", "/api/v1/rooms/"+roomID+"/messages", map[string]any{"content": content}, http.StatusCreated, &out)
	return out.Position
}

// extrasNotifications counts a user's notifications (all, unread) once the store includes position.
func extrasNotifications(t *testing.T, a account, position string) (all, unread int) {
	t.Helper()
	var page struct {
		Notifications []apiNotification `json:"notifications"`
	}
	call(t, a.base, a.token, "GET", "/api/v1/notifications?limit=200&position="+url.QueryEscape(position), nil, http.StatusOK, &page)
	for _, n := range page.Notifications {
		if !n.Read {
			unread++
		}
	}
	return len(page.Notifications), unread
}

// extrasBadge is the expression that is true when the notifications badge shows n (hidden at 0).
func extrasBadge(n int) string {
	if n == 0 {
		return `document.querySelector('#notif-badge').hidden`
	}
	return fmt.Sprintf(`!document.querySelector('#notif-badge').hidden && document.querySelector('#notif-badge').textContent === %q`, strconv.Itoa(n))
}

// TestBrowserExtras: a user searches English and Chinese and sees the terms highlighted, a result
// opening its room; a mention reaches the notifications panel and the badge live and is marked
// read there; an organization's broadcast shows as a banner naming the organization; the org
// chart shows the departments with their head counts and the directory finds a member.
func TestBrowserExtras(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	c.warmUp()
	base := c.gwURL(0)
	sfx := randomHex(3)
	ana := newAccount(t, base, "ana_"+sfx)
	bob := newAccount(t, c.gwURL(1), "bob_"+sfx)

	// Two rooms, messages in English and Chinese, one that looks like markup.
	plans, _ := ana.createRoom(t, "plans-"+sfx)
	other, _ := ana.createRoom(t, "other-"+sfx)
	joined := bob.join(t, plans.ID)
	extrasPost(t, bob, plans.ID, "The meeting moved to Friday")
	extrasPost(t, bob, plans.ID, "<b>Meeting</b> notes, meetings later")
	extrasPost(t, ana, other.ID, "lunch at noon?")
	last := extrasPost(t, bob, plans.ID, "明天的会议在三楼会议室")
	call(t, base, ana.token, "GET", "/api/v1/search/messages?q=x&position="+url.QueryEscape(last), nil, http.StatusOK, nil)
	all0, unread0 := extrasNotifications(t, ana, joined)

	// Acme: Sales (ana) with East (bob) below it, and Ops (nobody).
	var created orgAnswer
	call(t, base, ana.token, "POST", "/api/v1/orgs", map[string]any{"name": "Acme " + sfx, "slug": "acme-" + sfx}, http.StatusCreated, &created)
	org := "/api/v1/orgs/" + created.Organization.ID
	dept := func(name, parent string) string {
		t.Helper()
		b := map[string]any{"name": name}
		if parent != "" {
			b["parent_id"] = parent
		}
		var out orgAnswer
		call(t, base, ana.token, "POST", org+"/departments", b, http.StatusCreated, &out)
		return out.Department.ID
	}
	sales := dept("Sales", "")
	east := dept("East", sales)
	dept("Ops", "")
	call(t, base, ana.token, "POST", org+"/members", map[string]any{"user_id": bob.user.ID}, http.StatusCreated, nil)
	call(t, base, ana.token, "PUT", org+"/departments/"+sales+"/members/"+ana.user.ID, nil, http.StatusOK, nil)
	var put struct {
		Position string `json:"position"`
	}
	call(t, base, ana.token, "PUT", org+"/departments/"+east+"/members/"+bob.user.ID, nil, http.StatusOK, &put)
	call(t, base, ana.token, "GET", org+"/departments?position="+url.QueryEscape(put.Position), nil, http.StatusOK, nil)

	b := newBrowser(t)
	tab := b.tab()
	run(t, tab, "sign in", 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Sign in"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), ana.user.Username),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`form[aria-label="Sign in"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#me`)),
	)
	extrasWait(t, tab, "socket-open", 15*time.Second, `document.querySelector('#conn')?.dataset.state === 'open'`)
	extrasWait(t, tab, "badge-at-sign-in", 10*time.Second, extrasBadge(unread0))

	// Search: English words whole and in any case, markup shown as text.
	run(t, tab, "search meeting", 15*time.Second,
		chromedp.Click(chromedp.CSS(`nav button[data-section=search]`)),
		chromedp.SendKeys(chromedp.CSS(`form[aria-label="Search messages"] input[name=q]`), "meeting"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Search messages"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-results mark`)),
	)
	marks := extrasEval[[]string](t, tab, `[...document.querySelectorAll('#search-results mark')].map((m) => m.textContent)`)
	if fmt.Sprint(marks) != "[meeting Meeting]" && fmt.Sprint(marks) != "[Meeting meeting]" {
		t.Errorf("marks for meeting: %q, want meeting and Meeting (not meetings)", marks)
	}
	if n := extrasEval[int](t, tab, `document.querySelectorAll('#search-results b').length`); n != 0 {
		t.Errorf("a message's markup became %d elements", n)
	}
	if got := extrasEval[bool](t, tab, `[...document.querySelectorAll('#search-results .content')].some((c) => c.textContent === '<b>Meeting</b> notes, meetings later')`); !got {
		t.Errorf("the message with markup is not shown as its text")
	}

	// Chinese: the term inside longer text, twice in one message.
	run(t, tab, "search 会议", 15*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[aria-label="Search messages"] input[name=q]').value = ''`),
		chromedp.SendKeys(chromedp.CSS(`form[aria-label="Search messages"] input[name=q]`), "会议"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Search messages"] button[type=submit]`)),
	)
	extrasWait(t, tab, "cjk-results", 15*time.Second,
		`[...document.querySelectorAll('#search-results .content')].map((c) => c.innerHTML).join('|') === '明天的<mark>会议</mark>在三楼<mark>会议</mark>室'`)
	screenshot(t, tab, "extras-search")
	run(t, tab, "open a result", 15*time.Second,
		chromedp.Click(chromedp.CSS(`#search-results button.result`)),
		chromedp.WaitVisible(chromedp.CSS(`nav button[data-section=rooms][aria-current=page]`)),
	)
	extrasWait(t, tab, "room-shown", 10*time.Second, fmt.Sprintf(`document.querySelector('#section').textContent.includes(%q)`, plans.Name))

	// Notifications: the panel lists what there is; bob's mention arrives live, in the panel and
	// the badge, and is marked read there.
	run(t, tab, "open notifications", 10*time.Second, chromedp.Click(chromedp.CSS(`nav button[data-section=notifications]`)))
	extrasWait(t, tab, "notifications-listed", 10*time.Second, fmt.Sprintf(`document.querySelectorAll('#notifications li').length === %d`, all0))
	extrasPost(t, bob, plans.ID, "@"+ana.user.Username+" can you check the agenda?")
	run(t, tab, "mention arrives", 15*time.Second, chromedp.WaitVisible(chromedp.CSS(`#notifications li.unread[data-type=mention]`)))
	extrasWait(t, tab, "badge-after-mention", 5*time.Second, extrasBadge(unread0+1))
	if got := text(t, tab, `#notifications li[data-type=mention] .text`); got != fmt.Sprintf("%s mentioned you in %s: @%s can you check the agenda?", bob.user.Username, plans.Name, ana.user.Username) {
		t.Errorf("mention reads %q", got)
	}
	screenshot(t, tab, "extras-notifications")
	run(t, tab, "mark read", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#notifications li[data-type=mention] button.mark`)),
		chromedp.WaitVisible(chromedp.CSS(`#notifications li[data-type=mention]:not(.unread)`)),
	)
	extrasWait(t, tab, "badge-after-read", 5*time.Second, extrasBadge(unread0))

	// A broadcast: a banner naming the organization, and a notification in the open panel.
	call(t, base, ana.token, "POST", org+"/broadcasts", map[string]any{"title": "Office closed", "body": "The office is closed on Friday."}, http.StatusCreated, nil)
	run(t, tab, "broadcast banner", 15*time.Second, chromedp.WaitVisible(chromedp.CSS(`.banner.broadcast`)))
	if got := text(t, tab, `.banner.broadcast span`); got != "Acme "+sfx+": Office closed — The office is closed on Friday." {
		t.Errorf("broadcast banner reads %q", got)
	}
	run(t, tab, "broadcast notification", 15*time.Second, chromedp.WaitVisible(chromedp.CSS(`#notifications li[data-type=org_broadcast]`)))

	// The org chart with head counts; the directory finds bob by part of his name.
	run(t, tab, "org chart", 15*time.Second,
		chromedp.Click(chromedp.CSS(`nav button[data-section=orgs]`)),
		chromedp.WaitVisible(chromedp.CSS(`#org-chart`)),
	)
	counts := extrasEval[map[string]string](t, tab, `Object.fromEntries([...document.querySelectorAll('#org-chart li.dept')].map((li) => [li.dataset.name, li.querySelector('.count').textContent]))`)
	if want := map[string]string{"Sales": "2 people", "East": "1 person", "Ops": "0 people"}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("org chart counts %v, want %v", counts, want)
	}
	if n := extrasEval[int](t, tab, `document.querySelectorAll('#org-chart li.dept[data-name=Sales] li.dept[data-name=East]').length`); n != 1 {
		t.Errorf("East is not shown under Sales")
	}
	screenshot(t, tab, "extras-org-chart")
	run(t, tab, "directory search", 15*time.Second,
		chromedp.Click(chromedp.CSS(`button[data-tab=directory]`)),
		chromedp.WaitVisible(chromedp.CSS(`#org-directory li`)),
		chromedp.SendKeys(chromedp.CSS(`form[aria-label="Search the directory"] input[name=q]`), "bob_"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Search the directory"] button[type=submit]`)),
	)
	extrasWait(t, tab, "directory-finds-bob", 10*time.Second, fmt.Sprintf(
		`[...document.querySelectorAll('#org-directory li')].map((li) => li.dataset.username).join() === %q`, bob.user.Username))

	// At a phone's width every section fits: nothing wider than the screen.
	run(t, tab, "phone width", 10*time.Second, chromedp.EmulateViewport(390, 800, chromedp.EmulateMobile))
	for _, sec := range []string{"orgs", "search", "notifications"} {
		run(t, tab, "phone "+sec, 10*time.Second, chromedp.Click(chromedp.CSS(`nav button[data-section=`+sec+`]`)),
			chromedp.WaitVisible(chromedp.CSS(`nav button[data-section=`+sec+`][aria-current=page]`)))
		extrasWait(t, tab, "phone-fits-"+sec, 5*time.Second, `document.documentElement.scrollWidth <= window.innerWidth`)
	}
	screenshot(t, tab, "extras-notifications-phone")
}
