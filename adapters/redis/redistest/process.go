// Package redistest starts real Redis deployments for tests from the machine's redis-server: a
// cluster of three masters with a replica each, and a master with a replica watched by a
// Sentinel. They run from temporary directories, keep nothing on disk and are killed by Close.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrNoRedisServer is the error of Start* when the machine has no redis-server: the tests that
// need one skip with it (CI installs it: .ci/run).
var ErrNoRedisServer = errors.New("redis-server (and redis-cli) not found on PATH")

// server is one redis-server process.
type server struct {
	addr string
	cmd  *exec.Cmd
}

// freePorts finds n local TCP ports free now. Another process could take one before the server
// binds it; the server would then fail to start, which startServer reports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startServer runs redis-server with args (the port first) in dir, and waits until it answers
// PING. Its output goes to dir/redis.log.
func startServer(dir string, port int, args ...string) (*server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNoRedisServer
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, ErrNoRedisServer
	}
	logf, err := os.Create(dir + "/redis.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(context.Background(), "redis-server", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	if err := waitFor(10*time.Second, func(ctx context.Context) error {
		cl := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: -1})
		defer cl.Close()
		return cl.Ping(ctx).Err()
	}); err != nil {
		s.kill()
		log, _ := os.ReadFile(dir + "/redis.log")
		return nil, fmt.Errorf("redis-server on %s: %w\n%s", s.addr, err, log)
	}
	return s, nil
}

// kill stops the server at once and reaps it.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// waitFor calls check until it succeeds or timeout passes; it returns check's last error.
func waitFor(timeout time.Duration, check func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// baseArgs are every test server's: local only, nothing on disk.
func baseArgs(port int) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
}
