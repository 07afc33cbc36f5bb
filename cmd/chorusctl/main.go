// Command chorusctl is the admin and analyst CLI of Chorus: it replays the event log straight
// from Kafka (read committed, merged by event time, as JSON lines or CSV), counts events, and
// shows how far each projection is behind the log; it rebuilds a projection (the read model,
// search, notifications, the organization directory) beside the live one and swaps it in, or
// verifies it against a rebuild; and it reports the members' online time (reports online-time).
// Only `projections rebuild` changes anything (it replaces the projection's tables with rebuilt
// ones), and `topics repartition`, which copies the logs into new topics; `projections verify` writes a scratch schema it drops again. The work is package
// adapters/ops's, which the gateways' /api/v1/admin endpoints also run.
//
// Configuration comes from the same environment as the server (CHORUS_KAFKA_BROKERS,
// CHORUS_DATABASE_URL), or from flags. Exit codes: 0 ok, 1 failure (one line on stderr),
// 2 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/postgres"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// defaultBrokers is where the all-in-one server's embedded broker listens by default.
const defaultBrokers = "127.0.0.1:9092"

// globals are the flags every command takes; each falls back on the server's variable.
type globals struct {
	Brokers     []string `name:"brokers" env:"CHORUS_KAFKA_BROKERS" sep:"," default:"${default_brokers}" placeholder:"HOST:PORT" help:"Kafka brokers, comma-separated (empty: the embedded broker's default address)."`
	TopicSuffix string   `name:"topic-suffix" env:"CHORUS_TOPIC_SUFFIX" placeholder:"SUFFIX" help:"Appended to every topic name, as the server's CHORUS_TOPIC_SUFFIX."`
	DatabaseURL string   `name:"database-url" env:"CHORUS_DATABASE_URL" default:"${default_database_url}" placeholder:"URL" help:"Postgres URL, for the projections commands."`
}

type cli struct {
	globals `embed:""`

	Events struct {
		Replay replayCmd `cmd:"" help:"Print events from the log in event-time order, as JSON lines or CSV."`
		Stats  statsCmd  `cmd:"" help:"Count events by type and by day (UTC)."`
	} `cmd:"" help:"Read the event log (Kafka) directly, read committed."`
	Projections struct {
		Status  statusCmd  `cmd:"" help:"Show each projection's checkpoint against the log end, with its lag."`
		Rebuild rebuildCmd `cmd:"" help:"Rebuild a projection from offset 0 beside the live one, then swap it in atomically (${rebuildable})."`
		Verify  verifyCmd  `cmd:"" help:"Rebuild a projection into a scratch copy and compare it with the live one; exit 1 if they differ (${rebuildable})."`
	} `cmd:"" help:"Inspect and rebuild the projections (read model, search, notifications, pushes)."`
	Topics struct {
		Repartition repartitionCmd `cmd:"" help:"Copy the event logs into new topics with another partition count, each record to its key's partition (resumable)."`
	} `cmd:"" help:"Migrate the Kafka topics."`
	Reports struct {
		OnlineTime onlineTimeCmd `cmd:"" name:"online-time" help:"Seconds each member of an organization was online, per day in its time zone, as JSON or CSV."`
	} `cmd:"" help:"Reports for analysts, from the projections in Postgres."`
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	g      *globals
	stdout io.Writer
	stderr io.Writer
}

func (e *env) kafkaConfig() kafka.Config {
	var brokers []string
	for _, b := range e.g.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		brokers = strings.Split(defaultBrokers, ",")
	}
	return kafka.Config{Brokers: brokers, Topics: kafka.DefaultTopics().WithSuffix(e.g.TopicSuffix), ClientID: "chorusctl", SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
}

// Validate checks the global flags.
func (g *globals) Validate() error {
	if err := kafka.CheckTopicSuffix(g.TopicSuffix); err != nil {
		return usagef("--topic-suffix: %v", err)
	}
	return nil
}

// usageError is a mistake in the command line found after parsing: exit code 2.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code; SIGINT and SIGTERM end it cleanly.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// kongExit carries kong's exit code (after --help, or a parse error) out of the parser.
type kongExit struct{ code int }

// runContext is run with the interruption coming from ctx.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("chorusctl"),
		kong.Description("Admin and analyst CLI of Chorus. It reads Kafka and Postgres; only projections rebuild changes the read model. "+
			"Configuration: CHORUS_KAFKA_BROKERS and CHORUS_DATABASE_URL, as for the server, or the flags below."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit{code}) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"default_brokers": defaultBrokers, "default_database_url": postgres.DefaultURL,
			"rebuildable": rebuildable, "default_batch": strconv.Itoa(ops.DefaultBatch)},
	)
	if err != nil {
		fmt.Fprintf(stderr, "chorusctl: %v\n", err)
		return exitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = e.code
			if code != exitOK {
				code = exitUsage
			}
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "chorusctl: %v\n", err)
		var pe *kong.ParseError
		if errors.As(err, &pe) && pe.Context != nil {
			fmt.Fprintf(stderr, "Run \"%s --help\" for usage.\n", strings.Join(append([]string{"chorusctl"}, commandPath(pe.Context)...), " "))
		}
		return exitUsage
	}
	err = kctx.Run(&env{ctx: ctx, g: &c.globals, stdout: stdout, stderr: stderr})
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "chorusctl: %s\n", oneLine(err))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func commandPath(kctx *kong.Context) []string {
	var out []string
	for _, p := range kctx.Path {
		if p.Command != nil {
			out = append(out, p.Command.Name)
		}
	}
	return out
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
