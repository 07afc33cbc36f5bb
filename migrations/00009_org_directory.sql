-- The organization directory (projections/directory): the projection of org-events that the
-- directory, the org chart, profiles, roles and the audit log are read from, written only by it
-- under the checkpoint name "directory" and rebuilt from the log like the read model. No table
-- has a sequence or a foreign key, so that a generation's copy (LIKE ... INCLUDING ALL) stands
-- alone.

-- +goose Up
-- Trigram indexes let a substring search of 50,000 members' names start from the index instead
-- of reading every member (docs/benchmarks.md). pg_trgm is a trusted extension: the database's
-- owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE organizations (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    slug         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    time_zone    text NOT NULL DEFAULT 'UTC',
    archived     boolean NOT NULL DEFAULT false,
    archived_at  timestamptz,
    member_count integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE org_members (
    org_id         uuid NOT NULL,
    user_id        uuid NOT NULL,
    -- The name the join event carried, so the directory can name a member whose own
    -- (user-events) projection lags behind.
    username       text NOT NULL,
    username_lower text NOT NULL,
    via            text NOT NULL,
    added_by       uuid,
    joined_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- A user's organizations (the profile).
CREATE INDEX org_members_user_idx ON org_members (user_id);
-- The directory's order: a page starts at its cursor.
CREATE INDEX org_members_name_idx ON org_members (org_id, username_lower, user_id);
-- Substrings of names: usernames here, display names in the read model's users (an index on
-- its table, for the directory's search; the read model's rebuild copies it with the table).
CREATE INDEX org_members_name_trgm_idx ON org_members USING gin (username_lower gin_trgm_ops);
CREATE INDEX users_display_name_trgm_idx ON users USING gin (lower(display_name) gin_trgm_ops);

CREATE TABLE org_invitations (
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    username   text NOT NULL,
    invited_by uuid NOT NULL,
    invited_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

CREATE INDEX org_invitations_user_idx ON org_invitations (user_id);

-- The tree. path is the department's ancestors from the top down, then itself: a subtree is
-- the departments whose path holds its root (the GIN index), kept right on every move. The
-- counts are kept by the projection as members come and go, so that the org chart of 2,000
-- departments is read, not counted: direct_count is the department's own members,
-- subtree_count the distinct people in it and every department below it (the head count).
CREATE TABLE org_departments (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    parent_id     uuid,
    name          text NOT NULL,
    sort_order    integer NOT NULL DEFAULT 0,
    head_id       uuid,
    path          uuid[] NOT NULL,
    direct_count  integer NOT NULL DEFAULT 0,
    subtree_count integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL
);

CREATE INDEX org_departments_org_idx ON org_departments (org_id, parent_id);
CREATE INDEX org_departments_path_idx ON org_departments USING gin (path);

-- A member's departments. added_version is the organization's version of the event that put
-- them there (the deletion's, when a deleted department's members fall back to its parent): when a
-- top-level department is deleted, its members' earliest remaining department becomes primary.
CREATE TABLE org_department_members (
    org_id        uuid NOT NULL,
    department_id uuid NOT NULL,
    user_id       uuid NOT NULL,
    is_primary    boolean NOT NULL,
    added_version bigint NOT NULL,
    added_at      timestamptz NOT NULL,
    PRIMARY KEY (department_id, user_id)
);

CREATE INDEX org_department_members_user_idx ON org_department_members (org_id, user_id);

CREATE TABLE org_positions (
    id     uuid PRIMARY KEY,
    org_id uuid NOT NULL,
    name   text NOT NULL,
    rank   integer NOT NULL DEFAULT 0
);

CREATE INDEX org_positions_org_idx ON org_positions (org_id);

-- One position per member and department.
CREATE TABLE org_position_assignments (
    org_id        uuid NOT NULL,
    department_id uuid NOT NULL,
    user_id       uuid NOT NULL,
    position_id   uuid NOT NULL,
    assigned_by   uuid NOT NULL,
    PRIMARY KEY (department_id, user_id)
);

CREATE INDEX org_position_assignments_position_idx ON org_position_assignments (position_id, user_id);
CREATE INDEX org_position_assignments_user_idx ON org_position_assignments (org_id, user_id);

-- Built-in roles (owner, admin, member) too, created with their organization.
CREATE TABLE org_roles (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL,
    name        text NOT NULL,
    permissions text[] NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);

CREATE INDEX org_roles_org_idx ON org_roles (org_id);

-- scope is the department whose subtree the grant covers, or the nil uuid for the whole
-- organization (a key column cannot be NULL).
CREATE TABLE org_role_grants (
    org_id     uuid NOT NULL,
    user_id    uuid NOT NULL,
    role_id    uuid NOT NULL,
    scope      uuid NOT NULL,
    granted_by uuid NOT NULL,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, user_id, role_id, scope)
);

CREATE INDEX org_role_grants_role_idx ON org_role_grants (role_id, user_id);
CREATE INDEX org_role_grants_scope_idx ON org_role_grants (scope);

CREATE TABLE org_department_rooms (
    department_id uuid PRIMARY KEY,
    org_id        uuid NOT NULL,
    room_id       uuid NOT NULL,
    name          text NOT NULL,
    created_by    uuid NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE INDEX org_department_rooms_org_idx ON org_department_rooms (org_id);

CREATE TABLE org_broadcasts (
    id      uuid PRIMARY KEY,
    org_id  uuid NOT NULL,
    title   text NOT NULL,
    body    text NOT NULL,
    sent_by uuid NOT NULL,
    sent_at timestamptz NOT NULL
);

CREATE INDEX org_broadcasts_org_idx ON org_broadcasts (org_id, sent_at DESC, id DESC);

-- Every organization event as the log holds it, for the audit log: newest first is highest
-- version first (one organization's events are one aggregate's, numbered without gaps).
CREATE TABLE org_audit (
    org_id      uuid NOT NULL,
    version     bigint NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    actor_id    uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb NOT NULL,
    position    text NOT NULL,
    PRIMARY KEY (org_id, version)
);

CREATE INDEX org_audit_actor_idx ON org_audit (org_id, actor_id, version);
CREATE INDEX org_audit_type_idx ON org_audit (org_id, event_type, version);

-- +goose Down
DROP TABLE org_audit;
DROP TABLE org_broadcasts;
DROP TABLE org_department_rooms;
DROP TABLE org_role_grants;
DROP TABLE org_roles;
DROP TABLE org_position_assignments;
DROP TABLE org_positions;
DROP TABLE org_department_members;
DROP TABLE org_departments;
DROP TABLE org_invitations;
DROP TABLE org_members;
DROP TABLE organizations;
DROP INDEX users_display_name_trgm_idx;
