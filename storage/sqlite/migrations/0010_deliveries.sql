-- 0010_deliveries: getting submissions to the form's owner (webhooks and
-- notification mails through a durable outbox) and reading the inbox.

-- JSON formbuilder.Notifications: the webhooks (URL and signing secret) and
-- e-mail addresses each submission of the form is delivered to.
ALTER TABLE forms ADD COLUMN notifications TEXT NOT NULL DEFAULT '{}';

-- Keyset pages of one form's inbox: form_id = ? AND id < ? ORDER BY id DESC
-- walks this index and stops after a page, however many submissions exist.
-- It replaces (form_id, created_at), so the writer still maintains one index
-- per submission, not two: that one served only retention, which now walks
-- a form's rows in id order (time order) and checks created_at per row, an
-- hourly scan that costs milliseconds even for 100,000 submissions.
DROP INDEX submissions_form_created;
CREATE INDEX submissions_form_id ON submissions(form_id, id);

-- One row per delivery: inserted in the transaction that stores the
-- submission (so none is ever lost), claimed by the worker with a lease
-- (next_attempt pushed ahead; a crashed worker's claim comes due again),
-- finished by delivered_at or gave_up_at. AUTOINCREMENT: the id is the
-- Idempotency-Key receivers dedupe on, so it must never be reused after
-- rows are pruned. Retention deletes a submission's rows with it (cascade).
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    form_id       INTEGER NOT NULL REFERENCES forms(id),
    submission_id INTEGER REFERENCES submissions(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target        TEXT NOT NULL,
    test          INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt  TEXT NOT NULL,
    delivered_at  TEXT,
    gave_up_at    TEXT,
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    -- A real delivery belongs to a submission; only a test has none.
    CHECK (test = 1 OR submission_id IS NOT NULL)
);
-- The worker's question "what is due?" reads only unfinished rows.
CREATE INDEX outbox_due ON outbox(next_attempt, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_form ON outbox(form_id, id);
-- Cascading deletes from submissions find their rows through this.
CREATE INDEX outbox_submission ON outbox(submission_id) WHERE submission_id IS NOT NULL;

-- The delivery log: one row per try. message_id is a plain number, not a
-- foreign key, so the log of a submission deleted by retention stays until
-- it is pruned by age.
CREATE TABLE delivery_attempts (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL,
    form_id       INTEGER NOT NULL REFERENCES forms(id),
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
CREATE INDEX delivery_attempts_form ON delivery_attempts(form_id, id);
CREATE INDEX delivery_attempts_message ON delivery_attempts(message_id);
CREATE INDEX delivery_attempts_at ON delivery_attempts(at);
