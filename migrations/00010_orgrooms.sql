-- Department rooms (projections/orgrooms): the process manager's own tables, written only by it
-- under the checkpoint name "orgrooms", from org-events. orgrooms_departments,
-- orgrooms_members and orgrooms_memberships are what it needs to know of each organization
-- (the tree, the members' names, who is in which department, which department has a room):
-- a projection of org-events, rebuilt like any other. orgrooms_outbox holds the room commands
-- decided but not yet sent; a rebuilt generation has an outbox of its own, dropped with it, so
-- that a rebuild sends nothing the live manager sent already.

-- +goose Up
CREATE TABLE orgrooms_departments (
    org_id        uuid NOT NULL,
    department_id uuid NOT NULL,
    parent_id     uuid,
    -- The department's room while it is linked (DepartmentRoomCreated), else NULL.
    room_id       uuid,
    PRIMARY KEY (org_id, department_id)
);

-- The children of a department: the subtree queries walk down from it.
CREATE INDEX orgrooms_departments_parent_idx ON orgrooms_departments (org_id, parent_id);

CREATE TABLE orgrooms_members (
    org_id   uuid NOT NULL,
    user_id  uuid NOT NULL,
    username text NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE orgrooms_memberships (
    org_id        uuid NOT NULL,
    department_id uuid NOT NULL,
    user_id       uuid NOT NULL,
    PRIMARY KEY (org_id, department_id, user_id)
);

-- A member's departments (removing a member from the organization).
CREATE INDEX orgrooms_memberships_user_idx ON orgrooms_memberships (org_id, user_id);

CREATE TABLE orgrooms_outbox (
    seq     bigserial PRIMARY KEY,
    command jsonb NOT NULL
);

-- +goose Down
DROP TABLE orgrooms_outbox;
DROP TABLE orgrooms_memberships;
DROP TABLE orgrooms_members;
DROP TABLE orgrooms_departments;
