package domain_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/domain"
)

// What a room's history costs the command processor that holds it: the heap it keeps per message
// sent (B/message), and how much of that the garbage collector reads at every collection
// (scan-B/message). A room keeps facts about every message it ever had (who sent it, its seq and
// type, whether it is deleted), so this is paid for the process's whole life.
func BenchmarkRoomMessageMemory(b *testing.B) {
	const messages = 100_000
	owner := domain.UserIDFor("owner")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	sample := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	var kept, scanned float64
	for b.Loop() {
		id := uuid.New()
		room := domain.NewRoom(id)
		apply := func(p domain.CommandData, at time.Time) {
			evs, err := room.Decide(domain.NewCommand(uuid.New(), id, owner, "owner", at, p), at)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range evs {
				room.Apply(e)
			}
		}
		apply(domain.CreateRoom{Name: "history"}, t0)
		b.StopTimer()
		heap0, scan0 := liveHeap(sample)
		b.StartTimer()
		for i := range messages {
			apply(domain.SendMessage{Content: "a message of a busy room", ClientMsgID: "c"}, t0.Add(time.Duration(i)*time.Millisecond))
		}
		b.StopTimer()
		heap1, scan1 := liveHeap(sample)
		kept = float64(int64(heap1)-int64(heap0)) / messages
		scanned = float64(int64(scan1)-int64(scan0)) / messages
		runtime.KeepAlive(room)
		b.StartTimer()
	}
	b.ReportMetric(kept, "B/message")
	b.ReportMetric(scanned, "scan-B/message")
}

// liveHeap collects, then returns the live heap and the part of it the collector scans.
func liveHeap(sample []metrics.Sample) (heap, scan uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	metrics.Read(sample)
	return ms.HeapAlloc, sample[0].Value.Uint64()
}
