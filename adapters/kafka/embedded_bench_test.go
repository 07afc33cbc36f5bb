package kafka

import (
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// BenchmarkEmbeddedBrokerProduce times one produce at a time, acknowledged, to the embedded
// broker over TCP: Sarama's side and the broker's, both in this process, as in the all-in-one
// server. At 1,000 messages/s the server sends the broker ~6,700 requests a second
// (docs/benchmarks.md), so what one costs bounds it. ns/op is the round trip; the CPU it
// takes, both sides, is cpu-ns/op.
func BenchmarkEmbeddedBrokerProduce(b *testing.B) {
	broker, err := StartEmbedded(EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	cfg := Config{Brokers: []string{broker.Addr()}, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}.Sarama()
	admin, err := sarama.NewClusterAdmin([]string{broker.Addr()}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := admin.CreateTopic("bench", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		b.Fatal(err)
	}
	_ = admin.Close()
	prod, err := sarama.NewSyncProducer([]string{broker.Addr()}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	msg := func() *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: "bench", Key: sarama.StringEncoder("k"), Value: sarama.ByteEncoder(`{"type":"message_sent"}`)}
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		if _, _, err := prod.SendMessage(msg()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user and system) this process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
