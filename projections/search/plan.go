package search

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// How a search finds its candidates (the newest RankWindow matches in the caller's rooms, which
// it then ranks). Both ways give the same rows; they differ in cost:
//
//   - through the GIN index (byIndex): the terms and the caller's room keys in one index scan,
//     then every match fetched and sorted by time. Its cost grows with the term's postings in
//     the whole index times the number of room keys (GIN checks each room key at each posting)
//     and with the matches in the caller's rooms (each a random heap fetch).
//   - newest first (byRecency): walk search_messages_recent_idx backwards, keeping rows of the
//     caller's rooms that hold the terms, until RankWindow of them are found. Its cost is the
//     rows walked: RankWindow divided by the share of rows that match, or the whole table when
//     fewer match.
//
// A common term for a user of many rooms (`the` over 200 rooms: 50,000 matches) is hundreds of
// milliseconds through the index and a few tens newest first; a rare term is the other way
// round. The choice is made from the planner's statistics of the table (pg_stats: the most
// common lexemes and their frequencies, the most common rooms), cached for statsTTL.
type strategy int

const (
	byIndex strategy = iota
	byRecency
)

// Relative costs, in rows walked newest first (one row of the recent index and its heap tuple,
// nearly in heap order), fitted to the benchmark's 1,000,000 messages (docs/benchmarks.md,
// 2026-12-06). Through the room keys, GIN walks the postings of the rarest lexeme and checks
// each against every room key (costPostingKey), and each room key's posting list jumps to the
// next posting: a jump that leaves the page decodes another segment (costJump, at most one per
// posting of the room). A posting walked without room keys costs costPosting; a match fetched
// from the heap at a random page and sorted, costMatch. recencyMargin: newest first is taken
// only when that much cheaper, as today's way through the room keys is the one to keep when
// they are close.
const (
	costPostingKey = 0.005
	costJump       = 0.7
	costPosting    = 0.01
	costMatch      = 5.0
	recencyMargin  = 1.5
	statsTTL       = time.Minute
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
}

// statsCache holds the latest tableStats.
type statsCache struct {
	mu sync.Mutex
	st tableStats
	// force, when set (tests), is the strategy every search takes.
	force *strategy
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
	)
	err := s.pool.QueryRow(ctx, `SELECT c.reltuples,
			t.most_common_elems::text::text[], t.most_common_elem_freqs,
			r.most_common_vals::text::text[], r.most_common_freqs, r.n_distinct, r.null_frac
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_stats t ON t.schemaname = n.nspname AND t.tablename = c.relname AND t.attname = 'tsv'
		LEFT JOIN pg_stats r ON r.schemaname = n.nspname AND r.tablename = c.relname AND r.attname = 'room_id'
		WHERE c.oid = 'search_messages'::regclass`).Scan(&rows, &elems, &elemFreqs, &rooms, &roomFreq, &nDistinct, &nullFrac)
	if err != nil {
		return tableStats{}, fmt.Errorf("search: statistics: %w", err)
	}
	// most_common_elem_freqs ends with the least and greatest frequency and the share of
	// nulls, after one frequency per element.
	if rows <= 0 || len(elems) == 0 || len(elemFreqs) < len(elems)+2 || nDistinct == nil {
		return tableStats{}, nil
	}
	st := tableStats{ok: true, rows: rows, lexemes: make(map[string]float64, len(elems)),
		minFreq: elemFreqs[len(elems)], rooms: make(map[uuid.UUID]float64, len(rooms))}
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

// choose picks the cheaper way to find the candidates of terms (each a word, a character or the
// pairs of a phrase) in rooms.
func (s *Store) choose(ctx context.Context, terms [][]string, rooms []uuid.UUID) strategy {
	if s.plan.force != nil {
		return *s.plan.force
	}
	st := s.stats(ctx)
	if !st.ok {
		return byIndex
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
	if recency*recencyMargin < index {
		return byRecency
	}
	return byIndex
}
