-- Message search (projections/search/plan.go): a search ranks the newest matches in the caller's
-- rooms, and when a term is common there (a word in tens of thousands of the messages of a user
-- of many rooms) it finds them by walking the messages newest first rather than through the GIN
-- index, which would fetch every match to sort it (docs/benchmarks.md, 2026-12-06). New messages
-- come in about in time order, so inserts land at the index's right end. A rebuild's generation
-- copies the index with the table (LIKE ... INCLUDING ALL).

-- +goose Up
CREATE INDEX search_messages_recent_idx ON search_messages (created_at, id);

-- New entries wait in the GIN index's pending list until it holds gin_pending_list_limit kB, and
-- the insert that passes the limit merges the list into the posting trees. That merge is nearly
-- all of what indexing a message costs, and it grows with the distinct lexemes merged rather than
-- the messages, so larger merges cost less per message: 4 MB doubles the projector's rate over
-- 256 kB (docs/benchmarks.md, 2026-12-06). Searches scan the list, which costs the searches
-- through the room keys a few milliseconds when it is nearly full.
ALTER INDEX search_messages_tsv_idx SET (gin_pending_list_limit = 4096);

-- +goose Down
ALTER INDEX search_messages_tsv_idx SET (gin_pending_list_limit = 256);
DROP INDEX search_messages_recent_idx;
