package storagetest

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// EvidenceMigration is the number of the migration of issue 16 (double
// opt-in, checkpoints): it rebuilds or alters the log, the outbox and the
// delivery log, so a database written before it must come through whole.
const EvidenceMigration = 200

// NewestBeforeEvidence is the newest migration main had when
// EvidenceMigration arrived (PostgreSQL's 0400). Later ones (0500, issue
// 17's languages) came after it, so no database without it has them:
// the upgrade test leaves them to the program as well.
const NewestBeforeEvidence = 400

// Upgrade is a database at the schema without EvidenceMigration, and how to
// reach it.
type Upgrade struct {
	// Exec and QueryInt run statements on it with the owner's rights
	// ($1, $2, … placeholders).
	Exec     func(ctx context.Context, q string, args ...any) error
	QueryInt func(ctx context.Context, q string, args ...any) (int64, error)
	// Open opens it with the program, which applies the newer migrations;
	// it is closed when the test ends.
	Open func(t testing.TB) Store
}

// UpgradeOf is the Upgrade of the database that raw reaches with the
// owner's rights, opened with the program by open.
func UpgradeOf(raw *sql.DB, open func(t testing.TB) Store) Upgrade {
	return Upgrade{
		Exec: func(ctx context.Context, q string, args ...any) error {
			_, err := raw.ExecContext(ctx, q, args...)
			return err
		},
		QueryInt: func(ctx context.Context, q string, args ...any) (int64, error) {
			var n int64
			err := raw.QueryRowContext(ctx, q, args...).Scan(&n)
			return n, err
		},
		Open: open,
	}
}

// ApplyMigrationsWithout runs every migration of fsys but skip through
// exec, each recorded in schema_migrations as Migrate records it: a
// database as the program without that migration left it. The migrations
// numbered above skip up to NewestBeforeEvidence (other issues', merged
// first) are applied too, as on a server that ran them before skip
// arrived; newer ones are left to the program.
func ApplyMigrationsWithout(ctx context.Context, exec func(ctx context.Context, q string, args ...any) error,
	fsys fs.FS, skip int) error {
	ms, err := sqlcore.LoadMigrations(fsys)
	if err != nil {
		return err
	}
	if err := exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	for _, m := range ms {
		if m.Version == skip || m.Version > NewestBeforeEvidence {
			continue
		}
		if err := exec(ctx, m.SQL); err != nil {
			return err
		}
		if err := exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 'then')`,
			m.Version, m.Name); err != nil {
			return err
		}
	}
	return nil
}

// UpgradeKeepsTheLog fills u's database as the program before issue 16
// wrote it — a given entry, its withdrawal, a chat's entry that a
// conversation points at, a submission's outbox rows (one pruned) — then
// opens it with the program: every entry is unchanged and verifies, the
// conversation still finds its entry, outbox ids go on above every id
// handed out, and the log is still append-only.
func UpgradeKeepsTheLog(t *testing.T, u Upgrade) {
	ctx := context.Background()
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	id := func(q string, args ...any) int64 {
		t.Helper()
		n, err := u.QueryInt(ctx, q+" RETURNING id", args...)
		require.NoError(t, err, q)
		return n
	}
	exec := func(q string, args ...any) {
		t.Helper()
		require.NoError(t, u.Exec(ctx, q, args...), q)
	}
	content := Content("We process your data.")
	cid := id(`INSERT INTO consents (name, type, created_at, updated_at) VALUES ('Privacy', 'custom', $1, $1)`, ts(at))
	vid := id(`INSERT INTO consent_versions (consent_id, number, text, label, link_url, language, hash, author,
		created_at) VALUES ($1, 1, $2, $3, '', 'en', $4, 'olga', $5)`, cid, content.Text, content.Label, content.Hash(), ts(at))
	exec(`UPDATE consents SET current_version_id = $1 WHERE id = $2`, vid, cid)
	fid := id(`INSERT INTO forms (key, name, language, fields, notifications, created_at, updated_at)
		VALUES ('upgradeformkey', 'Contact', 'en', '[{"key":"email","label":"E-mail","kind":"email"}]',
		'{"webhooks":[{"url":"https://hooks.example/cf","secret":"0123456789abcdef"}]}', $1, $1)`, ts(at))
	exec(`INSERT INTO form_consents (form_id, consent_id, position, checked_by_default, required) VALUES ($1, $2, 0, true, true)`, fid, cid)
	sid := id(`INSERT INTO submissions (form_id, form_key, "values", subject, created_at)
		VALUES ($1, 'upgradeformkey', '{"email":["ada@example.com"]}', 'ada@example.com', $2)`, fid, ts(at))
	chid := id(`INSERT INTO channels (key, name, language, warn_personal_data, consent_id, created_at, updated_at)
		VALUES ('upgradechannel', 'Help', 'en', true, $1, $2, $2)`, cid, ts(at))

	given := &formbuilder.ConsentRecord{ID: 1, Time: at, Action: formbuilder.ActionGiven, ConsentID: cid,
		ConsentName: "Privacy", VersionID: vid, VersionNo: 1, TextHash: content.Hash(), FormID: fid,
		FormKey: "upgradeformkey", Source: "Contact", IP: "192.0.2.1", Subject: "ada@example.com",
		InitialState: true, SubmissionID: sid}
	given.Seal(formbuilder.GenesisHash)
	withdrawal := formbuilder.WithdrawalOf(given, "192.0.2.2", "agent")
	withdrawal.ID, withdrawal.Time = 2, at.Add(time.Second)
	withdrawal.Seal(given.Hash)
	chat := &formbuilder.ConsentRecord{ID: 3, Time: at.Add(2 * time.Second), Action: formbuilder.ActionGiven,
		ConsentID: cid, ConsentName: "Privacy", VersionID: vid, VersionNo: 1, TextHash: content.Hash(),
		ChannelID: chid, Source: "Help", IP: "192.0.2.3", Interacted: true}
	chat.Seal(withdrawal.Hash)
	for _, r := range []*formbuilder.ConsentRecord{given, withdrawal, chat} {
		exec(insertRecordSQL, recordArgs(r)...)
	}
	convID := id(`INSERT INTO conversations (channel_id, visitor_hash, state, consent_record_id, created_at, updated_at)
		VALUES ($1, $2, 'open', 3, $3, $3)`, chid, formbuilder.VisitorHash("0123456789abcdef0123456789abcdef"), ts(at))
	var outbox []int64
	for _, target := range []string{"https://hooks.example/cf", "https://hooks.example/cf", "https://hooks.example/cf"} {
		outbox = append(outbox, id(`INSERT INTO outbox (form_id, submission_id, kind, target, next_attempt, created_at)
			VALUES ($1, $2, 'webhook', $3, $4, $4)`, fid, sid, target, ts(at)))
	}
	exec(`DELETE FROM outbox WHERE id = $1`, outbox[2]) // pruned: its id must not come back

	db := u.Open(t)
	requireVerified(t, db, 3)
	for _, want := range []*formbuilder.ConsentRecord{given, withdrawal, chat} {
		got, err := db.FindRecord(ctx, want.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got, "entry %d comes through the upgrade unchanged", want.ID)
	}
	conv, err := db.FindConversation(ctx, convID)
	require.NoError(t, err)
	assert.EqualValues(t, 3, conv.ConsentRecordID)
	msgs, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fid})
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	assert.Equal(t, formbuilder.DeliveryWebhook, msgs[0].Kind)
	test := &formbuilder.OutboxMessage{FormID: fid, Kind: formbuilder.DeliveryWebhook, Target: "https://hooks.example/cf"}
	require.NoError(t, db.EnqueueTest(ctx, test))
	assert.Greater(t, test.ID, outbox[2], "outbox ids go on above every id handed out")

	// Still append-only, and still appending.
	err = u.Exec(ctx, `UPDATE consent_records SET subject = 'forged' WHERE id = 1`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), AppendOnlyMessage)
	_, err = db.Withdraw(ctx, 3, "192.0.2.4", "agent")
	require.NoError(t, err)
	requireVerified(t, db, 4)
}
