// Package webui serves the web client (/) and the admin console (/admin): static files embedded
// in the binary, which talk to the gateway through the public protocol only (docs/protocol.md),
// the same HTTP API and WebSocket any other client uses. They are the protocol's reference
// client: nothing here reads a store or calls the gateway's Go API.
//
// Every file is compressed once at start; a browser that accepts gzip gets the compressed bytes.
// The pages run under a strict Content-Security-Policy (scripts and styles from this origin
// only, no inline script), so a message that slipped into the page as HTML still could not run.
package webui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every page and file: scripts, styles and connections to
// this origin only (WebSocket included), images from here or made by the page (data:, blob:).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	body, gzipped []byte
	etag, ctype   string
}

// Handler serves the embedded files.
type Handler struct {
	files map[string]*file // by path under static/, e.g. "index.html", "ui/chat.js"
}

// New reads and compresses every embedded file.
func New() (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		if _, err := zw.Write(body); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		h.files[strings.TrimPrefix(p, "static/")] = &file{body: body, gzipped: z.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("webui: %w", err)
	}
	return h, nil
}

// Register mounts the client at /, the console at /admin and their files under /ui/.
func (h *Handler) Register(e *echo.Echo) {
	files := func(c echo.Context) error { return h.serve("ui/" + c.Param("*"))(c) }
	for _, m := range []string{http.MethodGet, http.MethodHead} { // HEAD: the headers alone (curl -I)
		e.Add(m, "/", h.serve("index.html"))
		e.Add(m, "/admin", h.serve("admin.html"))
		e.Add(m, "/ui/*", files)
	}
}

// TotalSize is the compressed size of every file together: no page can load more.
func (h *Handler) TotalSize() int {
	n := 0
	for _, f := range h.files {
		n += len(f.gzipped)
	}
	return n
}

func (h *Handler) serve(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		f, ok := h.files[path.Clean(name)]
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound, "no such file")
		}
		w := c.Response()
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		// Revalidated on every load (the ETag makes that a 304), so a new binary's files are
		// seen at once, never mixed with the old ones.
		hd.Set("Cache-Control", "no-cache")
		hd.Set("ETag", f.etag)
		hd.Set("Vary", "Accept-Encoding")
		if c.Request().Header.Get("If-None-Match") == f.etag {
			return c.NoContent(http.StatusNotModified)
		}
		body := f.body
		if strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
			hd.Set("Content-Encoding", "gzip")
			body = f.gzipped
		}
		return c.Blob(http.StatusOK, f.ctype, body)
	}
}
