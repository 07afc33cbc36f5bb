-- User proxies (domain/proxy.go): the grants in force, projected by the read model from
-- user-events, which the gateways read on every command sent with on_behalf_of. A revoked grant
-- is deleted; an ended one stays until it is revoked (the query skips it). sent_by is the
-- delegate who sent a message for its sender (the event's acting_id), NULL for the sender.

-- +goose Up
CREATE TABLE user_proxies (
    grant_id     uuid PRIMARY KEY,
    principal_id uuid NOT NULL,
    delegate_id  uuid NOT NULL,
    scope        text NOT NULL,
    org_id       uuid,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL
);

CREATE INDEX user_proxies_pair_idx ON user_proxies (principal_id, delegate_id);

ALTER TABLE messages ADD COLUMN sent_by uuid;

-- +goose Down
ALTER TABLE messages DROP COLUMN sent_by;
DROP TABLE user_proxies;
