-- The directory's name search (projections/directory, docs/benchmarks.md) reads the trigram
-- indexes of usernames and display names on every search. With GIN's fast update, rows inserted
-- since the last vacuum wait in a pending list that every search reads in full: right after many
-- users register or join, until autovacuum comes, the planner rather scanned all of users, and a
-- search took tens of milliseconds more. Without it, an insert updates the index itself, which
-- costs a little more for a join or a registration (rare next to searches). The pending entries
-- already there are moved into the index now. (A generation's copy, LIKE ... INCLUDING ALL,
-- keeps the setting.)

-- +goose Up
ALTER INDEX org_members_name_trgm_idx SET (fastupdate = off);
ALTER INDEX users_display_name_trgm_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('org_members_name_trgm_idx'::regclass);
SELECT gin_clean_pending_list('users_display_name_trgm_idx'::regclass);

-- +goose Down
ALTER INDEX org_members_name_trgm_idx RESET (fastupdate);
ALTER INDEX users_display_name_trgm_idx RESET (fastupdate);
