package orgrooms_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/commands"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/orgrooms"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is the real thing over TCP: the embedded broker, Redis for replies, a command processor,
// Postgres with the read model's projector (to see the rooms' members) and the manager.
type stack struct {
	t    *testing.T
	ctx  context.Context
	kcfg kafka.Config
	pool *pgxpool.Pool
	disp *commands.Dispatcher
	env  ops.Env
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MinSessionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	kcfg := kafka.Config{Brokers: []string{b.Addr()}, Topics: kafka.DefaultTopics(), Partitions: 2,
		SessionTimeout: 1500 * time.Millisecond, Heartbeat: 300 * time.Millisecond}
	if err := kafka.EnsureTopics(kcfg); err != nil {
		t.Fatal(err)
	}
	conn, err := redis.Dial(ctx, "redis://127.0.0.1:6379", "chorus-test-"+uuid.NewString()[:8])
	if err != nil {
		t.Fatalf("real Redis is needed for this test: %v", err)
	}
	replies := redis.NewReplies(conn, quiet)
	t.Cleanup(func() { replies.Close() })
	cl, err := kafka.NewCommandLog(kcfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	disp := commands.NewDispatcher(cl, replies.Channel("orgrooms-test"), 10*time.Second)
	if err := replies.Listen(ctx, replies.Channel("orgrooms-test"), disp.Resolve); err != nil {
		t.Fatal(err)
	}
	proc := kafka.NewCommandProcessor(kcfg, replies, quiet)
	done := make(chan struct{})
	go func() { defer close(done); _ = proc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	pool, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := &stack{t: t, ctx: ctx, kcfg: kcfg, pool: pool, disp: disp,
		env: ops.Env{Pool: pool, ReadModel: readmodel.NewStore(pool), OrgRooms: orgrooms.NewStore(pool), Log: quiet}}
	s.run(ops.ReadModel)
	return s
}

// run runs a projector of p until the returned stop is called (or the test ends).
func (s *stack) run(p ops.Projection) (stop func()) {
	s.t.Helper()
	h, err := p.Handler(s.env)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.goRun(p.Projector(s.kcfg, h, 3, quiet).Run)
}

func (s *stack) goRun(fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	s.t.Cleanup(stop)
	return stop
}

// manager runs the manager's projector and relay; stop kills both.
func (s *stack) manager() (stop func()) {
	stopProj := s.run(ops.OrgRooms)
	stopRelay := s.goRun(orgrooms.NewRelay(s.env.OrgRooms, s.disp, quiet).Run)
	return func() { stopProj(); stopRelay() }
}

var (
	org   = domain.OrgIDFor("acme")
	users = map[string]uuid.UUID{}
)

func user(name string) uuid.UUID {
	if id, ok := users[name]; ok {
		return id
	}
	users[name] = domain.UserIDFor(name)
	return users[name]
}

func cmdID(key string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("orgrooms-test:"+key))
}

func dept(key string) uuid.UUID { return domain.DepartmentIDFor(cmdID(key)) }

func room(key string) uuid.UUID { return domain.DepartmentRoomIDFor(org, dept(key)) }

// org sends an organization command by alice, the owner, and wants it accepted.
func (s *stack) org(key string, p domain.CommandData) {
	s.t.Helper()
	r, err := s.disp.Dispatch(s.ctx, domain.NewCommand(cmdID(key), org, user("alice"), "alice", time.Now(), p))
	if err != nil || !r.Accepted {
		s.t.Fatalf("%s %s: %+v, %v", key, p.CommandType(), r, err)
	}
}

// members are the room's members in the read model, by name.
func (s *stack) members(roomID uuid.UUID) []string {
	s.t.Helper()
	rows, err := s.pool.Query(s.ctx, `SELECT username FROM room_members WHERE room_id = $1 ORDER BY username`, roomID)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// settle waits until every room has the members want gives it and the manager's outbox is
// empty.
func (s *stack) settle(want map[uuid.UUID][]string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for r, names := range want {
			if got := s.members(r); !slices.Equal(got, names) {
				ok = false
				if time.Now().After(deadline) {
					s.t.Fatalf("room %s has %v, want %v", r, got, names)
				}
			}
		}
		var pending int
		if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM orgrooms_outbox`).Scan(&pending); err != nil {
			s.t.Fatal(err)
		}
		if ok && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d commands still in the outbox", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// events counts each room's events by type, from the log.
func (s *stack) events(rooms ...uuid.UUID) map[uuid.UUID]map[string]int {
	s.t.Helper()
	out := map[uuid.UUID]map[string]int{}
	for _, r := range rooms {
		q, err := ops.NewEventQuery(ops.EventQuerySpec{Topics: []string{s.kcfg.Topics.ChatEvents}, Room: r.String()}, nil)
		if err != nil {
			s.t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := ops.ReplayTo(s.ctx, s.kcfg, q, ops.FormatJSONL, ops.ReplayOptions{}, &buf); err != nil {
			s.t.Fatal(err)
		}
		out[r] = map[string]int{}
		sc := bufio.NewScanner(&buf)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				s.t.Fatal(err)
			}
			out[r][e.Type]++
		}
	}
	return out
}

// A department's room has the members of the department's subtree through adds, removals,
// moves, a member leaving the organization and the department's deletion; the manager killed
// with its commands decided but not sent, and then replayed from offset 0, ends with the same
// members and has not added a single event.
func TestDepartmentRoomsFollowTheirSubtrees(t *testing.T) {
	s := newStack(t)
	stop := s.manager()

	s.org("create", domain.CreateOrganization{Name: "Acme", Slug: "acme"})
	for _, n := range []string{"bob", "carol", "dave", "erin", "frank"} {
		s.org("add "+n, domain.AddOrgMember{UserID: user(n), Username: n})
	}
	eng, backend, frontend, sales, salesOps := dept("eng"), dept("backend"), dept("frontend"), dept("sales"), dept("ops")
	s.org("eng", domain.CreateDepartment{Name: "Engineering"})
	s.org("backend", domain.CreateDepartment{Name: "Backend", ParentID: &eng})
	s.org("frontend", domain.CreateDepartment{Name: "Frontend", ParentID: &eng})
	s.org("sales", domain.CreateDepartment{Name: "Sales"})
	s.org("ops", domain.CreateDepartment{Name: "Sales ops", ParentID: &sales})
	for n, d := range map[string]uuid.UUID{"bob": backend, "carol": frontend, "dave": eng, "erin": sales, "frank": salesOps} {
		s.org("in "+n, domain.AddDepartmentMember{DepartmentID: d, UserID: user(n)})
	}
	// Rooms opened after their members came: the first sync brings the whole subtree.
	s.org("room eng", domain.CreateDepartmentRoom{DepartmentID: eng, Name: "engineering"})
	s.org("room backend", domain.CreateDepartmentRoom{DepartmentID: backend, Name: "backend"})
	s.org("room sales", domain.CreateDepartmentRoom{DepartmentID: sales, Name: "sales"})
	s.settle(map[uuid.UUID][]string{
		room("eng"): {"bob", "carol", "dave"}, room("backend"): {"bob"}, room("sales"): {"erin", "frank"},
	})

	// Killed: the changes are decided while no relay sends them, then sent when it is back.
	stop()
	stopProj := s.run(ops.OrgRooms)
	s.org("erin to backend", domain.AddDepartmentMember{DepartmentID: backend, UserID: user("erin")})
	s.org("carol out", domain.RemoveDepartmentMember{DepartmentID: frontend, UserID: user("carol")})
	s.org("move ops", domain.MoveDepartment{DepartmentID: salesOps, ParentID: &eng})
	s.org("frank to sales", domain.AddDepartmentMember{DepartmentID: sales, UserID: user("frank")})
	s.org("bob leaves", domain.RemoveOrgMember{UserID: user("bob")})
	s.org("delete backend", domain.DeleteDepartment{DepartmentID: backend})
	waitOutbox(t, s, func(n int) bool { return n > 0 })
	stopProj()
	stop = s.manager()
	want := map[uuid.UUID][]string{
		// erin through backend, now deleted (she fell back to eng); frank through ops, moved here
		room("eng"): {"dave", "erin", "frank"},
		// released when backend was deleted: it keeps whom it had
		room("backend"): {"erin"},
		// frank left with ops and came back on his own
		room("sales"): {"erin", "frank"},
	}
	s.settle(want)
	before := s.events(room("eng"), room("backend"), room("sales"))
	t.Logf("events: %v", before)
	if before[room("backend")][domain.TypeRoomReleased] != 1 {
		t.Fatalf("backend's room events %v: want it released once", before[room("backend")])
	}

	// A managed room's members cannot leave it by themselves.
	r, err := s.disp.Dispatch(s.ctx, domain.NewCommand(uuid.New(), room("sales"), user("erin"), "erin", time.Now(), domain.LeaveRoom{}))
	if err != nil || r.Accepted || r.Code != domain.CodeForbidden {
		t.Fatalf("leaving a managed room: %+v, %v; want forbidden", r, err)
	}

	// Replayed from offset 0 with its tables emptied: every command is decided and sent again,
	// with the ids it had; the rooms answer them without a new event.
	stop()
	reached, err := checkpoint.Load(s.ctx, s.pool, orgrooms.Projection)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DELETE FROM projection_checkpoints WHERE projection = 'orgrooms'`,
		`TRUNCATE orgrooms_departments, orgrooms_members, orgrooms_memberships`} {
		if _, err := s.pool.Exec(s.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stop = s.manager()
	defer stop()
	waitCaughtUp(t, s, reached)
	s.settle(want)
	if after := s.events(room("eng"), room("backend"), room("sales")); !equalCounts(before, after) {
		t.Fatalf("a replay added events:\nbefore %v\nafter  %v", before, after)
	}
}

func equalCounts(a, b map[uuid.UUID]map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for r, m := range a {
		if len(m) != len(b[r]) {
			return false
		}
		for k, v := range m {
			if b[r][k] != v {
				return false
			}
		}
	}
	return true
}

// waitOutbox waits until the outbox's size satisfies ok.
func waitOutbox(t *testing.T, s *stack, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM orgrooms_outbox`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if ok(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox at %d", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCaughtUp waits until the manager's checkpoints are back at reached.
func waitCaughtUp(t *testing.T, s *stack, reached map[string]map[int32]int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cps, err := checkpoint.Load(s.ctx, s.pool, orgrooms.Projection)
		if err != nil {
			t.Fatal(err)
		}
		behind := false
		for topic, parts := range reached {
			for p, off := range parts {
				if cps[topic][p] < off {
					behind = true
				}
			}
		}
		if !behind {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orgrooms checkpoints %v, want %v", cps, reached)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
