package main_test

// The web client and the admin console in a real browser: Debian's chromium, driven over the
// DevTools protocol by chromedp, against the multi-process deployment. .ci/run installs chromium
// where it is missing; without it these tests fail (they are never skipped as passing).

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the tests drive: CHORUS_CHROMIUM, else Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHORUS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium found: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHORUS_CHROMIUM")
	return ""
}

// browser is one headless chromium for a test; each tab it opens is a browser context of its
// own (its own storage), so two tabs are two users.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts,
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

// tab opens a tab in a browser context of its own.
func (b *browser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open tab: %v", err)
	}
	return ctx
}

// run runs actions in tab within timeout, failing the test with what it was doing.
func run(t *testing.T, tab context.Context, what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		shot := screenshot(t, tab, "failed-"+strings.ReplaceAll(what, " ", "-"))
		t.Fatalf("%s: %v (screenshot %s)", what, err, shot)
	}
}

// screenshot writes the tab's page as a PNG artefact under CHORUS_SCREENSHOTS (default
// test-artifacts/screenshots in the package directory) and returns its path.
func screenshot(t *testing.T, tab context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("CHORUS_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("test-artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("screenshot: %v", err)
		return ""
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return ""
	}
	return path
}

// TestBrowserSignIn: a newcomer opens the gateway's page, signs in with an account and sees
// themselves signed in; signing out goes back to the form, and a tab without a session shows it.
func TestBrowserSignIn(t *testing.T) {
	skipShort(t)
	c := startCluster(t, nil)
	base := c.gwURL(0)
	register(t, base, "ana")
	b := newBrowser(t)
	tab := b.tab()
	run(t, tab, "sign in", 30*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[aria-label="Sign in"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "ana"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`form[aria-label="Sign in"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#me`)),
	)
	me := text(t, tab, `#me`)
	if me != "ana" {
		t.Fatalf("signed in as %q, want ana", me)
	}
}

// text is the text of the first element css selects.
func text(t *testing.T, tab context.Context, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}
