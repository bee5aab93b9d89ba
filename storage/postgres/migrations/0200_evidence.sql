-- 0200_evidence (issue 16): double opt-in, checkpoints of the chain head,
-- the data subject's lookups, and deliveries that belong to no form.
--
-- Adding columns with constant defaults and swapping CHECK constraints
-- changes no row, so the log's update triggers do not fire and every hash
-- still verifies.

-- A consent that needs confirmation by e-mail (double opt-in).
ALTER TABLE consents ADD COLUMN confirm_by_email BOOLEAN NOT NULL DEFAULT false;

-- The log gains the action 'confirmed' (confirms_id names the entry it
-- confirms) and, on a given entry that needs confirmation, its deadline
-- (confirm_by, '' for none). Both are hashed (consent-record/v2).
ALTER TABLE consent_records DROP CONSTRAINT consent_records_action_check;
ALTER TABLE consent_records ADD CONSTRAINT consent_records_action_check
    CHECK (action IN ('given', 'withdrawn', 'confirmed'));
ALTER TABLE consent_records ADD COLUMN confirm_by TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE consent_records ADD COLUMN confirms_id BIGINT REFERENCES consent_records(id);
ALTER TABLE consent_records ADD CONSTRAINT consent_records_confirms_check
    CHECK ((action = 'confirmed') = (confirms_id IS NOT NULL));
ALTER TABLE consent_records ADD CONSTRAINT consent_records_confirm_by_check
    CHECK (confirm_by = '' OR action = 'given');
-- At most one confirmation per entry, enforced by the database itself.
CREATE UNIQUE INDEX consent_records_confirms ON consent_records(confirms_id)
    WHERE confirms_id IS NOT NULL;
-- A data subject's entries (the self-service page): the address as typed,
-- ASCII letters in either case (lower() under "C" changes ASCII only, as
-- SQLite's does).
CREATE INDEX consent_records_subject ON consent_records (lower(subject COLLATE "C"), id);

-- Checkpoints of the chain head, numbered 1, 2, 3, …; the signed token is
-- what the receivers got. Kept only in order, never changed; the server
-- role gets no UPDATE, DELETE or TRUNCATE on it (README).
CREATE TABLE anchors (
    seq        BIGINT PRIMARY KEY,
    entry_id   BIGINT NOT NULL,
    entry_hash TEXT NOT NULL CHECK (length(entry_hash) = 64),
    created_at TEXT COLLATE "C" NOT NULL,
    token      TEXT NOT NULL
);
CREATE FUNCTION anchors_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'checkpoints are append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER anchors_no_change BEFORE UPDATE OR DELETE ON anchors
    FOR EACH ROW EXECUTE FUNCTION anchors_append_only();
CREATE TRIGGER anchors_no_truncate BEFORE TRUNCATE ON anchors
    FOR EACH STATEMENT EXECUTE FUNCTION anchors_append_only();
CREATE FUNCTION anchors_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq IS DISTINCT FROM (SELECT COALESCE(MAX(seq), 0) + 1 FROM anchors) THEN
        RAISE EXCEPTION 'checkpoints are append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER anchors_insert_guard BEFORE INSERT ON anchors
    FOR EACH ROW EXECUTE FUNCTION anchors_in_order();

-- The outbox gains the visitor mails (double opt-in confirmations, links to
-- one's own entries) and anchor deliveries; the last two belong to no form.
-- ref_id is an anchor's seq or a confirmation entry; lang a visitor mail's.
ALTER TABLE outbox ALTER COLUMN form_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN ref_id BIGINT;
ALTER TABLE outbox ADD COLUMN lang TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check
    CHECK (kind IN ('webhook', 'email', 'confirm', 'access', 'anchor'));
ALTER TABLE outbox DROP CONSTRAINT outbox_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_check
    CHECK (test OR submission_id IS NOT NULL OR kind IN ('access', 'anchor'));
ALTER TABLE outbox ADD CONSTRAINT outbox_form_check
    CHECK ((form_id IS NULL) = (kind IN ('access', 'anchor')));
ALTER TABLE delivery_attempts ALTER COLUMN form_id DROP NOT NULL;
