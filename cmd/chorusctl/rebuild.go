package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/chorus-chat/chorus/adapters/ops"
)

// rebuildable lists the projections rebuild and verify take, for --help and errors.
var rebuildable = strings.Join(ops.RebuildableNames(), ", ")

func checkRebuildable(name string) error {
	if _, err := ops.RebuildableProjection(name); err != nil {
		return usagef("projection %q: only %s can be rebuilt", name, rebuildable)
	}
	return nil
}

// rebuildGCPercent is GOGC while chorusctl rebuilds.
const rebuildGCPercent = 400

type rebuildCmd struct {
	Name       string `arg:"" name:"projection" help:"Projection to rebuild: ${rebuildable}."`
	Restart    bool   `name:"restart" help:"Drop the generation an interrupted rebuild left (schema <projection>_next) and start over."`
	Drop       bool   `name:"drop" help:"Only drop the generation an interrupted rebuild left (schema <projection>_next), and exit."`
	Batch      int    `name:"batch" default:"${default_batch}" help:"Events applied per transaction."`
	NoProgress bool   `name:"no-progress" help:"No progress bar (it is only shown when standard error is a terminal)."`
}

func (c *rebuildCmd) Validate() error {
	if err := checkRebuildable(c.Name); err != nil {
		return err
	}
	if c.Restart && c.Drop {
		return usagef("--restart and --drop exclude each other")
	}
	if c.Batch <= 0 {
		return usagef("--batch must be positive")
	}
	return nil
}

func (c *rebuildCmd) Run(e *env) error {
	d, closeAll, err := e.opsDeps()
	if err != nil {
		return err
	}
	defer closeAll()
	bar := newProgress(e, !c.NoProgress, "rebuild "+c.Name)
	defer bar.finish()
	// A rebuild decodes the whole log into short-lived batches: collecting garbage less often
	// (the live heap is a few batches, tens of MB) spares a share of its CPU.
	defer debug.SetGCPercent(debug.SetGCPercent(rebuildGCPercent))
	res, err := ops.Rebuild(e.ctx, d, c.Name, ops.RebuildOptions{
		Restart: c.Restart, Drop: c.Drop, Batch: c.Batch, Progress: bar,
		Resuming: func(schema string) {
			fmt.Fprintf(e.stderr, "resuming the rebuild in %s from its checkpoints (--restart starts over)\n", schema)
		},
	})
	if err != nil {
		return opsError(e, err)
	}
	bar.finish()
	if res.Dropped {
		fmt.Fprintf(e.stdout, "dropped %s\n", ops.SchemaOf(c.Name, "next"))
		return nil
	}
	fmt.Fprintf(e.stdout, "rebuilt %s: %d events applied; the new tables are live\n", c.Name, res.Applied)
	return nil
}

// opsError words the errors of the ops package for the command line.
func opsError(e *env, err error) error {
	if errors.Is(err, ops.ErrNotMigrated) {
		return fmt.Errorf("database %s is not migrated: has the server ever run against it?", databaseName(e.g.DatabaseURL))
	}
	return err
}

type verifyCmd struct {
	Name       string `arg:"" name:"projection" help:"Projection to verify: ${rebuildable}."`
	Keep       bool   `name:"keep" help:"Keep the scratch generation (schema <projection>_verify) for inspection."`
	Examples   int    `name:"examples" default:"5" help:"Differing rows shown per table and side."`
	Batch      int    `name:"batch" default:"${default_batch}" help:"Events applied per transaction."`
	NoProgress bool   `name:"no-progress" help:"No progress bar (it is only shown when standard error is a terminal)."`
}

func (c *verifyCmd) Validate() error {
	if err := checkRebuildable(c.Name); err != nil {
		return err
	}
	if c.Batch <= 0 || c.Examples < 0 {
		return usagef("--batch must be positive and --examples not negative")
	}
	return nil
}

// errDifferent makes verify exit 1 after its report.
var errDifferent = errors.New("the live projection differs from a rebuild")

func (c *verifyCmd) Run(e *env) error {
	d, closeAll, err := e.opsDeps()
	if err != nil {
		return err
	}
	defer closeAll()
	bar := newProgress(e, !c.NoProgress, "verify "+c.Name)
	defer bar.finish()
	res, err := ops.Verify(e.ctx, d, c.Name, ops.VerifyOptions{Keep: c.Keep, Examples: c.Examples, Batch: c.Batch, Progress: bar})
	if err != nil {
		return opsError(e, err)
	}
	bar.finish()
	for _, t := range res.Tables {
		fmt.Fprintf(e.stdout, "%-22s %d differing rows\n", t.Table, t.Rows)
		for _, ex := range t.Examples {
			fmt.Fprintf(e.stdout, "  %s\n", ex)
		}
	}
	fmt.Fprintf(e.stdout, "total: %d differing rows (%d events replayed)\n", res.DifferingRows, res.Replayed)
	if res.KeptIn != "" {
		fmt.Fprintf(e.stdout, "the scratch generation is kept in schema %s\n", res.KeptIn)
	}
	if res.DifferingRows > 0 {
		return errDifferent
	}
	return nil
}
