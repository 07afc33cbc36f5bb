package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	dto "github.com/prometheus/client_model/go"
)

// runCluster is --cluster: the deployment of cluster.go, its gateways' CPU at idle without and
// with the sockets, the fixed load and the saturation phase of the all-in-one benchmark (the
// sockets of room r on gateway r × gateways / rooms: each gateway holds its own share of the
// rooms), then one room taking as many messages as its members can send.
func runCluster(ctx context.Context, o options) error {
	c, err := startCluster(ctx, o)
	if err != nil {
		return err
	}
	defer c.stop()
	meters := c.meters()
	n := len(c.gateways)

	empty, err := c.gatewayCPU(o.IdleFor)
	if err != nil {
		return err
	}
	byRoom := func(r, _ int) int { return r * n / o.Rooms }
	members, pr, err := c.connect(ctx, o.Rooms, o.Members, byRoom)
	defer closeAll(members)
	if err != nil {
		return err
	}
	sockets := make([]int, n)
	for r := range o.Rooms {
		sockets[byRoom(r, 0)] += o.Members
	}
	fmt.Printf("setup: %d rooms x %d members = %d sockets, room r's on gateway r×%d/%d\n", o.Rooms, o.Members, o.Rooms*o.Members, n, o.Rooms)
	held, err := c.gatewayCPU(o.IdleFor)
	if err != nil {
		return err
	}
	c.printIdle(o.IdleFor, sockets, empty, held)

	c.measure(fmt.Sprintf("fixed load: offered %d msg/s for %s", o.Rate, o.Duration), members, pr, meters, o.Duration, o.Rate, 0, o.Members-1, sockets)
	if o.Saturate > 0 {
		c.measure(fmt.Sprintf("highest sustained rate: %d outstanding sends per socket for %s", o.InFlight, o.Saturate),
			members, pr, meters, o.Saturate, 0, o.InFlight, o.Members-1, sockets)
	}
	if o.SingleRoom > 0 {
		// Its members spread over the gateways: the one partition owner deciding every
		// command of the room is the limit sought, not one gateway's fan-out.
		spread := func(_, m int) int { return m % n }
		one, pr1, err := c.connect(ctx, 1, o.RoomMembers, spread)
		defer closeAll(one)
		if err != nil {
			return err
		}
		own := make([]int, n)
		for m := range o.RoomMembers {
			own[spread(0, m)]++
		}
		r := c.measure(fmt.Sprintf("single room: 1 room x %d members (spread over the gateways), %d outstanding sends per socket for %s",
			o.RoomMembers, o.InFlight, o.SingleRoom), one, pr1, meters, o.SingleRoom, 0, o.InFlight, o.RoomMembers-1, own)
		fmt.Printf("\nthe most one room took: %.0f accepted msg/s (one partition owner decides every command of a room)\n", r.acceptedPerSec())
		c.printOwner(r)
	}
	return nil
}

// printOwner names the command processor that decided the single room's commands (the one
// that used the most CPU) and what it would decide on a core of its own at that cost: the
// room's ceiling once the machine's other processes no longer share its cores.
func (c *cluster) printOwner(r result) {
	if r.cpuErr != nil || r.acks == 0 {
		return
	}
	owner := -1
	for i, p := range c.procs {
		if p.role == "commands" && (owner < 0 || r.cpu[i] > r.cpu[owner]) {
			owner = i
		}
	}
	if owner < 0 {
		return
	}
	busy := r.cpu[owner].Seconds() / (r.dur + r.drain).Seconds()
	per := r.cpuPerAccepted(owner)
	fmt.Printf("its owner, %s: %.0f%% of a core over the phase, %.1f µs per accepted message: about %.0f msg/s on a core of its own\n",
		c.procs[owner].name, 100*busy, micros(per), float64(time.Second)/float64(max(per, time.Microsecond)))
}

func closeAll(ms []member) {
	for _, m := range ms {
		m.close()
	}
}

// gatewayCPU is each gateway's CPU over d, doing nothing but wait.
func (c *cluster) gatewayCPU(d time.Duration) ([]time.Duration, error) {
	var ms []cpuMeter
	for _, g := range c.gateways {
		ms = append(ms, processMeter(g.name, g.pid))
	}
	before, err := readCPU(ms)
	if err != nil {
		return nil, err
	}
	time.Sleep(d)
	after, err := readCPU(ms)
	if err != nil {
		return nil, err
	}
	for i := range after {
		after[i] -= before[i]
	}
	return after, nil
}

func (c *cluster) printIdle(d time.Duration, sockets []int, empty, held []time.Duration) {
	fmt.Printf("\ngateways at idle, %s without sockets then %s with them (CPU per second; the difference per socket):\n", d, d)
	fmt.Println("  | gateway | sockets | CPU without sockets (ms/s) | CPU with them (ms/s) | µs per socket per second |")
	fmt.Println("  |---|---|---|---|---|")
	for i, g := range c.gateways {
		without, with := float64(empty[i].Milliseconds())/d.Seconds(), float64(held[i].Milliseconds())/d.Seconds()
		per := "-"
		if sockets[i] > 0 {
			// each of the two figures is read in whole ticks: the difference is ± two
			res := micros(2*clockTick) / d.Seconds() / float64(sockets[i])
			per = fmt.Sprintf("%.1f ± %.1f", micros(held[i]-empty[i])/d.Seconds()/float64(sockets[i]), res)
		}
		fmt.Printf("  | %s | %d | %.1f | %.1f | %s |\n", g.name, sockets[i], without, with, per)
	}
}

// gatewayCounters are the push counters of one gateway.
type gatewayCounters struct{ read, bytes, local, delivered float64 }

func (g gatewayCounters) minus(b gatewayCounters) gatewayCounters {
	return gatewayCounters{g.read - b.read, g.bytes - b.bytes, g.local - b.local, g.delivered - b.delivered}
}

// counters scrapes every gateway's push counters; a gateway that does not answer reads as
// zeros (and is said so).
func (c *cluster) counters() []gatewayCounters {
	out := make([]gatewayCounters, len(c.gateways))
	for i, g := range c.gateways {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		fams, err := scrapeFamilies(ctx, g.base+"/metrics")
		cancel()
		if err != nil {
			fmt.Printf("  (%s: no counters: %v)\n", g.name, err)
			continue
		}
		out[i] = gatewayCounters{
			read: counterSum(fams["chorus_pushes_read_total"]), bytes: counterSum(fams["chorus_push_bytes_read_total"]),
			local: counterSum(fams["chorus_pushes_local_total"]), delivered: counterSum(fams["chorus_pushes_delivered_total"]),
		}
	}
	return out
}

func counterSum(f *dto.MetricFamily) float64 {
	sum := 0.0
	for _, m := range f.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// measure runs one phase on members and prints the load generator's figures, then the CPU per
// role and per gateway.
func (c *cluster) measure(title string, members []member, pr *probe, meters []cpuMeter, d time.Duration, rate, inFlight, others int, sockets []int) result {
	before := c.counters()
	shares := c.profileGateways(d)
	r := phase(members, pr, meters, d, rate, inFlight)
	r.others = others
	delta := c.counters()
	for i := range delta {
		delta[i] = delta[i].minus(before[i])
	}
	fmt.Printf("\ncluster, %s\n", title)
	r.print(meters)
	if r.cpuErr != nil {
		return r
	}
	c.printRoles(r, meters)
	c.printGateways(r, delta, <-shares, sockets)
	return r
}

// printRoles adds the processes' CPU by role; the two meters after the processes are
// Postgres's backends and redis-server.
func (c *cluster) printRoles(r result, meters []cpuMeter) {
	fmt.Println("\n  per role (CPU over the phase, its drain included; RSS at its end):")
	fmt.Println("  | role | processes | CPU s | µs per accepted msg | RSS MB |")
	fmt.Println("  |---|---|---|---|---|")
	var order []string
	type sum struct {
		n   int
		cpu time.Duration
		rss int64
	}
	roles := map[string]*sum{}
	for i, p := range c.procs {
		s := roles[p.role]
		if s == nil {
			s = &sum{}
			roles[p.role] = s
			order = append(order, p.role)
		}
		s.n++
		s.cpu += r.cpu[i]
		if rss, err := vmRSS(p.pid); err == nil {
			s.rss += rss
		}
	}
	perMsg := func(t time.Duration) float64 { return micros(t) / max(float64(r.acks), 1) }
	for _, role := range order {
		s := roles[role]
		fmt.Printf("  | %s | %d | %.2f | %.1f | %.0f |\n", role, s.n, s.cpu.Seconds(), perMsg(s.cpu), float64(s.rss)/(1<<20))
	}
	for i := len(c.procs); i < len(meters); i++ {
		fmt.Printf("  | %s | | %.2f | %.1f | |\n", meters[i].name, r.cpu[i].Seconds(), perMsg(r.cpu[i]))
	}
}

// printGateways prints each gateway's pushes: read, needed (reached one of its sockets), their
// ratio, and what reading them cost.
func (c *cluster) printGateways(r result, delta []gatewayCounters, shares []pushShare, sockets []int) {
	fmt.Println("\n  per gateway (pushes: read from the stream / reached one of its sockets; push reader: its share of the gateway's CPU profile over the sending, applied to its CPU over the phase):")
	fmt.Println("  | gateway | sockets | CPU s | frames delivered | µs per delivered frame | pushes read | pushes for own sockets | read / own | KB read | push reader CPU share | push reader µs per push read |")
	fmt.Println("  |---|---|---|---|---|---|---|---|---|---|---|")
	index := map[int]int{}
	for i, p := range c.procs {
		index[p.pid] = i
	}
	for i, g := range c.gateways {
		cpu := r.cpu[index[g.pid]]
		d := delta[i]
		ratio, perFrame, perPush := "-", "-", "-"
		var share string
		if d.local > 0 {
			ratio = fmt.Sprintf("%.2f", d.read/d.local)
		}
		if d.delivered > 0 {
			perFrame = fmt.Sprintf("%.1f", micros(cpu)/d.delivered)
		}
		if s := shares[i]; s.err != nil {
			share = "no profile: " + s.err.Error()
		} else {
			share = fmt.Sprintf("%.1f%%", 100*s.share)
			if d.read > 0 {
				perPush = fmt.Sprintf("%.1f", micros(cpu)*s.share/d.read)
			}
		}
		fmt.Printf("  | %s | %d | %.2f | %.0f | %s | %.0f | %.0f | %s | %.0f | %s | %s |\n",
			g.name, sockets[i], cpu.Seconds(), d.delivered, perFrame, d.read, d.local, ratio, d.bytes/1024, share, perPush)
	}
}

// pushShare is the share of a gateway's CPU profile spent in its push reader.
type pushShare struct {
	share float64
	err   error
}

// pushReaderFunc is the push reader's function (adapters/redis): reading the stream, decoding
// the entries, and handing every push to the gateway's sockets' queues (Deliver).
const pushReaderFunc = "adapters/redis.(*Pushes).read"

// profileGateways profiles every gateway's CPU for d (at least a second), at once; the channel
// gives the push reader's shares, in the gateways' order, once every profile is in.
func (c *cluster) profileGateways(d time.Duration) <-chan []pushShare {
	out := make(chan []pushShare, 1)
	shares := make([]pushShare, len(c.gateways))
	done := make(chan struct{}, len(c.gateways))
	for i, g := range c.gateways {
		go func() {
			shares[i].share, shares[i].err = pushReaderShare(g.base, d)
			done <- struct{}{}
		}()
	}
	go func() {
		for range c.gateways {
			<-done
		}
		out <- shares
	}()
	return out
}

func pushReaderShare(base string, d time.Duration) (float64, error) {
	secs := max(1, int(d.Seconds()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("profile: %s", resp.Status)
	}
	p, err := profile.Parse(resp.Body)
	if err != nil {
		return 0, err
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return 0, fmt.Errorf("profile without cpu samples")
	}
	var total, reader int64
	for _, s := range p.Sample {
		total += s.Value[idx]
		if inFunc(s, pushReaderFunc) {
			reader += s.Value[idx]
		}
	}
	if total == 0 {
		return 0, nil
	}
	return float64(reader) / float64(total), nil
}

// inFunc says whether a sample's stack passes through fn (or a closure of it).
func inFunc(s *profile.Sample, fn string) bool {
	for _, loc := range s.Location {
		for _, l := range loc.Line {
			if l.Function != nil && strings.Contains(l.Function.Name, fn) {
				return true
			}
		}
	}
	return false
}
