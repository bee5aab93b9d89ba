-- 0500_languages: each user reads the admin pages and mails in a language
-- of their own; empty until their first sign-in, which takes the browser's.
-- Equal in content to SQLite's 0500.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '' CHECK (language IN ('', 'de', 'en'));
