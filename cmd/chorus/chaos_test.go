package main_test

// The fault suite: the multi-process deployment (a standalone broker, two command processors, a
// projectors process, two gateways, a Redis server and the machine's Postgres behind a proxy of
// the test's own), clients writing all the time and retrying each post with its client_msg_id
// until it is acknowledged, and faults injected at random moments. A checker at the end: every
// acknowledged message is in history exactly once, the log read by an outside Kafka client holds
// the same messages in the same order, every projection verifies with 0 differences, and every
// process the test did not kill is still up and ready.
//
// `make test` runs one round of every fault; `make chaos` runs CHORUS_CHAOS_ROUNDS rounds with
// longer outages and writes the table to CHORUS_CHAOS_REPORT.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// ---------------------------------------------------------------------------------------------
// A TCP proxy the test controls. "Down" refuses new connections and cuts the open ones, which is
// what a client sees of a stopped server: the machine's Postgres itself stays up for the other
// tests that share it. "Stalled" forwards nothing either way and holds new connections, as a
// network partition does, until it heals and what waited goes through.

type tcpProxy struct {
	ln   net.Listener
	dial func() (net.Conn, error)

	mu      sync.Mutex
	flowing *sync.Cond // broadcast when stalled or down changes
	down    bool
	stalled bool
	conns   map[net.Conn]struct{}
}

// startProxy forwards a listener of its own on 127.0.0.1 to target.
func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, ln, func() (net.Conn, error) { return net.DialTimeout("tcp", target, 5*time.Second) })
}

func serveProxy(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) *tcpProxy {
	p := &tcpProxy{ln: ln, dial: dial, conns: map[net.Conn]struct{}{}}
	p.flowing = sync.NewCond(&p.mu)
	t.Cleanup(func() { _ = ln.Close(); p.setDown(true) })
	go p.accept()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

// waitFlowing blocks while the proxy is stalled; false: it is down.
func (p *tcpProxy) waitFlowing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled && !p.down {
		p.flowing.Wait()
	}
	return !p.down
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) serve(c net.Conn) {
	if !p.track(c) || !p.waitFlowing() {
		_ = c.Close()
		return
	}
	up, err := p.dial()
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && (!p.waitFlowing() || writeAll(dst, buf[:n]) != nil) {
				break
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

// setDown(true) cuts every connection and refuses new ones until setDown(false).
func (p *tcpProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
	p.flowing.Broadcast()
}

// setStalled(true) forwards nothing until setStalled(false).
func (p *tcpProxy) setStalled(stalled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = stalled
	p.flowing.Broadcast()
}

// ---------------------------------------------------------------------------------------------
// A disk that can be slowed down: a FUSE file system that passes everything through to a
// directory (go-fuse's loopback), and makes each write and fsync wait while delay is set.

type slowDisk struct {
	fuse.RawFileSystem
	delay  atomic.Int64 // nanoseconds
	slowed atomic.Int64 // writes and fsyncs that waited
}

func (d *slowDisk) wait() {
	if n := d.delay.Load(); n > 0 {
		d.slowed.Add(1)
		time.Sleep(time.Duration(n))
	}
}

func (d *slowDisk) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	d.wait()
	return d.RawFileSystem.Write(cancel, in, data)
}

// Writev is what go-fuse's server calls for a write (Write only when it is not implemented).
func (d *slowDisk) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	d.wait()
	return d.RawFileSystem.Writev(cancel, in, data)
}

func (d *slowDisk) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	d.wait()
	return d.RawFileSystem.Fsync(cancel, in)
}

// slowNode is a loopback node whose files are not handed to the kernel to read and write
// itself (FUSE passthrough, which go-fuse's loopback uses when it can): every write comes to
// slowDisk.
type slowNode struct{ *fusefs.LoopbackNode }

// WrapChild makes every node below the root a slowNode too (go-fuse calls it for each new inode).
func (n *slowNode) WrapChild(_ context.Context, ops fusefs.InodeEmbedder) fusefs.InodeEmbedder {
	if ln, ok := ops.(*fusefs.LoopbackNode); ok {
		return &slowNode{ln}
	}
	return ops
}

type noPassthrough struct{ *fusefs.LoopbackFile }

func (noPassthrough) PassthroughFd() (int, bool) { return 0, false }

func withoutPassthrough(fh fusefs.FileHandle) fusefs.FileHandle {
	if lf, ok := fh.(*fusefs.LoopbackFile); ok {
		return noPassthrough{lf}
	}
	return fh
}

func (n *slowNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	return withoutPassthrough(fh), fl, errno
}

func (n *slowNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	in, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	return in, withoutPassthrough(fh), fl, errno
}

func mountSlowDisk(t *testing.T, backing, at string) *slowDisk {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		t.Fatal(err)
	}
	root := &fusefs.LoopbackRoot{Path: backing, Dev: st.Dev}
	root.RootNode = &slowNode{&fusefs.LoopbackNode{RootData: root}}
	d := &slowDisk{RawFileSystem: fusefs.NewNodeFS(root.RootNode, &fusefs.Options{})}
	srv, err := fuse.NewServer(d, at, &fuse.MountOptions{DirectMount: true, FsName: "chorus-slow-disk", Name: "chorusslow"})
	if err != nil {
		t.Fatalf("the fault suite mounts a FUSE file system for the broker's data (it slows it down); it needs root and /dev/fuse: %v", err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			_ = exec.Command("umount", "-l", at).Run()
		}
	})
	return d
}

// ---------------------------------------------------------------------------------------------
// A network namespace: a process in it has a loopback of its own and reaches the rest only
// through the bridges the test runs (listeners opened inside it), so that the test can cut it
// off from the rest while its clients still reach it.

type netns struct {
	name string
	path string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	n := &netns{name: "chorus-chaos-" + randomHex(4)}
	n.path = "/var/run/netns/" + n.name
	for _, args := range [][]string{{"netns", "add", n.name}, {"netns", "exec", n.name, "ip", "link", "set", "lo", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("the fault suite puts a gateway in a network namespace of its own (ip %s; it needs root): %v %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	return n
}

// do runs fn on an OS thread that has entered the namespace; the thread is thrown away after.
func (n *netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends the thread with the goroutine
		f, err := os.Open(n.path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// bridgeIn makes addr inside the namespace reach addr outside it (the same host and port), so
// that a process inside finds the broker, Redis and Postgres where the others do.
func (n *netns) bridgeIn(t *testing.T, addr string) *tcpProxy {
	t.Helper()
	var ln net.Listener
	if err := n.do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, n.name, err)
	}
	return serveProxy(t, ln, func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) })
}

// bridgeOut makes a new address outside the namespace reach addr inside it.
func (n *netns) bridgeOut(t *testing.T, addr string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, ln, func() (c net.Conn, err error) {
		err = n.do(func() (err error) { c, err = net.DialTimeout("tcp", addr, 5*time.Second); return err })
		return c, err
	})
}

// ---------------------------------------------------------------------------------------------
// The deployment

// chaosCluster is a deployment under test: the multi-process one (startChaosCluster) or the
// all-in-one server (startChaosAllInOne), whose fields of the other kind stay nil.
type chaosCluster struct {
	h          *harness
	brokerAddr string
	broker     *proc     // the standalone broker
	brokerData string    // where the broker keeps its log: brokerDisk through disk
	brokerDisk string    // a tmpfs
	disk       *slowDisk // the FUSE file system between them
	redis      *proc
	gw         [2]*proc
	cmd        [2]*proc
	proj       *proc
	all        *proc // the all-in-one server
	pg         *tcpProxy
	partition  []*tcpProxy // what connects the second gateway to the rest
	admin      string      // the admin's username
	redisBin   string
	token      string // a signed-in user's, for queries during faults
	dbURL      string // the database, not through pg: for the checker
}

// services are the processes that answer /readyz.
func (c *chaosCluster) services() []*proc {
	if c.all != nil {
		return []*proc{c.all}
	}
	return []*proc{c.gw[0], c.gw[1], c.cmd[0], c.cmd[1], c.proj}
}

// everything is every process of the deployment.
func (c *chaosCluster) everything() []*proc {
	if c.all != nil {
		return []*proc{c.all}
	}
	return append(c.services(), c.broker, c.redis)
}

// bases are the gateways' URLs.
func (c *chaosCluster) bases() []string {
	if c.all != nil {
		return []string{"http://" + c.all.httpAddr}
	}
	return []string{"http://" + c.gw[0].httpAddr, "http://" + c.gw[1].httpAddr}
}

func startChaosCluster(t *testing.T) *chaosCluster {
	t.Helper()
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("the fault suite runs a Redis server of its own (redis-server, Debian package redis-server; .ci/run installs it): %v", err)
	}
	dbURL, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &chaosCluster{h: newHarness(t), redisBin: redisBin, dbURL: dbURL.String()}
	h := c.h
	c.pg = startProxy(t, dbURL.Host)
	dbURL.Host = c.pg.addr()

	redisAddr := freeAddr(t)
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	c.redis = h.startProgram("redis", redisBin, nil, "--bind", "127.0.0.1", "--port", redisPort, "--save", "", "--appendonly", "no")
	h.waitListening(c.redis, redisAddr)

	// The broker's data directory is a disk of its own, which the test can fill up and slow down:
	// a tmpfs (filled up), seen through a FUSE file system of the test's (slowed down).
	c.brokerDisk = filepath.Join(h.dir, "broker-disk")
	c.brokerData = filepath.Join(h.dir, "broker-data")
	for _, d := range []string{c.brokerDisk, c.brokerData} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", c.brokerDisk).CombinedOutput(); err != nil {
		t.Fatalf("the fault suite mounts a tmpfs for the broker's data (it fills it up); it needs root: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", c.brokerDisk).Run() }) // lazy: the broker may still run
	c.disk = mountSlowDisk(t, c.brokerDisk, c.brokerData)

	brokerAddr := freeAddr(t)
	c.brokerAddr = brokerAddr
	c.broker = h.start("broker", map[string]string{
		"CHORUS_DATA_DIR":                   c.brokerData,
		"CHORUS_HTTP_ADDR":                  freeAddr(t),
		"CHORUS_PARTITIONS":                 fmt.Sprint(clusterPartitions),
		"CHORUS_BROKER_MIN_SESSION_TIMEOUT": "500ms",
	}, "broker", "--addr", brokerAddr)
	h.waitListening(c.broker, brokerAddr)

	c.admin = "chaosadmin_" + randomHex(3)
	vars := func(id string) map[string]string {
		return chaosPresenceVars(map[string]string{
			"CHORUS_HTTP_ADDR":             freeAddr(t),
			"CHORUS_KAFKA_BROKERS":         brokerAddr,
			"CHORUS_REDIS_URL":             "redis://" + redisAddr,
			"CHORUS_DATABASE_URL":          dbURL.String(),
			"CHORUS_DATA_DIR":              filepath.Join(h.dir, id+"-data"),
			"CHORUS_PARTITIONS":            fmt.Sprint(clusterPartitions),
			"CHORUS_KAFKA_SESSION_TIMEOUT": "2s",
			"CHORUS_KAFKA_HEARTBEAT":       "300ms",
			"CHORUS_BCRYPT_COST":           "4",
			"CHORUS_COMMAND_TIMEOUT":       "2s",
			"CHORUS_INSTANCE_ID":           id + "-" + randomHex(3),
			"CHORUS_ADMIN_USERS":           c.admin,
			// Routed pushes, as a multi-process deployment runs them; the all-in-one server
			// below keeps the single stream, so each fault meets both.
			"CHORUS_PUSH_SHARDS": "8",
		})
	}
	c.gw[0] = h.start("gateway1", vars("gateway1"), "--roles", "gateway")
	// The second gateway runs in a network namespace of its own: it reaches the broker, Redis and
	// Postgres, and its clients reach it, through bridges the test can stall (a partition).
	ns := newNetns(t)
	for _, addr := range []string{brokerAddr, redisAddr, c.pg.addr()} {
		c.partition = append(c.partition, ns.bridgeIn(t, addr))
	}
	gw2 := vars("gateway2")
	c.gw[1] = h.startProgram("gateway2", "ip", gw2, "netns", "exec", ns.name, chorusBin, "--roles", "gateway")
	c.gw[1].httpAddr = ns.bridgeOut(t, gw2["CHORUS_HTTP_ADDR"]).addr()
	c.cmd[0] = h.start("commands1", vars("commands1"), "--roles", "commands")
	c.cmd[1] = h.start("commands2", vars("commands2"), "--roles", "commands")
	c.proj = h.start("projectors", vars("projectors"), "--roles", "projectors")
	for _, p := range c.services() {
		h.waitReady(p)
	}
	deadline := time.Now().Add(readyTimeout)
	for len(c.cmd[0].partitionsTaken(0)) == 0 || len(c.cmd[1].partitionsTaken(0)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the two command processors did not both take over partitions")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, base := range c.bases() {
		warmUpGateway(t, base)
	}
	return c
}

// startChaosAllInOne runs `chorus` with every role, its embedded broker and Redis, as `make run`
// does, with Postgres behind a proxy.
func startChaosAllInOne(t *testing.T) *chaosCluster {
	t.Helper()
	dbURL, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &chaosCluster{h: newHarness(t), admin: "chaosadmin_" + randomHex(3), dbURL: dbURL.String()}
	c.pg = startProxy(t, dbURL.Host)
	dbURL.Host = c.pg.addr()
	c.brokerAddr = freeAddr(t)
	c.all = c.h.start("chorus", chaosPresenceVars(map[string]string{
		"CHORUS_HTTP_ADDR":             freeAddr(t),
		"CHORUS_DATABASE_URL":          dbURL.String(),
		"CHORUS_DATA_DIR":              filepath.Join(c.h.dir, "data"),
		"CHORUS_EMBEDDED_KAFKA_ADDR":   c.brokerAddr,
		"CHORUS_PARTITIONS":            fmt.Sprint(clusterPartitions),
		"CHORUS_BCRYPT_COST":           "4",
		"CHORUS_COMMAND_TIMEOUT":       "2s",
		"CHORUS_ADMIN_USERS":           c.admin,
		"CHORUS_KAFKA_SESSION_TIMEOUT": "2s",
		"CHORUS_KAFKA_HEARTBEAT":       "300ms",
	}))
	c.h.waitReady(c.all)
	warmUpGateway(t, c.bases()[0])
	return c
}

// ready reports whether every service answers /readyz 200.
func (c *chaosCluster) ready() bool {
	hc := &http.Client{Timeout: time.Second}
	for _, p := range c.services() {
		resp, err := hc.Get("http://" + p.httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------------------------
// The workload

// chaosOp is one message a client wanted posted.
type chaosOp struct {
	phase    int
	room     string
	cmid     string
	content  string
	acked    bool
	ans      messageAnswer
	attempts int
	err      error
}

// postUntilAcked posts the message with its client_msg_id until it is acknowledged or deadline,
// moving to the other gateway after a failure, as a client whose gateway went away would.
func postUntilAcked(bases []string, first int, token string, op *chaosOp, deadline time.Time) {
	body := map[string]any{"content": op.content, "client_msg_id": op.cmid}
	gw := first
	for {
		op.attempts++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := doJSON(ctx, bases[gw], token, "POST", "/api/v1/rooms/"+op.room+"/messages", body)
		cancel()
		switch {
		case err == nil && res.Status/100 == 2:
			if jerr := json.Unmarshal(res.Body, &op.ans); jerr != nil || op.ans.Message.ID == "" {
				op.err = fmt.Errorf("undecodable answer %v", res)
				return
			}
			op.acked = true
			return
		case err == nil && res.Status != http.StatusGatewayTimeout && res.Status != http.StatusServiceUnavailable &&
			res.Status != http.StatusBadGateway && res.Status != http.StatusTooManyRequests:
			op.err = fmt.Errorf("refused: %v", res) // a client would not retry this
			return
		}
		if err != nil {
			op.err = err
		} else {
			op.err = fmt.Errorf("%v", res)
		}
		if time.Now().After(deadline) {
			return
		}
		gw = (gw + 1) % len(bases)
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------------
// Faults

type chaosFault struct {
	name string
	// inject breaks something and repairs it; it returns when the repair is done (the process
	// restarted, the outage over).
	inject func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool)
}

func outage(r *rand.Rand, long bool) time.Duration {
	if long {
		return 10*time.Second + time.Duration(r.IntN(20))*time.Second // 10-30 s, as the issue asks
	}
	return 6 * time.Second
}

func killAndRestart(t *testing.T, p *proc, down time.Duration) {
	t.Helper()
	p.kill9()
	time.Sleep(down)
	if err := p.run(); err != nil {
		t.Fatalf("restart %s: %v", p.name, err)
	}
}

var chaosFaults = []chaosFault{
	{"kill -9 broker", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.broker, time.Duration(1000+r.IntN(2000))*time.Millisecond)
	}},
	{"kill -9 command processor", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.cmd[r.IntN(2)], time.Second)
	}},
	{"kill -9 projectors", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.proj, time.Second)
	}},
	{"kill -9 gateway", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.gw[r.IntN(2)], time.Second)
	}},
	{"Postgres down", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		c.pg.setDown(true)
		defer c.pg.setDown(false)
		d := outage(r, long)
		time.Sleep(d / 2)
		// Queries fail fast and say why; commands go on (Kafka is the store: the writers show it).
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		res, err := doJSON(ctx, c.bases()[0], c.token, "GET", "/api/v1/rooms", nil)
		cancel()
		if err != nil || res.Status != http.StatusServiceUnavailable || res.errCode() != "unavailable" || time.Since(start) > 5*time.Second {
			t.Errorf("a query while Postgres is down: %v %v after %v, want 503 unavailable within 5 s", res, err, time.Since(start))
		}
		time.Sleep(d - d/2)
	}},
	{"Redis restarted", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.redis, 500*time.Millisecond)
	}},
	{"broker's disk full", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		fill := filepath.Join(c.brokerDisk, "fill")
		f, err := os.Create(fill)
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for {
			if _, err := f.Write(chunk); err != nil {
				break // ENOSPC: the disk is full
			}
		}
		_ = f.Close()
		time.Sleep(3 * time.Second)
		if err := os.Remove(fill); err != nil {
			t.Fatal(err)
		}
	}},
	{"gateway cut off from the rest", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		for _, b := range c.partition {
			b.setStalled(true)
		}
		cut := time.Now()
		d := outage(r, long)
		time.Sleep(3 * time.Second)
		// Its clients are told in bounded time that it cannot serve them now.
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := doJSON(ctx, c.bases()[1], c.token, "POST", "/api/v1/rooms/"+uuid.NewString()+"/messages",
			map[string]any{"content": "cut off", "client_msg_id": "cut-" + randomHex(4)})
		cancel()
		if took := time.Since(start); err != nil || (res.Status != http.StatusServiceUnavailable && res.Status != http.StatusGatewayTimeout) || took > 10*time.Second {
			t.Errorf("a post to the gateway cut off: %v %v after %v, want 503 unavailable or 504 timeout within 10 s", res, err, took)
		}
		// A query (its database unreachable too) is answered unavailable, not held.
		start = time.Now()
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		res, err = doJSON(ctx, c.bases()[1], c.token, "GET", "/api/v1/rooms?limit=1", nil)
		cancel()
		if took := time.Since(start); err != nil || res.Status != http.StatusServiceUnavailable || took > 15*time.Second {
			t.Errorf("a query to the gateway cut off: %v %v after %v, want 503 unavailable within 15 s", res, err, took)
		}
		time.Sleep(time.Until(cut.Add(d))) // nothing when the calls took longer
		for _, b := range c.partition {
			b.setStalled(false)
		}
	}},
	{"broker's disk slow", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		before := c.disk.slowed.Load()
		c.disk.delay.Store(int64(40 * time.Millisecond)) // every write and fsync of the broker
		time.Sleep(outage(r, long))
		c.disk.delay.Store(0)
		n := c.disk.slowed.Load() - before
		if n == 0 {
			t.Error("the broker wrote nothing to its disk while it was slow: is its data on the slow disk?")
		}
		t.Logf("chaos: %d writes and fsyncs of the broker waited 40 ms each", n)
	}},
	{"command processor frozen", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		p := c.cmd[r.IntN(2)]
		cmd, _ := p.current()
		_ = cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(6 * time.Second) // three session timeouts: its partitions move
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}},
}

type chaosRow struct {
	fault                     string
	attempted, acked, unacked int
	lost, duplicated          int
	org                       orgTally
	recovery                  time.Duration
}

// TestChaos is the fault suite on the multi-process deployment (see the top of the file).
func TestChaos(t *testing.T) {
	skipShort(t)
	faults := selectFaults(t, chaosFaults)
	runChaos(t, startChaosCluster(t), faults)
}

// TestChaosAllInOne: the all-in-one server (`make run`) killed with SIGKILL under the same
// writers and started again, several times.
func TestChaosAllInOne(t *testing.T) {
	skipShort(t)
	faults := selectFaults(t, allInOneFaults)
	runChaos(t, startChaosAllInOne(t), faults)
}

// allInOneFaults are TestChaosAllInOne's faults.
var allInOneFaults = []chaosFault{
	{"kill -9 all-in-one", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.all, 500*time.Millisecond)
	}},
	{"kill -9 all-in-one", func(t *testing.T, c *chaosCluster, r *rand.Rand, long bool) {
		killAndRestart(t, c.all, 500*time.Millisecond)
	}},
	{"Postgres down", chaosFaults[slices.IndexFunc(chaosFaults, func(f chaosFault) bool { return f.name == "Postgres down" })].inject},
}

// selectFaults keeps the faults whose name has CHORUS_CHAOS_FAULTS (all without it), before
// anything starts. A filter that names none of this test's faults but some of the other
// test's skips this test, saying so (`make chaos CHAOS_FAULTS=broker` runs the deployment's
// broker faults, and the all-in-one server has none); one that names no fault at all fails.
func selectFaults(t *testing.T, faults []chaosFault) []chaosFault {
	only := os.Getenv("CHORUS_CHAOS_FAULTS")
	if only == "" {
		return faults
	}
	named := func(f chaosFault) bool { return strings.Contains(f.name, only) }
	kept := slices.DeleteFunc(slices.Clone(faults), func(f chaosFault) bool { return !named(f) })
	switch {
	case len(kept) > 0:
		return kept
	case slices.ContainsFunc(chaosFaults, named) || slices.ContainsFunc(allInOneFaults, named):
		t.Skipf("CHORUS_CHAOS_FAULTS=%q names none of this test's faults (the other chaos test has them)", only)
	default:
		t.Fatalf("CHORUS_CHAOS_FAULTS=%q names no fault of either chaos test", only)
	}
	return nil
}

func runChaos(t *testing.T, c *chaosCluster, faults []chaosFault) {
	if keep := os.Getenv("CHORUS_CHAOS_KEEP"); keep != "" {
		// For a post-mortem: the processes' data and logs of a failed run, copied after they stopped.
		t.Cleanup(func() {
			if t.Failed() {
				c.h.stopAll()
				out, err := exec.Command("cp", "-a", c.h.dir, keep).CombinedOutput()
				t.Logf("kept %s in %s: %v %s", c.h.dir, keep, err, out)
			}
		})
	}
	rounds := 1
	if v := os.Getenv("CHORUS_CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHORUS_CHAOS_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	long := rounds > 1
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHORUS_CHAOS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("chaos: %d round(s), seed %d (CHORUS_CHAOS_SEED reproduces the order and moments)", rounds, seed)
	r := rand.New(rand.NewPCG(seed, seed))

	bases := c.bases()
	admin := newAccount(t, bases[0], c.admin)
	c.token = admin.token

	// Rooms on every partition, every writer a member of each.
	const writers = 8
	accs := make([]account, writers)
	for i := range accs {
		accs[i] = newAccount(t, bases[i%len(bases)], fmt.Sprintf("chaos%d_%s", i, randomHex(3)))
	}
	var rooms []string
	seen := map[int32]bool{}
	for n := 0; len(rooms) < clusterPartitions; n++ {
		room, pos := accs[0].createRoom(t, fmt.Sprintf("chaos-%s-%d", randomHex(3), n))
		if p := kafka.PartitionFor(room.ID, clusterPartitions); !seen[p] {
			seen[p] = true
			rooms = append(rooms, room.ID)
			accs[0].waitPosition(t, room.ID, pos)
		}
	}
	for _, a := range accs[1:] {
		for _, room := range rooms {
			a.waitPosition(t, room, a.join(t, room))
		}
	}
	orgs := newChaosOrgs(t, bases)

	var (
		mu      sync.Mutex
		ops     []*chaosOp
		phase   atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		opLimit = 90 * time.Second // how long a client keeps retrying one post
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				op := &chaosOp{phase: int(phase.Load()), room: rooms[(i+n)%len(rooms)], cmid: fmt.Sprintf("w%d-%d", i, n)}
				op.content = "chaos " + op.cmid
				mu.Lock()
				ops = append(ops, op)
				mu.Unlock()
				postUntilAcked(bases, i%len(bases), accs[i].token, op, time.Now().Add(opLimit))
			}
		}()
	}
	// The organization writers, and some writers' sockets (chaos_org_test.go).
	for w := range orgWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			orgs.run(w, &phase, stop, opLimit)
		}()
	}
	presence := startChaosPresence(accs[1:1+steadySockets+flappingSockets], bases, stop)

	// The faults (selectFaults), each once a round, in a random order, at random moments.
	var schedule []chaosFault
	for range rounds {
		round := slices.Clone(faults)
		r.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		schedule = append(schedule, round...)
	}
	recoveries := make([]time.Duration, len(schedule))
	probe := accs[0]
	// A user per fault who is online when it strikes and closes their socket right after.
	leavers := make([]account, len(schedule))
	for i := range leavers {
		leavers[i] = newAccount(t, bases[i%len(bases)], fmt.Sprintf("leaver%d_%s", i, randomHex(3)))
	}
	for i, f := range schedule {
		phase.Store(int64(i))
		leaver, lerr := openLeaver(leavers[i], bases[i%len(bases)])
		if lerr != nil {
			t.Logf("chaos: the leaver's socket before %s: %v", f.name, lerr)
		}
		time.Sleep(time.Duration(500+r.IntN(2500)) * time.Millisecond)
		t.Logf("chaos: %s", f.name)
		began := time.Now()
		f.inject(t, c, r, long)
		if leaver != nil {
			leaver.closeConn()
			// The all-in-one server's Redis is in its process; killed, it forgets the socket's
			// entry with it: the server started again reconciles the session, at the leaver's
			// last activity before the kill (docs/operations.md).
			if f.name == "kill -9 all-in-one" {
				leaver.killedAt = began
			}
			presence.addLeaver(leaver)
		}
		// Recovered: every service ready, and a new post acknowledged in every room (so on
		// every partition), counted from the fault's start.
		for !c.ready() {
			if time.Since(began) > 90*time.Second {
				t.Fatalf("after %s: not every process is ready", f.name)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for j, room := range rooms {
			pop := &chaosOp{room: room, cmid: fmt.Sprintf("probe-%d-%d", i, j), content: fmt.Sprintf("probe %d %d", i, j)}
			postUntilAcked(bases, j%len(bases), probe.token, pop, time.Now().Add(60*time.Second))
			if !pop.acked {
				t.Fatalf("after %s: a post to room %s was not acknowledged within 60 s: %v", f.name, room, pop.err)
			}
			mu.Lock()
			ops = append(ops, pop)
			mu.Unlock()
		}
		recoveries[i] = time.Since(began)
		time.Sleep(time.Second)
	}
	close(stop)
	stopped := time.Now()
	wg.Wait()
	t.Logf("the writers stopped within %v", time.Since(stopped).Round(time.Millisecond))

	// Every process the test did not kill on purpose is still the run it was.
	for _, p := range c.everything() {
		if p.exited() {
			t.Errorf("%s exited by itself (%v)", p.name, p.exitState())
		}
	}

	// The checker. History as the read model has it, up to a position past every acknowledged post.
	positions := map[string]string{}
	for _, room := range rooms {
		fin := &chaosOp{room: room, cmid: "final-" + room, content: "final " + room}
		postUntilAcked(bases, 0, probe.token, fin, time.Now().Add(60*time.Second))
		if !fin.acked {
			t.Fatalf("final post to %s: %v", room, fin.err)
		}
		positions[room] = fin.ans.Position
		ops = append(ops, fin)
	}
	// The read model may still be catching up (after an outage of Postgres it works through the
	// backlog): wait for it, bounded, then read.
	caughtUp := time.Now()
	for _, room := range rooms {
		q := "/api/v1/rooms/" + room + "/messages?limit=1&position=" + url.QueryEscape(positions[room])
		for {
			res, err := doJSON(context.Background(), bases[0], probe.token, "GET", q, nil)
			if err == nil && res.Status == http.StatusOK {
				break
			}
			if time.Since(caughtUp) > 90*time.Second {
				t.Fatalf("the read model did not reach %s within 90 s of the last fault: %v %v", positions[room], res, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("the read model caught up %v after the last fault", time.Since(caughtUp).Round(time.Millisecond))
	history := map[string][]apiMessage{}
	for _, room := range rooms {
		history[room] = probe.fullHistory(t, room, positions[room])
	}
	// The same rooms as an outside Kafka client reads the log (read_committed, as kcat would).
	logged := readMessagesFromLog(t, c.brokerAddr, rooms, history)

	rows := make([]chaosRow, len(schedule))
	orgRows, _, _ := orgs.tally(len(schedule))
	for i, f := range schedule {
		rows[i] = chaosRow{fault: f.name, recovery: recoveries[i], org: orgRows[i]}
	}
	count := map[string]int{} // content -> times in history
	byContent := map[string]apiMessage{}
	for _, room := range rooms {
		for _, m := range history[room] {
			count[m.Content]++
			byContent[m.Content] = m
		}
		if !slices.Equal(logged[room], ids(history[room])) {
			t.Errorf("room %s: the log read by an outside client holds %d messages, history %d, or in another order", room, len(logged[room]), len(history[room]))
		}
		for j, m := range history[room] {
			if m.Seq != int64(j+1) {
				t.Errorf("room %s: seq %d at place %d of the history: a gap or a repeat", room, m.Seq, j+1)
				break
			}
		}
	}
	var total chaosRow
	total.fault = "total"
	for _, op := range ops {
		if strings.HasPrefix(op.cmid, "probe-") || strings.HasPrefix(op.cmid, "final-") {
			continue
		}
		row := &rows[op.phase]
		row.attempted++
		if !op.acked {
			row.unacked++
		} else {
			row.acked++
			m, ok := byContent[op.content]
			switch {
			case !ok:
				row.lost++
				t.Errorf("lost: %s acknowledged as %s seq %d in room %s, not in history", op.cmid, op.ans.Message.ID, op.ans.Message.Seq, op.room)
			case m.ID != op.ans.Message.ID || m.Seq != op.ans.Message.Seq:
				row.lost++
				t.Errorf("%s was acknowledged as %s seq %d, history has %s seq %d", op.cmid, op.ans.Message.ID, op.ans.Message.Seq, m.ID, m.Seq)
			}
		}
		if count[op.content] > 1 {
			row.duplicated++
			t.Errorf("duplicated: %s is %d times in history", op.cmid, count[op.content])
		}
	}
	for _, row := range rows {
		total.attempted += row.attempted
		total.acked += row.acked
		total.unacked += row.unacked
		total.lost += row.lost
		total.duplicated += row.duplicated
		total.org.attempted += row.org.attempted
		total.org.acked += row.org.acked
		total.org.unacked += row.org.unacked
		total.recovery = max(total.recovery, row.recovery)
	}

	// What the organization writers were told is in the directory, the department rooms, the
	// grants; the sockets' sessions open while they are, and end after.
	checking := time.Now()
	orgs.check(t, c.brokerAddr)
	t.Logf("the organization checks took %v", time.Since(checking).Round(time.Millisecond))
	checking = time.Now()
	presence.check(t, c.dbURL)
	t.Logf("the presence checks took %v", time.Since(checking).Round(time.Millisecond))

	// Every projection is what a rebuild from the log makes.
	for _, name := range []string{"readmodel", "search", "notifications", "directory", "orgrooms", "onlinetime"} {
		runVerify(t, admin, name)
	}

	table := chaosTable(append(rows, total))
	t.Logf("chaos results (unacked: the client gave up after %v of retries; not a loss):\n%s", opLimit, table)
	if path := os.Getenv("CHORUS_CHAOS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = fmt.Fprintf(f, "%s (%d round(s), seed %d):\n\n%s\n", t.Name(), rounds, seed, table)
			_ = f.Close()
		}
		if err != nil {
			t.Errorf("write %s: %v", path, err)
		}
	}
	if total.acked == 0 {
		t.Fatal("no post was acknowledged at all")
	}
}

func ids(ms []apiMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func chaosTable(rows []chaosRow) string {
	var b strings.Builder
	b.WriteString("| fault | posts attempted | acknowledged | given up by the client | lost | duplicated | org commands attempted | acknowledged | given up | serving again (from the fault's start) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %.1f s |\n", r.fault, r.attempted, r.acked, r.unacked, r.lost, r.duplicated,
			r.org.attempted, r.org.acked, r.org.unacked, r.recovery.Seconds())
	}
	return b.String()
}

// readMessagesFromLog reads chat-events with franz-go (read_committed) and returns, per room, the
// ids of its MessageSent events in log order; it reads until it holds as many as history does
// (or more), or 30 s have passed.
func readMessagesFromLog(t *testing.T, brokerAddr string, rooms []string, history map[string][]apiMessage) map[string][]string {
	t.Helper()
	kc, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(kafka.DefaultTopics().ChatEvents), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	want := map[string]bool{}
	for _, r := range rooms {
		want[r] = true
	}
	out := map[string][]string{}
	complete := func() bool {
		for _, r := range rooms {
			if len(out[r]) < len(history[r]) {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !complete() && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := kc.PollFetches(ctx)
		cancel()
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				t.Logf("kgo fetch: %v", fe.Err)
			}
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var e struct {
				Type string `json:"type"`
				Data struct {
					RoomID  string `json:"room_id"`
					Message struct {
						ID string `json:"id"`
					} `json:"message"`
				} `json:"data"`
			}
			if json.Unmarshal(rec.Value, &e) == nil && e.Type == "MessageSent" && want[e.Data.RoomID] {
				out[e.Data.RoomID] = append(out[e.Data.RoomID], e.Data.Message.ID)
			}
		})
	}
	return out
}
