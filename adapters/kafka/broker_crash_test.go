package kafka_test

// A crash of the embedded broker (kill -9 of its process) while a transaction is open must leave a
// log that every read_committed reader reads the same way: our own ReadCommitted (the command
// processor's recovery, rebuilds, replay), Sarama's consumer (the projectors) and an outside Kafka
// client (franz-go's kgo, which reads as kcat does). Before the broker wrote an ABORT marker for
// such a transaction at recovery, Sarama and kgo skipped every later committed transaction of the
// same transactional id.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chorus-chat/chorus/adapters/kafka"
)

// The test binary doubles as a broker process: with these variables set, TestMain runs the
// embedded broker instead of the tests, until it is killed.
const (
	brokerDirEnv  = "CHORUS_TEST_BROKER_PROCESS_DIR"
	brokerAddrEnv = "CHORUS_TEST_BROKER_PROCESS_ADDR"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(brokerDirEnv); dir != "" {
		os.Exit(runBrokerProcess(dir, os.Getenv(brokerAddrEnv)))
	}
	os.Exit(m.Run())
}

func runBrokerProcess(dir, addr string) int {
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: addr, DataDir: dir, MinSessionTimeout: 200 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker process:", err)
		return 1
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	b.Close()
	return 0
}

// brokerProcess is the embedded broker in a process of its own, so that it can be killed.
type brokerProcess struct {
	t    *testing.T
	dir  string
	addr string
	cmd  *exec.Cmd
}

func startBrokerProcess(t *testing.T) *brokerProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	bp := &brokerProcess{t: t, dir: t.TempDir(), addr: addr}
	bp.start()
	t.Cleanup(bp.kill9)
	return bp
}

func (bp *brokerProcess) start() {
	bp.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerDirEnv+"="+bp.dir, brokerAddrEnv+"="+bp.addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		bp.t.Fatalf("start broker process: %v", err)
	}
	bp.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", bp.addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			bp.t.Fatalf("broker process does not listen on %s: %v", bp.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (bp *brokerProcess) kill9() {
	if bp.cmd == nil {
		return
	}
	_ = bp.cmd.Process.Kill()
	_ = bp.cmd.Wait()
	bp.cmd = nil
}

func txnProducer(t *testing.T, addr, txid string) sarama.SyncProducer {
	t.Helper()
	sc := kafka.Config{SessionTimeout: 10 * time.Second, Heartbeat: time.Second}.Sarama()
	sc.Producer.Idempotent = true
	sc.Producer.Transaction.ID = txid
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Net.MaxOpenRequests = 1
	var p sarama.SyncProducer
	var err error
	for range 50 { // the restarted broker may still be loading
		if p, err = sarama.NewSyncProducer([]string{addr}, sc); err == nil {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("transactional producer %s: %v", txid, err)
	return nil
}

// createTopic creates a topic of one partition.
func createTopic(t *testing.T, cfg kafka.Config, topic string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
}

func sendInTxn(t *testing.T, p sarama.SyncProducer, topic string, commit bool, values ...string) {
	t.Helper()
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	for _, v := range values {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}
	if commit {
		if err := p.CommitTxn(); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
}

func TestBrokerCrashWithOpenTransactionKeepsReadersInAgreement(t *testing.T) {
	bp := startBrokerProcess(t)
	const topic = "crash-events"
	cfg := kafka.Config{Brokers: []string{bp.addr}, Partitions: 1, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	createTopic(t, cfg, topic)

	// Committed, then a transaction left open by a kill -9 of the broker; twice over, so that a
	// log already repaired once is repaired again.
	p := txnProducer(t, bp.addr, "chorus-commands-0")
	sendInTxn(t, p, topic, true, "c1")
	sendInTxn(t, p, topic, false, "open1", "open2")
	bp.kill9()
	_ = p.Close()
	bp.start()

	p = txnProducer(t, bp.addr, "chorus-commands-0") // the next owner: same transactional id
	sendInTxn(t, p, topic, true, "c2", "c3")
	sendInTxn(t, p, topic, true, "c4")
	sendInTxn(t, p, topic, false, "open3")
	bp.kill9()
	_ = p.Close()
	bp.start()

	p = txnProducer(t, bp.addr, "chorus-commands-0")
	sendInTxn(t, p, topic, true, "c5")
	_ = p.Close()

	want := []string{"c1", "c2", "c3", "c4", "c5"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Ours: the command processor's recovery, rebuilds and replay read with it.
	client, err := sarama.NewClient(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var ours []string
	if _, err := kafka.ReadCommitted(ctx, client, topic, 0, 0, func(r kafka.Record) error {
		ours = append(ours, string(r.Value))
		return nil
	}); err != nil {
		t.Fatalf("ReadCommitted: %v", err)
	}
	if !slices.Equal(ours, want) {
		t.Errorf("kafka.ReadCommitted read %q, want %q", ours, want)
	}

	// Sarama's consumer, as the projectors read.
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var viaSarama []string
	for len(viaSarama) < len(want) {
		select {
		case m := <-pc.Messages():
			viaSarama = append(viaSarama, string(m.Value))
		case <-time.After(5 * time.Second):
			t.Fatalf("Sarama's read_committed consumer read %q and then nothing for 5 s, want %q", viaSarama, want)
		}
	}
	if !slices.Equal(viaSarama, want) {
		t.Errorf("Sarama's consumer read %q, want %q", viaSarama, want)
	}

	// An outside client (franz-go, reading as kcat does).
	kc, err := kgo.NewClient(kgo.SeedBrokers(bp.addr), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var viaKgo []string
	deadline := time.Now().Add(5 * time.Second)
	for len(viaKgo) < len(want) && time.Now().Before(deadline) {
		pctx, pcancel := context.WithDeadline(ctx, deadline)
		fs := kc.PollFetches(pctx)
		pcancel()
		fs.EachRecord(func(r *kgo.Record) { viaKgo = append(viaKgo, string(r.Value)) })
	}
	if !slices.Equal(viaKgo, want) {
		t.Errorf("franz-go's read_committed consumer read %q, want %q", viaKgo, want)
	}
}

// A read that fills its response (more than the request's byte limit is ready) must still skip
// the aborted transactions in what it got. kfake left the aborted-transaction list out of a
// response cut short by the request limit, and ReadCommitted, whose request and partition limits
// are the same, then passed aborted records as committed: the command processor's recovery and a
// verify saw events that every other reader skipped.
func TestReadCommittedSkipsAbortedTransactionsInAFullResponse(t *testing.T) {
	b, err := kafka.StartEmbedded(kafka.EmbeddedOptions{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const topic = "full-fetch"
	cfg := kafka.Config{Brokers: []string{b.Addr()}, Partitions: 1, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	createTopic(t, cfg, topic)

	// 12 MB in transactions of 1 MB, every third one aborted: several responses of ReadCommitted's
	// 4 MB each, with aborted transactions inside every one of them.
	p := txnProducer(t, b.Addr(), "full-fetch")
	defer p.Close()
	value := strings.Repeat("x", 100_000)
	var want []string
	for txn := range 12 {
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			v := fmt.Sprintf("%02d-%d-%s", txn, i, value)
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatal(err)
			}
			if txn%3 != 1 {
				want = append(want, v[:5])
			}
		}
		if txn%3 == 1 {
			err = p.AbortTxn()
		} else {
			err = p.CommitTxn()
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	client, err := sarama.NewClient(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var got []string
	if _, err := kafka.ReadCommitted(context.Background(), client, topic, 0, 0, func(r kafka.Record) error {
		got = append(got, string(r.Value[:5]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ReadCommitted read %d records %v, want the %d committed ones %v", len(got), got, len(want), want)
	}
}

// A long-lived client (a gateway's admin jobs, chorusctl --follow) reads on after the broker
// restarted: Sarama keeps a broker whose connection died dead, and the first request after the
// restart failed with EOF (a verify after the fault suite's broker kill did).
func TestReadsGoOnAfterTheBrokerRestarts(t *testing.T) {
	bp := startBrokerProcess(t)
	const topic = "restart-events"
	cfg := kafka.Config{Brokers: []string{bp.addr}, Partitions: 1, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	createTopic(t, cfg, topic)
	p := txnProducer(t, bp.addr, "restart-0")
	sendInTxn(t, p, topic, true, "r1")
	_ = p.Close()

	client, err := sarama.NewClient(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	read := func() (int, error) {
		n := 0
		_, err := kafka.ReadCommitted(context.Background(), client, topic, 0, 0, func(kafka.Record) error { n++; return nil })
		return n, err
	}
	if n, err := read(); n != 1 || err != nil {
		t.Fatalf("before the restart: %d records, %v", n, err)
	}
	bp.kill9()
	bp.start()
	if n, err := read(); n != 1 || err != nil {
		t.Fatalf("ReadCommitted after the restart: %d records, %v", n, err)
	}
	bp.kill9()
	bp.start()
	ends, err := kafka.ListOffsets(client, []kafka.PartitionRange{{Topic: topic, Partition: 0}}, func(kafka.PartitionRange) int64 { return sarama.OffsetNewest })
	if err != nil || len(ends) != 1 || ends[0] < 1 {
		t.Fatalf("ListOffsets after the restart: %v, %v", ends, err)
	}
}

// A commit whose marker the broker cannot write (its disk full) is not acknowledged, and its
// records are not shown to read_committed readers; after the broker is killed and started again
// the transaction is aborted, and every reader agrees on what was committed. Before, the commit
// was answered as done and read by consumers, then aborted at the broker's next start.
func TestCommitWhoseMarkerCannotBeWrittenIsNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("this test fills a tmpfs of its own under the broker's data (it needs root, as the fault suite does): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bp := &brokerProcess{t: t, dir: filepath.Join(dir, "kafka"), addr: l.Addr().String()}
	_ = l.Close()
	bp.start()
	t.Cleanup(bp.kill9)
	const topic = "full-events"
	cfg := kafka.Config{Brokers: []string{bp.addr}, Partitions: 1, SessionTimeout: 10 * time.Second, Heartbeat: time.Second}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, cfg.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	// Every batch in a segment of its own: the marker is the first write to a new file, which a
	// full disk refuses (a write into the last page of a file a batch already wrote may not be).
	one := "1"
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: map[string]*string{"segment.bytes": &one}}, false); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close()
	p := txnProducer(t, bp.addr, "chorus-commands-0")
	sendInTxn(t, p, topic, true, "c1")

	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder("during-full")}); err != nil {
		t.Fatal(err)
	}
	fill, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(chunk); err != nil {
			break // ENOSPC
		}
	}
	_ = fill.Close()
	if err := p.CommitTxn(); err == nil {
		t.Fatal("a commit whose marker could not be written was acknowledged")
	}
	read := func() []string {
		t.Helper()
		client, err := sarama.NewClient(cfg.Brokers, cfg.Sarama())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var got []string
		if _, err := kafka.ReadCommitted(ctx, client, topic, 0, 0, func(r kafka.Record) error {
			got = append(got, string(r.Value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(); fmt.Sprint(got) != "[c1]" {
		t.Fatalf("while the commit could not be written, readers see %v, want [c1]", got)
	}

	_ = p.Close()
	if err := os.Remove(filepath.Join(dir, "fill")); err != nil {
		t.Fatal(err)
	}
	bp.kill9()
	bp.start()
	p = txnProducer(t, bp.addr, "chorus-commands-0")
	sendInTxn(t, p, topic, true, "c2")
	_ = p.Close()
	if got := read(); fmt.Sprint(got) != "[c1 c2]" {
		t.Fatalf("after the broker's restart readers see %v, want [c1 c2]", got)
	}
}
