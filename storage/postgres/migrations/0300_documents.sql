-- 0300_documents: files a consent's label links to (issue 18), stored once
-- under the SHA-256 of their bytes, and the version that links to one; as
-- SQLite's 0300.
--
-- A document is written only in the transaction of the first version that
-- links to it and is never changed or deleted, like the versions that name
-- it: a log entry proves its version, the version's hash covers the
-- document's SHA-256, and `consents verify` checks the bytes still match.
-- The server's role gets no UPDATE, DELETE or TRUNCATE on it (README).
CREATE TABLE consent_documents (
    sha256       TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'text/plain', 'text/html')),
    size         BIGINT NOT NULL CHECK (size > 0),
    data         BYTEA NOT NULL CHECK (octet_length(data) = size),
    created_at   TEXT COLLATE "C" NOT NULL
);

-- Row triggers do not fire on TRUNCATE, hence the statement trigger.
CREATE FUNCTION consent_documents_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent documents are immutable' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER consent_documents_no_change BEFORE UPDATE OR DELETE ON consent_documents
    FOR EACH ROW EXECUTE FUNCTION consent_documents_immutable();
CREATE TRIGGER consent_documents_no_truncate BEFORE TRUNCATE ON consent_documents
    FOR EACH STATEMENT EXECUTE FUNCTION consent_documents_immutable();

-- NULL: the version links to its text or to its link URL.
ALTER TABLE consent_versions ADD COLUMN document_sha256 TEXT REFERENCES consent_documents(sha256);
