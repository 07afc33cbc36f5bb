package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
)

// peerRun is one server's figures in the peer comparison.
type peerRun struct {
	name       string
	fixed, sat result
}

// runPeer runs the same load against Chorus (all-in-one, embedded broker and Redis), Chorus
// again on the machine's Redis (--centrifugo-redis), then Centrifugo with its memory engine,
// then with its Redis engine, one after the other, and prints the ratios Chorus / Centrifugo
// (Chorus on the machine's Redis against Centrifugo's Redis engine).
func runPeer(ctx context.Context, o options) error {
	if o.Saturate <= 0 {
		return fmt.Errorf("--peer needs the saturation phase (--saturate > 0)")
	}
	var runs []peerRun
	one := func(start func() (*target, error)) error {
		t, err := start()
		if err != nil {
			return err
		}
		defer t.stop()
		time.Sleep(time.Second) // let the connections settle
		fixed, sat := measure(t, o)
		runs = append(runs, peerRun{name: t.name, fixed: fixed, sat: sat})
		fmt.Println()
		return ctx.Err()
	}
	if err := one(func() (*target, error) {
		t, _, err := startChorus(ctx, o)
		return t, err
	}); err != nil {
		return err
	}
	engines := []string{"memory"}
	if o.CentrifugoRedis != "" {
		// Chorus again on the Redis Centrifugo's Redis engine uses (the machine's), keys
		// under the run's own prefix, removed after: like compared with like.
		oo := o
		oo.Redis = "redis://" + o.CentrifugoRedis
		if err := one(func() (*target, error) {
			t, _, err := startChorus(ctx, oo)
			if t != nil {
				t.name = "chorus (machine's Redis)"
			}
			return t, err
		}); err != nil {
			return err
		}
		engines = append(engines, "redis")
	}
	for _, e := range engines {
		if err := one(func() (*target, error) { return startCentrifugo(ctx, o, e) }); err != nil {
			return err
		}
	}
	printPeerTable(o, runs)
	return nil
}

func printPeerTable(o options, runs []peerRun) {
	fmt.Printf("\npeer comparison: %d rooms x %d members, each its own WebSocket; %d msg/s offered for %s, then %d sends in flight per socket for %s; the load generator on the same cores\n\n",
		o.Rooms, o.Members, o.Rate, o.Duration, o.InFlight, o.Saturate)
	// counts are printed whole and compared by difference, not by ratio; NaN is "not reported".
	rows := []struct {
		label string
		val   func(peerRun) float64
		count bool
	}{
		{"ack p50 (ms)", func(r peerRun) float64 { return ms(r.fixed.ack.pct(50)) }, false},
		{"ack p99 (ms)", func(r peerRun) float64 { return ms(r.fixed.ack.pct(99)) }, false},
		{"delivery p50 (ms)", func(r peerRun) float64 { return ms(r.fixed.deliv.pct(50)) }, false},
		{"delivery p99 (ms)", func(r peerRun) float64 { return ms(r.fixed.deliv.pct(99)) }, false},
		{"deliveries lost at fixed load", func(r peerRun) float64 { return float64(r.fixed.missing()) }, true},
		{"accepted msg/s at saturation", func(r peerRun) float64 { return r.sat.acceptedPerSec() }, false},
		{"CPU µs per accepted msg at saturation", func(r peerRun) float64 { return micros(r.sat.cpuPerAccepted(-1)) }, false},
		{"sockets cut at saturation", func(r peerRun) float64 { return float64(r.sat.cut) }, true},
		{"reconnects at saturation", func(r peerRun) float64 { return reported(r.sat.reconnects) }, true},
		{"deliveries recovered by resume at saturation", func(r peerRun) float64 { return reported(r.sat.recovered) }, true},
		{"deliveries lost at saturation", func(r peerRun) float64 { return float64(r.sat.missing()) }, true},
	}
	pairs := peerPairs(runs)
	head := "| |"
	sep := "|---|"
	for _, r := range runs {
		head += " " + r.name + " |"
		sep += "---|"
	}
	for _, p := range pairs {
		head += " " + runs[p[0]].name + " / " + runs[p[1]].name + " |"
		sep += "---|"
	}
	fmt.Println(head)
	fmt.Println(sep)
	for _, row := range rows {
		line := "| " + row.label + " |"
		for _, r := range runs {
			line += " " + formatValue(row.val(r), row.count) + " |"
		}
		for _, p := range pairs {
			if row.count {
				line += " |"
				continue
			}
			line += " " + ratio(row.val(runs[p[0]]), row.val(runs[p[1]])) + " |"
		}
		fmt.Println(line)
	}
	fmt.Println()
	fmt.Println("CPU per accepted message adds every metered process of the server under test over the saturation phase:")
	for _, r := range runs {
		var parts []string
		for i := range r.sat.cpu {
			parts = append(parts, fmt.Sprintf("%.1f µs", micros(r.sat.cpuPerAccepted(i))))
		}
		if r.sat.cpuErr != nil {
			parts = []string{"not measured: " + r.sat.cpuErr.Error()}
		}
		fmt.Printf("  %s: %s\n", r.name, strings.Join(parts, " + "))
	}
	fmt.Println("Lost = accepted sends × other members − deliveries received once each (live, or recovered by resume);")
	fmt.Println("Centrifugo's client recovers by itself: what it recovers counts as live, and it reports no reconnects (–).")
}

// peerPairs is the ratio columns: every Chorus run against every Centrifugo run, except that
// Chorus on the machine's Redis is compared only with Centrifugo's Redis engine.
func peerPairs(runs []peerRun) [][2]int {
	var pairs [][2]int
	for i, a := range runs {
		if !strings.HasPrefix(a.name, "chorus") {
			continue
		}
		for j, b := range runs {
			if !strings.HasPrefix(b.name, "centrifugo") {
				continue
			}
			if strings.Contains(a.name, "Redis") && !strings.Contains(b.name, "redis") {
				continue
			}
			pairs = append(pairs, [2]int{i, j})
		}
	}
	return pairs
}

// reported is n, or NaN when the server's client does not report it (-1).
func reported(n int64) float64 {
	if n < 0 {
		return math.NaN()
	}
	return float64(n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func formatValue(v float64, count bool) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case count:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "= (both 0)"
		}
		return "∞ (peer 0)"
	}
	return fmt.Sprintf("%.1f×", a/b)
}
