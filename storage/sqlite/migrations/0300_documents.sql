-- 0300_documents: files a consent's label links to (issue 18), stored once
-- under the SHA-256 of their bytes, and the version that links to one.
--
-- A document is written only in the transaction of the first version that
-- links to it and is never changed or deleted, like the versions that name
-- it: a log entry proves its version, the version's hash covers the
-- document's SHA-256, and `consents verify` checks the bytes still match.
CREATE TABLE consent_documents (
    sha256       TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'text/plain', 'text/html')),
    size         INTEGER NOT NULL CHECK (size > 0),
    data         BLOB NOT NULL CHECK (length(data) = size),
    created_at   TEXT NOT NULL
);

CREATE TRIGGER consent_documents_no_update BEFORE UPDATE ON consent_documents
BEGIN
    SELECT RAISE(ABORT, 'consent documents are immutable');
END;
CREATE TRIGGER consent_documents_no_delete BEFORE DELETE ON consent_documents
BEGIN
    SELECT RAISE(ABORT, 'consent documents are immutable');
END;

-- NULL: the version links to its text or to its link URL. The foreign key
-- keeps a version from naming a document that is not stored.
ALTER TABLE consent_versions ADD COLUMN document_sha256 TEXT REFERENCES consent_documents(sha256);
