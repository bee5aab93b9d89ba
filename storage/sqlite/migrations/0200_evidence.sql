-- 0200_evidence (issue 16): double opt-in, checkpoints of the chain head,
-- the data subject's lookups, and deliveries that belong to no form.
--
-- SQLite cannot change a table's CHECK constraints. outbox and
-- delivery_attempts, which no table refers to, are rebuilt: a new table,
-- every row copied, the old one dropped. consent_records cannot be:
-- conversations refer to its entries, and foreign keys cannot be switched
-- off inside the migration's transaction. Its action check is widened in
-- place instead, the way SQLite documents for loosening a constraint
-- ("Making Other Kinds Of Table Schema Changes", lang_altertable.html):
-- every stored row satisfies the wider check, and no row is touched, so
-- every hash still verifies.

-- The log gains the action 'confirmed' (confirms_id names the entry it
-- confirms) and, on a given entry that needs confirmation, its deadline
-- (confirm_by, '' for none). Both are hashed (consent-record/v2). The
-- columns come first: ADD COLUMN splices its text in at an offset of the
-- definition as last parsed, which the widening would shift.
ALTER TABLE consent_records ADD COLUMN confirm_by TEXT NOT NULL DEFAULT ''
    CHECK (confirm_by = '' OR action = 'given');
ALTER TABLE consent_records ADD COLUMN confirms_id INTEGER REFERENCES consent_records(id)
    CHECK ((action = 'confirmed') = (confirms_id IS NOT NULL));
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (action IN (''given'', ''withdrawn''))',
                          'CHECK (action IN (''given'', ''withdrawn'', ''confirmed''))')
 WHERE type = 'table' AND name = 'consent_records';
PRAGMA writable_schema = OFF;
-- A definition that did not read as expected fails the migration here
-- (a CHECK), rather than the first confirmation later.
CREATE TEMP TABLE widened (ok INTEGER CHECK (ok = 1));
INSERT INTO widened SELECT instr(sql, '''confirmed''') > 0 FROM sqlite_schema
 WHERE type = 'table' AND name = 'consent_records';
DROP TABLE widened;

-- A consent that needs confirmation by e-mail (double opt-in). Adding a
-- column makes every connection, this one too, read the whole schema
-- again, the widened check included.
ALTER TABLE consents ADD COLUMN confirm_by_email INTEGER NOT NULL DEFAULT 0
    CHECK (confirm_by_email IN (0, 1));

-- At most one confirmation per entry, enforced by the database itself.
CREATE UNIQUE INDEX consent_records_confirms ON consent_records(confirms_id)
    WHERE confirms_id IS NOT NULL;
-- A data subject's entries (the self-service page): the address as typed,
-- ASCII letters in either case.
CREATE INDEX consent_records_subject ON consent_records(lower(subject), id);

-- Checkpoints of the chain head, numbered 1, 2, 3, …; the signed token is
-- what the receivers got. Kept only in order, never changed.
CREATE TABLE anchors (
    seq        INTEGER PRIMARY KEY,
    entry_id   INTEGER NOT NULL,
    entry_hash TEXT NOT NULL CHECK (length(entry_hash) = 64),
    created_at TEXT NOT NULL,
    token      TEXT NOT NULL
);
CREATE TRIGGER anchors_no_update BEFORE UPDATE ON anchors
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER anchors_no_delete BEFORE DELETE ON anchors
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER anchors_in_order BEFORE INSERT ON anchors
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM anchors)
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;

-- The outbox gains the visitor mails (double opt-in confirmations, links to
-- one's own entries) and anchor deliveries; the last two belong to no form.
-- ref_id is an anchor's seq or a confirmation entry; lang a visitor mail's.
CREATE TABLE outbox_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    form_id       INTEGER REFERENCES forms(id),
    submission_id INTEGER REFERENCES submissions(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'email', 'confirm', 'access', 'anchor')),
    target        TEXT NOT NULL,
    ref_id        INTEGER,
    lang          TEXT NOT NULL DEFAULT '',
    test          INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT NOT NULL,
    delivered_at  TEXT,
    gave_up_at    TEXT,
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    CHECK ((form_id IS NULL) = (kind IN ('access', 'anchor'))),
    -- A delivery of a form belongs to a submission; only a test has none.
    CHECK (test = 1 OR submission_id IS NOT NULL OR kind IN ('access', 'anchor'))
);
INSERT INTO outbox_new (id, form_id, submission_id, kind, target, test, attempts, next_attempt,
    delivered_at, gave_up_at, last_error, created_at)
SELECT id, form_id, submission_id, kind, target, test, attempts, next_attempt,
    delivered_at, gave_up_at, last_error, created_at FROM outbox;
-- Ids are receivers' idempotency keys: the new table goes on from the
-- highest id the old one ever handed out, also of rows pruned since.
DELETE FROM sqlite_sequence WHERE name = 'outbox_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_new', seq FROM sqlite_sequence WHERE name = 'outbox';
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(next_attempt, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_form ON outbox(form_id, id);
CREATE INDEX outbox_submission ON outbox(submission_id) WHERE submission_id IS NOT NULL;

CREATE TABLE delivery_attempts_new (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL,
    form_id       INTEGER REFERENCES forms(id),
    submission_id INTEGER,
    kind          TEXT NOT NULL,
    target        TEXT NOT NULL,
    test          INTEGER NOT NULL DEFAULT 0,
    at            TEXT NOT NULL,
    status        INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    delivered     INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))
);
INSERT INTO delivery_attempts_new SELECT id, message_id, form_id, submission_id, kind, target, test, at,
    status, error, duration_ms, delivered FROM delivery_attempts;
DROP TABLE delivery_attempts;
ALTER TABLE delivery_attempts_new RENAME TO delivery_attempts;
CREATE INDEX delivery_attempts_form ON delivery_attempts(form_id, id);
CREATE INDEX delivery_attempts_message ON delivery_attempts(message_id);
CREATE INDEX delivery_attempts_at ON delivery_attempts(at);
