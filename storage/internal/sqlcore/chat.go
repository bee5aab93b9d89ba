package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

var _ formbuilder.ChatService = (*DB)(nil)

// Channels are settings and change seldom: they are written in plain
// immediate transactions. Everything a visitor or operator does in a
// conversation runs as a job of the group-commit writer instead, for two
// reasons: accepting the consent appends to the log, which only the writer
// may do (the hash chain stays linear), and putting every conversation
// change on the same single queue orders them, so the consent step cannot
// be raced past by two requests at once.

const channelSelect = `SELECT id, key, name, language, warn_personal_data, COALESCE(consent_id, 0),
	allowed_origins, archived, created_at, updated_at FROM channels`

func scanChannel(s scanner) (*formbuilder.Channel, error) {
	var c formbuilder.Channel
	var origins, created, updated string
	err := s.Scan(&c.ID, &c.Key, &c.Name, &c.Language, &c.WarnPersonalData, &c.ConsentID,
		&origins, &c.Archived, &created, &updated)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(origins), &c.AllowedOrigins); err != nil {
		return nil, err
	}
	if c.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if c.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	c.OperatorIDs = []int64{}
	return &c, nil
}

// loadChannelRefs fills the operators and the consent (with its current
// version) of channels, in one query each.
func loadChannelRefs(ctx context.Context, q queryer, chs []*formbuilder.Channel) error {
	if len(chs) == 0 {
		return nil
	}
	byID := make(map[int64]*formbuilder.Channel, len(chs))
	ids := make([]string, 0, len(chs))
	consents := map[int64][]*formbuilder.Channel{}
	var cids []string
	for _, c := range chs {
		byID[c.ID] = c
		ids = append(ids, strconv.FormatInt(c.ID, 10))
		if c.ConsentID > 0 {
			if consents[c.ConsentID] == nil {
				cids = append(cids, strconv.FormatInt(c.ConsentID, 10))
			}
			consents[c.ConsentID] = append(consents[c.ConsentID], c)
		}
	}
	// The ids are integers from the database, safe to inline.
	rows, err := q.QueryContext(ctx, `SELECT channel_id, user_id FROM channel_operators
		WHERE channel_id IN (`+strings.Join(ids, ",")+`) ORDER BY channel_id, position`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var cid, uid int64
		if err := rows.Scan(&cid, &uid); err != nil {
			rows.Close()
			return err
		}
		byID[cid].OperatorIDs = append(byID[cid].OperatorIDs, uid)
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(cids) == 0 {
		return err
	}
	rows, err = q.QueryContext(ctx, consentSelect+" WHERE c.id IN ("+strings.Join(cids, ",")+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		co, err := scanConsent(rows)
		if err != nil {
			return err
		}
		for _, c := range consents[co.ID] {
			c.Consent = co
		}
	}
	return rows.Err()
}

// prepareChannel validates c and normalises its origins to what browsers
// send in the Origin header.
func prepareChannel(c *formbuilder.Channel) error {
	if c == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "channel")
	}
	c.Name = strings.TrimSpace(c.Name)
	if c.OperatorIDs == nil {
		c.OperatorIDs = []int64{}
	}
	if c.AllowedOrigins == nil {
		c.AllowedOrigins = []string{}
	}
	if err := c.Validate(); err != nil {
		return err
	}
	for i, o := range c.AllowedOrigins {
		c.AllowedOrigins[i], _ = formbuilder.NormalizeOrigin(o)
	}
	return nil
}

// checkChannelRefs turns unknown users and consents into field errors
// rather than bare foreign key failures.
func checkChannelRefs(ctx context.Context, tx *Tx, c *formbuilder.Channel) error {
	errs := map[string]formbuilder.Msg{}
	if c.ConsentID > 0 {
		var confirm bool
		err := tx.QueryRowContext(ctx, "SELECT confirm_by_email FROM consents WHERE id = ?", c.ConsentID).Scan(&confirm)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			errs["consent_id"] = formbuilder.M(formbuilder.MsgUnknownConsentID)
		case err != nil:
			return err
		case confirm:
			errs["consent_id"] = formbuilder.M(formbuilder.MsgChatCannotConfirm)
		}
	}
	for _, id := range c.OperatorIDs {
		if ok, err := exists(ctx, tx, "users", id); err != nil {
			return err
		} else if !ok {
			errs["operator_ids"] = formbuilder.M(formbuilder.MsgUnknownUserID)
		}
	}
	return formbuilder.FieldErrors(errs)
}

func writeChannelOperators(ctx context.Context, tx *Tx, c *formbuilder.Channel) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM channel_operators WHERE channel_id = ?", c.ID); err != nil {
		return err
	}
	for i, uid := range c.OperatorIDs {
		if _, err := tx.ExecContext(ctx, "INSERT INTO channel_operators (channel_id, user_id, position) VALUES (?, ?, ?)",
			c.ID, uid, i); err != nil {
			return err
		}
	}
	return nil
}

// CreateChannel implements formbuilder.ChatService. It generates Key when
// empty and fills c as FindChannelByID would.
func (db *DB) CreateChannel(ctx context.Context, c *formbuilder.Channel) error {
	if err := prepareChannel(c); err != nil {
		return err
	}
	if c.Key == "" {
		c.Key = formbuilder.NewFormKey()
	}
	origins, err := json.Marshal(c.AllowedOrigins)
	if err != nil {
		return formbuilder.Internal(err)
	}
	now := fmtTime(db.now())
	var id int64
	err = db.writeTx(ctx, func(tx *Tx) error {
		if err := checkChannelRefs(ctx, tx, c); err != nil {
			return err
		}
		var err error
		id, err = insertID(ctx, db.d, tx, `INSERT INTO channels (key, name, language, warn_personal_data,
			consent_id, allowed_origins, archived, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Key, c.Name, c.Language, c.WarnPersonalData, nullID(c.ConsentID), string(origins), c.Archived, now, now)
		if err != nil {
			return err
		}
		c.ID = id
		return writeChannelOperators(ctx, tx, c)
	})
	if err != nil {
		c.ID = 0
		return err
	}
	got, err := db.FindChannelByID(ctx, id)
	if err != nil {
		return err
	}
	*c = *got
	return nil
}

// UpdateChannel implements formbuilder.ChatService. The key never changes:
// it is pasted into customers' sites.
func (db *DB) UpdateChannel(ctx context.Context, c *formbuilder.Channel) error {
	if err := prepareChannel(c); err != nil {
		return err
	}
	origins, err := json.Marshal(c.AllowedOrigins)
	if err != nil {
		return formbuilder.Internal(err)
	}
	now := fmtTime(db.now())
	err = db.writeTx(ctx, func(tx *Tx) error {
		if err := checkChannelRefs(ctx, tx, c); err != nil {
			return err
		}
		if err := affectOne(tx.ExecContext(ctx, `UPDATE channels SET name = ?, language = ?,
			warn_personal_data = ?, consent_id = ?, allowed_origins = ?, archived = ?, updated_at = ?
			WHERE id = ?`, c.Name, c.Language, c.WarnPersonalData, nullID(c.ConsentID), string(origins),
			c.Archived, now, c.ID))(formbuilder.MsgChannelNotFound); err != nil {
			return err
		}
		return writeChannelOperators(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	got, err := db.FindChannelByID(ctx, c.ID)
	if err != nil {
		return err
	}
	*c = *got
	return nil
}

func (db *DB) findChannel(ctx context.Context, where string, arg any) (*formbuilder.Channel, error) {
	return findLoaded(ctx, db, formbuilder.MsgChannelNotFound, channelSelect+" WHERE "+where, arg, scanChannel, loadChannelRefs)
}

// FindChannelByID implements formbuilder.ChatService.
func (db *DB) FindChannelByID(ctx context.Context, id int64) (*formbuilder.Channel, error) {
	return db.findChannel(ctx, "id = ?", id)
}

// FindChannelByKey implements formbuilder.ChatService.
func (db *DB) FindChannelByKey(ctx context.Context, key string) (*formbuilder.Channel, error) {
	if !formbuilder.ValidFormKey(key) {
		return nil, notFound(formbuilder.MsgChannelNotFound)
	}
	return db.findChannel(ctx, "key = ?", key)
}

// ListChannels implements formbuilder.ChatService, ordered by name.
func (db *DB) ListChannels(ctx context.Context) ([]*formbuilder.Channel, error) {
	return listLoaded(ctx, db, channelSelect+" ORDER BY lower(name), id", nil, scanChannel, loadChannelRefs)
}

const conversationSelect = `SELECT id, channel_id, visitor_hash, state, held_message,
	COALESCE(assigned_user_id, 0), page_url, unread_operator, COALESCE(consent_record_id, 0),
	COALESCE(last_message_at, ''), created_at, updated_at FROM conversations`

func scanConversation(s scanner) (*formbuilder.Conversation, error) {
	var c formbuilder.Conversation
	var last, created, updated string
	err := s.Scan(&c.ID, &c.ChannelID, &c.VisitorHash, &c.State, &c.HeldMessage, &c.AssignedUserID,
		&c.PageURL, &c.UnreadOperator, &c.ConsentRecordID, &last, &created, &updated)
	if err != nil {
		return nil, err
	}
	if c.LastMessageAt, err = parseTime(last); err != nil {
		return nil, err
	}
	if c.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if c.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &c, nil
}

func findConversation(ctx context.Context, q queryer, id int64, lock string) (*formbuilder.Conversation, error) {
	c, err := scanConversation(q.QueryRowContext(ctx, conversationSelect+" WHERE id = ?"+lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgConversationNotFound)
	}
	return c, err
}

// FindConversation implements formbuilder.ChatService.
func (db *DB) FindConversation(ctx context.Context, id int64) (*formbuilder.Conversation, error) {
	c, err := findConversation(ctx, db.r, id, "")
	return c, db.dbErr(err)
}

// FindVisitorConversation implements formbuilder.ChatService.
func (db *DB) FindVisitorConversation(ctx context.Context, channelID int64, visitorID string) (*formbuilder.Conversation, error) {
	if !formbuilder.ValidVisitorID(visitorID) {
		return nil, notFound(formbuilder.MsgConversationNotFound)
	}
	c, err := scanConversation(db.r.QueryRowContext(ctx, conversationSelect+" WHERE channel_id = ? AND visitor_hash = ?",
		channelID, formbuilder.VisitorHash(visitorID)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgConversationNotFound)
	}
	return c, db.dbErr(err)
}

// ListConversations implements formbuilder.ChatService.
func (db *DB) ListConversations(ctx context.Context, f formbuilder.ConversationFilter) ([]*formbuilder.Conversation, error) {
	q := conversationSelect + " WHERE last_message_at IS NOT NULL"
	var args []any
	if f.ChannelID != 0 {
		q += " AND channel_id = ?"
		args = append(args, f.ChannelID)
	}
	if f.OperatorID != 0 {
		q += " AND (assigned_user_id = ? OR channel_id IN (SELECT channel_id FROM channel_operators WHERE user_id = ?))"
		args = append(args, f.OperatorID, f.OperatorID)
	}
	q += " ORDER BY last_message_at DESC, id DESC LIMIT ?"
	args = append(args, formbuilder.PageLimit(f.Limit))
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, db.dbErr(err)
		}
		out = append(out, c)
	}
	return out, db.dbErr(rows.Err())
}

const insertMessageSQL = `INSERT INTO chat_messages (conversation_id, sender, user_id, text, created_at)
	VALUES (?, ?, ?, ?, ?)`

// insertMessage stores m at now and sets its id and time.
func insertMessage(ctx context.Context, b *batch, m *formbuilder.Message, now time.Time) error {
	var err error
	if m.ID, err = b.insertID(ctx, insertMessageSQL, m.ConversationID, m.Sender, nullID(m.UserID), m.Text, fmtTime(now)); err != nil {
		return err
	}
	m.CreatedAt = now
	return nil
}

// chatChanged announces, at the commit, that msgs were delivered in conv
// and, with state, that its state or held message changed. A conversation's
// messages are inserted under its row lock (or SQLite's one writer), so
// their ids grow in commit order and the first and last id name them all.
func chatChanged(b *batch, conv *formbuilder.Conversation, msgs []*formbuilder.Message, state bool) {
	c := formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv.ID, ChannelID: conv.ChannelID, StateChanged: state}
	if len(msgs) > 0 {
		c.FirstMessage, c.LastMessage = msgs[0].ID, msgs[len(msgs)-1].ID
	}
	b.tx.changed(c)
}

// PostVisitorMessage implements formbuilder.ChatService.
func (db *DB) PostVisitorMessage(ctx context.Context, ch *formbuilder.Channel, p formbuilder.VisitorPost) (*formbuilder.VisitorPostResult, error) {
	if ch == nil || ch.ID <= 0 {
		return nil, formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "channel")
	}
	if !formbuilder.ValidVisitorID(p.VisitorID) {
		return nil, formbuilder.FieldError("visitor_id", formbuilder.MsgNotAVisitorID)
	}
	text, err := formbuilder.ValidateMessageText(p.Text)
	if err != nil {
		return nil, err
	}
	pageURL, err := formbuilder.CheckPageURL(p.PageURL)
	if err != nil {
		return nil, err
	}
	hash := formbuilder.VisitorHash(p.VisitorID)
	var res *formbuilder.VisitorPostResult
	j := &job{rowLocks: true, run: func(ctx context.Context, b *batch) error {
		res = &formbuilder.VisitorPostResult{}
		now := b.db.now()
		ts := fmtTime(now)
		// The row is read under its lock, which orders this change after
		// every other change of the conversation. The first message creates
		// it with an insert that yields to a row another server inserted
		// meanwhile, and reads it again.
		find := func() (*formbuilder.Conversation, error) {
			return scanConversation(b.tx.QueryRowContext(ctx,
				conversationSelect+" WHERE channel_id = ? AND visitor_hash = ?"+b.db.d.ForUpdate(), ch.ID, hash))
		}
		conv, err := find()
		if errors.Is(err, sql.ErrNoRows) {
			var created int64
			row := b.tx.QueryRowContext(ctx, `INSERT INTO conversations (channel_id, visitor_hash, state,
				page_url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (channel_id, visitor_hash) DO NOTHING RETURNING id`,
				ch.ID, hash, formbuilder.InitialState(ch), pageURL, ts, ts)
			if err := row.Scan(&created); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			res.Created = created != 0
			conv, err = find()
		}
		if err != nil {
			return err
		}
		disp, err := formbuilder.DisposeVisitorMessage(conv, ch)
		if err != nil {
			return err
		}
		if pageURL != "" {
			conv.PageURL = pageURL
		}
		conv.UpdatedAt = now
		if disp == formbuilder.Hold {
			conv.HeldMessage = text
			_, err := b.tx.ExecContext(ctx, `UPDATE conversations SET held_message = ?, page_url = ?,
				updated_at = ? WHERE id = ?`, text, conv.PageURL, ts, conv.ID)
			res.Conversation = conv
			// A held message is news only to the visitor's other tabs.
			chatChanged(b, conv, nil, true)
			return err
		}
		// A message held under a consent the channel no longer asks goes
		// first, so the operator reads the visitor's words in order.
		texts := []string{text}
		if conv.HeldMessage != "" {
			texts = []string{conv.HeldMessage, text}
		}
		for _, t := range texts {
			m := &formbuilder.Message{ConversationID: conv.ID, Sender: formbuilder.SenderVisitor, Text: t}
			if err := insertMessage(ctx, b, m, now); err != nil {
				return err
			}
			res.Delivered = append(res.Delivered, m)
		}
		opened := conv.State != formbuilder.ConvOpen
		conv.State, conv.HeldMessage, conv.LastMessageAt = formbuilder.ConvOpen, "", now
		conv.UnreadOperator += len(texts)
		_, err = b.tx.ExecContext(ctx, `UPDATE conversations SET state = ?, held_message = '', page_url = ?,
			unread_operator = unread_operator + ?, last_message_at = ?, updated_at = ? WHERE id = ?`,
			conv.State, conv.PageURL, len(texts), ts, ts, conv.ID)
		res.Conversation = conv
		// The state changed when this opened the conversation or delivered
		// a held message too.
		chatChanged(b, conv, res.Delivered, res.Created || opened || len(texts) > 1)
		return err
	}, undo: func() { res = nil }}
	if err := db.writer.do(ctx, j); err != nil {
		return nil, err
	}
	return res, nil
}

// AcceptConsent implements formbuilder.ChatService. The record must be a
// given consent of the channel's consent; the writer sets its id, time and
// place in the hash chain, in the same savepoint as the delivered message.
func (db *DB) AcceptConsent(ctx context.Context, conversationID int64, rec *formbuilder.ConsentRecord) (*formbuilder.Message, error) {
	if err := formbuilder.ValidateChatConsentRecord(rec); err != nil {
		return nil, err
	}
	rec.UserAgent = truncateBytes(rec.UserAgent, formbuilder.MaxUserAgent)
	ip := rec.IP
	var msg *formbuilder.Message
	j := &job{
		rowLocks: true,
		run: func(ctx context.Context, b *batch) error {
			conv, err := findConversation(ctx, b.tx, conversationID, b.db.d.ForUpdate())
			if err != nil {
				return err
			}
			var current int64
			if err := b.tx.QueryRowContext(ctx, "SELECT COALESCE(current_version_id, 0) FROM consents WHERE id = ?",
				rec.ConsentID).Scan(&current); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return formbuilder.FieldError("record", formbuilder.MsgUnknownConsent)
				}
				return err
			}
			if err := formbuilder.CheckAccept(conv, rec, current); err != nil {
				return err
			}
			now := b.db.now()
			m := &formbuilder.Message{ConversationID: conv.ID, Sender: formbuilder.SenderVisitor, Text: conv.HeldMessage}
			if err := insertMessage(ctx, b, m, now); err != nil {
				return err
			}
			rec.Time = now
			if rec.IP, err = b.storedIP(ctx, ip); err != nil {
				return err
			}
			if err := b.appendRecord(ctx, rec); err != nil {
				return err
			}
			ts := fmtTime(now)
			if _, err := b.tx.ExecContext(ctx, `UPDATE conversations SET state = 'open', held_message = '',
				unread_operator = unread_operator + 1, consent_record_id = ?, page_url = CASE WHEN ? <> '' THEN ? ELSE page_url END,
				last_message_at = ?, updated_at = ? WHERE id = ?`,
				rec.ID, rec.PageURL, rec.PageURL, ts, ts, conv.ID); err != nil {
				return err
			}
			chatChanged(b, conv, []*formbuilder.Message{m}, true)
			msg = m
			return nil
		},
		undo: func() {
			msg = nil
			rec.ID, rec.Time, rec.PrevHash, rec.Hash, rec.IP = 0, time.Time{}, "", "", ip
		},
	}
	if err := db.writer.do(ctx, j); err != nil {
		return nil, err
	}
	return msg, nil
}

// conversationJob runs fn on the conversation with id inside a writer job
// and returns the conversation as fn left it.
func (db *DB) conversationJob(ctx context.Context, id int64, fn func(ctx context.Context, b *batch, c *formbuilder.Conversation, now time.Time) error) (*formbuilder.Conversation, error) {
	var out *formbuilder.Conversation
	j := &job{rowLocks: true, run: func(ctx context.Context, b *batch) error {
		c, err := findConversation(ctx, b.tx, id, b.db.d.ForUpdate())
		if err != nil {
			return err
		}
		now := b.db.now()
		if err := fn(ctx, b, c, now); err != nil {
			return err
		}
		out = c
		return nil
	}, undo: func() { out = nil }}
	if err := db.writer.do(ctx, j); err != nil {
		return nil, err
	}
	return out, nil
}

// DeclineConsent implements formbuilder.ChatService.
func (db *DB) DeclineConsent(ctx context.Context, conversationID int64) (*formbuilder.Conversation, error) {
	return db.conversationJob(ctx, conversationID, func(ctx context.Context, b *batch, c *formbuilder.Conversation, now time.Time) error {
		if err := formbuilder.CheckDecline(c); err != nil {
			return err
		}
		c.State, c.HeldMessage, c.UpdatedAt = formbuilder.ConvDeclined, "", now
		chatChanged(b, c, nil, true)
		_, err := b.tx.ExecContext(ctx, `UPDATE conversations SET state = 'declined', held_message = '',
			updated_at = ? WHERE id = ?`, fmtTime(now), c.ID)
		return err
	})
}

// ReopenConversation implements formbuilder.ChatService.
func (db *DB) ReopenConversation(ctx context.Context, ch *formbuilder.Channel, conversationID int64) (*formbuilder.Conversation, error) {
	if ch == nil {
		return nil, formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "channel")
	}
	return db.conversationJob(ctx, conversationID, func(ctx context.Context, b *batch, c *formbuilder.Conversation, now time.Time) error {
		if c.ChannelID != ch.ID {
			return notFound(formbuilder.MsgConversationNotFound)
		}
		state, changed := formbuilder.ReopenedState(c, ch)
		if !changed {
			return nil
		}
		c.State, c.UpdatedAt = state, now
		chatChanged(b, c, nil, true)
		_, err := b.tx.ExecContext(ctx, "UPDATE conversations SET state = ?, updated_at = ? WHERE id = ?",
			c.State, fmtTime(now), c.ID)
		return err
	})
}

// AddOperatorMessage implements formbuilder.ChatService. It sets m's id
// and time.
func (db *DB) AddOperatorMessage(ctx context.Context, m *formbuilder.Message) error {
	if m == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "message")
	}
	text, err := formbuilder.ValidateMessageText(m.Text)
	if err != nil {
		return err
	}
	m.Text, m.Sender = text, formbuilder.SenderOperator
	_, err = db.conversationJob(ctx, m.ConversationID, func(ctx context.Context, b *batch, c *formbuilder.Conversation, now time.Time) error {
		if err := formbuilder.CheckOperatorReply(c); err != nil {
			return err
		}
		if err := insertMessage(ctx, b, m, now); err != nil {
			return err
		}
		chatChanged(b, c, []*formbuilder.Message{m}, false)
		ts := fmtTime(now)
		// Whoever answers first takes the conversation, so the consent
		// of a later reopening names a person, not just the channel.
		_, err := b.tx.ExecContext(ctx, `UPDATE conversations SET last_message_at = ?, updated_at = ?,
			assigned_user_id = COALESCE(assigned_user_id, ?) WHERE id = ?`, ts, ts, nullID(m.UserID), c.ID)
		return err
	})
	if err != nil {
		m.ID, m.CreatedAt = 0, time.Time{}
	}
	return err
}

// AssignConversation implements formbuilder.ChatService.
func (db *DB) AssignConversation(ctx context.Context, conversationID, userID int64) error {
	if userID < 0 {
		return formbuilder.FieldError("assigned_user_id", formbuilder.MsgNotAUserID)
	}
	_, err := db.conversationJob(ctx, conversationID, func(ctx context.Context, b *batch, c *formbuilder.Conversation, now time.Time) error {
		if userID > 0 {
			if ok, err := exists(ctx, b.tx, "users", userID); err != nil {
				return err
			} else if !ok {
				return formbuilder.FieldError("assigned_user_id", formbuilder.MsgUnknownUser)
			}
		}
		c.AssignedUserID = userID
		_, err := b.tx.ExecContext(ctx, "UPDATE conversations SET assigned_user_id = ?, updated_at = ? WHERE id = ?",
			nullID(userID), fmtTime(now), c.ID)
		return err
	})
	return err
}

// ListMessages implements formbuilder.ChatService.
func (db *DB) ListMessages(ctx context.Context, conversationID, afterID int64, limit int) ([]*formbuilder.Message, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, conversation_id, sender, COALESCE(user_id, 0), text, created_at
		FROM chat_messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?`,
		conversationID, afterID, formbuilder.PageLimit(limit))
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	out := []*formbuilder.Message{}
	for rows.Next() {
		var m formbuilder.Message
		var created string
		if err := rows.Scan(&m.ID, &m.ConversationID, &m.Sender, &m.UserID, &m.Text, &created); err != nil {
			return nil, db.dbErr(err)
		}
		if m.CreatedAt, err = parseTime(created); err != nil {
			return nil, formbuilder.Internal(err)
		}
		out = append(out, &m)
	}
	return out, db.dbErr(rows.Err())
}

// MarkRead implements formbuilder.ChatService. It is a plain write: it
// touches nothing the consent step depends on.
func (db *DB) MarkRead(ctx context.Context, conversationID int64) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE conversations SET unread_operator = 0 WHERE id = ?", conversationID))(formbuilder.MsgConversationNotFound)
	})
}
