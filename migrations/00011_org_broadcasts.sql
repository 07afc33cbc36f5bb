-- Organization broadcasts (OrgBroadcastSent) reach every member of the organization: the push
-- projection and the notification projection each keep who the members are, from org-events
-- in the order of the organization's own events, so that a broadcast finds exactly the
-- members it was sent to. push_org_members is the push projection's (which has no generation:
-- it is not rebuilt); notify_org_members is the notifications', rebuilt with them.

-- +goose Up
CREATE TABLE push_org_members (
    org_id  uuid NOT NULL,
    user_id uuid NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE notify_org_members (
    org_id  uuid NOT NULL,
    user_id uuid NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

ALTER TABLE notifications DROP CONSTRAINT notifications_notification_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_notification_type_check
    CHECK (notification_type IN ('mention', 'room_invitation', 'user_joined_room', 'user_left_room', 'system_alert', 'org_broadcast'));

-- +goose Down
ALTER TABLE notifications DROP CONSTRAINT notifications_notification_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_notification_type_check
    CHECK (notification_type IN ('mention', 'room_invitation', 'user_joined_room', 'user_left_room', 'system_alert'));
DROP TABLE notify_org_members;
DROP TABLE push_org_members;
