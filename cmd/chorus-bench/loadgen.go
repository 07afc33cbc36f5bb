package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// The load generator, the same for every server under test (Chorus, and Centrifugo in --peer
// mode): members connected over WebSockets, each in one room; a phase sends at a fixed total
// rate or with a fixed number of sends in flight per member, and times acks (send → the
// server's reply to that send) and deliveries (send time stamped in the message → its receipt
// by another member of the room).

// member is one connected member of a room on the server under test.
type member interface {
	// send publishes one message stamped with now (the receiving members time delivery from
	// it). done is called once: with the time from now to the server's acknowledgement, or
	// with ok false when the server refused the message or the socket failed first. When send
	// returns an error, done is never called.
	send(now time.Time, done func(ack time.Duration, ok bool)) error
	close()
}

// probe is what a member reports to the phase running: deliveries it received and its socket
// being cut by the server. Between phases nothing is recorded.
type probe struct{ cur atomic.Pointer[observed] }

type observed struct {
	deliv *samples
	cut   atomic.Int64
	mu    sync.Mutex
	why   map[string]int // refused or failed sends by reason
}

// failed records why a send was refused or failed.
func (p *probe) failed(reason string) {
	if o := p.cur.Load(); o != nil {
		o.mu.Lock()
		o.why[reason]++
		o.mu.Unlock()
	}
}

func (p *probe) delivered(d time.Duration) {
	if o := p.cur.Load(); o != nil {
		o.deliv.add(d)
	}
}

func (p *probe) disconnected() {
	if o := p.cur.Load(); o != nil {
		o.cut.Add(1)
	}
}

type samples struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *samples) add(d time.Duration) { s.mu.Lock(); s.d = append(s.d, d); s.mu.Unlock() }

func (s *samples) len() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.d) }

func (s *samples) pct(p int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return 0
	}
	slices.Sort(s.d)
	i := (len(s.d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return s.d[i].Round(10 * time.Microsecond)
}

// cpuMeter reads the CPU time (user + system) used so far by one process of the system under
// test.
type cpuMeter struct {
	name string
	read func() (time.Duration, error)
}

type result struct {
	dur        time.Duration
	sent, acks int
	errors     int64
	cut        int64
	why        map[string]int
	ack, deliv *samples
	// cpu is the CPU time each meter's process used over the phase (its grace period included,
	// as are the acks counted), in the order of the meters.
	cpu []time.Duration
	// cpuErr says why the CPU figures are missing, if they are.
	cpuErr error
}

func (r result) acceptedPerSec() float64 { return float64(r.acks) / r.dur.Seconds() }

// cpuPerAccepted is the CPU time of meter i (every meter when i < 0) per accepted message.
func (r result) cpuPerAccepted(i int) time.Duration {
	if r.acks == 0 || r.cpuErr != nil || len(r.cpu) == 0 {
		return 0
	}
	var t time.Duration
	for j, c := range r.cpu {
		if i < 0 || i == j {
			t += c
		}
	}
	return t / time.Duration(r.acks)
}

func (r result) print(meters []cpuMeter) {
	fmt.Printf("  sent %d, accepted %d (%.0f accepted msg/s), rejected/errored %d, sockets cut by the server %d\n",
		r.sent, r.acks, r.acceptedPerSec(), r.errors, r.cut)
	for why, n := range r.why {
		fmt.Printf("  refused or failed: %s (%d)\n", why, n)
	}
	fmt.Printf("  ack latency       p50 %-10s p99 %s\n", r.ack.pct(50), r.ack.pct(99))
	fmt.Printf("  delivery latency  p50 %-10s p99 %s   (send → receipt by another member, %d receipts)\n", r.deliv.pct(50), r.deliv.pct(99), r.deliv.len())
	if r.cpuErr != nil {
		fmt.Printf("  CPU: not measured (%v)\n", r.cpuErr)
		return
	}
	for i, m := range meters {
		fmt.Printf("  CPU of %-34s %8.2f s  = %6.1f µs per accepted message\n", m.name, r.cpu[i].Seconds(), micros(r.cpuPerAccepted(i)))
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// phase runs one load phase: a fixed total rate (rate > 0) spread over the members, or as fast
// as each member's in-flight bound allows (inFlight > 0). Acks and deliveries that arrive in
// the 2 s after the sending stops still count; later ones do not.
func phase(members []member, pr *probe, meters []cpuMeter, d time.Duration, rate, inFlight int) result {
	ack := &samples{}
	obs := &observed{deliv: &samples{}, why: map[string]int{}}
	var acks, errs, sent atomic.Int64
	var over atomic.Bool
	cpu0, cpuErr := readCPU(meters)
	pr.cur.Store(obs)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for _, m := range members {
		var slots chan struct{}
		if inFlight > 0 {
			slots = make(chan struct{}, inFlight)
		}
		done := func(x time.Duration, ok bool) {
			if slots != nil {
				<-slots
			}
			if over.Load() {
				return
			}
			if ok {
				acks.Add(1)
				ack.add(x)
			} else {
				errs.Add(1)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rate > 0 {
				every := time.Duration(float64(time.Second) * float64(len(members)) / float64(rate))
				next := time.Now().Add(time.Duration(uuid.New().ID()%uint32(every)) * time.Nanosecond)
				for {
					time.Sleep(time.Until(next))
					if time.Now().After(deadline) {
						return
					}
					if m.send(time.Now(), done) == nil {
						sent.Add(1)
					}
					next = next.Add(every)
				}
			}
			for time.Now().Before(deadline) {
				select {
				case slots <- struct{}{}:
				case <-time.After(time.Until(deadline)):
					return
				}
				if m.send(time.Now(), done) == nil {
					sent.Add(1)
				} else {
					<-slots
					time.Sleep(10 * time.Millisecond) // a cut socket: do not spin
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the last acks and deliveries arrive
	over.Store(true)
	pr.cur.Store(nil)
	r := result{dur: d, sent: int(sent.Load()), acks: int(acks.Load()), errors: errs.Load(), cut: obs.cut.Load(), why: obs.why, ack: ack, deliv: obs.deliv}
	cpu1, err := readCPU(meters)
	if cpuErr == nil {
		cpuErr = err
	}
	if cpuErr != nil {
		r.cpuErr = cpuErr
		return r
	}
	for i := range meters {
		r.cpu = append(r.cpu, cpu1[i]-cpu0[i])
	}
	return r
}

func readCPU(meters []cpuMeter) ([]time.Duration, error) {
	out := make([]time.Duration, len(meters))
	for i, m := range meters {
		t, err := m.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		out[i] = t
	}
	return out, nil
}
