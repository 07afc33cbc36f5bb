package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chorus-chat/chorus/adapters/postgres"
	"github.com/chorus-chat/chorus/adapters/postgres/pgtest"
)

// The last seen times only move forward, whoever writes them, and the idle sessions are the
// open ones whose user was seen neither since the bound nor since their start.
func TestLastSeenIdleSessions(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	ls := postgres.NewLastSeen(pool)
	now := time.Now().UTC().Truncate(time.Millisecond)
	bound := now.Add(-time.Minute)
	open := func(user uuid.UUID, start time.Time, end *time.Time) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO online_sessions (user_id, started_at, ended_at) VALUES ($1, $2, $3)`, user, start, end); err != nil {
			t.Fatal(err)
		}
	}
	var (
		quiet    = uuid.New() // open, seen long ago: idle, ends when last seen
		unseen   = uuid.New() // open, never seen (its gateway died before writing): idle, at its start
		active   = uuid.New() // open, seen lately: not idle
		ended    = uuid.New() // its session ended: not idle
		fresh    = uuid.New() // opened after the bound: not idle
		returned = uuid.New() // seen before its new session began: idle at its start
	)
	open(quiet, now.Add(-time.Hour), nil)
	open(unseen, now.Add(-50*time.Minute), nil)
	open(active, now.Add(-time.Hour), nil)
	endAt := now.Add(-30 * time.Minute)
	open(ended, now.Add(-time.Hour), &endAt)
	open(fresh, now.Add(-time.Second), nil)
	open(returned, now.Add(-20*time.Minute), nil)

	if err := ls.Seen(ctx, map[uuid.UUID]time.Time{quiet: now.Add(-10 * time.Minute), active: now.Add(-2 * time.Minute), ended: now, returned: now.Add(-40 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// Later writes: one later (it counts), one earlier (it changes nothing).
	if err := ls.Seen(ctx, map[uuid.UUID]time.Time{active: now.Add(-time.Second), quiet: now.Add(-30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}

	got, err := ls.IdleSessions(ctx, bound, postgres.IdleSession{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []postgres.IdleSession{
		{UserID: quiet, Since: now.Add(-time.Hour), LastActive: now.Add(-10 * time.Minute)},
		{UserID: unseen, Since: now.Add(-50 * time.Minute), LastActive: now.Add(-50 * time.Minute)},
		{UserID: returned, Since: now.Add(-20 * time.Minute), LastActive: now.Add(-20 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("idle sessions %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].UserID != want[i].UserID || !got[i].Since.Equal(want[i].Since) || !got[i].LastActive.Equal(want[i].LastActive) {
			t.Errorf("idle session %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	// Paged: two, then the rest after the second.
	page, err := ls.IdleSessions(ctx, bound, postgres.IdleSession{}, 2)
	if err != nil || len(page) != 2 {
		t.Fatalf("first page %+v %v", page, err)
	}
	rest, err := ls.IdleSessions(ctx, bound, page[1], 2)
	if err != nil || len(rest) != 1 || rest[0].UserID != returned {
		t.Fatalf("second page %+v %v", rest, err)
	}
}

// Gateways writing overlapping users at once neither deadlock nor move a time back.
func TestLastSeenConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	ls := postgres.NewLastSeen(pool)
	users := make([]uuid.UUID, 200)
	for i := range users {
		users[i] = uuid.New()
	}
	base := time.Now().UTC().Truncate(time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				seen := map[uuid.UUID]time.Time{}
				for i, u := range users {
					seen[u] = base.Add(time.Duration((round*8+w+i)%160) * time.Millisecond)
				}
				if err := ls.Seen(ctx, seen); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every user was given every time up to base+159 ms by some writer.
	var stale int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM presence_last_seen WHERE seen_at <> $1`, base.Add(159*time.Millisecond)).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Fatalf("%d users' last seen is not the latest time any writer gave", stale)
	}
}
