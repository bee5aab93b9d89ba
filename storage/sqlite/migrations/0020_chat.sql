-- 0020_chat: live-chat channels, their operators, conversations and messages.
--
-- A visitor's first message may be held until they answer the channel's
-- consent: it lives in conversations.held_message, never in chat_messages,
-- so nothing that lists messages for operators can show it.

CREATE TABLE channels (
    id                 INTEGER PRIMARY KEY,
    key                TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    language           TEXT NOT NULL,
    warn_personal_data INTEGER NOT NULL DEFAULT 0 CHECK (warn_personal_data IN (0, 1)),
    consent_id         INTEGER REFERENCES consents(id),
    allowed_origins    TEXT NOT NULL DEFAULT '[]', -- JSON []string
    archived           INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    CHECK (warn_personal_data = 0 OR consent_id IS NOT NULL)
);
CREATE INDEX channels_consent ON channels(consent_id);

-- The first operator (lowest position) is the channel's responsible user.
CREATE TABLE channel_operators (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (channel_id, user_id)
) WITHOUT ROWID;
CREATE INDEX channel_operators_user ON channel_operators(user_id);

-- visitor_hash is the SHA-256 of the visitor id the widget keeps: the id is
-- the visitor's bearer secret for the conversation, so only its hash is
-- stored. consent_record_id points at the log entry of the accepted consent.
CREATE TABLE conversations (
    id                INTEGER PRIMARY KEY,
    channel_id        INTEGER NOT NULL REFERENCES channels(id),
    visitor_hash      TEXT NOT NULL CHECK (length(visitor_hash) = 64),
    state             TEXT NOT NULL CHECK (state IN ('awaiting_consent', 'open', 'declined')),
    held_message      TEXT NOT NULL DEFAULT '',
    assigned_user_id  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    page_url          TEXT NOT NULL DEFAULT '',
    unread_operator   INTEGER NOT NULL DEFAULT 0 CHECK (unread_operator >= 0),
    consent_record_id INTEGER REFERENCES consent_records(id),
    last_message_at   TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (channel_id, visitor_hash),
    -- A message can only be held while the consent is pending.
    CHECK (held_message = '' OR state = 'awaiting_consent')
);
-- The operators' lists: conversations with a delivered message, newest
-- activity first, over all channels or within one.
CREATE INDEX conversations_recent ON conversations(last_message_at)
    WHERE last_message_at IS NOT NULL;
CREATE INDEX conversations_channel_recent ON conversations(channel_id, last_message_at)
    WHERE last_message_at IS NOT NULL;

CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    sender          TEXT NOT NULL CHECK (sender IN ('visitor', 'operator', 'system')),
    user_id         INTEGER REFERENCES users(id) ON DELETE SET NULL,
    text            TEXT NOT NULL CHECK (length(text) > 0),
    created_at      TEXT NOT NULL
);
CREATE INDEX chat_messages_conversation ON chat_messages(conversation_id, id);
