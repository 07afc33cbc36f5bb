package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/directory"
	"github.com/chorus-chat/chorus/projections/orgproxies"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// The proxies an organization grants, over HTTP: the world decides the commands with the real
// aggregates (the organization and the principal's proxies); its accepted events feed the real
// directory, the real proxies' manager (orgproxies.Store, with its outbox) and the real read
// model's grants (user_proxies) on a fresh Postgres database, and the manager's real relay
// sends the grants through the world. The use case waits on the real store.

// proxyRM is the world with the grants read from the real read model.
type proxyRM struct {
	*world
	rm *readmodel.Store
}

func (p proxyRM) ProxyGrants(ctx context.Context, principal, delegate uuid.UUID, at time.Time) ([]projections.ProxyGrant, error) {
	return p.rm.ProxyGrants(ctx, principal, delegate, at)
}

func (p proxyRM) ProxyGrantsOf(ctx context.Context, user uuid.UUID, at time.Time) ([]projections.ProxyGrant, error) {
	return p.rm.ProxyGrantsOf(ctx, user, at)
}

func (p proxyRM) ProxyGrant(ctx context.Context, id uuid.UUID) (projections.ProxyGrant, error) {
	return p.rm.ProxyGrant(ctx, id)
}

// proxyFeed applies the world's events, in offset order, to the directory, the manager and
// the read model's grants; the read model's part can be held back (a read model lagging).
type proxyFeed struct {
	t       *testing.T
	dir     *directory.Store
	mgr     *orgproxies.Store
	rm      *readmodel.Store
	mu      sync.Mutex
	next    int64                       // the next offset to apply
	pending map[int64]checkpoint.Record // arrived ahead of next (concurrent dispatches)
	held    bool
	heldRM  []checkpoint.Record
}

func (f *proxyFeed) add(recs []checkpoint.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		f.pending[r.Offset] = r
	}
	var batch []checkpoint.Record
	for {
		r, ok := f.pending[f.next]
		if !ok {
			break
		}
		delete(f.pending, f.next)
		batch = append(batch, r)
		f.next++
	}
	if len(batch) == 0 {
		return
	}
	ctx := context.Background()
	if err := f.dir.ApplyBatch(ctx, batch); err != nil {
		f.t.Errorf("apply to the directory: %v", err)
	}
	if err := f.mgr.ApplyBatch(ctx, batch); err != nil {
		f.t.Errorf("apply to the manager: %v", err)
	}
	for _, r := range batch {
		switch r.Event.Data.(type) {
		case domain.ProxyGranted, domain.ProxyRevoked:
			f.heldRM = append(f.heldRM, r)
		}
	}
	f.flushRM()
}

// flushRM applies the read model's queue unless held (f.mu held).
func (f *proxyFeed) flushRM() {
	if f.held || len(f.heldRM) == 0 {
		return
	}
	if err := f.rm.ApplyBatch(context.Background(), "readmodel", f.heldRM); err != nil {
		f.t.Errorf("apply to the read model: %v", err)
	}
	f.heldRM = nil
}

func (f *proxyFeed) hold(held bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = held
	f.flushRM()
}

type orgProxyEnv struct {
	*orgEnv
	feed  *proxyFeed
	store *orgproxies.Store
	relay *orgproxies.Relay
	// amy, ben and dora are members too: dora holds grant_proxies over Sales, where amy is.
	amy, ben, dora       string
	amyID, benID, doraID uuid.UUID
	sales                string
}

func newOrgProxyEnv(t *testing.T, tune func(*Config)) *orgProxyEnv {
	t.Helper()
	pool := pgtest.New(t)
	store, rm := orgproxies.NewStore(pool), readmodel.NewStore(pool)
	feed := &proxyFeed{t: t, dir: directory.NewStore(pool, "chat-events"), mgr: store, rm: rm, pending: map[int64]checkpoint.Record{}}
	w := newWorld()
	w.afterDeliver = func(cmd domain.Command) {
		w.mu.Lock()
		reply := w.replies[cmd.ID]
		w.mu.Unlock()
		if !reply.Accepted || len(reply.Events) == 0 {
			return
		}
		pos, err := domain.ParsePosition(reply.Position)
		if err != nil {
			t.Errorf("position %q: %v", reply.Position, err)
			return
		}
		n := int64(len(reply.Events))
		recs := make([]checkpoint.Record, n)
		for i, ev := range reply.Events {
			recs[i] = checkpoint.Record{Topic: pos.Topic, Partition: pos.Partition, Offset: pos.Offset - n + 1 + int64(i), Event: ev}
		}
		feed.add(recs)
	}
	e := buildEnv(t, w, func(c *Config) {
		c.FrameRate = -1
		if tune != nil {
			tune(c)
		}
	}, setup{deps: func(d *Deps) {
		d.ReadModel, d.Directory, d.OrgProxies = proxyRM{world: w, rm: rm}, feed.dir, store
	}}, nil)
	o := &orgProxyEnv{orgEnv: orgEnvOn(e), feed: feed, store: store,
		relay: orgproxies.NewRelay(store, w, slog.New(slog.NewTextHandler(io.Discard, nil)))}
	o.amy, o.amyID = e.user("amy")
	o.ben, o.benID = e.user("ben")
	o.dora, o.doraID = e.user("dora")
	for _, id := range []uuid.UUID{o.amyID, o.benID, o.doraID} {
		e.mustDo(http.StatusCreated, "POST", o.org+"/members", o.owner, map[string]any{"user_id": id.String()})
	}
	o.sales = o.dept(o.owner, "Sales", "")
	r := e.mustDo(http.StatusCreated, "POST", o.org+"/roles", o.owner, map[string]any{"name": "Proxy admin", "permissions": []string{domain.PermGrantProxies}})
	role := r.body["role"].(map[string]any)["id"].(string)
	e.mustDo(http.StatusOK, "PUT", o.org+"/members/"+o.doraID.String()+"/roles/"+role+"?department_id="+o.sales, o.owner, nil)
	e.mustDo(http.StatusOK, "PUT", o.org+"/departments/"+o.sales+"/members/"+o.amyID.String(), o.owner, nil)
	return o
}

// runRelay runs the manager's relay until the test ends.
func (o *orgProxyEnv) runRelay() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = o.relay.Run(ctx) }()
	o.t.Cleanup(func() { cancel(); <-done })
}

func (o *orgProxyEnv) authorize(token string, principal, delegate uuid.UUID, scope string, ends int) response {
	o.t.Helper()
	return o.do("POST", o.org+"/proxies", token, map[string]any{"principal_id": principal.String(), "delegate_id": delegate.String(),
		"scope": scope, "ends_at": hours(ends)})
}

// grants reads the organization's grants as token's user, each page of limit.
func (o *orgProxyEnv) grants(token string, limit int) []frame {
	o.t.Helper()
	var out []frame
	path := o.org + "/proxies"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	for p := path; ; {
		r := o.mustDo(http.StatusOK, "GET", p, token, nil)
		page := list(o.t.(*testing.T), r, "authorizations")
		out = append(out, page...)
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			return out
		}
		if limit > 0 && len(page) != limit {
			o.t.Fatalf("a page of %d before the last, want %d: %s", len(page), limit, r.raw)
		}
		p = path + "&cursor=" + next
	}
}

// byID finds the authorization with id in list.
func byID(t *testing.T, list []frame, id string) frame {
	t.Helper()
	for _, a := range list {
		if a.str("id") == id {
			return a
		}
	}
	t.Fatalf("no authorization %s in %v", id, list)
	return nil
}

// An admin's grant answers 201 with the grant, which the delegate holds at once; a refusal of
// the principal's proxies answers its code; the organization's list shows every grant with its
// status to who holds grant_proxies over the whole organization, those of their subtree's
// principals to a department's admin, and nothing to anyone else.
func TestOrgProxiesHTTP(t *testing.T) {
	o := newOrgProxyEnv(t, nil)
	o.runRelay()

	r := o.authorize(o.owner, o.amyID, o.benID, "messages", 24)
	if r.status != http.StatusCreated {
		t.Fatalf("authorize: %d %s", r.status, r.raw)
	}
	auth, grant := frame(r.body["authorization"].(map[string]any)), frame(r.body["grant"].(map[string]any))
	if auth.str("status") != "granted" || auth.str("kind") != "grant" || auth.str("authorized_by") != o.ownerID.String() ||
		grant.str("id") != auth.str("grant_id") || grant.str("org_id") != o.orgID.String() || grant.str("principal_id") != o.amyID.String() ||
		grant.str("delegate_id") != o.benID.String() || grant.str("scope") != "messages" || r.body["position"] == "" {
		t.Fatalf("authorize: %s", r.raw)
	}
	// In the read model when answered: ben holds it.
	if got := o.mustDo(http.StatusOK, "GET", "/api/v1/users/me/proxies", o.ben, nil); len(got.body["received"].([]any)) != 1 {
		t.Fatalf("ben's grants: %s", got.raw)
	}
	amyGrant := auth.str("id")

	// Only who holds grant_proxies over the principal.
	wantErr(t, "a member without grant_proxies", o.authorize(o.member, o.amyID, o.benID, "rooms", 24), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "dora outside Sales", o.authorize(o.dora, o.memberID, o.benID, "rooms", 24), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "a stranger as principal", o.authorize(o.owner, o.strangerID, o.benID, "rooms", 24), http.StatusForbidden, domain.CodeNotAMember)
	r = o.authorize(o.dora, o.amyID, o.memberID, "rooms", 24)
	if r.status != http.StatusCreated {
		t.Fatalf("dora for amy: %d %s", r.status, r.raw)
	}
	doraGrant := frame(r.body["authorization"].(map[string]any)).str("id")
	r = o.authorize(o.owner, o.memberID, o.benID, "rooms", 24)
	if r.status != http.StatusCreated {
		t.Fatalf("authorize for mark: %d %s", r.status, r.raw)
	}
	markAuth := frame(r.body["authorization"].(map[string]any))

	// A refusal of amy's proxies: her own grant to ben overlaps, and the read model has not
	// shown it yet (so the use case's own check lets the authorization through).
	o.feed.hold(true)
	o.mustDo(http.StatusCreated, "POST", "/api/v1/users/me/proxies", o.amy,
		map[string]any{"delegate_id": o.benID.String(), "scope": "rooms", "org_id": o.orgID.String(), "ends_at": hours(48)})
	wantErr(t, "an overlap refused by amy's proxies", o.authorize(o.owner, o.amyID, o.benID, "rooms", 24), http.StatusBadRequest, domain.CodeValidationFailed)
	o.feed.hold(false)
	// Now the read model shows amy's grant: refused before the organization decides.
	before := len(o.grants(o.owner, 0))
	wantErr(t, "an overlap found in the read model", o.authorize(o.owner, o.amyID, o.benID, "rooms", 24), http.StatusBadRequest, domain.CodeValidationFailed)

	// The list: newest first, by pages, each with its status.
	all := o.grants(o.owner, 0)
	if len(all) != 4 || len(all) != before {
		t.Fatalf("the owner's list: %d grants, %d before the checked overlap; want 4", len(all), before)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].str("authorized_at") < all[i].str("authorized_at") {
			t.Fatalf("not newest first: %v", all)
		}
	}
	if paged := o.grants(o.owner, 1); len(paged) != 4 || paged[0].str("id") != all[0].str("id") || paged[3].str("id") != all[3].str("id") {
		t.Fatalf("by pages of one: %v; all: %v", paged, all)
	}
	refused := all[0]
	if refused.str("status") != "refused" || refused.str("code") != domain.CodeValidationFailed || refused.str("message") == "" ||
		refused.str("principal_id") != o.amyID.String() {
		t.Fatalf("the refused grant: %v", refused)
	}
	for _, id := range []string{amyGrant, doraGrant, markAuth.str("id")} {
		if a := byID(t, all, id); a.str("status") != "granted" || a.str("kind") != "grant" || a.str("org_id") != o.orgID.String() {
			t.Fatalf("grant %s: %v", id, a)
		}
	}
	// Dora reads those of Sales' members (amy's), not mark's.
	mine := o.grants(o.dora, 0)
	if len(mine) != 3 {
		t.Fatalf("dora's list: %v", mine)
	}
	for _, a := range mine {
		if a.str("principal_id") != o.amyID.String() {
			t.Fatalf("dora reads a grant outside Sales: %v", a)
		}
	}
	wantErr(t, "a member without grant_proxies", o.do("GET", o.org+"/proxies", o.member, nil), http.StatusForbidden, domain.CodeForbidden)
	wantErr(t, "a stranger", o.do("GET", o.org+"/proxies", o.stranger, nil), http.StatusNotFound, domain.CodeOrgNotFound)
	wantErr(t, "a page too large", o.do("GET", o.org+"/proxies?limit=501", o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)
	wantErr(t, "a made-up cursor", o.do("GET", o.org+"/proxies?cursor=yesterday", o.owner, nil), http.StatusBadRequest, domain.CodeValidationFailed)

	// Revoked by the admin, and by its principal: told apart from a grant not made yet, with
	// who revoked it.
	r = o.mustDo(http.StatusOK, "DELETE", o.org+"/proxies/"+grant.str("id"), o.owner, nil)
	if a := frame(r.body["authorization"].(map[string]any)); a.str("status") != "revoked" || a.str("kind") != "revoke" {
		t.Fatalf("revoke: %s", r.raw)
	}
	got := o.mustDo(http.StatusOK, "GET", "/api/v1/users/me/proxies", o.ben, nil)
	if rec := got.body["received"].([]any); len(rec) != 2 || rec[0].(map[string]any)["id"] == grant.str("id") || rec[1].(map[string]any)["id"] == grant.str("id") {
		t.Fatalf("ben's grants after the revocation (amy's own and mark's remain): %s", got.raw)
	}
	o.mustDo(http.StatusOK, "DELETE", "/api/v1/users/me/proxies/"+markAuth.str("grant_id"), o.member, nil)
	all = o.grants(o.owner, 0)
	for id, by := range map[string]uuid.UUID{amyGrant: o.ownerID, markAuth.str("id"): o.memberID} {
		if a := byID(t, all, id); a.str("status") != "revoked" || a.str("revoked_by") != by.String() || a.str("revoked_at") == "" {
			t.Fatalf("revoked grant %s: %v, want revoked by %s", id, a, by)
		}
	}
	if a := byID(t, all, doraGrant); a.str("status") != "granted" {
		t.Fatalf("dora's grant: %v", a)
	}
	// The revocations are not grants: the list still holds four.
	if len(all) != 4 {
		t.Fatalf("after the revocations: %d grants", len(all))
	}
}

// With the manager's relay stopped, the organization accepts the grant and the answer, once
// the wait is over, is 202 with the authorization pending; it is made when the relay runs, and
// the list then shows it granted.
func TestOrgProxyPendingHTTP(t *testing.T) {
	o := newOrgProxyEnv(t, func(c *Config) { c.PositionWait = 300 * time.Millisecond })
	r := o.authorize(o.owner, o.amyID, o.benID, "messages", 24)
	auth := frame(r.body["authorization"].(map[string]any))
	if r.status != http.StatusAccepted || auth.str("status") != "pending" || r.body["grant"] != nil || auth.str("grant_id") == "" || r.body["position"] == "" {
		t.Fatalf("authorize without a relay: %d %s", r.status, r.raw)
	}
	if a := byID(t, o.grants(o.owner, 0), auth.str("id")); a.str("status") != "pending" {
		t.Fatalf("listed: %v", a)
	}
	if got := o.mustDo(http.StatusOK, "GET", "/api/v1/users/me/proxies", o.ben, nil); len(got.body["received"].([]any)) != 0 {
		t.Fatalf("ben holds a grant not made yet: %s", got.raw)
	}
	o.runRelay()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := byID(t, o.grants(o.owner, 0), auth.str("id"))
		if a.str("status") == "granted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not granted after the relay ran: %v", a)
		}
		time.Sleep(25 * time.Millisecond)
	}
	got := o.mustDo(http.StatusOK, "GET", "/api/v1/users/me/proxies", o.ben, nil)
	if rec := got.body["received"].([]any); len(rec) != 1 || rec[0].(map[string]any)["id"] != auth.str("grant_id") {
		t.Fatalf("ben's grants: %s", got.raw)
	}
}
