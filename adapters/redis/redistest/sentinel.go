package redistest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name the Sentinel of StartSentinel watches.
const SentinelMaster = "mymaster"

// Sentinel is a master, its replica and one Sentinel watching them (quorum 1), on local ports.
type Sentinel struct {
	dir      string
	servers  []*server // the two data servers, then the Sentinel
	sentinel string
}

// StartSentinel starts a master, a replica of it, and a Sentinel (redis-server --sentinel)
// monitoring the master, and waits until the Sentinel knows the replica (it can fail over).
func StartSentinel() (_ *Sentinel, err error) {
	dir, err := os.MkdirTemp("", "chorus-redis-sentinel-")
	if err != nil {
		return nil, err
	}
	s := &Sentinel{dir: dir}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	for i, port := range ports {
		d := fmt.Sprintf("%s/%d", dir, port)
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
		var args []string
		switch i {
		case 0:
			args = baseArgs(port)
		case 1:
			args = append(baseArgs(port), "--replicaof", "127.0.0.1", strconv.Itoa(ports[0]))
		case 2:
			// A Sentinel rewrites its configuration file: it needs one of its own.
			conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s 127.0.0.1 %d 1\n"+
				"sentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 10000\n",
				port, SentinelMaster, ports[0], SentinelMaster, SentinelMaster)
			if err := os.WriteFile(d+"/sentinel.conf", []byte(conf), 0o644); err != nil {
				return nil, err
			}
			args = []string{d + "/sentinel.conf", "--sentinel"}
		}
		srv, err := startServer(d, port, args...)
		if err != nil {
			return nil, err
		}
		s.servers = append(s.servers, srv)
	}
	s.sentinel = s.servers[2].addr
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: s.sentinel})
	defer sc.Close()
	return s, waitFor(30*time.Second, func(ctx context.Context) error {
		replicas, err := sc.Replicas(ctx, SentinelMaster).Result()
		if err != nil {
			return err
		}
		for _, r := range replicas {
			if r["flags"] == "slave" && r["master-link-status"] == "ok" {
				return nil
			}
		}
		return fmt.Errorf("the Sentinel knows no replica in sync yet")
	})
}

// URL is the deployment's CHORUS_REDIS_URL.
func (s *Sentinel) URL() string { return "redis+sentinel://" + s.sentinel + "/" + SentinelMaster }

// Master is the address the Sentinel gives for the master now.
func (s *Sentinel) Master(ctx context.Context) (string, error) {
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: s.sentinel})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, SentinelMaster).Result()
	if err != nil {
		return "", err
	}
	return addr[0] + ":" + addr[1], nil
}

// Failover has the Sentinel promote the replica (SENTINEL FAILOVER) and waits until it names
// the new master and that server says it is one. Then it makes the old master a replica of the
// new one, as the Sentinel itself does when it next looks at the old master (up to 10 s later):
// until then the old master still takes the writes of clients that have not switched, which the
// failover loses. It returns the new master's address.
func (s *Sentinel) Failover(ctx context.Context) (string, error) {
	old, err := s.Master(ctx)
	if err != nil {
		return "", err
	}
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: s.sentinel})
	defer sc.Close()
	if err := sc.Failover(ctx, SentinelMaster).Err(); err != nil {
		return "", fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	var now string
	err = waitFor(30*time.Second, func(ctx context.Context) error {
		if now, err = s.Master(ctx); err != nil {
			return err
		}
		if now == old {
			return fmt.Errorf("the Sentinel still names %s", old)
		}
		return hasRole(ctx, now, "master")
	})
	if err != nil {
		return "", err
	}
	host, port, _ := strings.Cut(now, ":")
	oldMaster := goredis.NewClient(&goredis.Options{Addr: old})
	defer oldMaster.Close()
	if err := oldMaster.ReplicaOf(ctx, host, port).Err(); err != nil {
		return "", fmt.Errorf("demote the old master %s: %w", old, err)
	}
	return now, nil
}

// hasRole checks the ROLE of the server at addr.
func hasRole(ctx context.Context, addr, want string) error {
	cl := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	role, err := cl.Do(ctx, "ROLE").Slice()
	if err != nil {
		return err
	}
	if len(role) == 0 || role[0] != want {
		return fmt.Errorf("%s is not a %s yet", addr, want)
	}
	return nil
}

// Close kills the servers and the Sentinel and removes their directory.
func (s *Sentinel) Close() {
	for _, srv := range s.servers {
		srv.kill()
	}
	_ = os.RemoveAll(s.dir)
}
