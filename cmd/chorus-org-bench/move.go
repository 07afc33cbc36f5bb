package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// benchMove starts the all-in-one server (as chorus-bench does: its own data directory and
// database, rate limits off, cheap password hashing), builds an organization where one
// department D of o.Moved members sits under S under A, beside B with T under it, gives A, S, B
// and T department rooms, then moves D between S and T, timing how long move_department takes
// to be accepted and how long the four rooms' member lists (the read model, as GET
// /rooms/{id}/members answers them) take to equal the members of their new subtrees.
func benchMove(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "chorus-org-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	httpAddr, kafkaAddr := freePort(ctx), freePort(ctx)
	dbName := "chorus_org_bench_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	dbURL := strings.Replace(o.Database, "/postgres?", "/"+dbName+"?", 1)
	if dbURL == o.Database {
		return fmt.Errorf("database url %q: want postgres://…/postgres?…", o.Database)
	}
	logf, err := os.Create(filepath.Join(dir, "chorus.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	srv := exec.CommandContext(context.WithoutCancel(ctx), o.Binary)
	srv.Env = append(os.Environ(),
		"CHORUS_HTTP_ADDR="+httpAddr, "CHORUS_DATA_DIR="+dir, "CHORUS_DATABASE_URL="+dbURL,
		"CHORUS_EMBEDDED_KAFKA_ADDR="+kafkaAddr, "CHORUS_BCRYPT_COST=4", "CHORUS_LOG_LEVEL=warn",
		"CHORUS_AUTH_RATE=-1", "CHORUS_HTTP_RATE=-1", "CHORUS_USER_COMMAND_RATE=-1", "CHORUS_KAFKA_BROKERS=",
		"CHORUS_REDIS_URL=", "CHORUS_REDIS_PREFIX=bench-"+dbName,
	)
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return fmt.Errorf("start %s: %w", o.Binary, err)
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
		_ = exec.CommandContext(context.Background(), "psql", o.Database, "-c", "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)").Run()
	}()
	c := &apiClient{base: "http://" + httpAddr + "/api/v1", http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if err := waitReady(ctx, "http://"+httpAddr, 60*time.Second); err != nil {
		return err
	}
	start := time.Now()
	w, err := buildMoveWorld(ctx, c, o)
	if err != nil {
		return err
	}
	fmt.Printf("move: all-in-one server (embedded broker and Redis, local Postgres); %d users registered, added to the organization and to D, and the rooms of A and S following, in %s\n",
		o.Moved, time.Since(start).Round(time.Second))
	var accepts, follows []time.Duration
	for r := range o.Rounds {
		from, to := "S", "T"
		if r%2 == 1 {
			from, to = "T", "S"
		}
		t := time.Now()
		if err := c.do(ctx, "POST", "/orgs/"+w.org+"/departments/"+w.depts["D"]+"/move", w.owner, map[string]any{"parent_id": w.depts[to]}, nil); err != nil {
			return err
		}
		accept := time.Since(t)
		follow, err := w.waitRooms(ctx, c, to, t, o.Follow)
		if err != nil {
			return fmt.Errorf("round %d (D from %s to %s): %w", r+1, from, to, err)
		}
		fmt.Printf("  round %d: D (%d members) from %s to %s: accepted in %s; the rooms of A, S, B and T followed in %s\n",
			r+1, o.Moved, from, to, ms(accept), ms(follow))
		accepts, follows = append(accepts, accept), append(follows, follow)
	}
	fmt.Printf("RESULT org_move members=%d accept=%s rooms_follow=%s (median/max of %d rounds; bounds 1s and 10s)\n",
		o.Moved, medMax(accepts), medMax(follows), o.Rounds)
	return nil
}

// moveWorld is the organization benchMove moves D in.
type moveWorld struct {
	owner    string // the owner's token
	observer string // the token of a member of every room, who lists them
	org      string
	depts    map[string]string // A, S, D, B, T → id
	rooms    map[string]string // A, S, B, T → room id
	baseline map[string][]string
	users    []string
}

func buildMoveWorld(ctx context.Context, c *apiClient, o options) (*moveWorld, error) {
	w := &moveWorld{depts: map[string]string{}, rooms: map[string]string{}, baseline: map[string][]string{}}
	var err error
	if _, w.owner, err = c.register(ctx, "orgbench_owner", true); err != nil {
		return nil, err
	}
	var org struct {
		Organization struct{ ID string } `json:"organization"`
	}
	if err := c.do(ctx, "POST", "/orgs", w.owner, map[string]any{"name": "Move Corp", "slug": "move-corp"}, &org); err != nil {
		return nil, err
	}
	w.org = org.Organization.ID
	for _, d := range [][2]string{{"A", ""}, {"S", "A"}, {"D", "S"}, {"B", ""}, {"T", "B"}} {
		body := map[string]any{"name": "Department " + d[0]}
		if d[1] != "" {
			body["parent_id"] = w.depts[d[1]]
		}
		var dept struct {
			Department struct{ ID string } `json:"department"`
		}
		if err := c.do(ctx, "POST", "/orgs/"+w.org+"/departments", w.owner, body, &dept); err != nil {
			return nil, err
		}
		w.depts[d[0]] = dept.Department.ID
	}
	for _, d := range []string{"A", "S", "B", "T"} {
		var room struct {
			DepartmentRoom struct {
				RoomID string `json:"room_id"`
			} `json:"department_room"`
			Position string `json:"position"`
		}
		if err := c.do(ctx, "POST", "/orgs/"+w.org+"/departments/"+w.depts[d]+"/room", w.owner, map[string]any{"name": "room of " + d}, &room); err != nil {
			return nil, err
		}
		w.rooms[d] = room.DepartmentRoom.RoomID
	}
	// The rooms are private and the server owns them, so their member lists are read as a
	// member of them all who never moves: an observer in S and T (and so in the rooms of A and
	// B too).
	var observerID string
	if observerID, w.observer, err = c.register(ctx, "orgbench_observer", true); err != nil {
		return nil, err
	}
	if err := c.do(ctx, "POST", "/orgs/"+w.org+"/members", w.owner, map[string]any{"user_id": observerID}, nil); err != nil {
		return nil, err
	}
	for _, d := range []string{"S", "T"} {
		if err := c.do(ctx, "PUT", "/orgs/"+w.org+"/departments/"+w.depts[d]+"/members/"+observerID, w.owner, nil, nil); err != nil {
			return nil, err
		}
	}
	for d := range w.rooms {
		w.baseline[d] = []string{observerID}
	}
	w.users = make([]string, o.Moved)
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range o.Workers {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < o.Moved; i = int(next.Add(1) - 1) {
				id, _, err := c.register(gctx, fmt.Sprint("orgbench_user", i), false)
				if err != nil {
					return err
				}
				if err := c.do(gctx, "POST", "/orgs/"+w.org+"/members", w.owner, map[string]any{"user_id": id}, nil); err != nil {
					return err
				}
				if err := c.do(gctx, "PUT", "/orgs/"+w.org+"/departments/"+w.depts["D"]+"/members/"+id, w.owner, nil, nil); err != nil {
					return err
				}
				w.users[i] = id
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if _, err := w.waitRooms(ctx, c, "S", time.Now(), 10*time.Minute); err != nil {
		return nil, fmt.Errorf("the rooms never took D's members in: %w", err)
	}
	return w, nil
}

// waitRooms polls the four rooms' member lists until each is its baseline plus D's members
// when D is under it (D under parent), and answers how long after since that took.
func (w *moveWorld) waitRooms(ctx context.Context, c *apiClient, parent string, since time.Time, limit time.Duration) (time.Duration, error) {
	under := map[string]map[string]bool{"S": {"A": true, "S": true}, "T": {"B": true, "T": true}}[parent]
	want := map[string][]string{}
	for d, base := range w.baseline {
		m := slices.Clone(base)
		if under[d] {
			m = append(m, w.users...)
		}
		slices.Sort(m)
		want[d] = slices.Compact(m)
	}
	done := map[string]bool{}
	for {
		for d, room := range w.rooms {
			if done[d] {
				continue
			}
			got, err := c.roomMembers(ctx, w.observer, room)
			if err != nil && time.Since(since) > limit {
				return 0, err
			}
			slices.Sort(got)
			done[d] = slices.Equal(got, want[d])
		}
		took := time.Since(since)
		all := true
		for d := range w.rooms {
			all = all && done[d]
		}
		if all {
			return took, nil
		}
		if took > limit {
			return took, fmt.Errorf("after %s the rooms' member lists still differ from the subtrees (done: %v)", took.Round(time.Second), done)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiClient calls the HTTP API.
type apiClient struct {
	base string
	http *http.Client
}

// do calls path and decodes the answer into out (nil: discard it).
func (c *apiClient) do(ctx context.Context, method, path, token string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, e)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// register registers name and answers its id, and a token when login.
func (c *apiClient) register(ctx context.Context, name string, login bool) (string, string, error) {
	var reg struct {
		User struct{ ID string } `json:"user"`
	}
	creds := map[string]string{"username": name, "password": "benchmark-pw"}
	if err := c.do(ctx, "POST", "/auth/register", "", creds, &reg); err != nil || !login {
		return reg.User.ID, "", err
	}
	var l struct {
		Token string `json:"token"`
	}
	err := c.do(ctx, "POST", "/auth/login", "", creds, &l)
	return reg.User.ID, l.Token, err
}

// roomMembers lists the ids of a room's members as the read model has them.
func (c *apiClient) roomMembers(ctx context.Context, token, room string) ([]string, error) {
	var r struct {
		Members []struct {
			User struct{ ID string } `json:"user"`
		} `json:"members"`
	}
	if err := c.do(ctx, "GET", "/rooms/"+room+"/members", token, nil, &r); err != nil {
		return nil, err
	}
	ids := make([]string, len(r.Members))
	for i, m := range r.Members {
		ids[i] = m.User.ID
	}
	return ids, nil
}

func freePort(ctx context.Context) string {
	l, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(ctx context.Context, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("chorus not ready after %s", d)
}
