// Package redis adapts Redis to Chorus: command replies (pub/sub, one channel per gateway),
// real-time pushes (Redis Streams through watermill-redisstream, fanned out to every gateway) and
// the embedded miniredis used when no Redis is configured.
package redis

import (
	"context"
	"fmt"
	"strings"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
)

// Conn opens clients to one Redis deployment: a server, a cluster or the master Sentinel names
// (url.go). Every watermill publisher or subscriber gets its own client, because closing them
// closes the client they were given (watermill-redisstream's Close does).
//
// Keys, on a cluster, are spread over the masters by the hash of their name, or of the part in
// braces (the hash tag) when there is one; a command or Lua script may only touch keys of one slot.
// Key names the keys used alone; SlotKey the keys of the push stream's slot, which the presence
// scripts touch together with the stream.
type Conn struct {
	open   newClient
	Prefix string // namespace of every key, stream and channel
	// sentinel is set for a Sentinel-managed master: subscriptions move when it fails over
	// (switches.go).
	sentinel *goredis.FailoverOptions
}

// Check says what is wrong with a CHORUS_REDIS_URL (url.go) and a key prefix, without dialling,
// so that a process refuses its configuration before it starts anything.
func Check(url, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	_, _, err := parseURL(url)
	return err
}

func checkPrefix(prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, "{}") {
		return fmt.Errorf("redis prefix %q: want a non-empty name without braces (they would change which cluster slot keys go to)", prefix)
	}
	return nil
}

// Dial parses a CHORUS_REDIS_URL (url.go) and checks that Redis answers.
func Dial(ctx context.Context, url, prefix string) (*Conn, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	open, where, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	c := &Conn{open: open, Prefix: prefix, sentinel: sentinelOptions(url)}
	cl := c.Client()
	defer cl.Close()
	if err := cl.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis ping %s: %w", where, err)
	}
	return c, nil
}

// Client opens a new client (a cluster's, a Sentinel-managed master's or one server's); the
// caller closes it.
func (c *Conn) Client() goredis.UniversalClient { return c.open() }

// Key namespaces a key used alone: <prefix>:<part>:...
func (c *Conn) Key(parts ...string) string { return join(c.Prefix, parts) }

// SlotKey namespaces a key that must share a slot with the push stream (itself a SlotKey):
// {<prefix>}:<part>:... The hash tag is the prefix, so deployments sharing a cluster under
// different prefixes keep their streams apart.
func (c *Conn) SlotKey(parts ...string) string { return join("{"+c.Prefix+"}", parts) }

func join(k string, parts []string) string {
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
