-- Notifications (projections/notify): the notification projector's own tables, written only by
-- it under the checkpoint name "notifications". notifications, notify_rooms, notify_members and
-- notification_outbox are a projection of chat-events and system-events: a rebuild truncates
-- them, deletes the "notifications" checkpoints and replays. notification_reads is user state
-- (what the user marked read), not derived from the log: a rebuild keeps it, and since a
-- notification's id is a function of its source event and recipient, the rebuilt rows find
-- their read flags again.

-- +goose Up
-- The id of the notification that source event gives recipient: a name-based (v3, MD5) uuid of
-- the two ids in the namespace notify.namespaceNotification, the same as notify.ID computes in
-- Go, so that a replay gives every notification the id it had, and INSERT ... SELECT can mint
-- ids for many recipients at once.
-- +goose StatementBegin
CREATE FUNCTION notification_id(source uuid, recipient uuid) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (substr(h, 1, 12) || '3' || substr(h, 14, 3)
            || to_hex((('x' || substr(h, 17, 1))::bit(4)::int & 3) | 8)
            || substr(h, 18, 15))::uuid
    FROM (SELECT md5('\x4e6f7469666963618f3e5c1a2b7d4e90'::bytea || uuid_send(source) || uuid_send(recipient)) AS h) AS d
$$;
-- +goose StatementEnd

CREATE TABLE notifications (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL,
    notification_type text NOT NULL
        CHECK (notification_type IN ('mention', 'room_invitation', 'user_joined_room', 'user_left_room', 'system_alert')),
    message           text NOT NULL,
    -- What it is about, where that applies (extensions of the contract's notification).
    room_id           uuid,
    message_id        uuid,
    actor_id          uuid,
    source_event_id   uuid NOT NULL,
    created_at        timestamptz NOT NULL
);

-- A user's notifications, newest first: the listing and its paging.
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC, id DESC);

-- "Was this user already told about a mention in this message": edits notify new mentions only.
CREATE INDEX notifications_message_idx ON notifications (message_id, user_id) WHERE message_id IS NOT NULL;

-- Read flags: user state, kept across rebuilds (see above).
CREATE TABLE notification_reads (
    notification_id uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now()
);

-- Notifications committed but not yet announced (notification-events and the push stream). The
-- projector adds a row in the transaction that inserts the notification; the relay deletes it
-- once both have the notification: at least once, even across a crash right after the commit.
CREATE TABLE notification_outbox (
    seq             bigserial PRIMARY KEY,
    notification_id uuid NOT NULL
);

-- The little room state notifications need, kept from chat-events in the room's own event
-- order (so never behind the message being projected): owner and name, and who is a member
-- under which name.
CREATE TABLE notify_rooms (
    room_id  uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    name     text NOT NULL,
    deleted  boolean NOT NULL DEFAULT false
);

CREATE TABLE notify_members (
    room_id  uuid NOT NULL,
    user_id  uuid NOT NULL,
    username text NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- +goose Down
DROP TABLE notify_members;
DROP TABLE notify_rooms;
DROP TABLE notification_outbox;
DROP TABLE notification_reads;
DROP TABLE notifications;
DROP FUNCTION notification_id(uuid, uuid);
