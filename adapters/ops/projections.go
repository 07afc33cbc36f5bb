package ops

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/directory"
	"github.com/chorus-chat/chorus/projections/notify"
	"github.com/chorus-chat/chorus/projections/onlinetime"
	"github.com/chorus-chat/chorus/projections/orgproxies"
	"github.com/chorus-chat/chorus/projections/orgrooms"
	"github.com/chorus-chat/chorus/projections/readmodel"
	"github.com/chorus-chat/chorus/projections/search"
)

// Projection is one row of the table of the projections the server runs: what its package says
// of it (checkpoint name, tables, apply: its checkpoint.Definition), the topics its projectors
// read, how they fetch, and how a process builds its handler. cmd/chorus runs the projectors
// from this table, and the status, the rebuilds and the verifies read the same, so none can
// disagree with another. A new projection is a package (its Definition and Handler) and a row.
//
// A projection can be rebuilt (Rebuild, Verify) when it has Tables: a generation of it is a
// Postgres schema holding its own copy of them, written by the projection's own ApplyIn with
// search_path = schema, public.
type Projection struct {
	checkpoint.Definition
	// Topics are the topics its projectors read.
	Topics func(kafka.Topics) []string
	// Gather, when not zero, is how long its projectors let the broker gather records before
	// answering a fetch (kafka.Projector.Gathering): fewer, larger batches, for projections
	// nobody waits on within that time.
	Gather time.Duration
	// Quiet, when set, are those of its topics that its projectors read in a consumer group of
	// their own, QuietGroup, without Gather (kafka.Projector.Apart): topics with few events
	// beside a busy one, whose partitions then no longer ride on every fetch of the busy one's
	// records.
	Quiet func(kafka.Topics) []string
	// Handler builds the projection's handler in a process.
	Handler func(Env) (checkpoint.Handler, error)
}

// Env is what a process builds the projections' handlers from: the stores it shares with its
// gateway (so that a batch a projector applies wakes the queries waiting for it at once; across
// processes they poll the checkpoints), and the push stream.
type Env struct {
	Pool      *pgxpool.Pool
	ReadModel *readmodel.Store
	Search    *search.Store
	Notify    *notify.Store
	// Directory is the organization directory's store; nil: the handler makes its own (its
	// queries' waiters then learn of its batches by polling).
	Directory *directory.Store
	OrgRooms  *orgrooms.Store
	// OrgProxies is the organizations' proxies manager's store (the gateway reads its
	// authorizations).
	OrgProxies *orgproxies.Store
	// Pushes opens a publisher to the push stream; its caller closes it with the process.
	Pushes func() (projections.PushPublisher, error)
	Log    *slog.Logger
}

// deadLetters is where every projection counts the records it dead-letters.
func (e Env) deadLetters() checkpoint.DeadLetters { return checkpoint.DeadLetters{Pool: e.Pool} }

// Group is the consumer group of the projection's projectors.
func (p Projection) Group() string { return ProjectorGroup(p.Name) }

// QuietGroup is the consumer group in which its projectors read its Quiet topics.
func (p Projection) QuietGroup() string { return p.Group() + quietSuffix }

// quietSuffix names a projection's group of quiet topics after its group.
const quietSuffix = "-quiet"

// Rebuildable tells whether Rebuild and Verify can build a generation of the projection.
func (p Projection) Rebuildable() bool { return len(p.Tables) > 0 && p.ApplyIn != nil }

// Projections that nobody waits on within milliseconds (search, notifications, online time)
// fetch in larger batches: see kafka.Projector.Gathering. The read model gathers for less: a
// socket opened after a membership change, and a query with ?position=, wait for it. Its 20 ms
// at most add to those waits; at 1,000 msg/s they make its transactions about twenty records
// each rather than one or two, and with the projector merging its partitions' batches
// (kafka.Projector), Postgres's CPU per message fell to about a third (docs/benchmarks.md). A
// page read from it right after a push may then miss the pushed message, as it always could by
// a few milliseconds: clients apply the frames they were pushed over the pages they read
// (docs/protocol.md; the web client keeps a room's latest pushes for when it opens the room).
const (
	gatherBytes     = 64 << 10
	gatherWait      = 200 * time.Millisecond
	readModelGather = 20 * time.Millisecond
)

// Projector is the projector of p over cfg's topics, running h: its own consumer group, its
// dead letters named after p and tried attempts times each.
func (p Projection) Projector(cfg kafka.Config, h checkpoint.Handler, attempts int, log *slog.Logger) *kafka.Projector {
	pr := kafka.NewProjector(cfg, p.Group(), p.Topics(cfg.Topics), kafka.Decoding(h), log).WithDeadLetters(p.Name, attempts)
	if p.Gather > 0 {
		pr.Gathering(gatherBytes, p.Gather)
	}
	if p.Quiet != nil {
		pr.Apart(quietSuffix, p.Quiet(cfg.Topics)...)
	}
	return pr
}

// The projections the server runs.
var (
	// ReadModel reads chat-events, gathered, in one group and its other topics, rarer, in a
	// second (Quiet): they no longer ride on its fetches, fifty a second at 1,000 msg/s.
	ReadModel = Projection{
		Definition: readmodel.Definition,
		Gather:     readModelGather,
		Topics:     func(t kafka.Topics) []string { return t.EventTopics() },
		Quiet:      func(t kafka.Topics) []string { return without(t.EventTopics(), t.ChatEvents) },
		Handler: func(e Env) (checkpoint.Handler, error) {
			return readmodel.NewHandler(e.ReadModel, e.deadLetters()), nil
		},
	}
	// Push is read in two groups: chat-events, whose every record someone waits for, and the
	// rarer system and organization events, so that a chat message's fetch does not name their
	// 24 partitions too. Each topic keeps its order; there is none across topics in either way.
	// At 1,000 msg/s this took 8–9% of the all-in-one process's CPU per message and a tenth of
	// its garbage collections away (docs/benchmarks.md).
	Push = Projection{
		Definition: projections.PushDefinition,
		Topics:     func(t kafka.Topics) []string { return []string{t.ChatEvents, t.SystemEvents, t.OrgEvents} },
		Quiet:      func(t kafka.Topics) []string { return []string{t.SystemEvents, t.OrgEvents} },
		Handler: func(e Env) (checkpoint.Handler, error) {
			pub, err := e.Pushes()
			if err != nil {
				return nil, err
			}
			return projections.NewPushHandler(e.Pool, pub, e.deadLetters()), nil
		},
	}
	// Search has its own group and its own checkpoints, so that the index is rebuilt and lags
	// on its own.
	Search = Projection{
		Definition: search.Definition,
		Topics:     func(t kafka.Topics) []string { return []string{t.ChatEvents} },
		Gather:     gatherWait,
		Handler: func(e Env) (checkpoint.Handler, error) {
			return search.NewHandler(e.Search, e.deadLetters(), e.Log.With("projector", ProjectorGroup(search.Projection))), nil
		},
	}
	Notifications = Projection{
		Definition: notify.Definition,
		Topics:     func(t kafka.Topics) []string { return []string{t.ChatEvents, t.SystemEvents, t.OrgEvents} },
		Gather:     gatherWait,
		Handler: func(e Env) (checkpoint.Handler, error) {
			return notify.NewHandler(e.Notify, e.deadLetters()), nil
		},
	}
	// Directory is the organizations' directory, org chart, roles and audit log.
	Directory = Projection{
		Definition: directory.Definition,
		Topics:     func(t kafka.Topics) []string { return []string{t.OrgEvents} },
		Handler: func(e Env) (checkpoint.Handler, error) {
			store := e.Directory
			if store == nil {
				store = directory.NewStore(e.Pool)
			}
			return directory.NewHandler(store, e.deadLetters()), nil
		},
	}
)

// OrgRooms is the process manager of department rooms (projections/orgrooms): its tables and
// checkpoint like a projection's, and beside its projector a relay that sends the room
// commands it queues (cmd/chorus).
var OrgRooms = Projection{
	Definition: orgrooms.Definition,
	Topics:     func(t kafka.Topics) []string { return []string{t.OrgEvents} },
	Handler: func(e Env) (checkpoint.Handler, error) {
		return orgrooms.NewHandler(e.OrgRooms, e.deadLetters()), nil
	},
}

// OrgProxies is the process manager of the proxies organizations authorize
// (projections/orgproxies): its table and checkpoint like a projection's, and beside its
// projector a relay that sends the grant and revoke commands it queues and records what the
// principals' proxies refuse (cmd/chorus).
var OrgProxies = Projection{
	Definition: orgproxies.Definition,
	Topics:     func(t kafka.Topics) []string { return []string{t.OrgEvents} },
	Handler: func(e Env) (checkpoint.Handler, error) {
		store := e.OrgProxies
		if store == nil {
			store = orgproxies.NewStore(e.Pool)
		}
		return orgproxies.NewHandler(store, e.deadLetters()), nil
	},
}

// OnlineTime is the users' sessions online (user-events) and their daily totals in every time
// zone an organization uses (org-events), which the online-time report reads with the
// directory's members and departments.
var OnlineTime = Projection{
	Definition: onlinetime.Definition,
	Topics:     func(t kafka.Topics) []string { return []string{t.UserEvents, t.OrgEvents} },
	Gather:     gatherWait,
	Handler: func(e Env) (checkpoint.Handler, error) {
		return onlinetime.NewHandler(onlinetime.NewStore(e.Pool), e.deadLetters()), nil
	},
}

// Projections are the projections the server runs, in the order the status shows them.
var Projections = []Projection{ReadModel, Push, Search, Notifications, Directory, OrgRooms, OrgProxies, OnlineTime}

// projectionOf is the projection the server runs under name, if any.
func projectionOf(name string) (*Projection, bool) {
	for i := range Projections {
		if Projections[i].Name == name {
			return &Projections[i], true
		}
	}
	return nil, false
}

// RebuildableProjection returns the rebuildable projection named name, or an error that lists
// the rebuildable ones.
func RebuildableProjection(name string) (*Projection, error) {
	if p, ok := projectionOf(name); ok && p.Rebuildable() {
		return p, nil
	}
	return nil, fmt.Errorf("%w %q: not one of %s", ErrUnknownProjection, name, strings.Join(RebuildableNames(), ", "))
}

// RebuildableNames are the names of the rebuildable projections, in the table's order.
func RebuildableNames() []string {
	var out []string
	for _, p := range Projections {
		if p.Rebuildable() {
			out = append(out, p.Name)
		}
	}
	return out
}

// ProjectorGroup is the consumer group of a projection's projectors.
func ProjectorGroup(projection string) string { return "chorus-projector-" + projection }

// without is topics but topic.
func without(topics []string, topic string) []string {
	return slices.DeleteFunc(slices.Clone(topics), func(t string) bool { return t == topic })
}
