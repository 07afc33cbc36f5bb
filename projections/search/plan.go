package search

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
)

// How a search finds its candidates (the newest RankWindow matches in the caller's rooms, which
// it then ranks). All ways give the same rows; they differ in cost:
//
//   - through the GIN index (byIndex): the terms and the caller's room keys in one index scan,
//     then every match fetched and sorted by time. Its cost grows with the term's postings in
//     the whole index times the number of room keys (GIN checks each room key at each posting)
//     and with the matches in the caller's rooms (each a random heap fetch).
//   - newest first (byRecency): walk search_messages_recent_idx backwards, keeping rows of the
//     caller's rooms that hold the terms, until RankWindow of them are found. Its cost is the
//     rows walked: RankWindow divided by the share of rows that match, or the whole table when
//     fewer match.
//   - in a recent slice (bySlice): the terms' postings without room keys (GIN) AND-ed with the
//     rows created since a bound (a range of search_messages_recent_idx), so that only the
//     messages of the slice that hold the terms are fetched. The bound is put where the
//     statistics expect sliceMargin × RankWindow matches in the caller's rooms; when the slice
//     holds fewer than RankWindow, they are not surely the newest and the search runs again
//     the cheaper of the other two ways (Search). Its cost is the range's index entries, the
//     terms' postings and a fetch per message of the slice holding the terms: for a term of a
//     few percent of the messages over 200 rooms, a tenth of what the other two cost.
//
// A common term for a user of many rooms (`the` over 200 rooms: 50,000 matches) is hundreds of
// milliseconds through the index and a few tens newest first; a rare term is the other way
// round; a term of a few percent of the messages is best in a slice. The choice is made from
// the planner's statistics of the table (pg_stats: the most common lexemes and their
// frequencies, the most common rooms, the histogram of creation times), cached for statsTTL.
type strategy int

const (
	byIndex strategy = iota
	byRecency
	bySlice
)

// plan is how one search finds its candidates: the way, and for bySlice the bound of the slice
// and the way to take when the slice holds too few matches.
type plan struct {
	way      strategy
	since    time.Time
	fallback strategy
}

// Relative costs, in rows walked newest first (one row of the recent index and its heap tuple,
// nearly in heap order), fitted to the benchmark's 1,000,000 messages (docs/benchmarks.md,
// 2026-12-06). Through the room keys, GIN walks the postings of the rarest lexeme and checks
// each against every room key (costPostingKey), and each room key's posting list jumps to the
// next posting: a jump that leaves the page decodes another segment (costJump, at most one per
// posting of the room). A posting walked without room keys costs costPosting; a match fetched
// from the heap at a random page and sorted, costMatch. recencyMargin: another way is taken
// only when that much cheaper, as the way through the room keys is the one to keep when they
// are close. A slice costs costRangeEntry per row in its range (a bitmap of the recent index),
// costSlicePosting per posting of the terms (the whole posting list is read into a bitmap) and
// costSliceFetch per message of the slice holding the terms (a heap fetch in page order, the
// room and tsquery checks, the sort); sliceMargin is how many times RankWindow matches the
// slice is cut to hold, by the statistics, so that it rarely falls short.
const (
	costPostingKey   = 0.005
	costJump         = 0.7
	costPosting      = 0.01
	costMatch        = 5.0
	recencyMargin    = 1.5
	costRangeEntry   = 0.06
	costSlicePosting = 0.15
	costSliceFetch   = 2.0
	sliceMargin      = 1.5
	statsTTL         = time.Minute
)

// tableStats is what the choice needs from pg_stats, as of loaded.
type tableStats struct {
	loaded time.Time
	ok     bool // false: no statistics (the table was never analyzed, or they could not be read)
	rows   float64
	// Lexeme frequencies (share of rows holding each of the most common lexemes); a lexeme
	// not among them is at most minFreq.
	lexemes map[string]float64
	minFreq float64
	// Share of rows in each of the most common rooms, and in any other room.
	rooms     map[uuid.UUID]float64
	otherRoom float64
	// Bounds of the histogram of creation times: each bucket between two holds an equal share
	// of the rows (rows written since the statistics are newer than the last).
	times []time.Time
}

// statsCache holds the latest tableStats.
type statsCache struct {
	mu sync.Mutex
	st tableStats
	// force, when set (tests), is the strategy every search takes; forceSlice, the share of the
	// table a forced slice covers (its newest rows).
	force      *strategy
	forceSlice float64
}

// stats returns the table's statistics, read again when older than statsTTL. A failure to read
// them leaves the index path in use until the next attempt.
func (s *Store) stats(ctx context.Context) tableStats {
	s.plan.mu.Lock()
	defer s.plan.mu.Unlock()
	if time.Since(s.plan.st.loaded) < statsTTL {
		return s.plan.st
	}
	st, err := s.loadStats(ctx)
	if err != nil {
		st = tableStats{}
	}
	st.loaded = time.Now()
	s.plan.st = st
	return st
}

func (s *Store) loadStats(ctx context.Context) (tableStats, error) {
	var (
		rows                float64
		elems, rooms        []string
		elemFreqs, roomFreq []float64
		nDistinct, nullFrac *float64
		times               []time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT c.reltuples,
			t.most_common_elems::text::text[], t.most_common_elem_freqs,
			r.most_common_vals::text::text[], r.most_common_freqs, r.n_distinct, r.null_frac,
			h.histogram_bounds::text::timestamptz[]
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_stats t ON t.schemaname = n.nspname AND t.tablename = c.relname AND t.attname = 'tsv'
		LEFT JOIN pg_stats r ON r.schemaname = n.nspname AND r.tablename = c.relname AND r.attname = 'room_id'
		LEFT JOIN pg_stats h ON h.schemaname = n.nspname AND h.tablename = c.relname AND h.attname = 'created_at'
		WHERE c.oid = 'search_messages'::regclass`).Scan(&rows, &elems, &elemFreqs, &rooms, &roomFreq, &nDistinct, &nullFrac, &times)
	if err != nil {
		return tableStats{}, fmt.Errorf("search: statistics: %w", err)
	}
	// most_common_elem_freqs ends with the least and greatest frequency and the share of
	// nulls, after one frequency per element.
	if rows <= 0 || len(elems) == 0 || len(elemFreqs) < len(elems)+2 || nDistinct == nil {
		return tableStats{}, nil
	}
	st := tableStats{ok: true, rows: rows, lexemes: make(map[string]float64, len(elems)),
		minFreq: elemFreqs[len(elems)], rooms: make(map[uuid.UUID]float64, len(rooms)), times: times}
	for i, e := range elems {
		st.lexemes[e] = elemFreqs[i]
	}
	covered := 0.0
	for i, r := range rooms {
		id, err := uuid.Parse(r)
		if err != nil || i >= len(roomFreq) {
			continue
		}
		st.rooms[id] = roomFreq[i]
		covered += roomFreq[i]
	}
	distinct := *nDistinct
	if distinct < 0 {
		distinct = -distinct * rows
	}
	if others := distinct - float64(len(st.rooms)); others >= 1 {
		st.otherRoom = max(0, 1-covered-*nullFrac) / others
	}
	return st, nil
}

// choose picks the cheapest way to find the candidates of terms (each a word, a character or
// the pairs of a phrase) in rooms.
func (s *Store) choose(ctx context.Context, terms [][]string, rooms []uuid.UUID) plan {
	st := s.stats(ctx)
	if s.plan.force != nil {
		p := plan{way: *s.plan.force, fallback: byIndex}
		if p.way == bySlice {
			p.since, _ = st.sliceBound(s.plan.forceSlice * st.rows)
		}
		return p
	}
	if !st.ok {
		return plan{way: byIndex}
	}
	// Share of rows holding every term (terms as independent, a phrase as its rarest pair),
	// and of the rarest lexeme, whose postings the GIN scan walks. A lexeme not among the most
	// common is taken at half the least frequency among them, as the planner does.
	termShare, rarest := 1.0, 1.0
	for _, t := range terms {
		f := 1.0
		for _, lexeme := range t {
			lf, ok := st.lexemes[lexeme]
			if !ok {
				lf = st.minFreq / 2
			}
			f = min(f, lf)
		}
		termShare *= f
		rarest = min(rarest, f)
	}
	postings := st.rows * rarest
	roomShare, jumps := 0.0, 0.0
	for _, r := range rooms {
		f, ok := st.rooms[r]
		if !ok {
			f = st.otherRoom
		}
		roomShare += f
		jumps += min(postings, st.rows*f)
	}
	roomShare = min(roomShare, 1)
	matches := st.rows * termShare * roomShare // in the caller's rooms
	// Through the room keys: every posting of the rarest lexeme checked against each room key,
	// each room key's list jumping to them, then every match fetched.
	index := costPostingKey*postings*float64(len(rooms)) + costJump*jumps + costMatch*matches
	// Newest first: the planner walks the recent index, or (when the terms are rare enough)
	// fetches every match of the terms in any room through the GIN index without room keys.
	walked := st.rows
	if matches > RankWindow {
		walked = RankWindow * st.rows / matches
	}
	recency := min(walked, costMatch*st.rows*termShare+costPosting*postings)
	other := byIndex
	if recency*recencyMargin < index {
		other = byRecency
	}
	if matches <= sliceMargin*RankWindow {
		return plan{way: other}
	}
	// A slice of the newest rows expected to hold sliceMargin × RankWindow matches.
	sliceRows := sliceMargin * RankWindow * st.rows / matches
	since, ok := st.sliceBound(sliceRows)
	if !ok {
		return plan{way: other}
	}
	slice := costRangeEntry*sliceRows + costSlicePosting*postings + costSliceFetch*termShare*sliceRows
	if slice*recencyMargin < min(index, recency) {
		return plan{way: bySlice, since: since, fallback: other}
	}
	return plan{way: other}
}

// sliceBound is the creation time after which the table holds about rows rows (at least that
// many, by the histogram), and false when no bound short of the whole table does.
func (st tableStats) sliceBound(rows float64) (time.Time, bool) {
	buckets := len(st.times) - 1
	if buckets < 1 || st.rows <= 0 {
		return time.Time{}, false
	}
	i := buckets - int(math.Ceil(rows*float64(buckets)/st.rows))
	if i <= 0 {
		return time.Time{}, false
	}
	return st.times[i], true
}
