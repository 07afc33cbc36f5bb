package main

import (
	"fmt"
	"os"
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

// probe is what a member reports to the phase running: deliveries it received, its socket
// being cut by the server, its reconnections and what their resume recovered. Between phases
// nothing is recorded.
type probe struct {
	cur atomic.Pointer[observed]
	// resumes says the members reconnect and resume by themselves and report it (Chorus's).
	resumes bool
}

type observed struct {
	deliv *samples
	cut   atomic.Int64
	// reconnects counts new sockets opened after a cut; recovered the deliveries that came
	// through a resume's replay (they have no meaningful delivery latency, so they are not
	// in deliv); duplicates the receipts of a message the member had already received in
	// this phase (counted once, in deliv or recovered).
	reconnects, recovered, duplicates atomic.Int64
	// fallbacks counts rooms a resume answered recovered: false; fromHistory the deliveries
	// then read from history instead, as a client does.
	fallbacks, fromHistory atomic.Int64
	mu                     sync.Mutex
	// acked and got, when the members know message ids (Chorus's): the messages accepted in
	// the phase, and how many members received each message (once each).
	acked  map[string]struct{}
	got    map[string]int
	why    map[string]int // refused or failed sends by reason
	cutWhy map[string]int // cut sockets by the server's close reason
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

// disconnected records a socket cut by the server, with the reason it gave if any.
func (p *probe) disconnected(reason string) {
	if o := p.cur.Load(); o != nil {
		o.cut.Add(1)
		if reason != "" {
			o.mu.Lock()
			o.cutWhy[reason]++
			o.mu.Unlock()
		}
	}
}

// accepted records the id of a message the server acknowledged.
func (p *probe) accepted(id string) {
	if o := p.cur.Load(); o != nil && id != "" {
		o.mu.Lock()
		o.acked[id] = struct{}{}
		o.mu.Unlock()
	}
}

// receipt records a member's first receipt of a message in the phase o.
func (o *observed) receipt(id string) {
	o.mu.Lock()
	o.got[id]++
	o.mu.Unlock()
}

func (p *probe) reconnected() {
	if o := p.cur.Load(); o != nil {
		o.reconnects.Add(1)
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
	cutWhy     map[string]int
	ack, deliv *samples
	// reconnects, recovered (deliveries that came through resume), duplicates (receipts of a
	// message already received, counted once) and fallbacks (rooms resume could not recover);
	// -1 where the server's client does not report them (Centrifugo's recovers by itself).
	reconnects, recovered, duplicates, fallbacks, fromHistory int64
	// byID says owed and received come from message ids (the members know them): owed is the
	// messages acknowledged × others, received their receipts; unacked is the receipts of
	// messages whose ack did not come (the cut lost it) but which the server committed.
	byID                        bool
	ackedIDs, gotAcked, unacked int64
	// drain is how long the phase waited after the sending stopped for acks and deliveries.
	drain time.Duration
	// others is how many members receive each accepted message (members per room − 1).
	others int
	// cpu is the CPU time each meter's process used over the phase (its grace period included,
	// as are the acks counted), in the order of the meters.
	cpu []time.Duration
	// cpuErr says why the CPU figures are missing, if they are.
	cpuErr error
	// loadCPU is the CPU time the load generator itself (this process) used over the phase: on
	// the same cores as the server, it bounds what the server can be shown to take.
	loadCPU time.Duration
}

func (r result) acceptedPerSec() float64 { return float64(r.acks) / r.dur.Seconds() }

// owed is the deliveries the accepted messages owe.
func (r result) owed() int64 {
	if r.byID {
		return r.ackedIDs * int64(r.others)
	}
	return int64(r.acks) * int64(r.others)
}

// received is the deliveries of accepted messages received once each: live, plus recovered
// by resume or from history.
func (r result) received() int64 {
	if r.byID {
		return r.gotAcked
	}
	n := int64(r.deliv.len())
	n += max(r.recovered, 0) + max(r.fromHistory, 0)
	return n
}

// missing is the deliveries owed and never received: every accepted send × the other members
// of its room, minus the deliveries received (live or recovered). With reconnection and resume,
// missing means lost. Deliveries of the previous phase's last sends arriving in this one count
// here, so a small figure may be off by those (negative: more came than this phase owed).
func (r result) missing() int64 { return r.owed() - r.received() }

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
	for why, n := range r.cutWhy {
		fmt.Printf("  cut by the server: %s (%d)\n", why, n)
	}
	if r.reconnects >= 0 {
		fmt.Printf("  reconnects %d, deliveries recovered by resume %d; resumes that could not recover the room %d, deliveries then read from history %d; duplicate receipts %d\n",
			r.reconnects, r.recovered, r.fallbacks, r.fromHistory, r.duplicates)
	}
	accepted := int64(r.acks)
	if r.byID {
		accepted = r.ackedIDs
	}
	fmt.Printf("  deliveries owed %d (%d accepted × %d other members), received %d, lost %d (counted until %s after the sending stopped)\n",
		r.owed(), accepted, r.others, r.received(), r.missing(), r.drain.Round(100*time.Millisecond))
	if r.unacked > 0 {
		fmt.Printf("  also received: %d deliveries of messages the server committed but whose ack the cut lost (not owed above)\n", r.unacked)
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
	if r.acks > 0 {
		fmt.Printf("  CPU of %-34s %8.2f s  = %6.1f µs per accepted message (not the server's)\n", "the load generator (this process)", r.loadCPU.Seconds(), micros(r.loadCPU/time.Duration(r.acks)))
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// phase runs one load phase: a fixed total rate (rate > 0) spread over the members, or as fast
// as each member's in-flight bound allows (inFlight > 0). Acks and deliveries that arrive after
// the sending stops still count, until none came for 2 s (at least 2 s, at most 20 s).
func phase(members []member, pr *probe, meters []cpuMeter, d time.Duration, rate, inFlight int) result {
	ack := &samples{}
	obs := &observed{deliv: &samples{}, why: map[string]int{}, cutWhy: map[string]int{}, acked: map[string]struct{}{}, got: map[string]int{}}
	var acks, errs, sent atomic.Int64
	var over atomic.Bool
	self := processMeter("load generator", os.Getpid())
	load0, loadErr := self.read()
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
	// Let the last acks and deliveries arrive: at least 2 s, then until nothing more came for
	// 2 s (a saturated server delivers seconds late; counting earlier would call late lost),
	// at most 20 s.
	stopped := time.Now()
	counted := func() int64 {
		return acks.Load() + errs.Load() + int64(obs.deliv.len()) + obs.recovered.Load() + obs.fromHistory.Load()
	}
	last, lastChange := counted(), stopped
	for time.Since(stopped) < 20*time.Second && (time.Since(stopped) < 2*time.Second || time.Since(lastChange) < 2*time.Second) {
		time.Sleep(250 * time.Millisecond)
		if n := counted(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	drain := time.Since(stopped)
	over.Store(true)
	pr.cur.Store(nil)
	r := result{dur: d, sent: int(sent.Load()), acks: int(acks.Load()), errors: errs.Load(), cut: obs.cut.Load(), why: obs.why, cutWhy: obs.cutWhy, ack: ack, deliv: obs.deliv,
		reconnects: obs.reconnects.Load(), recovered: obs.recovered.Load(), duplicates: obs.duplicates.Load(), fallbacks: obs.fallbacks.Load(),
		fromHistory: obs.fromHistory.Load(), drain: drain}
	if pr.resumes {
		obs.mu.Lock()
		r.byID, r.ackedIDs = true, int64(len(obs.acked))
		for id, n := range obs.got {
			if _, ok := obs.acked[id]; ok {
				r.gotAcked += int64(n)
			} else {
				r.unacked += int64(n)
			}
		}
		obs.mu.Unlock()
	} else {
		r.reconnects, r.recovered, r.duplicates, r.fallbacks, r.fromHistory = -1, -1, -1, -1, -1
	}
	cpu1, err := readCPU(meters)
	if cpuErr == nil {
		cpuErr = err
	}
	if load1, err := self.read(); err == nil && loadErr == nil {
		r.loadCPU = load1 - load0
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
