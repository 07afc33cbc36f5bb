package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters, each with one replica, on local ports.
type Cluster struct {
	dir     string
	servers []*server
}

// StartCluster starts six cluster-enabled servers, creates the cluster (redis-cli --cluster
// create, one replica per master) and waits until every node sees all slots served.
func StartCluster() (_ *Cluster, err error) {
	dir, err := os.MkdirTemp("", "chorus-redis-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	ports, err := freePorts(12) // a client port and a cluster bus port each
	if err != nil {
		return nil, err
	}
	for i := range 6 {
		port, bus := ports[2*i], ports[2*i+1]
		nodeDir := fmt.Sprintf("%s/%d", dir, port)
		if err := os.Mkdir(nodeDir, 0o755); err != nil {
			return nil, err
		}
		s, err := startServer(nodeDir, port, append(baseArgs(port),
			"--cluster-enabled", "yes", "--cluster-config-file", nodeDir+"/nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "3000")...)
		if err != nil {
			return nil, err
		}
		c.servers = append(c.servers, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	out, err := exec.CommandContext(context.Background(), "redis-cli", append(args, "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.waitConsistent(30 * time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

// Addrs are the six nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.servers))
	for i, s := range c.servers {
		out[i] = s.addr
	}
	return out
}

// URL is the cluster's CHORUS_REDIS_URL, every node a seed.
func (c *Cluster) URL() string { return "redis+cluster://" + strings.Join(c.Addrs(), ",") }

// Client opens a cluster client; the caller closes it.
func (c *Cluster) Client() *goredis.ClusterClient {
	return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})
}

// waitConsistent waits until every node says cluster_state:ok with all slots served and six
// known nodes, and all agree on which node serves each slot and on its replica (so a client
// refreshing its map from any of them finds the same owners, and every master can fail over).
func (c *Cluster) waitConsistent(timeout time.Duration) error {
	return waitFor(timeout, func(ctx context.Context) error {
		var first string
		for _, s := range c.servers {
			cl := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: -1})
			info, err := cl.ClusterInfo(ctx).Result()
			var shards string
			if err == nil {
				shards, err = slotOwners(ctx, cl)
			}
			_ = cl.Close()
			if err != nil {
				return err
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:6"} {
				if !strings.Contains(info, want) {
					return fmt.Errorf("node %s: not %s yet", s.addr, want)
				}
			}
			if first == "" {
				first = shards
			} else if shards != first {
				return fmt.Errorf("node %s sees other slot owners", s.addr)
			}
		}
		return nil
	})
}

// shard is a master, its replica and the slots they serve, as one node sees them.
type shard struct {
	slots           []goredis.SlotRange
	master, replica string
}

// shards reads CLUSTER SHARDS from one node: every shard must have a master and one replica,
// both online.
func shards(ctx context.Context, cl goredis.Cmdable) ([]shard, error) {
	res, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return nil, err
	}
	var out []shard
	for _, r := range res {
		sh := shard{slots: r.Slots}
		for _, n := range r.Nodes {
			if n.Health != "online" {
				return nil, fmt.Errorf("node %s:%d is %s", n.IP, n.Port, n.Health)
			}
			addr := fmt.Sprintf("%s:%d", n.IP, n.Port)
			if n.Role == "master" {
				sh.master = addr
			} else {
				sh.replica = addr
			}
		}
		if len(sh.slots) > 0 && (sh.master == "" || sh.replica == "" || len(r.Nodes) != 2) {
			return nil, fmt.Errorf("a shard of %d nodes, want a master and its replica", len(r.Nodes))
		}
		if len(sh.slots) > 0 {
			out = append(out, sh)
		}
	}
	return out, nil
}

// slotOwners describes which master, and which replica of it, serves which slots, as a node
// sees it.
func slotOwners(ctx context.Context, cl *goredis.Client) (string, error) {
	all, err := shards(ctx, cl)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, sh := range all {
		lines = append(lines, fmt.Sprintf("%v:%s>%s", sh.slots, sh.master, sh.replica))
	}
	slices.Sort(lines) // each node lists the shards in an order of its own
	return strings.Join(lines, " "), nil
}

// Serving is the master serving key's slot and its replica.
func (c *Cluster) Serving(ctx context.Context, key string) (master, replica string, err error) {
	cl := c.Client()
	defer cl.Close()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return "", "", err
	}
	all, err := shards(ctx, cl)
	if err != nil {
		return "", "", err
	}
	for _, sh := range all {
		for _, r := range sh.slots {
			if r.Start <= slot && slot <= r.End {
				return sh.master, sh.replica, nil
			}
		}
	}
	return "", "", fmt.Errorf("no shard serves slot %d", slot)
}

// Failover has the replica of the master serving key take over (CLUSTER FAILOVER on the
// replica: the master stops taking writes, the replica catches up with it, then becomes master)
// and waits until every node agrees. It returns the old and the new master's addresses.
func (c *Cluster) Failover(ctx context.Context, key string) (from, to string, err error) {
	from, to, err = c.Serving(ctx, key)
	if err != nil {
		return "", "", err
	}
	replica := goredis.NewClient(&goredis.Options{Addr: to})
	defer replica.Close()
	// A manual failover waits for the replica to catch up with its master: it must be in sync.
	if err := waitFor(30*time.Second, func(ctx context.Context) error {
		info, err := replica.Info(ctx, "replication").Result()
		if err == nil && !strings.Contains(info, "master_link_status:up") {
			err = fmt.Errorf("replica %s not in sync with %s yet", to, from)
		}
		return err
	}); err != nil {
		return "", "", err
	}
	if err := replica.ClusterFailover(ctx).Err(); err != nil {
		return "", "", fmt.Errorf("CLUSTER FAILOVER on %s: %w", to, err)
	}
	if err := waitFor(30*time.Second, func(ctx context.Context) error {
		return hasRole(ctx, to, "master")
	}); err != nil {
		return "", "", err
	}
	return from, to, c.waitConsistent(30 * time.Second)
}

// Close kills every node and removes their directory.
func (c *Cluster) Close() {
	for _, s := range c.servers {
		s.kill()
	}
	_ = os.RemoveAll(c.dir)
}
