// Package redis adapts Redis to Chorus: command replies (pub/sub, one channel per gateway),
// real-time pushes (Redis Streams through watermill-redisstream, fanned out to every gateway) and
// the embedded miniredis used when no Redis is configured.
package redis

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
)

// Conn opens clients to one Redis. Every watermill publisher or subscriber gets its own client,
// because closing them closes the client they were given (watermill-redisstream's Close does).
type Conn struct {
	opts   *goredis.Options
	Prefix string // namespace of every key, stream and channel
}

// Dial parses a redis:// URL and checks that the server answers.
func Dial(ctx context.Context, url, prefix string) (*Conn, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	c := &Conn{opts: opts, Prefix: prefix}
	cl := c.Client()
	defer cl.Close()
	if err := cl.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis ping %s: %w", opts.Addr, err)
	}
	return c, nil
}

// Client opens a new client; the caller closes it.
func (c *Conn) Client() *goredis.Client { return goredis.NewClient(c.opts) }

// Key namespaces a key.
func (c *Conn) Key(parts ...string) string {
	k := c.Prefix
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

// Embedded is an in-process Redis (miniredis) for development: nothing it holds survives a
// restart, which is fine for what Chorus keeps in Redis (replies in flight, recent pushes).
type Embedded struct{ m *miniredis.Miniredis }

// StartEmbedded starts miniredis on addr (port 0 = a free port).
func StartEmbedded(addr string) (*Embedded, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	return &Embedded{m: m}, nil
}

// URL is the redis:// URL of the embedded server.
func (e *Embedded) URL() string { return "redis://" + e.m.Addr() }

// Close stops it.
func (e *Embedded) Close() { e.m.Close() }
