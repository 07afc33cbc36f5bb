-- The message search projection (projections/search): its own tables, written only by the search
-- projector under the checkpoint name "search", so that it can be rebuilt on its own by truncating
-- these three tables, deleting the "search" checkpoints and replaying chat-events.

-- +goose Up
-- Rooms as far as search needs them: whether a non-member may learn that the room exists.
CREATE TABLE search_rooms (
    room_id    uuid PRIMARY KEY,
    is_private boolean NOT NULL DEFAULT false,
    deleted    boolean NOT NULL DEFAULT false
);

-- Who may read a room: its current members (a left, kicked or banned user no longer may).
CREATE TABLE search_members (
    user_id uuid NOT NULL,
    room_id uuid NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Dropping a deleted room's members.
CREATE INDEX search_members_room_id_idx ON search_members (room_id);

-- One row per live message, content as last edited; deleted messages and the messages of
-- deleted rooms are removed. tsv is built in Go (search.Document): lower-cased words, CJK
-- runs as overlapping pairs plus single characters, with positions, and one key
-- "room:<room id>" so that the caller's rooms are filtered inside the GIN index rather than
-- row by row (and a deleted room's messages are found through it too).
CREATE TABLE search_messages (
    id                  uuid PRIMARY KEY,
    room_id             uuid NOT NULL,
    seq                 bigint NOT NULL,
    sender_id           uuid NOT NULL,
    content             text NOT NULL,
    message_type        text NOT NULL DEFAULT 'text',
    reply_to_message_id uuid,
    created_at          timestamptz NOT NULL,
    edited_at           timestamptz,
    tsv                 tsvector NOT NULL
);

-- New entries wait in the index's pending list until it holds gin_pending_list_limit kB, and
-- every search scans that list. The default 4 MB made searches right after a burst of writes
-- several times slower (docs/benchmarks.md); 256 kB keeps that cost small while the projector
-- still inserts in batches.
CREATE INDEX search_messages_tsv_idx ON search_messages USING gin (tsv) WITH (gin_pending_list_limit = 256);

-- +goose Down
DROP TABLE search_messages;
DROP TABLE search_members;
DROP TABLE search_rooms;
