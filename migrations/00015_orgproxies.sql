-- Proxies an organization authorizes (projections/orgproxies): the process manager's own tables,
-- written only by it under the checkpoint name "orgproxies", from org-events.
-- orgproxies_authorizations holds every ProxyAuthorized and ProxyRevocationAuthorized with the
-- refusal recorded for it (ProxyAuthorizationRefused), if any: what the gateway waits on after an
-- admin's grant or revocation, and the organization's list of the grants its admins made.
-- orgproxies_outbox holds the grant_proxy and revoke_proxy commands decided but not yet sent; a
-- rebuilt generation has an outbox of its own, dropped with it, so that a rebuild sends nothing.

-- +goose Up
CREATE TABLE orgproxies_authorizations (
    authorization_id uuid PRIMARY KEY,
    org_id           uuid NOT NULL,
    -- 'grant' (ProxyAuthorized) or 'revoke' (ProxyRevocationAuthorized).
    kind             text NOT NULL,
    grant_id         uuid NOT NULL,
    principal_id     uuid NOT NULL,
    -- The grant's terms; NULL for a revocation.
    delegate_id      uuid,
    scope            text,
    starts_at        timestamptz,
    ends_at          timestamptz,
    authorized_by    uuid NOT NULL,
    authorized_at    timestamptz NOT NULL,
    -- What the principal's proxies refused it with (ProxyAuthorizationRefused); NULL: not refused.
    refused_code     text,
    refused_message  text
);

-- An organization's authorizations, newest first.
CREATE INDEX orgproxies_authorizations_org_idx ON orgproxies_authorizations (org_id, authorized_at DESC, authorization_id);

CREATE TABLE orgproxies_outbox (
    seq          bigserial PRIMARY KEY,
    -- The principal whose proxies the command is for (a revoke_proxy does not name them).
    principal_id uuid NOT NULL,
    command      jsonb NOT NULL
);

-- +goose Down
DROP TABLE orgproxies_outbox;
DROP TABLE orgproxies_authorizations;
