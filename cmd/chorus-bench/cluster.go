package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The multi-process deployment of --cluster (make bench-cluster): a standalone broker, command
// processors, one projectors process per projection group and gateways, each its own process
// so that each role's CPU is read on its own, against the machine's Redis (keys under a prefix
// of the run's own, removed after) and a fresh database.

// projectorGroups are the projections of each projectors process: the four on a message's
// path each alone, the organization ones together (a chat message does not reach them).
var projectorGroups = [][]string{{"push"}, {"readmodel"}, {"search"}, {"notifications"}, {"directory", "orgrooms", "orgproxies", "onlinetime"}}

// clusterProc is one process of the deployment.
type clusterProc struct {
	name string // "gateway 2", "commands 1", "projector push", "broker"
	role string // what the role table adds it to: "gateway", "commands", "projector push", "broker"
	pid  int
	base string // http://host:port: /readyz, /metrics, /debug/pprof (none for the broker)
}

// cluster is the running deployment.
type cluster struct {
	procs    []clusterProc
	gateways []clusterProc
	dbName   string
	rdb      *redis.Client
	stop     func()
}

// startCluster starts the deployment and waits until every process is ready.
func startCluster(ctx context.Context, o options) (c *cluster, err error) {
	if o.Gateways < 1 || o.Processors < 1 {
		return nil, fmt.Errorf("--gateways and --processors must be at least 1")
	}
	opts, err := redis.ParseURL(o.ClusterRedis)
	if err != nil {
		return nil, fmt.Errorf("--cluster-redis: %w", err)
	}
	dir, err := os.MkdirTemp("", "chorus-bench-cluster-")
	if err != nil {
		return nil, err
	}
	c = &cluster{rdb: redis.NewClient(opts)}
	dbName, dbURL := newDatabaseName(o)
	c.dbName = dbName
	prefix := "bench-" + dbName
	// Undone last: once every process has stopped writing.
	cleanup := undo{func() {
		n := dropKeys(c.rdb, prefix) + dropKeys(c.rdb, "rate:"+prefix)
		fmt.Printf("  (removed %d Redis keys under %s)\n", n, prefix)
		_ = c.rdb.Close()
		dropDatabase(o.Database, dbName)
		os.RemoveAll(dir)
	}}
	defer func() {
		if err != nil {
			cleanup.run()
		}
	}()

	brokerAddr := freePort(ctx)
	broker, brokerLog, err := launch(ctx, o, dir, "broker",
		[]string{"CHORUS_DATA_DIR=" + filepath.Join(dir, "broker"), "CHORUS_HTTP_ADDR=" + freePort(ctx)},
		"broker", "--addr", brokerAddr)
	if err != nil {
		return nil, err
	}
	cleanup.add(func() { interrupt(broker) })
	if err := waitListening(ctx, brokerAddr, 30*time.Second); err != nil {
		return nil, fmt.Errorf("broker (log %s): %w", brokerLog, err)
	}
	c.procs = append(c.procs, clusterProc{name: "broker", role: "broker", pid: broker.Process.Pid})

	// The others stop together (SIGINT to each, then each waited for), before the broker.
	var cmds []*exec.Cmd
	cleanup.add(func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Signal(os.Interrupt)
		}
		for _, cmd := range cmds {
			_ = cmd.Wait()
		}
	})
	type pending struct {
		proc clusterProc
		log  string
	}
	var started []pending
	start := func(name, role, roles string, env ...string) error {
		addr := freePort(ctx)
		id := strings.ReplaceAll(name, " ", "-")
		env = append(env, "CHORUS_HTTP_ADDR="+addr, "CHORUS_KAFKA_BROKERS="+brokerAddr, "CHORUS_REDIS_URL="+o.ClusterRedis,
			"CHORUS_REDIS_PREFIX="+prefix, "CHORUS_DATABASE_URL="+dbURL, "CHORUS_DATA_DIR="+filepath.Join(dir, id),
			"CHORUS_INSTANCE_ID="+id, fmt.Sprintf("CHORUS_PUSH_SHARDS=%d", o.PushShards))
		cmd, logPath, err := launch(ctx, o, dir, id, env, "--roles", roles)
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
		started = append(started, pending{clusterProc{name: name, role: role, pid: cmd.Process.Pid, base: "http://" + addr}, logPath})
		return nil
	}
	ready := func() error {
		for _, p := range started {
			if err := waitReadyOrLog(ctx, p.proc.base, p.log); err != nil {
				return err
			}
			c.procs = append(c.procs, p.proc)
			if p.proc.role == "gateway" {
				c.gateways = append(c.gateways, p.proc)
			}
		}
		started = nil
		return nil
	}
	// The first process creates and migrates the database alone; the others then find it.
	for i, g := range projectorGroups {
		name := "projector " + strings.Join(g, "+")
		if err := start(name, name, "projectors", "CHORUS_PROJECTIONS="+strings.Join(g, ",")); err != nil {
			return nil, err
		}
		if i == 0 {
			if err := ready(); err != nil {
				return nil, err
			}
		}
	}
	for i := 1; i <= o.Processors; i++ {
		if err := start(fmt.Sprintf("commands %d", i), "commands", "commands"); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= o.Gateways; i++ {
		if err := start(fmt.Sprintf("gateway %d", i), "gateway", "gateway"); err != nil {
			return nil, err
		}
	}
	if err := ready(); err != nil {
		return nil, err
	}
	fmt.Printf("cluster: broker %s, %d command processors, %d projectors processes, %d gateways (%s), Redis %s (prefix %s, %d push shards), database %s; logs in %s\n",
		brokerAddr, o.Processors, len(projectorGroups), o.Gateways, strings.Join(c.bases(), " "), o.ClusterRedis, prefix, o.PushShards, dbName, dir)
	c.stop = cleanup.run
	return c, nil
}

// bases are the gateways' base URLs.
func (c *cluster) bases() []string {
	out := make([]string, len(c.gateways))
	for i, g := range c.gateways {
		out[i] = g.base
	}
	return out
}

// meters are one per process, then the database's Postgres backends, then redis-server.
func (c *cluster) meters() []cpuMeter {
	var ms []cpuMeter
	for _, p := range c.procs {
		ms = append(ms, processMeter(p.name, p.pid))
	}
	return append(ms, postgresBackendsMeter(c.dbName), redisMeter(c.rdb))
}

// connect registers rooms × members users and opens their sockets, member m of room r on the
// gateway place(r, m).
func (c *cluster) connect(ctx context.Context, rooms, members int, place func(r, m int) int) ([]member, *probe, error) {
	pr := &probe{resumes: true}
	clients, err := setup(ctx, c.bases(), place, rooms, members, pr)
	out := make([]member, len(clients))
	for i, cl := range clients {
		out[i] = cl
	}
	return out, pr, err
}
