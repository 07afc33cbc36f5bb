package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chorus-chat/chorus/projections/search"
)

// world is the generated data: rooms, users and their memberships, and samples of the messages
// that queries are drawn from (the last two as the database holds them, see sampleDatabase).
type world struct {
	o       options
	rng     *rand.Rand
	corpus  *corpus
	rooms   []uuid.UUID
	private map[uuid.UUID]bool
	roomCDF []float64 // cumulative share of messages, by room
	users   []uuid.UUID
	member  map[uuid.UUID][]uuid.UUID // user → rooms
	samples map[language][]string     // messages drawn from the database, by language
	seqs    map[uuid.UUID]int64
	now     time.Time
}

func newWorld(o options) *world {
	w := &world{
		o: o, rng: rand.New(rand.NewPCG(o.Seed, 7)), corpus: newCorpus(o.Seed),
		private: map[uuid.UUID]bool{}, member: map[uuid.UUID][]uuid.UUID{},
		samples: map[language][]string{}, seqs: map[uuid.UUID]int64{},
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	total := 0.0
	for k := range o.Rooms {
		id := uuid.New()
		w.rooms = append(w.rooms, id)
		w.private[id] = w.rng.IntN(10) == 0
		total += 1 / math.Sqrt(float64(k+1))
		w.roomCDF = append(w.roomCDF, total)
	}
	for i := range w.roomCDF {
		w.roomCDF[i] /= total
	}
	for range o.Users {
		u := uuid.New()
		w.users = append(w.users, u)
		for _, i := range w.rng.Perm(o.Rooms)[:min(o.RoomsPerUser, o.Rooms)] {
			w.member[u] = append(w.member[u], w.rooms[i])
		}
	}
	return w
}

// room draws the room of the next message, by the skewed room sizes.
func (w *world) room() uuid.UUID {
	i, _ := slices.BinarySearch(w.roomCDF, w.rng.Float64())
	return w.rooms[min(i, len(w.rooms)-1)]
}

// load fills the search tables. The message table's secondary indexes are dropped for the COPY
// and rebuilt after it from their own definitions, as a fresh CREATE INDEX is far faster than
// a million index insertions.
func (w *world) load(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()

	err = copyText(ctx, pg, "COPY search_rooms (room_id, is_private) FROM STDIN", func(out *bufio.Writer) error {
		for _, r := range w.rooms {
			writeRow(out, r.String(), fmt.Sprint(w.private[r]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = copyText(ctx, pg, "COPY search_members (user_id, room_id) FROM STDIN", func(out *bufio.Writer) error {
		for _, u := range w.users {
			for _, r := range w.member[u] {
				writeRow(out, u.String(), r.String())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	rows, err := conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE tablename = 'search_messages' AND indexname <> 'search_messages_pkey'`)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		return i, r.Scan(&i.name, &i.def)
	})
	if err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	for _, i := range indexes {
		if _, err := conn.Exec(ctx, "DROP INDEX "+pgx.Identifier{i.name}.Sanitize()); err != nil {
			return err
		}
	}

	t0 := time.Now()
	step := time.Duration(float64(365*24*time.Hour) / float64(max(w.o.Messages, 1)))
	err = copyText(ctx, pg, `COPY search_messages (id, room_id, seq, sender_id, content, message_type,
		reply_to_message_id, created_at, edited_at, tsv) FROM STDIN`, func(out *bufio.Writer) error {
		for i := range w.o.Messages {
			if i%10000 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			text, _ := w.corpus.message()
			room := w.room()
			w.seqs[room]++
			w.now = w.now.Add(step)
			sender := w.users[w.rng.IntN(len(w.users))]
			writeRow(out, uuid.NewString(), room.String(), fmt.Sprint(w.seqs[room]), sender.String(), text, "text",
				`\N`, w.now.Format(time.RFC3339Nano), `\N`, search.Document(room, text))
			if (i+1)%200000 == 0 {
				fmt.Printf("  %d messages copied (%s)\n", i+1, time.Since(t0).Round(time.Second))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("copy: %s\n", time.Since(t0).Round(time.Second))

	t0 = time.Now()
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '1GB'"); err != nil {
		return err
	}
	for _, i := range indexes {
		if _, err := conn.Exec(ctx, i.def); err != nil {
			return fmt.Errorf("rebuild index %s: %w", i.name, err)
		}
	}
	fmt.Printf("index build: %s\n", time.Since(t0).Round(time.Second))
	_, err = conn.Exec(ctx, "VACUUM ANALYZE search_messages, search_members, search_rooms")
	return err
}

// copyText runs a COPY … FROM STDIN in text format, with rows written by fill.
func copyText(ctx context.Context, pg *pgconn.PgConn, sql string, fill func(*bufio.Writer) error) error {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		err := fill(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	_, err := pg.CopyFrom(ctx, pr, sql)
	if err != nil {
		_ = pr.CloseWithError(err)
		return fmt.Errorf("%s: %w", strings.Fields(sql)[1], err)
	}
	return nil
}

// writeRow writes one row of COPY's text format; `\N` is NULL.
func writeRow(out *bufio.Writer, fields ...string) {
	for i, f := range fields {
		if i > 0 {
			out.WriteByte('\t')
		}
		if f == `\N` {
			out.WriteString(f)
			continue
		}
		for j := 0; j < len(f); j++ {
			switch c := f[j]; c {
			case '\\':
				out.WriteString(`\\`)
			case '\t':
				out.WriteString(`\t`)
			case '\n':
				out.WriteString(`\n`)
			case '\r':
				out.WriteString(`\r`)
			default:
				out.WriteByte(c)
			}
		}
	}
	out.WriteByte('\n')
}

// sampleDatabase reads the rooms, the users and their rooms from the database, and samples about
// 20,000 messages, sorted into languages by their script, to draw query terms from.
func (w *world) sampleDatabase(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT user_id, room_id FROM search_members ORDER BY user_id, room_id`)
	if err != nil {
		return err
	}
	w.users, w.member = nil, map[uuid.UUID][]uuid.UUID{}
	var u, r uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&u, &r}, func() error {
		if len(w.member[u]) == 0 {
			w.users = append(w.users, u)
		}
		w.member[u] = append(w.member[u], r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read members: %w", err)
	}
	rows, err = pool.Query(ctx, `SELECT room_id FROM search_rooms ORDER BY room_id LIMIT $1`, len(w.rooms))
	if err != nil {
		return err
	}
	if w.rooms, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
		return fmt.Errorf("read rooms: %w", err)
	}
	w.roomCDF = w.roomCDF[:len(w.rooms)]

	var n int64
	if err := pool.QueryRow(ctx, `SELECT reltuples::bigint FROM pg_class WHERE relname = 'search_messages'`).Scan(&n); err != nil {
		return err
	}
	pct := min(100, 2_000_000/float64(max(n, 1))) // about 20,000 rows
	rows, err = pool.Query(ctx, fmt.Sprintf(`SELECT content FROM search_messages TABLESAMPLE BERNOULLI (%f) REPEATABLE (%d)`, pct, w.o.Seed))
	if err != nil {
		return err
	}
	w.samples = map[language][]string{}
	var content string
	_, err = pgx.ForEachRow(rows, []any{&content}, func() error {
		var hangul, kana, han bool
		for _, r := range content {
			hangul = hangul || unicode.Is(unicode.Hangul, r)
			kana = kana || unicode.In(r, unicode.Hiragana, unicode.Katakana)
			han = han || unicode.Is(unicode.Han, r)
		}
		lang := english
		switch {
		case hangul:
			lang = korean
		case kana:
			lang = japanese
		case han:
			lang = chinese
		}
		w.samples[lang] = append(w.samples[lang], content)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sample messages: %w", err)
	}
	if len(w.users) == 0 || len(w.rooms) == 0 {
		return fmt.Errorf("the database holds no members or rooms")
	}
	for _, l := range []language{english, chinese, japanese, korean} {
		if len(w.samples[l]) == 0 {
			return fmt.Errorf("no %s messages sampled", l)
		}
	}
	return nil
}

func printSizes(ctx context.Context, pool *pgxpool.Pool) error {
	var table, gin, total string
	err := pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_table_size('search_messages')),
			pg_size_pretty(pg_relation_size('search_messages_tsv_idx')),
			pg_size_pretty(pg_total_relation_size('search_messages'))`).Scan(&table, &gin, &total)
	if err != nil {
		return err
	}
	fmt.Printf("sizes: search_messages %s (with TOAST), GIN index %s, total with all indexes %s\n", table, gin, total)
	return nil
}
