-- 0500_languages: each user reads the admin pages and mails in a language
-- of their own; empty until their first sign-in, which takes the browser's.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '' CHECK (language IN ('', 'de', 'en'));

-- Why a delivery failed, by message code (formbuilder.Msg as JSON), so the
-- delivery log reads in each admin's language; error and last_error keep
-- the English text for logs and the API. Empty on rows written before.
ALTER TABLE outbox ADD COLUMN last_error_msg TEXT NOT NULL DEFAULT '';
ALTER TABLE delivery_attempts ADD COLUMN error_msg TEXT NOT NULL DEFAULT '';
