-- 0100_teams: roles and deactivation of users, API tokens that belong to a
-- user with a scope, an expiry and revocation, and the audit trail of what
-- staff change.

-- Users from before were all admins. Users are never deleted (the consent
-- log names them), only deactivated.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('admin', 'operator'));
ALTER TABLE users ADD COLUMN deactivated_at TEXT;

-- Tokens from before belonged to nobody and could do everything: they go to
-- the first user (the first admin) with read-write scope, so they keep
-- working as they did. Revoked tokens stay, so that lists and the audit
-- trail can still name them.
ALTER TABLE api_tokens ADD COLUMN user_id INTEGER REFERENCES users(id);
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write'));
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
UPDATE api_tokens SET user_id = (SELECT MIN(id) FROM users);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- The audit trail: one row per change made through the admin UI, the API
-- or the CLI. details is a JSON object of strings.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    time        TEXT NOT NULL,
    user_id     INTEGER REFERENCES users(id),
    actor       TEXT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('admin', 'api', 'cli')),
    token_id    INTEGER REFERENCES api_tokens(id),
    ip          TEXT NOT NULL DEFAULT '',
    target      TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_id   INTEGER,
    target_name TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '{}'
);
-- Keyset pages (id < ? ORDER BY id DESC) with the "who" or "what" filter
-- walk one of these in order and stop after a page.
CREATE INDEX audit_events_user ON audit_events(user_id, id);
CREATE INDEX audit_events_target ON audit_events(target, id);
CREATE INDEX audit_events_time ON audit_events(time);

-- Append-only, like the consent log: UPDATE and DELETE are refused (with
-- recursive_triggers on, the delete half of INSERT OR REPLACE too), and an
-- insert may not reuse an id, which stops REPLACE on connections without
-- recursive_triggers.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit trail is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit trail is append-only');
END;
CREATE TRIGGER audit_events_append_only BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit trail is append-only');
END;
