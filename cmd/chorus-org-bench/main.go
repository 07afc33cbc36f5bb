// Command chorus-org-bench measures the organization model's figures that need more than one
// aggregate's decision: moving a large department on the real stack (how long the command takes
// to be accepted and the department rooms' member lists to follow) and the snapshot and
// takeover of a partition holding a large organization (against the 2 s recovery bound). It is
// a benchmark, not a test: `make bench` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

type options struct {
	Only        string        `help:"Run one part only: move or snapshot." enum:",move,snapshot" default:""`
	Binary      string        `help:"The chorus binary, for the move part." default:"bin/chorus"`
	Database    string        `help:"Postgres server URL for the move part (a fresh database is created on it and dropped at the end)." default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	Moved       int           `help:"Members of the department the move part moves." default:"5000"`
	Workers     int           `help:"Concurrent clients setting the move part up." default:"8"`
	Follow      time.Duration `help:"How long the move part waits for the rooms to follow before it fails." default:"60s"`
	Members     int           `help:"Members of the organization in the snapshot part." default:"50000"`
	Departments int           `help:"Departments of the organization in the snapshot part (a tree of three children each: 2,000 make 8 levels)." default:"2000"`
	Batch       int           `help:"Events per transaction while appending the organization's history." default:"5000"`
	Rounds      int           `help:"Timed rounds of each part." default:"3"`
	Profile     string        `help:"Write a CPU profile of the last takeover from the snapshot to this file."`
	Verbose     bool          `help:"Log the command processor's lines."`
	Depth       int           `kong:"-"`
}

func main() {
	var o options
	kong.Parse(&o, kong.Name("chorus-org-bench"), kong.Description("Benchmark moving a large department and the snapshot of a large organization."))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chorus-org-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.Members < 1 || o.Departments < 1 || o.Batch < 1 || o.Rounds < 1 || o.Moved < 1 || o.Workers < 1 {
		return fmt.Errorf("want members, departments, batch and rounds ≥ 1")
	}
	for n := 0; n < o.Departments; n = 3*n + 1 {
		o.Depth++
	}
	fmt.Printf("machine: %s, %d CPUs, %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if o.Only == "" || o.Only == "move" {
		if err := benchMove(ctx, o); err != nil {
			return fmt.Errorf("move: %w", err)
		}
	}
	if o.Only == "" || o.Only == "snapshot" {
		if err := benchSnapshot(ctx, o); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
