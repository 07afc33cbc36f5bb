package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestHTTPTimeoutsConfig(t *testing.T) {
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httpServer(c, http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second ||
		srv.WriteTimeout != 60*time.Second || srv.IdleTimeout != 60*time.Second {
		t.Fatalf("default timeouts: header %v, read %v, write %v, idle %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"CHORUS_HTTP_READ_TIMEOUT", "0s", "CHORUS_HTTP_READ_TIMEOUT must be positive"},
		{"CHORUS_HTTP_IDLE_TIMEOUT", "-1s", "CHORUS_HTTP_IDLE_TIMEOUT must be positive"},
		{"CHORUS_HTTP_WRITE_TIMEOUT", "10s", "CHORUS_HTTP_WRITE_TIMEOUT (10s) must be more than CHORUS_COMMAND_TIMEOUT plus 5s (10s)"},
		{"CHORUS_REDIS_URL", "redis://10.0.0.1:6379,10.0.0.2:6379", "use redis+cluster://"},
		{"CHORUS_REDIS_URL", "redis+sentinel://10.0.0.1:26379", "no master name"},
		{"CHORUS_REDIS_PREFIX", "{chorus}", "redis prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.name, tc.value)
			if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s=%s: %v, want %q", tc.name, tc.value, err, tc.want)
			}
		})
	}
	t.Setenv("CHORUS_CORS_ORIGINS", " https://a.example , ,https://b.example")
	if c, err := loadConfig(); err != nil || strings.Join(c.CORSOrigins, "|") != "https://a.example|https://b.example" {
		t.Fatalf("CORS origins %q, %v", c.CORSOrigins, err)
	}
}

// serveShort serves h with every timeout of the configuration at d.
func serveShort(t *testing.T, d time.Duration, h http.Handler) string {
	t.Helper()
	for _, k := range []string{"CHORUS_HTTP_READ_HEADER_TIMEOUT", "CHORUS_HTTP_READ_TIMEOUT", "CHORUS_HTTP_IDLE_TIMEOUT"} {
		t.Setenv(k, d.String())
	}
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpServer(c, h)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// closedWithin reads what the server sends on conn until it closes the connection, and fails
// unless that happens within limit.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) string {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection still open %v later (%v); read %q", time.Since(start).Round(time.Millisecond), err, b)
	}
	return string(b)
}

// A client cannot hold a connection by sending half a request or by idling on a keep-alive
// (issue 8: such connections were still open after 200 s).
func TestHTTPServerClosesStalledConnections(t *testing.T) {
	const timeout = time.Second
	e := echo.New()
	e.POST("/echo", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.String(http.StatusBadRequest, "cannot read the request body")
		}
		return c.String(http.StatusOK, string(b))
	})
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	addr := serveShort(t, timeout, e)
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	t.Run("half the headers", func(t *testing.T) {
		conn := dial()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		closedWithin(t, conn, 3*timeout)
	})
	t.Run("half the body", func(t *testing.T) {
		conn := dial()
		_, _ = io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789ab")
		if got := closedWithin(t, conn, 3*timeout); strings.Contains(got, "200 OK") {
			t.Fatalf("a half body was answered as whole: %q", got)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		conn := dial()
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("first request: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		// The response's body was read whole, so what remains on the connection is its end.
		closedWithin(t, conn, 3*timeout)
	})
	t.Run("a whole request still works", func(t *testing.T) {
		conn := dial()
		_, _ = io.WriteString(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
		if got := closedWithin(t, conn, 3*timeout); !strings.HasSuffix(got, "hello") {
			t.Fatalf("answer %q", got)
		}
	})
}
