package main_test

// The end-to-end harness: it builds the chorus binary once (TestMain) and runs it as separate OS
// processes, each with its own environment, its own HTTP port and its own log file.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
	"github.com/chorus-chat/chorus/adapters/redis"
	"github.com/chorus-chat/chorus/adapters/redis/redistest"
)

// chorusBin is the binary under test, built without -race by TestMain: the processes it runs
// are driven from outside, so a race build would only slow them down.
var chorusBin string

const (
	readyTimeout = 30 * time.Second // a process must answer /readyz 200 within this
	stopGrace    = 10 * time.Second // SIGTERM drains and stops within this (README: SIGTERM drains and stops)
	redisURL     = "redis://127.0.0.1:6379"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the e2e tests skip themselves
	}
	dir, err := os.MkdirTemp("", "chorus-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(1)
	}
	chorusBin = filepath.Join(dir, "chorus")
	build := exec.Command("go", "build", "-o", chorusBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/chorus:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	redistest.StopShared()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
}

// ---------------------------------------------------------------------------------------------
// Processes

// proc is one running (or finished) chorus process.
type proc struct {
	name     string
	bin      string // the program; chorusBin when empty
	httpAddr string // the process's CHORUS_HTTP_ADDR ("" for the broker)
	logPath  string
	env      []string
	args     []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed when the current run exited
	state   *os.ProcessState
	runs    int
}

// harness owns the processes of one test: it stops them all at the end (SIGTERM, then SIGKILL
// after stopGrace) and prints the tail of every log when the test failed.
type harness struct {
	t     *testing.T
	dir   string
	mu    sync.Mutex
	procs []*proc
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir()}
	t.Cleanup(func() {
		h.stopAll()
		if t.Failed() {
			h.dumpLogs()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range h.procs {
			p.mu.Lock()
			if p.logFile != nil {
				_ = p.logFile.Close()
			}
			p.mu.Unlock()
		}
	})
	return h
}

// baseEnv is this process's environment without any CHORUS_* variable, so that a developer's
// own configuration cannot leak into the processes under test.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHORUS_") {
			out = append(out, kv)
		}
	}
	return out
}

// start runs the binary with args and the given CHORUS_* variables.
func (h *harness) start(name string, vars map[string]string, args ...string) *proc {
	h.t.Helper()
	return h.startProgram(name, "", vars, args...)
}

// startProgram runs another program than chorus (bin) under the harness, as start does.
func (h *harness) startProgram(name, bin string, vars map[string]string, args ...string) *proc {
	h.t.Helper()
	env := baseEnv()
	// Tests script their users far faster than people type: the HTTP request limits and the
	// per-user budgets are off unless a test sets them (TestE2EHTTPRateLimits,
	// TestE2EUserBudgetIsSharedAcrossGateways do).
	for _, k := range []string{"CHORUS_HTTP_RATE", "CHORUS_AUTH_RATE", "CHORUS_USER_COMMAND_RATE", "CHORUS_USER_ROOM_CREATE_RATE"} {
		if _, ok := vars[k]; !ok {
			env = append(env, k+"=-1")
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	p := &proc{
		name: name, bin: bin, httpAddr: vars["CHORUS_HTTP_ADDR"], env: env, args: args,
		logPath: filepath.Join(h.dir, name+".log"),
	}
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	if err := p.run(); err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	return p
}

// run starts (or restarts) the process; its stderr and stdout are appended to its log file.
func (p *proc) run() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logFile == nil {
		f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		p.logFile = f
	}
	p.runs++
	fmt.Fprintf(p.logFile, "=== e2e: start #%d of %s %v at %s ===\n", p.runs, p.name, p.args, time.Now().Format(time.RFC3339Nano))
	bin := chorusBin
	if p.bin != "" {
		bin = p.bin
	}
	cmd := exec.Command(bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.logFile, p.logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	p.cmd, p.done, p.state = cmd, done, nil
	go func() {
		_ = cmd.Wait()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func (p *proc) exited() bool {
	_, done := p.current()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// exitState is the state of the finished current run (nil while it runs).
func (p *proc) exitState() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// signalAndWait sends sig and waits up to grace for the process to exit, then SIGKILLs it.
// It reports how long the exit took after sig and whether it came before the SIGKILL.
func (p *proc) signalAndWait(sig syscall.Signal, grace time.Duration) (took time.Duration, inTime bool) {
	cmd, done := p.current()
	select {
	case <-done:
		return 0, true
	default:
	}
	start := time.Now()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return time.Since(start), true
	case <-time.After(grace):
	}
	_ = cmd.Process.Kill()
	<-done
	return time.Since(start), false
}

// kill9 kills the process at once (SIGKILL), as a crash would.
func (p *proc) kill9() {
	cmd, done := p.current()
	_ = cmd.Process.Kill()
	<-done
}

func (h *harness) stopAll() {
	h.mu.Lock()
	procs := append([]*proc(nil), h.procs...)
	h.mu.Unlock()
	var wg sync.WaitGroup
	// The broker last: the others may want to talk to it while they drain.
	var broker []*proc
	for _, p := range procs {
		if len(p.args) > 0 && p.args[0] == "broker" {
			broker = append(broker, p)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if took, ok := p.signalAndWait(syscall.SIGTERM, stopGrace); !ok {
				h.t.Logf("e2e: %s did not stop within %v of SIGTERM; killed", p.name, took)
			}
		}()
	}
	wg.Wait()
	for _, p := range broker {
		p.signalAndWait(syscall.SIGTERM, stopGrace)
	}
}

// ---------------------------------------------------------------------------------------------
// Logs

func (p *proc) logBytes() []byte {
	b, _ := os.ReadFile(p.logPath)
	return b
}

// tail is the last n lines of the process's log, each cut to a sane length.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(string(p.logBytes()), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

func (h *harness) dumpLogs() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		h.t.Logf("---- tail of %s log (%s) ----\n%s\n---- end of %s ----", p.name, p.logPath, p.tail(60), p.name)
	}
}

// logRecords decodes the JSON log lines of the process from byte offset from on.
func (p *proc) logRecords(from int) []map[string]any {
	b := p.logBytes()
	if from > len(b) {
		from = len(b)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b[from:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// partitionsTaken lists the partitions a command processor logged taking over from log offset
// from on ("took over partition", see adapters/kafka).
func (p *proc) partitionsTaken(from int) map[int]bool {
	out := map[int]bool{}
	for _, r := range p.logRecords(from) {
		if r["msg"] == "took over partition" {
			if f, ok := r["partition"].(float64); ok {
				out[int(f)] = true
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Readiness

var (
	portsMu   sync.Mutex
	portsUsed = map[string]bool{}
)

// freeAddr is a 127.0.0.1 address with a port nobody listens on, never the same twice.
func freeAddr(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		if !portsUsed[addr] {
			portsUsed[addr] = true
			return addr
		}
	}
	t.Fatal("free port: no unused port found")
	return ""
}

// waitReady waits until the process answers /readyz with 200.
func (h *harness) waitReady(p *proc) {
	h.t.Helper()
	hc := &http.Client{Timeout: 3 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		if p.exited() {
			h.t.Fatalf("%s exited before it was ready (%v); log tail:\n%s", p.name, p.exitState(), p.tail(40))
		}
		resp, err := hc.Get("http://" + p.httpAddr + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("%s not ready within %v (last /readyz: %s); log tail:\n%s", p.name, readyTimeout, last, p.tail(40))
}

// waitListening waits until something accepts TCP connections on addr (the broker has no HTTP).
func (h *harness) waitListening(p *proc, addr string) {
	h.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			h.t.Fatalf("%s exited before it listened (%v); log tail:\n%s", p.name, p.exitState(), p.tail(40))
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("%s not listening on %s within %v; log tail:\n%s", p.name, addr, readyTimeout, p.tail(40))
}

// ---------------------------------------------------------------------------------------------
// The distributed cluster: one broker, two gateways, two command processors, one projectors
// process, all sharing the broker, the local Redis (under a prefix of their own) and a fresh
// database.

type cluster struct {
	h        *harness
	prefix   string // CHORUS_REDIS_PREFIX of every process
	redisURL string // CHORUS_REDIS_URL of every process
	dbURL    string // CHORUS_DATABASE_URL of every process
	broker   *proc
	gw       [2]*proc
	cmd      [2]*proc
	proj     *proc
}

const clusterPartitions = 4

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// cleanRedisPrefix deletes every key under prefix in the Redis of url when t ends (the push
// stream mostly).
func cleanRedisPrefix(t *testing.T, url, prefix string) {
	t.Cleanup(func() {
		if err := forgetRedis(url, prefix); err != nil {
			t.Logf("redis cleanup: %v", err)
		}
	})
}

// forgetRedis drops every key under prefix in the Redis of url, as a Redis restarted without
// persistence has lost them (the Redis is shared with other tests: not FLUSHALL).
func forgetRedis(url, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := redis.Dial(ctx, url, prefix)
	if err != nil {
		return err
	}
	return redistest.Forget(ctx, conn)
}

// startCluster starts the cluster on the local Redis; gatewayVars are extra variables for the
// two gateways.
func startCluster(t *testing.T, gatewayVars map[string]string) *cluster {
	t.Helper()
	return startClusterOn(t, redisURL, nil, gatewayVars)
}

// startClusterOn starts the cluster on the Redis of rURL (a CHORUS_REDIS_URL); allVars are extra
// variables for every process.
func startClusterOn(t *testing.T, rURL string, allVars, gatewayVars map[string]string) *cluster {
	t.Helper()
	dbURL := pgtest.URL(t) // dropped at cleanup, after the processes are stopped
	prefix := "chorus-e2e-" + randomHex(6)
	cleanRedisPrefix(t, rURL, prefix)
	h := newHarness(t)
	c := &cluster{h: h, prefix: prefix, redisURL: rURL, dbURL: dbURL}

	brokerAddr := freeAddr(t)
	c.broker = h.start("broker", map[string]string{
		"CHORUS_DATA_DIR":                   filepath.Join(h.dir, "broker-data"),
		"CHORUS_HTTP_ADDR":                  freeAddr(t),
		"CHORUS_PARTITIONS":                 fmt.Sprint(clusterPartitions),
		"CHORUS_BROKER_MIN_SESSION_TIMEOUT": "500ms",
	}, "broker", "--addr", brokerAddr)
	h.waitListening(c.broker, brokerAddr)

	vars := func(id string) map[string]string {
		v := map[string]string{
			"CHORUS_HTTP_ADDR":             freeAddr(t),
			"CHORUS_KAFKA_BROKERS":         brokerAddr,
			"CHORUS_REDIS_URL":             rURL,
			"CHORUS_REDIS_PREFIX":          prefix,
			"CHORUS_DATABASE_URL":          dbURL,
			"CHORUS_DATA_DIR":              filepath.Join(h.dir, id+"-data"),
			"CHORUS_PARTITIONS":            fmt.Sprint(clusterPartitions),
			"CHORUS_KAFKA_SESSION_TIMEOUT": "2s",
			"CHORUS_KAFKA_HEARTBEAT":       "300ms",
			"CHORUS_BCRYPT_COST":           "4",
			"CHORUS_INSTANCE_ID":           id + "-" + randomHex(3),
		}
		maps.Copy(v, allVars)
		return v
	}
	gwVars := func(id string) map[string]string {
		v := vars(id)
		maps.Copy(v, gatewayVars)
		return v
	}
	c.gw[0] = h.start("gateway1", gwVars("gateway1"), "--roles", "gateway")
	c.gw[1] = h.start("gateway2", gwVars("gateway2"), "--roles", "gateway")
	c.cmd[0] = h.start("commands1", vars("commands1"), "--roles", "commands")
	c.cmd[1] = h.start("commands2", vars("commands2"), "--roles", "commands")
	c.proj = h.start("projectors", vars("projectors"), "--roles", "projectors")
	for _, p := range []*proc{c.gw[0], c.gw[1], c.cmd[0], c.cmd[1], c.proj} {
		h.waitReady(p)
	}
	// Every scenario starts after the command group has settled with both members: a rebalance
	// in the middle of one would hold its commands past their timeout.
	c.waitBothProcessorsOwnPartitions()
	return c
}

// gwURL is the base URL of gateway i.
func (c *cluster) gwURL(i int) string { return "http://" + c.gw[i].httpAddr }

// waitBothProcessorsOwnPartitions waits until each command processor has taken over at least one
// partition, i.e. the group has settled with both members: the crash test needs the processor it
// kills to own partitions, and the other tests should not run into the rebalance.
func (c *cluster) waitBothProcessorsOwnPartitions() {
	t := c.h.t
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if len(c.cmd[0].partitionsTaken(0)) > 0 && len(c.cmd[1].partitionsTaken(0)) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the two command processors did not both take over partitions within %v (logged: %v and %v)",
		readyTimeout, c.cmd[0].partitionsTaken(0), c.cmd[1].partitionsTaken(0))
}

// warmUp waits until commands flow end to end through both gateways: the first commands after a
// start wait for the command group to form, and a register that timed out cannot be retried
// safely (the user may exist by then), so the scenarios start only once a throwaway register has
// succeeded on each gateway.
func (c *cluster) warmUp() {
	c.h.t.Helper()
	for i := range c.gw {
		warmUpGateway(c.h.t, c.gwURL(i))
	}
}
