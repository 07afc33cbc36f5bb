// Command chorus-bench measures the all-in-one Chorus process at a fixed offered load and at its
// highest sustained rate, and a bare Kafka produce→consume round trip on the same broker, then
// prints the figures. It starts bin/chorus itself, on a fresh data directory and database.
// With --idle N it measures instead what N quiet sockets cost the server's memory (idle.go).
// With --peer it runs the same load generator (loadgen.go) against Chorus, then against
// Centrifugo with its memory and its Redis engine, and prints the ratios (peer.go). With
// --cluster it runs the load on a multi-process deployment and prints the CPU of each role
// (cluster.go, cluster_run.go).
// It is a benchmark, not a test: `make bench`, `make bench-peer` and `make bench-cluster` run it.
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
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/chorus-chat/chorus/cmd/internal/benchprof"
)

type options struct {
	Binary     string        `help:"The chorus binary." default:"bin/chorus"`
	Rooms      int           `help:"Rooms." default:"10"`
	Members    int           `help:"Connected members per room (each its own user and socket)." default:"10"`
	Rate       int           `help:"Offered load, messages per second over all clients." default:"1000"`
	Duration   time.Duration `help:"Length of the fixed-load phase." default:"20s"`
	Saturate   time.Duration `help:"Length of the highest-rate phase (0 skips it)." default:"10s"`
	InFlight   int           `help:"Outstanding sends per client in the highest-rate phase." default:"16"`
	Database   string        `help:"Postgres server URL (a fresh database is created on it)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Roundtrips int           `help:"Bare Kafka round trips to time." default:"2000"`
	Redis      string        `help:"Redis URL for the process (empty: its embedded Redis)." default:""`

	Peer            bool   `help:"Run the same load against Centrifugo (memory engine, then Redis engine) after Chorus and print the ratios (make bench-peer)."`
	Centrifugo      string `help:"The centrifugo binary (--peer; make bench-peer installs it)." default:"bin/peer/centrifugo"`
	CentrifugoRedis string `help:"Redis address for Centrifugo's Redis engine (--peer; empty skips that engine)." default:"127.0.0.1:6379"`

	Cluster      bool          `help:"Run the load on a multi-process deployment instead (make bench-cluster): a standalone broker, --processors command processors, one projectors process per projection group, --gateways gateways, the Redis at --cluster-redis; prints the CPU per role (cluster.go)."`
	ClusterRedis string        `help:"Redis URL of --cluster (keys under a prefix of the run's own, removed after)." default:"redis://127.0.0.1:6379"`
	Gateways     int           `help:"Gateway processes of --cluster; room r's sockets are on gateway r x gateways / rooms." default:"4"`
	PushShards   int           `help:"CHORUS_PUSH_SHARDS of --cluster: the push streams the pushes are routed over (1: one stream every gateway reads whole)." default:"16"`
	Processors   int           `help:"Command-processor processes of --cluster." default:"2"`
	IdleFor      time.Duration `help:"With --cluster, how long the gateways are read idle, without the sockets then with them." default:"10s"`
	SingleRoom   time.Duration `help:"With --cluster, the length of the single-room phase: one room whose members send as fast as --in-flight lets them (0 skips it)." default:"10s"`
	RoomMembers  int           `help:"Members of the single-room phase's room, spread over the gateways." default:"20"`

	Idle         int           `help:"Measure instead what an idle socket costs the server: open this many quiet authenticated sockets, without and with compression offered, each in a fresh process (idle.go; 0: the load benchmark)." default:"0"`
	IdleRoom     int           `help:"Members per room in --idle (every user is in one room)." default:"50"`
	IdleProfiles string        `help:"With --idle, save the server's heap profiles before and after, and its goroutines after, in this directory (compare with go tool pprof -base)." default:""`
	IdleWait     time.Duration `help:"How long the sockets stay quiet in --idle before the second reading (past one heartbeat)." default:"35s"`

	SelfProfile string `help:"Write the load generator's own CPU profile (the whole run) to this file: on the same cores as the server, its cost is part of what is measured." default:""`

	Against string `help:"Compare --binary (A) with this other build (B): they run in A B B A order, --rounds times, each on a fresh process and database, and every figure is printed per run, as each build's median and as the ratio B / A (compare.go)." default:""`
	Rounds  int    `help:"With --against, how many A B B A rounds (each is four runs)." default:"2"`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-bench"), kong.Description("Benchmark the all-in-one Chorus process."))
	// Interrupted, the benchmark still stops the server and drops its database (run's defers).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile, err := benchprof.StartCPU(o.SelfProfile)
	if err == nil {
		err = run(ctx, o)
		stopProfile()
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-bench:", err)
		os.Exit(1)
	}
}

func freePort(ctx context.Context) string {
	l, err := new(net.ListenConfig).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(ctx context.Context, o options) error {
	fmt.Printf("machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	if o.Peer {
		return runPeer(ctx, o)
	}
	if o.Idle > 0 {
		return runIdle(ctx, o)
	}
	if o.Cluster {
		return runCluster(ctx, o)
	}
	if o.Against != "" {
		return runCompare(ctx, o)
	}
	t, kafkaAddr, err := startChorus(ctx, o)
	if err != nil {
		return err
	}
	defer t.stop()
	measure(t, o)
	rt, err := kafkaRoundTrip(kafkaAddr, o.Roundtrips)
	if err != nil {
		return err
	}
	fmt.Printf("\nbare Kafka produce→consume round trip on the same broker (%d records, one at a time): p50 %s  p99 %s\n",
		o.Roundtrips, rt.pct(50), rt.pct(99))
	return nil
}

// target is a server under test, running, with its members connected.
type target struct {
	name    string
	members []member
	probe   *probe
	meters  []cpuMeter
	stop    func() // closes the members, stops the server, removes what it made
	// metrics is the server's /metrics URL when it has the path histograms (Chorus; stages.go).
	metrics string
}

// undo is what a start made, undone last first: when the start fails midway, or when its target
// stops.
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }

func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// measure runs the fixed-load phase, then (unless o.Saturate is 0) the saturation phase, and
// prints both.
func measure(t *target, o options) (fixed, sat result) {
	var before, after hists
	if t.metrics != "" {
		before = scrapeOrNote(t.metrics)
	}
	fixed = phase(t.members, t.probe, t.meters, o.Duration, o.Rate, 0)
	fixed.others = o.Members - 1
	if t.metrics != "" {
		after = scrapeOrNote(t.metrics)
	}
	fmt.Printf("\n%s, fixed load: offered %d msg/s for %s\n", t.name, o.Rate, o.Duration)
	fixed.print(t.meters)
	if before != nil && after != nil {
		printStages(before, after)
	}
	if o.Saturate > 0 {
		sat = phase(t.members, t.probe, t.meters, o.Saturate, 0, o.InFlight)
		sat.others = o.Members - 1
		fmt.Printf("\n%s, highest sustained rate: %d outstanding sends per socket for %s\n", t.name, o.InFlight, o.Saturate)
		sat.print(t.meters)
	}
	return fixed, sat
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown CPU"
}

func waitReady(ctx context.Context, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("chorus not ready after %s", d)
}

func dropDatabase(serverURL, name string) {
	_ = exec.CommandContext(context.Background(), "psql", serverURL, "-c", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)").Run()
}

// api calls the HTTP API and decodes the answer into out.
func api(ctx context.Context, method, url, token string, body any, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %v", method, url, resp.StatusCode, e)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
