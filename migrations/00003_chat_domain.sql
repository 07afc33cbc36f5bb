-- The read model of the whole chat domain: profiles, room deletion, roles, bans, invitations,
-- message edits and deletions, read markers. Like 00001, every table and column here is a
-- projection of the event log and is rebuilt by replaying it.

-- +goose Up
ALTER TABLE users ADD COLUMN avatar_url text;

-- Set by RoomDeleted; a deleted room leaves every listing but its row stays, so that a lookup
-- can tell "deleted" from "unknown".
ALTER TABLE rooms ADD COLUMN deleted_at timestamptz;

-- The seq up to which the member has read the room. It starts at the room's last seq when the
-- member joins (what was said before does not count as unread) and only grows.
ALTER TABLE room_members ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE room_bans (
    room_id   uuid NOT NULL,
    user_id   uuid NOT NULL,
    banned_by uuid NOT NULL,
    reason    text NOT NULL DEFAULT '',
    banned_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- Open invitations only: joining or being banned ends one.
CREATE TABLE room_invitations (
    room_id    uuid NOT NULL,
    user_id    uuid NOT NULL,
    invited_by uuid NOT NULL,
    invited_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- "Which private rooms may this user see": room listing.
CREATE INDEX room_invitations_user_id_idx ON room_invitations (user_id);

-- Every change to a room's messages in the room's event order (version = the event's aggregate
-- version), so that a client reconnecting with the last seq it saw can be sent the messages sent
-- since and the edits and deletions of older messages made since.
CREATE TABLE room_message_changes (
    room_id    uuid NOT NULL,
    version    bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('sent', 'updated', 'deleted')),
    message_id uuid NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (room_id, version)
);

-- Finds where a client's last seen seq sits in the room's event order.
CREATE INDEX room_message_changes_sent_idx ON room_message_changes (room_id, seq) WHERE kind = 'sent';

-- +goose Down
DROP TABLE room_message_changes;
DROP TABLE room_invitations;
DROP TABLE room_bans;
ALTER TABLE room_members DROP COLUMN last_read_seq;
ALTER TABLE rooms DROP COLUMN deleted_at;
ALTER TABLE users DROP COLUMN avatar_url;
