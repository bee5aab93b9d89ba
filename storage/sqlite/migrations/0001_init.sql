-- 0001_init: the whole first schema of consentforms.
--
-- Times are TEXT in a fixed-width UTC format (2006-01-02T15:04:05.000000000Z)
-- so that string order is time order and the file stays readable with the
-- sqlite3 shell. Empty optional references are NULL so foreign keys hold.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL COLLATE NOCASE UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
);

-- id is the SHA-256 (hex) of the cookie token: a copy of the database does
-- not hand out live sessions.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY CHECK (length(id) = 64),
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_last_seen ON sessions(last_seen);
CREATE INDEX sessions_created ON sessions(created_at);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
    created_at TEXT NOT NULL,
    last_used  TEXT
);

-- One row: the settings are small and always read and written as a whole.
CREATE TABLE settings (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    data       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO settings (id, data, updated_at) VALUES (1,
    '{"company":{"name":"","address":"","purposes":"","third_parties":"","email":""},"ip_mode":"full"}',
    strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now'));

CREATE TABLE consents (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    type               TEXT NOT NULL CHECK (type IN ('custom', 'standard')),
    -- NULL only between the insert of a consent and of its first version.
    current_version_id INTEGER REFERENCES consent_versions(id),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE TABLE consent_versions (
    id         INTEGER PRIMARY KEY,
    consent_id INTEGER NOT NULL REFERENCES consents(id),
    number     INTEGER NOT NULL CHECK (number >= 1),
    text       TEXT NOT NULL,
    label      TEXT NOT NULL,
    link_url   TEXT NOT NULL DEFAULT '',
    language   TEXT NOT NULL,
    hash       TEXT NOT NULL CHECK (length(hash) = 64),
    author     TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (consent_id, number)
);

-- Every log entry proves the text it points at: a version never changes.
CREATE TRIGGER consent_versions_no_update BEFORE UPDATE ON consent_versions
BEGIN
    SELECT RAISE(ABORT, 'consent versions are immutable');
END;
CREATE TRIGGER consent_versions_no_delete BEFORE DELETE ON consent_versions
BEGIN
    SELECT RAISE(ABORT, 'consent versions are immutable');
END;

CREATE TABLE forms (
    id                  INTEGER PRIMARY KEY,
    key                 TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    title               TEXT NOT NULL DEFAULT '',
    language            TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    fields              TEXT NOT NULL DEFAULT '[]', -- JSON []formbuilder.Field
    submit_label        TEXT NOT NULL DEFAULT '',
    success_message     TEXT NOT NULL DEFAULT '',
    redirect_url        TEXT NOT NULL DEFAULT '',
    responsible_user_id INTEGER REFERENCES users(id),
    allowed_origins     TEXT NOT NULL DEFAULT '[]', -- JSON []string
    retention_days      INTEGER NOT NULL DEFAULT 0,
    archived            INTEGER NOT NULL DEFAULT 0,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE form_consents (
    form_id            INTEGER NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    consent_id         INTEGER NOT NULL REFERENCES consents(id),
    position           INTEGER NOT NULL,
    checked_by_default INTEGER NOT NULL DEFAULT 1,
    required           INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (form_id, consent_id)
) WITHOUT ROWID;
-- Finds the forms whose cached pages a new consent version invalidates.
CREATE INDEX form_consents_consent ON form_consents(consent_id);

-- AUTOINCREMENT: ids are never reused after retention deletes, because the
-- consent log keeps submission ids as plain numbers.
CREATE TABLE submissions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    form_id    INTEGER NOT NULL REFERENCES forms(id),
    form_key   TEXT NOT NULL DEFAULT '',
    "values"   TEXT NOT NULL DEFAULT '{}', -- JSON map[string][]string
    subject    TEXT NOT NULL DEFAULT '',
    page_url   TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX submissions_form_created ON submissions(form_id, created_at);

-- The consent log. Ids are assigned by the one writer as max+1 because the
-- hash of an entry covers its id. submission_id is a plain number, not a
-- foreign key: deleting old submissions must leave the log intact.
CREATE TABLE consent_records (
    id            INTEGER PRIMARY KEY,
    time          TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('given', 'withdrawn')),
    consent_id    INTEGER NOT NULL REFERENCES consents(id),
    consent_name  TEXT NOT NULL DEFAULT '',
    version_id    INTEGER NOT NULL REFERENCES consent_versions(id),
    version_no    INTEGER NOT NULL,
    text_hash     TEXT NOT NULL,
    form_id       INTEGER REFERENCES forms(id),
    form_key      TEXT NOT NULL DEFAULT '',
    channel_id    INTEGER,
    source        TEXT NOT NULL DEFAULT '',
    page_url      TEXT NOT NULL DEFAULT '',
    user_id       INTEGER,
    user_name     TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    subject       TEXT NOT NULL DEFAULT '',
    initial_state INTEGER NOT NULL CHECK (initial_state IN (0, 1)),
    interacted    INTEGER NOT NULL CHECK (interacted IN (0, 1)),
    submission_id INTEGER,
    withdraws_id  INTEGER REFERENCES consent_records(id),
    prev_hash     TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash          TEXT NOT NULL CHECK (length(hash) = 64),
    CHECK ((action = 'withdrawn') = (withdraws_id IS NOT NULL))
);

-- Keyset pagination (id < ? ORDER BY id DESC) with one equality filter walks
-- one of these in order and stops after a page.
CREATE INDEX consent_records_consent ON consent_records(consent_id, id);
CREATE INDEX consent_records_form ON consent_records(form_id, id);
CREATE INDEX consent_records_channel ON consent_records(channel_id, id);
CREATE INDEX consent_records_ip ON consent_records(ip, id);
CREATE INDEX consent_records_time ON consent_records(time);
CREATE INDEX consent_records_submission ON consent_records(submission_id);
-- At most one withdrawal per entry, enforced by the database itself.
CREATE UNIQUE INDEX consent_records_withdraws ON consent_records(withdraws_id)
    WHERE withdraws_id IS NOT NULL;

-- Append-only, enforced by the database. With recursive_triggers on, the
-- delete half of INSERT OR REPLACE fires the delete trigger, and an upsert's
-- DO UPDATE fires the update trigger.
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent log is append-only');
END;
CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent log is append-only');
END;
-- A new entry must extend the chain: the next id and the hash of the last
-- entry. This also stops REPLACE and upserts on connections that did not turn
-- recursive_triggers on, and any writer whose in-memory chain head is wrong.
CREATE TRIGGER consent_records_append_only BEFORE INSERT ON consent_records
WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM consent_records)
  OR NEW.prev_hash IS NOT COALESCE(
        (SELECT hash FROM consent_records ORDER BY id DESC LIMIT 1),
        '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
    SELECT RAISE(ABORT, 'consent log is append-only');
END;
