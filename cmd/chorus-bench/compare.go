package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Comparing two builds (--against): the machine's speed drifts by a third within minutes and the
// second of two runs in a row costs ~5% more CPU (docs/benchmarks.md), so the builds run in
// A B B A order, --rounds times, each on a fresh process, data directory and database, and each
// figure is shown per run, as the median of each build's runs, and as the ratio of the medians.

// figure is one number a run gives.
type figure struct {
	name   string
	unit   string
	better string // "lower" or "higher"
	count  bool   // a count: printed whole
	of     func(fixed, sat result) (float64, bool)
}

func compareFigures(o options) []figure {
	fs := []figure{
		{fmt.Sprintf("process CPU per message at %d msg/s", o.Rate), "µs", "lower", false, func(f, _ result) (float64, bool) {
			return micros(f.cpuPerAccepted(0)), f.cpuErr == nil && f.acks > 0
		}},
		{"ack p50", "ms", "lower", false, func(f, _ result) (float64, bool) { return ms(f.ack.pct(50)), f.acks > 0 }},
		{"ack p99", "ms", "lower", false, func(f, _ result) (float64, bool) { return ms(f.ack.pct(99)), f.acks > 0 }},
		{"delivery p50", "ms", "lower", false, func(f, _ result) (float64, bool) { return ms(f.deliv.pct(50)), f.deliv.len() > 0 }},
		{"delivery p99", "ms", "lower", false, func(f, _ result) (float64, bool) { return ms(f.deliv.pct(99)), f.deliv.len() > 0 }},
		{"deliveries lost", "", "lower", true, func(f, s result) (float64, bool) {
			lost := f.missing()
			if o.Saturate > 0 { // without the phase s is empty
				lost += max(s.missing(), 0)
			}
			return float64(lost), true
		}},
	}
	if o.Saturate > 0 {
		fs = append(fs,
			figure{"process CPU per message at saturation", "µs", "lower", false, func(_, s result) (float64, bool) {
				return micros(s.cpuPerAccepted(0)), s.cpuErr == nil && s.acks > 0
			}},
			figure{"accepted msg/s at saturation", "", "higher", false, func(_, s result) (float64, bool) { return s.acceptedPerSec(), true }})
	}
	return fs
}

// runCompare runs --binary (A) and --against (B) in A B B A order, --rounds times, then prints
// the comparison.
func runCompare(ctx context.Context, o options) error {
	if o.Rounds < 1 {
		return fmt.Errorf("--rounds must be at least 1")
	}
	builds := []string{o.Binary, o.Against}
	var order []int
	for range o.Rounds {
		order = append(order, 0, 1, 1, 0)
	}
	figs := compareFigures(o)
	// got[build][figure] holds the figure of each of the build's runs, in run order.
	got := [2][][]float64{make([][]float64, len(figs)), make([][]float64, len(figs))}
	for i, b := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		ob := o
		ob.Binary = builds[b]
		fmt.Printf("\n=== run %d of %d: %s (%s)\n", i+1, len(order), "AB"[b:b+1], builds[b])
		t, _, err := startChorus(ctx, ob)
		if err != nil {
			return err
		}
		fixed, sat := measure(t, ob)
		t.stop()
		for j, f := range figs {
			if v, ok := f.of(fixed, sat); ok {
				got[b][j] = append(got[b][j], v)
			}
		}
	}
	fmt.Printf("\nA = %s, B = %s; %d runs each, in the order %s\n\n", builds[0], builds[1], 2*o.Rounds, strings.Repeat("A B B A ", o.Rounds))
	fmt.Println("| figure | A's runs | A's median | B's runs | B's median | B / A |")
	fmt.Println("|---|---|---|---|---|---|")
	for j, f := range figs {
		a, b := median(got[0][j]), median(got[1][j])
		ratio := "–"
		if a != 0 && len(got[0][j]) > 0 && len(got[1][j]) > 0 {
			ratio = fmt.Sprintf("%.2f (%s is better)", b/a, f.better)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", label(f), runs(got[0][j], f.count), formatValue(a, f.count), runs(got[1][j], f.count), formatValue(b, f.count), ratio)
	}
	return nil
}

func label(f figure) string {
	if f.unit == "" {
		return f.name
	}
	return f.name + " (" + f.unit + ")"
}

func runs(vs []float64, count bool) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = formatValue(v, count)
	}
	return strings.Join(out, " / ")
}

// median of vs (0 when empty); the mean of the middle two when their count is even.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
