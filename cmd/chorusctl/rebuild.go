package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/domain"
	"github.com/chorus-chat/chorus/projections/checkpoint"
	"github.com/chorus-chat/chorus/projections/readmodel"
)

// A generation of the read model is a Postgres schema holding its own copy of the read-model
// tables, built from offset 0 beside the live tables in public (which keep serving), with its
// checkpoints in projection_checkpoints under its own projection name.
const (
	nextSchema   = "readmodel_next"   // rebuild's new generation; resumable
	oldSchema    = "readmodel_old"    // where the live tables go during the swap, dropped with it
	verifySchema = "readmodel_verify" // verify's scratch generation
)

// readModelTables are the tables the readmodel projection writes (migrations 00001 and 00003):
// not the accounts tables, the checkpoints, nor other projections' tables. None has a sequence
// or a foreign key, so a copy made with LIKE ... INCLUDING ALL stands on its own.
var readModelTables = []string{"users", "rooms", "room_members", "room_bans", "room_invitations", "messages", "room_message_changes"}

// generationProjection is the checkpoint name of the generation in schema.
func generationProjection(schema string) string {
	return readmodel.Projection + "@" + strings.TrimPrefix(schema, readmodel.Projection+"_")
}

func checkRebuildable(name string) error {
	if name != readmodel.Projection {
		return usagef("projection %q: only readmodel can be rebuilt yet", name)
	}
	return nil
}

type rebuildCmd struct {
	Name       string `arg:"" name:"projection" help:"Projection to rebuild (only readmodel can be rebuilt yet)."`
	Restart    bool   `name:"restart" help:"Drop the generation an interrupted rebuild left (readmodel_next) and start over."`
	Drop       bool   `name:"drop" help:"Only drop the generation an interrupted rebuild left (readmodel_next), and exit."`
	Batch      int    `name:"batch" default:"1000" help:"Events applied per transaction."`
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
	ctx := e.ctx
	g, closeAll, err := openGeneration(e, nextSchema, c.Batch)
	if err != nil {
		return err
	}
	defer closeAll()
	if c.Drop || c.Restart {
		if err := g.drop(ctx); err != nil {
			return err
		}
		if c.Drop {
			fmt.Fprintf(e.stdout, "dropped %s\n", nextSchema)
			return nil
		}
	}
	resumed, err := g.create(ctx)
	if err != nil {
		return err
	}
	if resumed {
		fmt.Fprintf(e.stderr, "resuming the rebuild in %s from its checkpoints (--restart starts over)\n", nextSchema)
	}
	g.bar = newProgress(e, !c.NoProgress, "rebuild readmodel")
	defer g.bar.finish()
	for attempt := 0; ; attempt++ {
		// The live projector cannot stay ahead for long (each pass only applies what arrived
		// since the last), unless its checkpoints are beyond the log end (a log that was reset,
		// which status shows as unknown), or readers keep deadlocking with the swap.
		if attempt == maxSwapAttempts {
			return fmt.Errorf("rebuild readmodel: could not swap after %d attempts: are the live checkpoints beyond the log end (see projections status)? Run again to resume", attempt)
		}
		if err := g.catchUp(ctx, nil, attempt == 0); err != nil {
			return fmt.Errorf("rebuild readmodel (the live read model is untouched; run again to resume): %w", err)
		}
		swapped, err := g.swap(ctx)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "55P03") && ctx.Err() == nil {
			continue // a reader of two tables crossed our locks: try again
		}
		if err != nil {
			return fmt.Errorf("rebuild readmodel: swap (the live read model is untouched; run again to resume): %w", err)
		}
		if swapped {
			break
		}
		// The live projector went past what we applied: catch up again.
	}
	g.bar.finish()
	fmt.Fprintf(e.stdout, "rebuilt readmodel: %d events applied; the new tables are live\n", g.applied)
	return nil
}

// maxSwapAttempts bounds the catch-up passes before the swap.
const maxSwapAttempts = 50

type verifyCmd struct {
	Name       string `arg:"" name:"projection" help:"Projection to verify (only readmodel can be rebuilt yet)."`
	Keep       bool   `name:"keep" help:"Keep the scratch generation (schema readmodel_verify) for inspection."`
	Examples   int    `name:"examples" default:"5" help:"Differing rows shown per table and side."`
	Batch      int    `name:"batch" default:"1000" help:"Events applied per transaction."`
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
var errDifferent = errors.New("the live read model differs from a rebuild")

func (c *verifyCmd) Run(e *env) error {
	ctx := e.ctx
	g, closeAll, err := openGeneration(e, verifySchema, c.Batch)
	if err != nil {
		return err
	}
	defer closeAll()
	// A scratch generation left by an earlier verify may be at any offsets: start afresh.
	if err := g.drop(ctx); err != nil {
		return err
	}
	if _, err := g.create(ctx); err != nil {
		return err
	}
	if !c.Keep {
		defer func() {
			// Dropped even when interrupted, so with a context of its own.
			_ = g.drop(context.WithoutCancel(ctx))
		}()
	}
	g.bar = newProgress(e, !c.NoProgress, "verify readmodel")
	defer g.bar.finish()
	// Build up to the live checkpoints as they are now, without holding anything.
	live, err := checkpoint.Load(ctx, g.pool, readmodel.Projection)
	if err != nil {
		return err
	}
	if err := g.catchUp(ctx, live, true); err != nil {
		return fmt.Errorf("verify readmodel: %w", err)
	}
	g.bar.finish()
	diffs, err := g.compare(ctx, c.Examples)
	if err != nil {
		return fmt.Errorf("verify readmodel: %w", err)
	}
	total := 0
	for _, d := range diffs {
		total += d.count
		fmt.Fprintf(e.stdout, "%-22s %d differing rows\n", d.table, d.count)
		for _, ex := range d.examples {
			fmt.Fprintf(e.stdout, "  %s\n", ex)
		}
	}
	fmt.Fprintf(e.stdout, "total: %d differing rows (%d events replayed)\n", total, g.applied)
	if c.Keep {
		fmt.Fprintf(e.stdout, "the scratch generation is kept in schema %s\n", verifySchema)
	}
	if total > 0 {
		return errDifferent
	}
	return nil
}

// generation builds one generation of the read model.
type generation struct {
	pool       *pgxpool.Pool
	store      *readmodel.Store
	client     sarama.Client
	topics     []string
	schema     string
	projection string
	batch      int
	bar        *progress
	applied    int64
	dead       map[checkpoint.Partition]map[int64]bool // records the live projector dead-lettered
}

func openGeneration(e *env, schema string, batch int) (*generation, func(), error) {
	pool, err := openDatabase(e.ctx, e.g.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	client, err := kafka.NewReadClient(e.kafkaConfig())
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	g := &generation{pool: pool, store: readmodel.NewStore(pool), client: client, topics: e.kafkaConfig().Topics.EventTopics(),
		schema: schema, projection: generationProjection(schema), batch: batch, bar: &progress{}}
	if err := g.loadDeadLetters(e.ctx); err != nil {
		client.Close()
		pool.Close()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return nil, nil, fmt.Errorf("database %s is not migrated: has the server ever run against it?", databaseName(e.g.DatabaseURL))
		}
		return nil, nil, err
	}
	return g, func() { client.Close(); pool.Close() }, nil
}

// loadDeadLetters reads which records the live projector gave up on: the rebuild skips them too,
// as the live read model did, rather than stop on them.
func (g *generation) loadDeadLetters(ctx context.Context) error {
	rows, err := g.pool.Query(ctx, `SELECT source_topic, source_partition, source_offset FROM projection_dead_letters WHERE projection = $1`, readmodel.Projection)
	if err != nil {
		return fmt.Errorf("dead letters of readmodel: %w", err)
	}
	g.dead = map[checkpoint.Partition]map[int64]bool{}
	var (
		topic string
		part  int32
		off   int64
	)
	_, err = pgx.ForEachRow(rows, []any{&topic, &part, &off}, func() error {
		p := checkpoint.Partition{Topic: topic, Part: part}
		if g.dead[p] == nil {
			g.dead[p] = map[int64]bool{}
		}
		g.dead[p][off] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("dead letters of readmodel: %w", err)
	}
	return nil
}

func (g *generation) ident() string { return pgx.Identifier{g.schema}.Sanitize() }

// create makes the generation's schema and tables unless they exist; it tells whether the
// schema existed already (an interrupted rebuild to resume).
func (g *generation) create(ctx context.Context) (existed bool, err error) {
	err = pgx.BeginFunc(ctx, g.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, g.schema).Scan(&existed); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+g.ident()); err != nil {
			return err
		}
		for _, t := range readModelTables {
			q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (LIKE public.%s INCLUDING ALL)", g.ident(), t, t)
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return renameIndexesLike(ctx, tx, g.schema)
	})
	if err != nil {
		return false, fmt.Errorf("create generation %s: %w", g.schema, err)
	}
	return existed, nil
}

// renameIndexesLike gives the indexes of schema's tables the names of the live ones: LIKE names
// them after their columns, and migrations refer to indexes by name (for example
// room_message_changes_sent_idx), so after a swap they must still be found.
func renameIndexesLike(ctx context.Context, tx pgx.Tx, schema string) error {
	// An index is matched by its definition after USING (method, columns, predicate), which
	// does not mention its name or schema.
	rows, err := tx.Query(ctx, `SELECT n.indexname, o.indexname
		FROM pg_indexes n JOIN pg_indexes o
		  ON o.schemaname = 'public' AND o.tablename = n.tablename
		 AND substring(o.indexdef FROM ' USING .*$') = substring(n.indexdef FROM ' USING .*$')
		WHERE n.schemaname = $1 AND n.tablename = ANY($2) AND n.indexname <> o.indexname`, schema, readModelTables)
	if err != nil {
		return err
	}
	type rename struct{ from, to string }
	var renames []rename
	var r rename
	if _, err := pgx.ForEachRow(rows, []any{&r.from, &r.to}, func() error { renames = append(renames, r); return nil }); err != nil {
		return err
	}
	for _, r := range renames {
		q := fmt.Sprintf("ALTER INDEX %s RENAME TO %s", pgx.Identifier{schema, r.from}.Sanitize(), pgx.Identifier{r.to}.Sanitize())
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("rename index %s: %w", r.from, err)
		}
	}
	return nil
}

// drop removes the generation: its schema and its checkpoints.
func (g *generation) drop(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, g.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+g.ident()+" CASCADE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE projection = $1`, g.projection)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop generation %s: %w", g.schema, err)
	}
	return nil
}

// catchUp applies every partition of the event topics into the generation from its checkpoints
// up to the log end as it is now, or, with upTo, exactly up to those offsets (a partition
// missing from upTo: nothing). Afterwards each partition's checkpoint is at its end, past any
// transaction markers there. showBar draws the progress bar (once per command).
func (g *generation) catchUp(ctx context.Context, upTo map[string]map[int32]int64, showBar bool) error {
	logs, err := kafka.LogRanges(g.client, g.topics)
	if err != nil {
		return err
	}
	cps, err := checkpoint.Load(ctx, g.pool, g.projection)
	if err != nil {
		return err
	}
	var r kafka.ReplayRange
	for _, l := range logs {
		l.Start = cps[l.Topic][l.Partition]
		if upTo != nil {
			l.End = min(l.End, upTo[l.Topic][l.Partition])
		}
		if l.Start < l.End {
			r.Partitions = append(r.Partitions, l)
			r.Total += l.End - l.Start
		}
	}
	if showBar {
		g.bar.start(r)
	}
	for _, l := range r.Partitions {
		if err := g.applyRange(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

var errRangeEnd = errors.New("end of range")

// afterBatch, if set (by tests), runs after every batch applied into a generation.
var afterBatch func()

// applyRange applies [l.Start, l.End) of one partition in batches, each with its checkpoint.
func (g *generation) applyRange(ctx context.Context, l kafka.PartitionRange) error {
	p := checkpoint.Partition{Topic: l.Topic, Part: l.Partition}
	batch := make([]readmodel.Record, 0, g.batch)
	flush := func() error {
		if err := g.store.ApplyBatchIn(ctx, g.schema, g.projection, batch); err != nil {
			return err
		}
		g.applied += int64(len(batch))
		if len(batch) > 0 && afterBatch != nil {
			afterBatch()
		}
		batch = batch[:0]
		return nil
	}
	passed := l.Start
	_, err := kafka.ReadCommitted(ctx, g.client, l.Topic, l.Partition, l.Start, func(rec kafka.Record) error {
		if rec.Offset >= l.End {
			return errRangeEnd
		}
		g.bar.counter().Add(rec.Offset + 1 - passed)
		passed = rec.Offset + 1
		if g.dead[p][rec.Offset] {
			return nil
		}
		var ev domain.Event
		if err := json.Unmarshal(rec.Value, &ev); err != nil {
			return fmt.Errorf("event at %s/%d/%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		batch = append(batch, readmodel.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Event: ev})
		if len(batch) >= g.batch {
			return flush()
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRangeEnd) {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	g.bar.counter().Add(l.End - passed)
	// Past the markers (and dead letters) at the end too, so that the checkpoint is comparable
	// with the live one, which the projector also moves past dead letters.
	return g.store.SaveCheckpoints(ctx, g.projection, []readmodel.Record{{Topic: l.Topic, Partition: l.Partition, Offset: l.End - 1}})
}

// swap makes the generation live if it has reached the live projection everywhere: in one
// transaction, with the live checkpoint rows locked (so the live projector waits), the live
// tables move to readmodel_old and the generation's to public, the live checkpoints move up to
// the generation's, and the old tables are dropped. Readers see the old tables or the new ones,
// never a mix. It returns false, changing nothing, when the live projector is ahead somewhere.
func (g *generation) swap(ctx context.Context) (bool, error) {
	tx, err := g.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, `SELECT topic, partition, next_offset FROM projection_checkpoints
		WHERE projection = $1 ORDER BY topic, partition FOR UPDATE`, readmodel.Projection)
	if err != nil {
		return false, err
	}
	type cp struct {
		topic string
		part  int32
		off   int64
	}
	var live []cp
	var c cp
	if _, err := pgx.ForEachRow(rows, []any{&c.topic, &c.part, &c.off}, func() error { live = append(live, c); return nil }); err != nil {
		return false, err
	}
	gen, err := checkpoint.Load(ctx, tx, g.projection)
	if err != nil {
		return false, err
	}
	for _, c := range live {
		if gen[c.topic][c.part] < c.off {
			return false, nil
		}
	}
	var public []string
	for _, t := range readModelTables {
		public = append(public, "public."+t)
	}
	stmts := []string{
		"LOCK TABLE " + strings.Join(public, ", ") + " IN ACCESS EXCLUSIVE MODE",
		"DROP SCHEMA IF EXISTS " + oldSchema + " CASCADE",
		"CREATE SCHEMA " + oldSchema,
	}
	for _, t := range readModelTables {
		stmts = append(stmts,
			fmt.Sprintf("ALTER TABLE public.%s SET SCHEMA %s", t, oldSchema),
			fmt.Sprintf("ALTER TABLE %s.%s SET SCHEMA public", g.ident(), t))
	}
	stmts = append(stmts, "DROP SCHEMA "+oldSchema+" CASCADE", "DROP SCHEMA "+g.ident())
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return false, fmt.Errorf("%s: %w", q, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, updated_at)
		SELECT $1, topic, partition, next_offset, now() FROM projection_checkpoints WHERE projection = $2
		ON CONFLICT (projection, topic, partition) DO UPDATE
		SET next_offset = GREATEST(projection_checkpoints.next_offset, EXCLUDED.next_offset), updated_at = now()`,
		readmodel.Projection, g.projection); err != nil {
		return false, fmt.Errorf("move the checkpoints: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE projection = $1`, g.projection); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// tableDiff is how one table of the live read model differs from the generation.
type tableDiff struct {
	table    string
	count    int
	examples []string // "live: {...}" or "rebuilt: {...}"
}

// compare compares the generation with the live tables at the same offsets: it holds the live
// checkpoint rows FOR SHARE (the live projector waits) and first brings the generation to them.
func (g *generation) compare(ctx context.Context, examples int) ([]tableDiff, error) {
	tx, err := g.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	rows, err := tx.Query(ctx, `SELECT topic, partition, next_offset FROM projection_checkpoints
		WHERE projection = $1 ORDER BY topic, partition FOR SHARE`, readmodel.Projection)
	if err != nil {
		return nil, err
	}
	live := map[string]map[int32]int64{}
	var (
		topic string
		part  int32
		off   int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&topic, &part, &off}, func() error {
		if live[topic] == nil {
			live[topic] = map[int32]int64{}
		}
		live[topic][part] = off
		return nil
	}); err != nil {
		return nil, err
	}
	// The live projector may have moved on since the build: the rest goes in from other
	// connections (the generation's checkpoint rows are not the ones held here), and each
	// statement below sees it, at READ COMMITTED.
	if err := g.catchUp(ctx, live, false); err != nil {
		return nil, err
	}
	var out []tableDiff
	for _, t := range readModelTables {
		d := tableDiff{table: t}
		for _, side := range []struct{ name, a, b string }{
			{"live", "public." + t, g.ident() + "." + t},
			{"rebuilt", g.ident() + "." + t, "public." + t},
		} {
			diff := fmt.Sprintf("(TABLE %s EXCEPT ALL TABLE %s) x", side.a, side.b)
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+diff).Scan(&n); err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
			d.count += n
			if n == 0 || examples == 0 {
				continue
			}
			rows, err := tx.Query(ctx, fmt.Sprintf("SELECT row_to_json(x)::text FROM %s LIMIT %d", diff, examples))
			if err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
			var js string
			if _, err := pgx.ForEachRow(rows, []any{&js}, func() error {
				d.examples = append(d.examples, side.name+": "+js)
				return nil
			}); err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
		}
		out = append(out, d)
	}
	return out, nil
}
