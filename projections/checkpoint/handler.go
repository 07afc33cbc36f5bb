package checkpoint

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Handler is a projection as its projectors run it: it keeps its own checkpoints (next offset
// per topic and partition, stored with its effects) and applies batches of decoded records in
// offset order per partition. The Kafka side (kafka.Decoding) decodes the log's records for it
// and dead-letters what keeps failing.
//
// Handle's errors are about the records unless marked Unavailable: a failure of what the
// projection writes to (the database, Redis) is retried without end and never dead-letters
// anything, since every record would fail alike until it is back.
type Handler interface {
	Checkpoints(ctx context.Context) (map[string]map[int32]int64, error)
	Handle(ctx context.Context, recs []Record) error
	// Skip moves the projection past a record its projector gave up on (dead-lettered), and
	// records why where the projection keeps its counts.
	Skip(ctx context.Context, rec Record, cause error) error
}

// Lenient is a Handler that takes records whose envelope cannot be decoded instead of failing
// the batch on them: it is told of each (Undecodable) and then handed it with a zero Event.
type Lenient interface {
	Undecodable(rec Record, err error)
}

// Definition is what a projection package says of its projection for the table of the
// projections the server runs (adapters/ops): its checkpoint name and, when it can be rebuilt
// beside the live one, its tables and how to apply records into a copy of them.
type Definition struct {
	// Name is the projection's checkpoint name.
	Name string
	// Tables are the tables the projection owns (written only by it, derived only from the log):
	// a rebuilt generation has its own copy of each, and the swap exchanges them all at once.
	// None has a sequence or a foreign key, so a copy made with LIKE ... INCLUDING ALL stands
	// alone. None: the projection cannot be rebuilt.
	Tables []string
	// DeferIndexes says that nothing the projection writes looks rows up by the tables'
	// secondary indexes (neither unique nor behind a constraint): a rebuild then makes its
	// generation without them and builds them after the bulk load, before the swap, which costs
	// Postgres less than keeping them up to date row by row (adapters/ops). A projection whose
	// writes find rows by such an index must not set it: each would become a scan of the table.
	DeferIndexes bool
	// Private are statements (with %[1]s for the quoted schema) creating tables a generation
	// writes but which are never swapped in: they shadow live tables that must not be written
	// twice, and go with the generation's schema.
	Private []string
	// ApplyIn applies records into the generation in schema (search_path = schema, public)
	// under its own checkpoint name projection.
	ApplyIn func(ctx context.Context, pool *pgxpool.Pool, schema, projection string, recs []Record) error
}

// Unavailable marks err as a failure of a dependency rather than of the records it was handling.
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	return unavailableError{err}
}

// IsUnavailable tells whether err (or an error it wraps) was marked Unavailable.
func IsUnavailable(err error) bool {
	var u unavailableError
	return errors.As(err, &u)
}

type unavailableError struct{ err error }

func (u unavailableError) Error() string { return u.err.Error() }
func (u unavailableError) Unwrap() error { return u.err }

// StoreError marks a failure of a projection's database as Unavailable (retried without end,
// never dead-lettered), unless it is Postgres refusing a statement for what the records hold: a
// data exception (22), an integrity violation (23) or a statement the data made invalid (42).
// Anything else, a lost connection or a failover included, is not the records' fault.
func StoreError(err error) error {
	if err == nil {
		return nil
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) == 5 {
		switch pg.Code[:2] {
		case "22", "23", "42":
			return err
		}
	}
	return Unavailable(err)
}

// BatchStore is a projection's store as its handler drives it: ApplyBatch applies a batch with
// the projection's checkpoints in the same transaction, Checkpoints reads them.
type BatchStore interface {
	ApplyBatch(ctx context.Context, recs []Record) error
	Checkpoints(ctx context.Context) (map[string]map[int32]int64, error)
}

// StoreHandler is the Handler of a projection that is a BatchStore and nothing more: a batch is
// applied by the store (a database failure marked Unavailable, so it is retried rather than
// dead-lettered), and a record its projector gives up on is skipped and counted in Dead.
type StoreHandler struct {
	Projection string
	Store      BatchStore
	Dead       DeadLetters
}

// Checkpoints are the store's.
func (h StoreHandler) Checkpoints(ctx context.Context) (map[string]map[int32]int64, error) {
	return h.Store.Checkpoints(ctx)
}

// Handle applies a batch.
func (h StoreHandler) Handle(ctx context.Context, recs []Record) error {
	return StoreError(h.Store.ApplyBatch(ctx, recs))
}

// Skip moves the projection's checkpoint past a dead-lettered record and counts it.
func (h StoreHandler) Skip(ctx context.Context, rec Record, cause error) error {
	return h.Dead.Skip(ctx, h.Projection, rec, cause)
}
