-- The read model: everything here is a projection of the event log and can be rebuilt by
-- truncating these tables, deleting the projection's checkpoints and replaying the log.

-- +goose Up
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    username       text NOT NULL,
    username_lower text NOT NULL UNIQUE,
    display_name   text,
    email          text,
    status         text NOT NULL DEFAULT 'offline',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE rooms (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    owner_id      uuid NOT NULL,
    is_private    boolean NOT NULL DEFAULT false,
    -- A slow salted hash as RoomCreated carries it; NULL for a room without a password.
    password_hash text,
    member_count  integer NOT NULL DEFAULT 0,
    last_seq      bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE room_members (
    room_id   uuid NOT NULL,
    user_id   uuid NOT NULL,
    role      text NOT NULL,
    -- The name the join event carried, so a member list can name a user whose own
    -- (user-events) projection lags behind the room's.
    username  text NOT NULL DEFAULT '',
    joined_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- "Which rooms is this user in": socket subscriptions, room listing visibility.
CREATE INDEX room_members_user_id_idx ON room_members (user_id);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    room_id             uuid NOT NULL,
    seq                 bigint NOT NULL,
    sender_id           uuid NOT NULL,
    content             text NOT NULL,
    message_type        text NOT NULL DEFAULT 'text',
    reply_to_message_id uuid,
    client_msg_id       text,
    created_at          timestamptz NOT NULL,
    edited_at           timestamptz,
    deleted             boolean NOT NULL DEFAULT false,
    -- Also the index every history page is read through.
    UNIQUE (room_id, seq)
);

-- next_offset is the offset of the first record not yet applied, per topic partition; it is
-- written in the same transaction as the effects of the records before it.
CREATE TABLE projection_checkpoints (
    projection  text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, topic, partition)
);

-- +goose Down
DROP TABLE projection_checkpoints;
DROP TABLE messages;
DROP TABLE room_members;
DROP TABLE rooms;
DROP TABLE users;
