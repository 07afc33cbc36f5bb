package webui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/chorus-chat/chorus/adapters/webui"
)

func serve(t *testing.T) (*webui.Handler, *echo.Echo) {
	t.Helper()
	h, err := webui.New()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	h.Register(e)
	return h, e
}

func get(e *echo.Echo, path string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

// The pages come with the strict policy, compressed when the browser takes gzip, and a 304 for
// a file the browser has.
func TestPagesServed(t *testing.T) {
	_, e := serve(t)
	for _, path := range []string{"/", "/admin", "/ui/chat.js", "/ui/admin.js", "/ui/api.js", "/ui/style.css", "/ui/admin.css", "/ui/admin/projections.js", "/ui/admin/chart.js"} {
		rec := get(e, path, map[string]string{"Accept-Encoding": "gzip, br"})
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, got)
		}
		if rec.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: not compressed", path)
		}
		etag := rec.Header().Get("ETag")
		if rec := get(e, path, map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, rec.Code)
		}
	}
	if rec := get(e, "/", nil); rec.Header().Get("Content-Encoding") != "" || !strings.Contains(rec.Body.String(), "<!doctype html>") {
		t.Errorf("GET / without gzip: %q %q", rec.Header().Get("Content-Encoding"), rec.Body.String())
	}
	if rec := get(e, "/ui/../webui.go", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET outside the files: %d, want 404", rec.Code)
	}
	head := httptest.NewRequest(http.MethodHead, "/", nil)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, head)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("HEAD /: %d %v", rec.Code, rec.Header())
	}
	if rec := get(e, "/ui/nope.js", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET a missing file: %d, want 404", rec.Code)
	}
}

// A page's first load stays under 200 KB compressed: every embedded file together does, so
// whatever a page imports, it cannot be over.
func TestFirstLoadBudget(t *testing.T) {
	h, _ := serve(t)
	const budget = 200 << 10
	n := h.TotalSize()
	t.Logf("every file together: %d bytes compressed", n)
	if n > budget {
		t.Errorf("the pages' files are %d bytes compressed, over the %d budget of a first load", n, budget)
	}
}
