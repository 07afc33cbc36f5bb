package search

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
)

// statsLike is a table like the benchmark's: 1,000,000 messages over one year (the histogram of
// creation times in 100 equal buckets), 1,000 rooms of 0.1 % each; `the` in a quarter of the
// messages, `her` in 2.3 %, any other word in at most 0.05 %.
func statsLike(rooms []uuid.UUID) tableStats {
	st := tableStats{ok: true, loaded: time.Now(), rows: 1_000_000,
		lexemes: map[string]float64{"the": 0.257, "her": 0.023}, minFreq: 0.0005,
		rooms: map[uuid.UUID]float64{}, otherRoom: 0.001}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 101 {
		st.times = append(st.times, start.Add(time.Duration(i)*365*24*time.Hour/100))
	}
	for _, r := range rooms {
		st.rooms[r] = 0.001
	}
	return st
}

// A user of 200 rooms: the commonest word newest first, a word of a few percent in a slice that
// should hold sliceMargin × RankWindow of their matches, a rare one not in a slice (a slice
// would hold too few). Nor for a user of one room.
func TestChooseWay(t *testing.T) {
	rooms := make([]uuid.UUID, 200)
	for i := range rooms {
		rooms[i] = uuid.New()
	}
	s := &Store{}
	s.plan.st = statsLike(rooms)
	ctx := context.Background()

	if p := s.choose(ctx, [][]string{{"the"}}, rooms); p.way != byRecency {
		t.Errorf("the over 200 rooms: way %d, want newest first", p.way)
	}
	p := s.choose(ctx, [][]string{{"her"}}, rooms)
	if p.way != bySlice || p.fallback != byRecency {
		t.Fatalf("her over 200 rooms: way %d (fallback %d), want a slice falling back to newest first", p.way, p.fallback)
	}
	// her's matches in the rooms: 1,000,000 × 2.3 % × 20 % = 4,600; the slice should hold
	// 1.5 × 1,100 of them, 35.9 % of the rows: the 36 newest buckets of the histogram.
	if want := s.plan.st.times[64]; !p.since.Equal(want) {
		t.Errorf("her's slice starts at %s, want %s", p.since, want)
	}
	if p := s.choose(ctx, [][]string{{"zqxj"}}, rooms); p.way == bySlice {
		t.Errorf("a rare word: a slice, want none")
	}
	if p := s.choose(ctx, [][]string{{"her"}}, rooms[:1]); p.way == bySlice {
		t.Errorf("her in one room: a slice, want no slice")
	}
}

func TestSliceBound(t *testing.T) {
	st := statsLike(nil)
	for _, tc := range []struct {
		rows float64
		want int // index into st.times; -1: no bound
	}{
		{1, 99},
		{10_000, 99},
		{10_001, 98},
		{990_000, 1},
		{990_001, -1},
		{2_000_000, -1},
	} {
		since, ok := st.sliceBound(tc.rows)
		switch {
		case tc.want < 0 && ok:
			t.Errorf("%.0f rows: bound %s, want none", tc.rows, since)
		case tc.want >= 0 && (!ok || !since.Equal(st.times[tc.want])):
			t.Errorf("%.0f rows: bound %s (%v), want %s", tc.rows, since, ok, st.times[tc.want])
		}
	}
	if _, ok := (tableStats{rows: 100}).sliceBound(10); ok {
		t.Error("a bound without a histogram")
	}
}
