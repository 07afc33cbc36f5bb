package kafka

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedBroker is the in-process Kafka-protocol broker (kfake) that stands in for Kafka in
// development and tests. It is persisted under its data directory.
type EmbeddedBroker struct {
	cluster *kfake.Cluster
	addr    string
}

// EmbeddedOptions configures the embedded broker.
type EmbeddedOptions struct {
	Addr    string // host:port to listen on; port 0 picks a free one
	DataDir string
	// SyncWrites fsyncs every produce. Without it a crash of the process keeps every acknowledged
	// record (it is in the OS page cache), a power loss may not; with it produce throughput
	// drops to ~1.4-2.8k records/s on our development machines (README, Durability).
	SyncWrites bool
	// MinSessionTimeout lowers kfake's 6 s floor on group session timeouts so that a dead
	// consumer's partitions move quickly in tests.
	MinSessionTimeout time.Duration
}

// StartEmbedded starts the broker and returns once it listens.
func StartEmbedded(o EmbeddedOptions) (*EmbeddedBroker, error) {
	host, portStr, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", o.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker port %q: %w", portStr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			// kfake's listen hook has no context; the listener lives as long as the broker.
			return new(net.ListenConfig).Listen(context.Background(), network, net.JoinHostPort(host, portStr))
		}),
		kfake.DataDir(o.DataDir),
		kfake.ClusterID("chorus-embedded"),
	}
	if o.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if o.MinSessionTimeout > 0 {
		// Also as the broker setting, which is what DescribeConfigs reports (CheckCluster).
		opts = append(opts, kfake.GroupMinSessionTimeout(o.MinSessionTimeout),
			kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": strconv.FormatInt(o.MinSessionTimeout.Milliseconds(), 10)}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, fmt.Errorf("embedded broker has no listener")
	}
	return &EmbeddedBroker{cluster: c, addr: addrs[0]}, nil
}

// Addr is the broker's host:port.
func (b *EmbeddedBroker) Addr() string { return b.addr }

// Close stops the broker and writes its metadata to the data directory.
func (b *EmbeddedBroker) Close() { b.cluster.Close() }
