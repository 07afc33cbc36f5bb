// Command chorus is the Chorus server. With no arguments it runs every role in one process
// (gateway, command processor, projectors), with an embedded Kafka-protocol broker and an
// embedded Redis unless CHORUS_KAFKA_BROKERS / CHORUS_REDIS_URL name real ones.
// `chorus broker` runs the embedded broker alone, for several processes to share.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"
)

type cli struct {
	Roles  string    `help:"Comma-separated roles to run: gateway, commands, projectors (default: all)." default:"all"`
	Serve  serveCmd  `cmd:"" default:"1" hidden:"" help:"Run the server roles (the default)."`
	Broker brokerCmd `cmd:"" help:"Run the embedded Kafka-protocol broker alone, persisted under CHORUS_DATA_DIR."`
}

type serveCmd struct{}

type brokerCmd struct {
	Addr string `help:"Address to listen on." default:"127.0.0.1:9092"`
}

func main() {
	// Version 4 UUIDs (every command's and event's id) come from a pool of random bytes read
	// in batches, not from an allocation and a getrandom call each: those were 1.5% of the
	// process's CPU at saturation. The ids are identifiers, not secrets (tokens are
	// crypto/rand's own bytes, adapters/postgres/accounts.go). Enabled before any goroutine
	// can make one, as the library requires.
	uuid.EnableRandPool()
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("chorus"),
		kong.Description("Chorus: an event-sourced chat backend. Configuration is read from CHORUS_* environment variables (see README)."),
	)
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	switch kctx.Command() {
	case "broker":
		err = runBroker(ctx, cfg, c.Broker.Addr, log)
	default:
		var roles map[string]bool
		roles, err = parseRoles(c.Roles)
		if err == nil {
			err = runServer(ctx, cfg, roles, log)
		}
	}
	stop()
	if err != nil {
		log.Error("chorus stopped", "err", err)
		os.Exit(1)
	}
}

// Roles a process can run.
const (
	roleGateway    = "gateway"
	roleCommands   = "commands"
	roleProjectors = "projectors"
)

func parseRoles(s string) (map[string]bool, error) {
	all := map[string]bool{roleGateway: true, roleCommands: true, roleProjectors: true}
	if s == "" || s == "all" {
		return all, nil
	}
	out := map[string]bool{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if !all[r] {
			return nil, fmt.Errorf("unknown role %q (roles: gateway, commands, projectors, all)", r)
		}
		out[r] = true
	}
	return out, nil
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
