-- Message search (projections/search/plan.go): a search ranks the newest matches in the caller's
-- rooms, and when a term is common there (a word in tens of thousands of the messages of a user
-- of many rooms) it finds them by walking the messages newest first rather than through the GIN
-- index, which would fetch every match to sort it (docs/benchmarks.md, 2026-12-06). New messages
-- come in about in time order, so inserts land at the index's right end. A rebuild's generation
-- copies the index with the table (LIKE ... INCLUDING ALL).

-- +goose Up
CREATE INDEX search_messages_recent_idx ON search_messages (created_at, id);

-- +goose Down
DROP INDEX search_messages_recent_idx;
