package main_test

// The admin console (/admin) in a real browser against the multi-process deployment: the
// refusal a non-admin gets, the projections refreshed live with a rebuild and a verify run from
// the page, the event log's charts, a filtered replay saved as a file and the live tail, the
// online-time report, and the health of every dependency with this gateway's figures.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// until waits for the JavaScript predicate expr to be truthy in the page.
func until(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))
}

// eval evaluates expr in tab.
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// signInAt signs in on the console's own form.
func signInAt(base, username string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/admin"),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Sign in"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), username),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`form[aria-label="Sign in"] button[type=submit]`)),
	}
}

func TestBrowserAdminConsole(t *testing.T) {
	skipShort(t)
	start := time.Now()
	sfx := randomHex(3)
	adminName := "console_admin_" + sfx
	c := startCluster(t, map[string]string{"CHORUS_ADMIN_USERS": adminName})
	c.warmUp()
	base := c.gwURL(0)
	admin := newAccount(t, base, adminName)
	user := newAccount(t, c.gwURL(1), "console_user_"+sfx)
	room, _ := user.createRoom(t, "console-"+sfx)

	// Enough events that the rebuild has something to show, sent by a few clients at once.
	const writers, perWriter = 8, 25
	const messages = writers * perWriter
	var wg sync.WaitGroup
	errs := make(chan error, messages)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				res, err := doJSON(context.Background(), user.base, user.token, "POST", "/api/v1/rooms/"+room.ID+"/messages",
					map[string]any{"content": fmt.Sprintf("console message %d-%02d", w, i)})
				if err == nil && res.Status != http.StatusCreated {
					err = fmt.Errorf("post: %v", res)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var org struct {
		Organization struct {
			ID string `json:"id"`
		} `json:"organization"`
	}
	call(t, base, admin.token, "POST", "/api/v1/orgs", map[string]any{"name": "Console Org " + sfx, "slug": "console-" + sfx}, http.StatusCreated, &org)
	t.Logf("cluster and data ready in %v", time.Since(start).Round(time.Millisecond))

	b := newBrowser(t)

	// 1. A user who is not an admin signs in on /admin and is refused, with the API's 403.
	other := b.tab()
	run(t, other, "non-admin refused", 30*time.Second, append(signInAt(base, user.user.Username),
		chromedp.WaitVisible(chromedp.ID("refusal")))...)
	if got := text(t, other, "#refusal"); !strings.Contains(got, "Only the server’s admins") || !strings.Contains(got, "403") {
		t.Fatalf("refusal: %q", got)
	}
	if n := eval[int](t, other, `document.querySelectorAll('#projections, nav[aria-label=Sections]').length`); n != 0 {
		t.Fatal("a non-admin sees the console")
	}

	// 2. The admin signs in at /admin; the projections show, refreshed while the page is open.
	tab := b.tab()
	run(t, tab, "admin signs in", 30*time.Second, append(signInAt(base, adminName),
		chromedp.WaitVisible(chromedp.CSS(`article[data-projection=readmodel] [data-field=state]`)),
		until(`document.querySelector('article[data-projection=readmodel] [data-field=state]').textContent === 'live'`, 30*time.Second))...)
	first := eval[string](t, tab, `document.getElementById('proj-updated').dataset.checkedAt`)
	run(t, tab, "projections refresh", 15*time.Second,
		until(fmt.Sprintf(`document.getElementById('proj-updated').dataset.checkedAt !== %q`, first), 10*time.Second))
	for _, name := range []string{"readmodel", "push", "search", "notifications"} {
		if n := eval[int](t, tab, fmt.Sprintf(`document.querySelectorAll('article[data-projection=%s]').length`, name)); n != 1 {
			t.Fatalf("projection %s shown %d times", name, n)
		}
	}
	// The read model's quiet topics' group is shown beside its group, and becomes stable.
	run(t, tab, "the read model's quiet group", 30*time.Second,
		until(`(document.querySelector('article[data-projection=readmodel] [data-field=quiet-group]') || {}).textContent === 'chorus-projector-readmodel-quiet (Stable, 1 member)'`, 25*time.Second))
	if n := eval[int](t, tab, `document.querySelectorAll('article[data-projection=search] [data-field=quiet-group]').length`); n != 0 {
		t.Fatalf("search, which has no quiet group, shows %d", n)
	}

	// 3. A rebuild of the read model: its progress bar reaches the end with the result.
	run(t, tab, "rebuild readmodel", 60*time.Second,
		chromedp.Click(chromedp.CSS(`article[data-projection=readmodel] button[data-action=rebuild]`)),
		chromedp.WaitVisible(chromedp.CSS(`article.job[data-kind=rebuild][data-projection=readmodel] progress`)),
		until(`document.querySelector('article.job[data-kind=rebuild]').dataset.state !== 'running'`, 50*time.Second))
	type bar struct {
		State  string  `json:"state"`
		Value  float64 `json:"value"`
		Max    float64 `json:"max"`
		Label  string  `json:"label"`
		Result string  `json:"result"`
	}
	jobOf := func(kind string) bar {
		return eval[bar](t, tab, fmt.Sprintf(`(() => { const j = document.querySelector('article.job[data-kind=%s]'); const p = j.querySelector('progress');
			return { state: j.dataset.state, value: p.value, max: p.max, label: j.querySelector('label[for="' + p.id + '"]').textContent,
				result: (j.querySelector('.result, .error') || {}).textContent || '' }; })()`, kind))
	}
	rb := jobOf("rebuild")
	if rb.State != "succeeded" || rb.Max < messages || rb.Value != rb.Max || !strings.Contains(rb.Label, "(100 %)") || !strings.Contains(rb.Result, "events applied") {
		t.Fatalf("rebuild job as shown: %+v", rb)
	}
	screenshot(t, tab, "admin-projections")

	// 4. A verify shows that the live read model is what a rebuild makes.
	run(t, tab, "verify readmodel", 60*time.Second,
		until(`!document.querySelector('article[data-projection=readmodel] button[data-action=verify]').disabled`, 10*time.Second),
		chromedp.Click(chromedp.CSS(`article[data-projection=readmodel] button[data-action=verify]`)),
		chromedp.WaitVisible(chromedp.CSS(`article.job[data-kind=verify] progress`)),
		until(`document.querySelector('article.job[data-kind=verify]').dataset.state !== 'running'`, 50*time.Second))
	if v := jobOf("verify"); v.State != "succeeded" || !strings.Contains(v.Result, "no differences") {
		t.Fatalf("verify job as shown: %+v", v)
	}

	// 5. The event log: the charts count what the test made, by type and by day.
	var stats struct {
		Events int            `json:"events"`
		ByDay  map[string]int `json:"by_day"`
	}
	call(t, base, admin.token, "GET", "/api/v1/admin/events/stats", nil, http.StatusOK, &stats)
	run(t, tab, "event charts", 30*time.Second,
		chromedp.Click(chromedp.CSS(`nav button[data-section=events]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-by-type g.bar[data-key=MessageSent]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-by-day g.bar`)))
	if n := eval[int](t, tab, `+document.querySelector('#chart-by-type g.bar[data-key=MessageSent]').dataset.value`); n != messages {
		t.Fatalf("MessageSent bar: %d, want the %d messages sent", n, messages)
	}
	if n := eval[int](t, tab, `+document.querySelector('#chart-by-type g.bar[data-key=OrganizationCreated]')?.dataset.value`); n != 1 {
		t.Fatalf("OrganizationCreated bar: %d, want 1", n)
	}
	days := eval[map[string]int](t, tab, `Object.fromEntries([...document.querySelectorAll('#chart-by-day g.bar')].map((g) => [g.dataset.key, +g.dataset.value]))`)
	sum := 0
	for _, n := range days {
		sum += n
	}
	today := time.Now().UTC().Format("2006-01-02")
	if sum < stats.Events || days[today] < messages || days[today] > stats.ByDay[today]+1 {
		t.Fatalf("events by day as charted: %v (sum %d), the API counted %d: %v", days, sum, stats.Events, stats.ByDay)
	}

	// 6. A replay filtered by type and room, saved as JSON lines: the test's messages.
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(tab, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, BrowserContextID: chromedp.FromContext(tab).BrowserContextID,
	}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	run(t, tab, "save a replay", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`input[name=type]`), "MessageSent"),
		chromedp.SendKeys(chromedp.CSS(`input[name=room]`), room.ID),
		chromedp.Click(chromedp.ID("save-jsonl")),
		until(`document.getElementById('events-status').textContent.startsWith('Saved')`, 20*time.Second))
	var saved []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "chorus-events.jsonl"))
		if err == nil && bytes.Count(b, []byte("\n")) >= messages {
			saved = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replay was not saved in %s: %v (%d bytes)", dir, err, len(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(saved))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Type        string `json:"type"`
			AggregateID string `json:"aggregate_id"`
			Data        struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("saved line %d: %v: %s", lines+1, err, sc.Bytes())
		}
		if ev.Type != "MessageSent" || ev.AggregateID != room.ID || !strings.HasPrefix(ev.Data.Message.Content, "console message ") {
			t.Fatalf("saved line %d is not one of the test's messages: %s", lines+1, sc.Bytes())
		}
		lines++
	}
	if lines != messages {
		t.Fatalf("saved replay: %d events, want %d", lines, messages)
	}
	if got := text(t, tab, "#events-status"); !strings.Contains(got, fmt.Sprintf("%d events", messages)) {
		t.Fatalf("status after saving: %q", got)
	}
	screenshot(t, tab, "admin-events")

	// 7. The live tail shows a message sent after it started, and stops when asked.
	run(t, tab, "start the tail", 20*time.Second,
		chromedp.Click(chromedp.ID("tail-toggle")),
		until(`document.getElementById('tail-toggle').dataset.state === 'running'`, 15*time.Second))
	user.post(t, room.ID, "tail probe "+sfx)
	run(t, tab, "the tail shows the new message", 20*time.Second,
		until(fmt.Sprintf(`[...document.querySelectorAll('#tail li')].some((li) => li.textContent.includes('tail probe %s'))`, sfx), 15*time.Second),
		chromedp.Click(chromedp.ID("tail-toggle")),
		until(`document.getElementById('tail-toggle').dataset.state === 'stopped'`, 5*time.Second))

	// 8. The online-time report of the admin's organization.
	run(t, tab, "online-time report", 30*time.Second,
		chromedp.Click(chromedp.CSS(`nav button[data-section=reports]`)),
		until(fmt.Sprintf(`document.querySelector('select[name=org]')?.value === %q`, org.Organization.ID), 15*time.Second),
		chromedp.Click(chromedp.ID("show-report")),
		chromedp.WaitVisible(chromedp.CSS(`#report-members tbody tr`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-online g.bar`)))
	if got := text(t, tab, "#report-members tbody tr th"); got != adminName {
		t.Fatalf("report's member: %q, want %s", got, adminName)
	}
	if n := eval[int](t, tab, `document.querySelectorAll('#chart-online g.bar').length`); n != 7 {
		t.Fatalf("report chart: %d days, want the 7 of the default range", n)
	}

	// 9. Health: every dependency ok, the sockets this gateway holds, commands per second.
	ws := dialWS(t, "console-socket", base, user.token)
	defer ws.close()
	run(t, tab, "health", 30*time.Second,
		chromedp.Click(chromedp.CSS(`nav button[data-section=health]`)),
		chromedp.WaitVisible(chromedp.CSS(`#checks li[data-check=kafka]`)),
		until(`document.querySelectorAll('#checks li[data-ok=true]').length === 3`, 10*time.Second),
		until(`document.querySelector('[data-figure=sockets]').textContent === '1'`, 10*time.Second),
		until(`/^[0-9.]+$/.test(document.querySelector('[data-figure=commands-rate]').textContent)`, 10*time.Second))
	for _, dep := range []string{"kafka", "postgres", "redis"} {
		if got := text(t, tab, fmt.Sprintf(`#checks li[data-check=%s]`, dep)); !strings.HasPrefix(got, "ok") {
			t.Fatalf("health of %s: %q", dep, got)
		}
	}
	screenshot(t, tab, "admin-health")

	// 10. At a phone's width the console still fits: nothing wider than the screen.
	run(t, tab, "phone width", 20*time.Second,
		chromedp.EmulateViewport(390, 844),
		chromedp.Click(chromedp.CSS(`nav button[data-section=events]`)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-by-day g.bar`)))
	if w := eval[int](t, tab, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		screenshot(t, tab, "admin-events-phone-overflow")
		t.Fatalf("at 390 px the events page is %d px wider than the screen", w)
	}
	screenshot(t, tab, "admin-events-phone")
	t.Logf("console scenario done in %v", time.Since(start).Round(time.Millisecond))
}
