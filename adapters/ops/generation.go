package ops

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/chorus-chat/chorus/adapters/kafka"
	"github.com/chorus-chat/chorus/adapters/ops/admin"
	"github.com/chorus-chat/chorus/projections/checkpoint"
)

// Deps are what the operations run against: the database (migrated by the server) and a
// client of the Kafka cluster holding the log (kafka.NewReadClient).
type Deps struct {
	Pool   *pgxpool.Pool
	Client sarama.Client
	Topics kafka.Topics
}

// The operations' errors are admin's, which the gateway's admin endpoints know.
var (
	// ErrUnknownProjection: a name that is not a rebuildable projection.
	ErrUnknownProjection = admin.ErrUnknownProjection
	// ErrBusy: another rebuild or verify of the same projection holds it (in this process or
	// another: chorusctl, or an admin request to any gateway).
	ErrBusy = admin.ErrBusy
	// ErrNotMigrated: the database has no Chorus tables; the server never ran against it.
	ErrNotMigrated = admin.ErrNotMigrated
)

// Progress is told how far a rebuild is: Expect with the offsets each pass will read (a
// rebuild makes more than one when the live projector moves on meanwhile, so the total grows),
// Add as batches of them are applied. Transaction markers count, so the total slightly
// overstates the events.
type Progress interface {
	Expect(n int64)
	Add(n int64)
}

type noProgress struct{}

func (noProgress) Expect(int64) {}
func (noProgress) Add(int64)    {}

// generation builds one generation of a projection in its own schema.
type generation struct {
	Deps
	proj       *Projection
	schema     string // e.g. readmodel_next
	projection string // its checkpoint name, e.g. readmodel@next
	batch      int
	progress   Progress
	applied    atomic.Int64
	dead       map[checkpoint.Partition]map[int64]bool // records the live projector dead-lettered
	lock       *pgxpool.Conn                           // holds the generation's advisory lock
}

// Kinds of generation: the schema is <projection>_<kind>, the checkpoint name <projection>@<kind>.
const (
	kindNext   = "next"   // rebuild's new generation; resumable
	kindOld    = "old"    // where the live tables go during the swap, dropped with it
	kindVerify = "verify" // verify's scratch generation
)

// SchemaOf is the schema of a projection's generation of kind (next, old, verify).
func SchemaOf(projection, kind string) string { return projection + "_" + kind }

// generationCheckpoints is the checkpoint name of a projection's generation of kind.
func generationCheckpoints(projection, kind string) string { return projection + "@" + kind }

// openGeneration takes the generation's advisory lock (ErrBusy if someone holds it) and reads
// the live projector's dead letters. close releases the lock.
func openGeneration(ctx context.Context, d Deps, name, kind string, batch int, p Progress) (*generation, error) {
	proj, err := RebuildableProjection(name)
	if err != nil {
		return nil, err
	}
	if batch <= 0 {
		batch = DefaultBatch
	}
	if p == nil {
		p = noProgress{}
	}
	g := &generation{Deps: d, proj: proj, schema: SchemaOf(name, kind), projection: generationCheckpoints(name, kind), batch: batch, progress: p}
	if err := g.takeLock(ctx); err != nil {
		return nil, err
	}
	if err := g.loadDeadLetters(ctx); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

// DefaultBatch is how many events a rebuild applies per transaction by default. Measured on 2
// cores (make bench-rebuild, 2026-12-06): 5,000 costs the read model's rebuild ~10% less CPU
// than 2,000 (fewer transactions, checkpoints and per-batch statements).
const DefaultBatch = 5000

// takeLock takes a session advisory lock named after the projection (not the schema: a
// rebuild and a verify of one projection must not run at once either, as the swap of one
// would pull the live tables from under the compare of the other).
func (g *generation) takeLock(ctx context.Context) error {
	conn, err := g.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(g.proj.Name)).Scan(&ok); err != nil {
		conn.Release()
		return err
	}
	if !ok {
		conn.Release()
		return fmt.Errorf("%w: a rebuild or verify of %s is already running", ErrBusy, g.proj.Name)
	}
	g.lock = conn
	return nil
}

// lockKey is the advisory lock key of a projection's generations.
func lockKey(projection string) int64 {
	h := fnv.New64a()
	h.Write([]byte("chorus generation " + projection))
	return int64(h.Sum64())
}

// close releases the advisory lock, then closes its connection (which also works when the
// context that took it is gone). The unlock comes first because a closed connection's backend
// drops its locks only as it exits, after the client has moved on: a rebuild started right after
// a failed one (chorusctl run again at once) could find the lock still held and answer busy.
func (g *generation) close() {
	if g.lock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = g.lock.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockKey(g.proj.Name))
		cancel()
		_ = g.lock.Hijack().Close(context.Background())
		g.lock = nil
	}
}

// notMigrated turns "relation does not exist" into ErrNotMigrated.
func notMigrated(err error) error {
	if undefinedTable(err) {
		return ErrNotMigrated
	}
	return err
}

// undefinedTable tells whether err is Postgres's "relation does not exist".
func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// loadDeadLetters reads which records the live projector gave up on: the rebuild skips them
// too, as the live projection did, rather than stop on them.
func (g *generation) loadDeadLetters(ctx context.Context) error {
	rows, err := g.Pool.Query(ctx, `SELECT source_topic, source_partition, source_offset FROM projection_dead_letters WHERE projection = $1`, g.proj.Name)
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", g.proj.Name, notMigrated(err))
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
		return fmt.Errorf("dead letters of %s: %w", g.proj.Name, err)
	}
	return nil
}

func (g *generation) ident() string { return pgx.Identifier{g.schema}.Sanitize() }

// create makes the generation's schema and tables unless they exist; it tells whether the
// schema existed already (an interrupted rebuild to resume).
func (g *generation) create(ctx context.Context) (existed bool, err error) {
	err = pgx.BeginFunc(ctx, g.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, g.schema).Scan(&existed); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+g.ident()); err != nil {
			return err
		}
		for _, t := range g.proj.Tables {
			q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (LIKE public.%s INCLUDING ALL)", g.ident(), t, t)
			if _, err := tx.Exec(ctx, q); err != nil {
				return notMigrated(err)
			}
		}
		for _, q := range g.proj.Private {
			if _, err := tx.Exec(ctx, fmt.Sprintf(q, g.ident())); err != nil {
				return err
			}
		}
		if err := renameIndexesLike(ctx, tx, g.schema, g.proj.Tables); err != nil {
			return err
		}
		if existed || !g.proj.DeferIndexes {
			return nil // what it deferred is still deferred; buildIndexes makes what is missing
		}
		return g.deferIndexes(ctx, tx)
	})
	if err != nil {
		return false, fmt.Errorf("create generation %s: %w", g.schema, err)
	}
	return existed, nil
}

// deferIndexes drops the new generation's secondary indexes, the ones neither unique nor behind
// a constraint, of a projection whose writes never look rows up by them (DeferIndexes):
// conflicts are found by the unique ones, which stay (and so are duplicates of messages copied
// in), and one CREATE INDEX over the full table after the bulk load (buildIndexes, before the
// swap) costs Postgres less than keeping the index up to date row by row. The live ones are
// their definitions.
func (g *generation) deferIndexes(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = $1 AND t.relname = ANY($2) AND NOT i.indisunique
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`, g.schema, g.proj.Tables)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := tx.Exec(ctx, "DROP INDEX "+pgx.Identifier{g.schema, name}.Sanitize()); err != nil {
			return fmt.Errorf("defer index %s: %w", name, err)
		}
	}
	return nil
}

// buildIndexes creates on the generation's tables every secondary index (not unique) the live
// tables have and the generation lacks (those deferIndexes dropped), under the live names, each
// in a transaction of its own: interrupted, the next run makes the rest.
func (g *generation) buildIndexes(ctx context.Context) error {
	// The definition after USING (method, columns, predicate) names neither the index nor its
	// schema; the first " USING " is the index's own, the ON clause naming only the table.
	rows, err := g.Pool.Query(ctx, `SELECT c.relname, t.relname, substring(pg_get_indexdef(i.indexrelid) FROM ' USING .*$')
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_class t ON t.oid = i.indrelid
		WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($2) AND NOT i.indisunique
		  AND NOT EXISTS (SELECT 1 FROM pg_class x WHERE x.relname = c.relname AND x.relnamespace = $1::regnamespace)
		ORDER BY t.relname, c.relname`, g.schema, g.proj.Tables)
	if err != nil {
		return fmt.Errorf("indexes of %s: %w", g.schema, err)
	}
	type index struct{ name, table, def string }
	var missing []index
	var ix index
	if _, err := pgx.ForEachRow(rows, []any{&ix.name, &ix.table, &ix.def}, func() error { missing = append(missing, ix); return nil }); err != nil {
		return fmt.Errorf("indexes of %s: %w", g.schema, err)
	}
	for _, ix := range missing {
		q := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s%s", pgx.Identifier{ix.name}.Sanitize(), pgx.Identifier{g.schema, ix.table}.Sanitize(), ix.def)
		if _, err := g.Pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("build index %s of %s: %w", ix.name, g.schema, err)
		}
	}
	return nil
}

// renameIndexesLike gives the indexes of schema's tables the names of the live ones: LIKE names
// them after their columns, and migrations refer to indexes by name (for example
// room_message_changes_sent_idx), so after a swap they must still be found.
func renameIndexesLike(ctx context.Context, tx pgx.Tx, schema string, tables []string) error {
	// An index is matched by its definition after USING (method, columns, predicate), which
	// does not mention its name or schema.
	rows, err := tx.Query(ctx, `SELECT n.indexname, o.indexname
		FROM pg_indexes n JOIN pg_indexes o
		  ON o.schemaname = 'public' AND o.tablename = n.tablename
		 AND substring(o.indexdef FROM ' USING .*$') = substring(n.indexdef FROM ' USING .*$')
		WHERE n.schemaname = $1 AND n.tablename = ANY($2) AND n.indexname <> o.indexname`, schema, tables)
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
	err := pgx.BeginFunc(ctx, g.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+g.ident()+" CASCADE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM projection_checkpoints WHERE projection = $1`, g.projection)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop generation %s: %w", g.schema, notMigrated(err))
	}
	return nil
}

// catchUp applies every partition of the projection's topics into the generation from its
// checkpoints up to the log end as it is now, or, with upTo, exactly up to those offsets (a
// partition missing from upTo: nothing). Afterwards each partition's checkpoint is at its end,
// past any transaction markers there.
func (g *generation) catchUp(ctx context.Context, upTo map[string]map[int32]int64) error {
	logs, err := kafka.LogRanges(g.Client, g.proj.Topics(g.Topics))
	if err != nil {
		return err
	}
	cps, err := checkpoint.Load(ctx, g.Pool, g.projection)
	if err != nil {
		return err
	}
	var parts []kafka.PartitionRange
	var total int64
	for _, l := range logs {
		l.Start = cps[l.Topic][l.Partition]
		if upTo != nil {
			l.End = min(l.End, upTo[l.Topic][l.Partition])
		}
		if l.Start < l.End {
			parts = append(parts, l)
			total += l.End - l.Start
		}
	}
	g.progress.Expect(total)
	// Partitions hold disjoint rows (every row of a projection belongs to one aggregate, and an
	// aggregate to one partition), so they can be applied side by side: on more than one
	// Postgres backend, while more than one goroutine decodes.
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(parallelPartitions)
	for _, l := range parts {
		eg.Go(func() error { return g.applyRange(ctx, l) })
	}
	return eg.Wait()
}

// parallelPartitions is how many partitions a rebuild applies at once. Measured on 2 cores
// (make bench-rebuild): one at a time 46k events/s, two 53k (both before messages went in by
// COPY); with COPY, two ~62k and three ~60k.
const parallelPartitions = 2

var errRangeEnd = errors.New("end of range")

// chunk is a batch of records and the offset after the last record read for it (dead letters
// and transaction markers included).
type chunk struct {
	recs []checkpoint.Record
	upTo int64
}

// applyRange applies [l.Start, l.End) of one partition in batches, each with its checkpoint.
// Reading and decoding run in a goroutine of their own, a batch ahead of the one being written,
// so that Postgres and the decoding work at the same time. Progress moves as batches are
// applied.
func (g *generation) applyRange(ctx context.Context, l kafka.PartitionRange) error {
	p := checkpoint.Partition{Topic: l.Topic, Part: l.Partition}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan chunk, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		batch := make([]checkpoint.Record, 0, g.batch)
		send := func(upTo int64) error {
			select {
			case chunks <- chunk{batch, upTo}:
				batch = make([]checkpoint.Record, 0, g.batch)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		_, err := kafka.ReadCommitted(ctx, g.Client, l.Topic, l.Partition, l.Start, func(rec kafka.Record) error {
			if rec.Offset >= l.End {
				return errRangeEnd
			}
			if g.dead[p][rec.Offset] {
				return nil
			}
			ev, err := kafka.DecodeEvent(rec.Value)
			if err != nil {
				return fmt.Errorf("event at %s/%d/%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
			}
			batch = append(batch, checkpoint.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Event: ev})
			if len(batch) >= g.batch {
				return send(rec.Offset + 1)
			}
			return nil
		})
		if err == nil || errors.Is(err, errRangeEnd) {
			err = send(l.End)
		}
		readErr <- err
	}()
	passed := l.Start
	for c := range chunks {
		if len(c.recs) > 0 {
			if err := g.proj.ApplyIn(ctx, g.Pool, g.schema, g.projection, c.recs); err != nil {
				cancel()
				for range chunks { // let the reader end
				}
				return err
			}
			g.applied.Add(int64(len(c.recs)))
		}
		g.progress.Add(c.upTo - passed)
		passed = c.upTo
	}
	if err := <-readErr; err != nil {
		return err
	}
	// Past the markers (and dead letters) at the end too, so that the checkpoint is comparable
	// with the live one, which the projector also moves past dead letters.
	return checkpoint.Raise(ctx, g.Pool, g.projection, map[checkpoint.Partition]int64{p: l.End})
}

// swap makes the generation live if it has reached the live projection everywhere: in one
// transaction, with the live checkpoint rows locked (so the live projector waits), the live
// tables move to <projection>_old and the generation's to public, the live checkpoints move up
// to the generation's, and the old tables are dropped. Readers see the old tables or the new
// ones, never a mix. It returns false, changing nothing, when the live projector is ahead
// somewhere.
func (g *generation) swap(ctx context.Context) (bool, error) {
	tx, err := g.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, `SELECT topic, partition, next_offset FROM projection_checkpoints
		WHERE projection = $1 ORDER BY topic, partition FOR UPDATE`, g.proj.Name)
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
	// Only the checkpoints of the topics the generation reads count: the live projection may
	// also hold some of topics it no longer reads, those a partition-count migration copied
	// from (docs/operations.md), which the generation never reaches.
	reads := g.proj.Topics(g.Topics)
	for _, c := range live {
		if slices.Contains(reads, c.topic) && gen[c.topic][c.part] < c.off {
			return false, nil
		}
	}
	old := pgx.Identifier{SchemaOf(g.proj.Name, kindOld)}.Sanitize()
	var public []string
	for _, t := range g.proj.Tables {
		public = append(public, "public."+t)
	}
	stmts := []string{
		"LOCK TABLE " + strings.Join(public, ", ") + " IN ACCESS EXCLUSIVE MODE",
		"DROP SCHEMA IF EXISTS " + old + " CASCADE",
		"CREATE SCHEMA " + old,
	}
	for _, t := range g.proj.Tables {
		stmts = append(stmts,
			fmt.Sprintf("ALTER TABLE public.%s SET SCHEMA %s", t, old),
			fmt.Sprintf("ALTER TABLE %s.%s SET SCHEMA public", g.ident(), t))
	}
	// The generation's private tables go with its schema.
	stmts = append(stmts, "DROP SCHEMA "+old+" CASCADE", "DROP SCHEMA "+g.ident()+" CASCADE")
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return false, fmt.Errorf("%s: %w", q, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, updated_at)
		SELECT $1, topic, partition, next_offset, now() FROM projection_checkpoints WHERE projection = $2
		ON CONFLICT (projection, topic, partition) DO UPDATE
		SET next_offset = GREATEST(projection_checkpoints.next_offset, EXCLUDED.next_offset), updated_at = now()`,
		g.proj.Name, g.projection); err != nil {
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

// TableDiff is how one table of the live projection differs from a rebuild.
type TableDiff struct {
	Table string `json:"table"`
	// Rows is the number of rows found on one side only (a changed row counts twice: its live
	// version and its rebuilt one).
	Rows int `json:"differing_rows"`
	// Examples are some of them, "live: {...}" or "rebuilt: {...}".
	Examples []string `json:"examples"`
}

// compare compares the generation with the live tables at the same offsets: it holds the live
// checkpoint rows FOR SHARE (the live projector waits) and first brings the generation to them.
func (g *generation) compare(ctx context.Context, examples int) ([]TableDiff, error) {
	tx, err := g.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	rows, err := tx.Query(ctx, `SELECT topic, partition, next_offset FROM projection_checkpoints
		WHERE projection = $1 ORDER BY topic, partition FOR SHARE`, g.proj.Name)
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
	if err := g.catchUp(ctx, live); err != nil {
		return nil, err
	}
	var out []TableDiff
	for _, t := range g.proj.Tables {
		d := TableDiff{Table: t}
		for _, side := range []struct{ name, a, b string }{
			{"live", "public." + t, g.ident() + "." + t},
			{"rebuilt", g.ident() + "." + t, "public." + t},
		} {
			diff := fmt.Sprintf("(TABLE %s EXCEPT ALL TABLE %s) x", side.a, side.b)
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+diff).Scan(&n); err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
			d.Rows += n
			if n == 0 || examples == 0 {
				continue
			}
			rows, err := tx.Query(ctx, fmt.Sprintf("SELECT row_to_json(x)::text FROM %s LIMIT %d", diff, examples))
			if err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
			var js string
			if _, err := pgx.ForEachRow(rows, []any{&js}, func() error {
				d.Examples = append(d.Examples, side.name+": "+js)
				return nil
			}); err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
		}
		out = append(out, d)
	}
	return out, nil
}
