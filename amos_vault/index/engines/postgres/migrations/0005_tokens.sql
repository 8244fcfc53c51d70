-- 0005: the team server's bearer tokens (runtime/tokens.py), each bound to one identity.
-- Only the SHA-256 of a token's secret is kept. The team server looks tokens up as the
-- URL's user, before it knows who asks; the request role amos_request gets no privilege on
-- this table, so a request can never read or change a token.
CREATE TABLE amos_tokens (
    token_id       text        PRIMARY KEY,          -- t-xxxxxxxx, shown by `token list`
    name           text        NOT NULL DEFAULT '',  -- who or what uses it
    identity       text        NOT NULL,             -- whose rows it may read
    secret_sha256  bytea       NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz                       -- set: refused from then on
);
REVOKE ALL ON amos_tokens FROM amos_request;
