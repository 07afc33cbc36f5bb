package orgproxies_test

import (
	"context"
	"io"
	"log/slog"
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
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/orgproxies"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is the real thing over TCP: the embedded broker, Redis for replies, a command
// processor, Postgres with the read model's projector (the grants) and the manager.
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
	disp := commands.NewDispatcher(cl, replies.Channel("orgproxies-test"), 10*time.Second)
	if err := replies.Listen(ctx, replies.Channel("orgproxies-test"), disp.Resolve); err != nil {
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
		env: ops.Env{Pool: pool, ReadModel: readmodel.NewStore(pool), OrgProxies: orgproxies.NewStore(pool), Log: quiet}}
	s.run(ops.ReadModel)
	return s
}

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

var org = domain.OrgIDFor("acme")

func cmdID(key string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("orgproxies-test:"+key))
}

// org sends an organization command by alice, the owner, and returns its events.
func (s *stack) org(key string, p domain.CommandData) []domain.Event {
	s.t.Helper()
	r, err := s.disp.Dispatch(s.ctx, domain.NewCommand(cmdID(key), org, domain.UserIDFor("alice"), "alice", time.Now(), p))
	if err != nil || !r.Accepted {
		s.t.Fatalf("%s %s: %+v, %v", key, p.CommandType(), r, err)
	}
	return r.Events
}

// status polls until the authorization's status is one of want.
func (s *stack) status(auth uuid.UUID, want ...string) orgproxies.Authorization {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := s.env.OrgProxies.ProxyAuthorization(s.ctx, org, auth)
		if err == nil {
			for _, w := range want {
				if a.Status == w {
					return a
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("authorization %s: %+v, %v; want %v", auth, a, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *stack) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.pool.QueryRow(s.ctx, q, args...).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// grantsOf is the number of principal's grants in the read model.
func (s *stack) grantsOf(principal uuid.UUID) int {
	return s.count(`SELECT count(*) FROM user_proxies WHERE principal_id = $1 AND revoked_at IS NULL`, principal)
}

// An admin's authorization becomes the principal's grant, made by the server with the
// authorization; the manager killed before it sends, then replayed from offset 0 and made to
// send its commands again, neither doubles nor loses a grant; an authorization the principal's
// proxies refuse (an overlap) is recorded on the organization with the refusal's code, and an
// admin's revocation ends the grant.
func TestAuthorizedProxiesBecomeGrants(t *testing.T) {
	s := newStack(t)
	alice, bob, carol := domain.UserIDFor("alice"), domain.UserIDFor("bob"), domain.UserIDFor("carol")
	s.org("create", domain.CreateOrganization{Name: "Acme", Slug: "acme"})
	s.org("add bob", domain.AddOrgMember{UserID: bob, Username: "bob"})
	s.org("add carol", domain.AddOrgMember{UserID: carol, Username: "carol"})

	// Decided while no relay runs: queued, then sent when the relay comes.
	stopProj := s.run(ops.OrgProxies)
	start := time.Now().UTC().Truncate(time.Second)
	evs := s.org("authorize", domain.AuthorizeProxy{PrincipalID: bob, DelegateID: carol, Scope: domain.ProxyScopeMessages,
		StartsAt: start, EndsAt: start.Add(24 * time.Hour)})
	auth := evs[0].Data.(domain.ProxyAuthorized)
	s.status(auth.AuthorizationID, orgproxies.StatusPending)
	if n := s.count(`SELECT count(*) FROM orgproxies_outbox`); n != 1 {
		t.Fatalf("outbox holds %d commands, want 1", n)
	}
	relay := orgproxies.NewRelay(s.env.OrgProxies, s.disp, quiet)
	stopRelay := s.goRun(relay.Run)
	got := s.status(auth.AuthorizationID, orgproxies.StatusGranted)
	if got.GrantID != auth.GrantID || s.grantsOf(bob) != 1 {
		t.Fatalf("granted %+v; bob has %d grants", got, s.grantsOf(bob))
	}

	// The grant is the admin's, under the authorization, limited to the organization.
	var orgOf uuid.UUID
	if err := s.pool.QueryRow(s.ctx, `SELECT org_id FROM user_proxies WHERE grant_id = $1`, auth.GrantID).Scan(&orgOf); err != nil || orgOf != org {
		t.Fatalf("grant's organization %s, %v; want %s", orgOf, err, org)
	}
	r, err := s.disp.Dispatch(s.ctx, domain.NewCommand(domain.ProxyRelayCommandID(auth.AuthorizationID), domain.ProxiesIDFor(bob),
		domain.SystemActorID, "chorus", time.Now(), domain.GrantProxy{}))
	if err != nil || !r.Accepted || r.Events[0].Data.(domain.ProxyGranted).GrantedBy != alice {
		t.Fatalf("the relayed grant answers %+v, %v; want granted by alice", r, err)
	}

	// Replayed from offset 0 with its table emptied: the commands are queued and sent again,
	// with their ids; bob's proxies answer them without a new grant, and no refusal comes.
	stopRelay()
	stopProj()
	for _, q := range []string{`DELETE FROM projection_checkpoints WHERE projection = 'orgproxies'`, `TRUNCATE orgproxies_authorizations`} {
		if _, err := s.pool.Exec(s.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stopProj = s.run(ops.OrgProxies)
	s.status(auth.AuthorizationID, orgproxies.StatusGranted)
	if n := s.count(`SELECT count(*) FROM orgproxies_outbox`); n != 1 {
		t.Fatalf("replay queued %d commands, want 1", n)
	}
	// Sent twice (a crash between the answer and the outbox's delete).
	if _, err := s.pool.Exec(s.ctx, `INSERT INTO orgproxies_outbox (principal_id, command) SELECT principal_id, command FROM orgproxies_outbox`); err != nil {
		t.Fatal(err)
	}
	if n, err := relay.Flush(s.ctx); err != nil || n != 2 {
		t.Fatalf("flush: %d, %v", n, err)
	}
	if relay.Refused() != 0 || s.grantsOf(bob) != 1 {
		t.Fatalf("after the replay: %d refused, bob has %d grants", relay.Refused(), s.grantsOf(bob))
	}

	// An overlapping authorization: the organization accepts it, bob's proxies refuse it, and
	// the refusal is recorded on the organization.
	stopRelay = s.goRun(relay.Run)
	evs = s.org("overlap", domain.AuthorizeProxy{PrincipalID: bob, DelegateID: carol, Scope: domain.ProxyScopeMessages,
		StartsAt: start.Add(time.Hour), EndsAt: start.Add(48 * time.Hour)})
	overlap := evs[0].Data.(domain.ProxyAuthorized)
	got = s.status(overlap.AuthorizationID, orgproxies.StatusRefused)
	if got.Code != domain.CodeValidationFailed || got.Message == "" || s.grantsOf(bob) != 1 {
		t.Fatalf("refused %+v; bob has %d grants", got, s.grantsOf(bob))
	}

	// The admin's revocation ends the grant; a second one of the same grant is refused and
	// recorded (proxy_not_found).
	evs = s.org("revoke", domain.RevokeOrgProxy{PrincipalID: bob, GrantID: auth.GrantID})
	s.status(evs[0].Data.(domain.ProxyRevocationAuthorized).AuthorizationID, orgproxies.StatusRevoked)
	if s.grantsOf(bob) != 0 {
		t.Fatalf("bob has %d grants after the revocation", s.grantsOf(bob))
	}
	evs = s.org("revoke again", domain.RevokeOrgProxy{PrincipalID: bob, GrantID: auth.GrantID})
	if a := s.status(evs[0].Data.(domain.ProxyRevocationAuthorized).AuthorizationID, orgproxies.StatusRefused); a.Code != domain.CodeProxyNotFound {
		t.Fatalf("second revocation: %+v", a)
	}
	// The grant reads revoked, by alice, told apart from one not made yet (pending) and one
	// past its end.
	if a := s.status(auth.AuthorizationID, orgproxies.StatusRevoked); a.RevokedBy == nil || *a.RevokedBy != alice || a.RevokedAt == nil {
		t.Fatalf("the revoked grant: %+v", a)
	}
	list, next, err := s.env.OrgProxies.ProxyAuthorizations(s.ctx, org, projections.ProxyAuthorizationQuery{Limit: 10})
	if err != nil || len(list) != 4 || next != nil {
		t.Fatalf("list: %d, %v, %v", len(list), next, err)
	}
	// Pages of one grant each, newest first, and the cursor ends them.
	var seen []uuid.UUID
	q := projections.ProxyAuthorizationQuery{Kind: orgproxies.KindGrant, Limit: 1}
	for {
		page, next, err := s.env.OrgProxies.ProxyAuthorizations(s.ctx, org, q)
		if err != nil || len(page) != 1 || page[0].Kind != orgproxies.KindGrant {
			t.Fatalf("page: %+v, %v", page, err)
		}
		seen = append(seen, page[0].ID)
		if next == nil {
			break
		}
		q.Before = next
	}
	if len(seen) != 2 || seen[0] != overlap.AuthorizationID || seen[1] != auth.AuthorizationID {
		t.Fatalf("grants by page: %v; want %s then %s", seen, overlap.AuthorizationID, auth.AuthorizationID)
	}
	// Scoped to departments bob is in none of: nothing.
	if scoped, _, err := s.env.OrgProxies.ProxyAuthorizations(s.ctx, org, projections.ProxyAuthorizationQuery{Scoped: true,
		Departments: []uuid.UUID{uuid.New()}, Limit: 10}); err != nil || len(scoped) != 0 {
		t.Fatalf("scoped: %+v, %v", scoped, err)
	}
	stopRelay()
	stopProj()
	cps, err := checkpoint.Load(s.ctx, s.pool, orgproxies.Projection)
	if err != nil || len(cps) == 0 {
		t.Fatalf("checkpoints %v, %v", cps, err)
	}
}
