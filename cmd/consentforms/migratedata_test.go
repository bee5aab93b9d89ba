package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/internal/testdoc"
	"github.com/consentforms/consentforms/storage/postgres"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sqliteInstallation fills a SQLite file with one of everything: users,
// a token and a session, a consent with two versions, forms with
// receivers, submissions (the newest deleted by retention, so SQLite's
// AUTOINCREMENT is above the largest id left), a withdrawal, a consent
// given with double opt-in and confirmed, a checkpoint, an accepted chat
// consent, delivery attempts (and messages of no form), settings and the
// secret.
func sqliteInstallation(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "source.db")
	db, err := sqlite.Open(path)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	u := &formbuilder.User{Email: "Admin@Example.com", Name: "Ada"}
	require.NoError(t, db.CreateUser(ctx, u))
	op := &formbuilder.User{Email: "otto@example.com", Role: formbuilder.RoleOperator}
	require.NoError(t, db.CreateUser(ctx, op))
	require.NoError(t, db.CreateToken(ctx, &formbuilder.APIToken{Name: "ci", Hash: hashHex("tok"), UserID: u.ID,
		Scope: formbuilder.ScopeRead, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)}))
	require.NoError(t, db.CreateToken(ctx, &formbuilder.APIToken{Name: "otto", Hash: hashHex("otto"), UserID: op.ID}))
	require.NoError(t, db.SetUserActive(ctx, op.ID, false))
	require.NoError(t, db.AppendAudit(ctx, &formbuilder.AuditEvent{UserID: u.ID, Actor: u.Email, Via: formbuilder.ViaAdmin,
		IP: "192.0.2.9", Target: formbuilder.AuditUser, Action: "deactivate", TargetID: op.ID, TargetName: op.Email,
		Details: map[string]string{"role": "operator"}}))
	require.NoError(t, db.CreateSession(ctx, &formbuilder.Session{ID: hashHex("sess"), UserID: u.ID, CSRF: "c"}))
	c := &formbuilder.Consent{Name: "Datenschutz", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, c, formbuilder.ConsentContent{Text: "<p>v1 ä</p>", Label: "Ich %stimme% zu", Language: "de"}, "ada"))
	doc, err := formbuilder.NewDocument("document", "Datenschutzerklärung.pdf", testdoc.PDF("Datenschutz"))
	require.NoError(t, err)
	_, err = db.UpdateConsent(ctx, c, formbuilder.ConsentContent{Text: "<p>v2 ö</p>", Label: "Ich %stimme% zu", Language: "de",
		Document: doc}, "ada")
	require.NoError(t, err)
	mk := func(name string) *formbuilder.Form {
		f := &formbuilder.Form{Name: name, Language: "de", ResponsibleUserID: u.ID,
			Fields:        []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
			Consents:      []formbuilder.FormConsent{{ConsentID: c.ID, CheckedByDefault: true, Required: true}},
			Notifications: formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: "https://hooks.example.com/x", Secret: "whsec_aaaaaaaaaaaaaaaa"}}}}
		require.NoError(t, db.CreateForm(ctx, f))
		return f
	}
	formA, formB := mk("Kontakt"), mk("Gewinnspiel")
	submit := func(f *formbuilder.Form, email string) []*formbuilder.ConsentRecord {
		sub, recs, err := formbuilder.ValidateSubmission(f, formbuilder.SubmissionInput{
			Values:   map[string][]string{"email": {email}},
			Consents: map[int64]formbuilder.ConsentInput{c.ID: {Checked: true, Touched: formbuilder.TouchChanged}},
			PageURL:  "https://shop.example.com/kontakt", IP: "192.0.2.1", UserAgent: "ua"})
		require.NoError(t, err)
		require.NoError(t, db.CreateSubmission(ctx, sub, recs))
		return recs
	}
	first := submit(formA, "a@example.com")
	submit(formA, "b@example.com")
	// Double opt-in: a consent given with a deadline, then confirmed; a
	// checkpoint of the head with a receiver; a self-service mail.
	news := &formbuilder.Consent{Name: "Newsletter", Type: formbuilder.ConsentCustom, ConfirmByEmail: true}
	require.NoError(t, db.CreateConsent(ctx, news, formbuilder.ConsentContent{Text: "<p>News</p>", Label: "%News%", Language: "de"}, "ada"))
	nf := &formbuilder.Form{Name: "News", Language: "de",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: news.ID, Required: true}}}
	require.NoError(t, db.CreateForm(ctx, nf))
	nsub, nrecs, err := formbuilder.ValidateSubmission(nf, formbuilder.SubmissionInput{
		Values: map[string][]string{"email": {"d@example.com"}}, Consents: map[int64]formbuilder.ConsentInput{news.ID: {Checked: true}},
		ConfirmBy: time.Now().Add(time.Hour).Round(time.Nanosecond)})
	require.NoError(t, err)
	require.NoError(t, db.CreateSubmission(ctx, nsub, nrecs))
	_, err = db.Confirm(ctx, nrecs[0].ID, "198.51.100.2", "ua3")
	require.NoError(t, err)
	head, err := db.ChainHead(ctx)
	require.NoError(t, err)
	require.NoError(t, db.AppendAnchor(ctx, &formbuilder.Anchor{Seq: 1, EntryID: head.ID, EntryHash: head.Hash,
		CreatedAt: head.Time, Token: "a.b.c"}, []string{"https://anchors.example/in"}))
	require.NoError(t, db.EnqueueAccessLink(ctx, "d@example.com", "de"))

	submit(formB, "c@example.com")
	_, err = db.Withdraw(ctx, first[0].ID, "198.51.100.1", "ua2")
	require.NoError(t, err)
	n, err := db.DeleteSubmissionsBefore(ctx, formB.ID, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	ch := &formbuilder.Channel{Name: "Chat", Language: "de", OperatorIDs: []int64{u.ID}, WarnPersonalData: true, ConsentID: c.ID}
	require.NoError(t, db.CreateChannel(ctx, ch))
	res, err := db.PostVisitorMessage(ctx, ch, formbuilder.VisitorPost{VisitorID: "0123456789abcdef0123456789abcdef", Text: "Hallo"})
	require.NoError(t, err)
	v := ch.Consent.Current
	_, err = db.AcceptConsent(ctx, res.Conversation.ID, &formbuilder.ConsentRecord{Action: formbuilder.ActionGiven,
		ConsentID: c.ID, ConsentName: c.Name, VersionID: v.ID, VersionNo: v.Number, TextHash: v.Hash,
		ChannelID: ch.ID, Source: ch.Name, UserID: u.ID, User: "Ada", IP: "203.0.113.9", Interacted: true})
	require.NoError(t, err)
	require.NoError(t, db.AddOperatorMessage(ctx, &formbuilder.Message{ConversationID: res.Conversation.ID, UserID: u.ID, Text: "Hi"}))

	msgs, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: formA.ID})
	require.NoError(t, err)
	require.NoError(t, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: msgs[0].ID, FormID: formA.ID,
		Kind: formbuilder.DeliveryWebhook, Target: msgs[0].Target, Status: 204, Delivered: true}, time.Time{}))
	require.NoError(t, db.SaveSettings(ctx, &formbuilder.Settings{IPMode: formbuilder.IPTruncated,
		Company: formbuilder.CompanyData{Name: "Beispiel GmbH"}}))
	_, err = db.Secret(ctx)
	require.NoError(t, err)
	return path
}

func hashHex(s string) string { return formbuilder.VisitorHash(s) }

func allEntries(t *testing.T, log formbuilder.ConsentLog) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	require.NoError(t, log.ExportRecords(context.Background(), formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func TestMigrateDataCopiesByteExact(t *testing.T) {
	testdb.PostgresOnly(t, "copies a SQLite file into PostgreSQL")
	path := sqliteInstallation(t)
	target := pgtest.Empty(t)
	ctx := context.Background()

	var out, errb bytes.Buffer
	code := run(ctx, []string{"migrate-data", "--from", path, "--to", target}, &out, &errb)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out.String(), errb.String())
	assert.Contains(t, out.String(), "hash chain intact")
	assert.Regexp(t, `consent_records +7 rows`, out.String())
	assert.Regexp(t, `anchors +1 rows`, out.String())

	src, err := sqlite.Open(path)
	require.NoError(t, err)
	defer src.Close()
	dst, err := postgres.Open(target)
	require.NoError(t, err)
	defer dst.Close()

	// The log is the same entries, byte for byte: times with nanoseconds,
	// names, hashes.
	want := allEntries(t, src)
	require.Len(t, want, 7)
	assert.Equal(t, want, allEntries(t, dst))
	assert.False(t, want[2].ConfirmBy.IsZero(), "the double opt-in deadline")
	assert.Equal(t, want[2].ID, want[3].ConfirmsID, "and its confirmation")
	aa, err := src.ListAnchors(ctx, 0, 0)
	require.NoError(t, err)
	ab, err := dst.ListAnchors(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, aa, 1)
	assert.Equal(t, aa, ab, "checkpoints")
	na, err := src.ListOutbox(ctx, formbuilder.OutboxFilter{Kind: formbuilder.DeliveryAnchor})
	require.NoError(t, err)
	nb, err := dst.ListOutbox(ctx, formbuilder.OutboxFilter{Kind: formbuilder.DeliveryAnchor})
	require.NoError(t, err)
	assert.Equal(t, na, nb, "deliveries of no form")
	vr, err := dst.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)

	srcForms, err := src.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true})
	require.NoError(t, err)
	dstForms, err := dst.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true})
	require.NoError(t, err)
	assert.Equal(t, srcForms, dstForms, "forms with fields, receivers, consents and current versions")
	vs, err := dst.ListConsentVersions(ctx, want[0].ConsentID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	for _, v := range vs {
		assert.True(t, v.VerifyHash())
	}
	require.NotNil(t, vs[0].Document, "the version's document comes along")
	require.NotNil(t, want[1].Document, "and the entries given under it name it")
	da, err := src.FindDocument(ctx, vs[0].Document.SHA256)
	require.NoError(t, err)
	db, err := dst.FindDocument(ctx, vs[0].Document.SHA256)
	require.NoError(t, err)
	assert.Equal(t, da, db, "the document, byte for byte")
	for _, f := range srcForms {
		a, err := src.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: f.ID})
		require.NoError(t, err)
		b, err := dst.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: f.ID})
		require.NoError(t, err)
		assert.Equal(t, a, b)
		oa, err := src.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: f.ID})
		require.NoError(t, err)
		ob, err := dst.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: f.ID})
		require.NoError(t, err)
		assert.Equal(t, oa, ob)
		la, err := src.ListAttempts(ctx, f.ID, 0)
		require.NoError(t, err)
		lb, err := dst.ListAttempts(ctx, f.ID, 0)
		require.NoError(t, err)
		assert.Equal(t, la, lb)
	}
	ca, err := src.ListConversations(ctx, formbuilder.ConversationFilter{})
	require.NoError(t, err)
	cb, err := dst.ListConversations(ctx, formbuilder.ConversationFilter{})
	require.NoError(t, err)
	assert.Equal(t, ca, cb)
	ma, err := src.ListMessages(ctx, ca[0].ID, 0, 0)
	require.NoError(t, err)
	mb, err := dst.ListMessages(ctx, ca[0].ID, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, ma, mb)
	sa, err := src.GetSettings(ctx)
	require.NoError(t, err)
	sb, err := dst.GetSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, sa, sb)
	ka, err := src.Secret(ctx)
	require.NoError(t, err)
	kb, err := dst.Secret(ctx)
	require.NoError(t, err)
	assert.Equal(t, ka, kb, "withdrawal links and render tokens stay valid")
	ua, err := src.ListUsers(ctx)
	require.NoError(t, err)
	ub, err := dst.ListUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, ua, ub)
	ta, err := src.ListTokens(ctx)
	require.NoError(t, err)
	tb, err := dst.ListTokens(ctx)
	require.NoError(t, err)
	assert.Equal(t, ta, tb)
	require.Len(t, tb, 2)
	assert.False(t, tb[1].RevokedAt.IsZero(), "the deactivated operator's token stays revoked")
	audA, err := src.ListAudit(ctx, formbuilder.AuditFilter{})
	require.NoError(t, err)
	audB, err := dst.ListAudit(ctx, formbuilder.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, audB, 1)
	assert.Equal(t, audA, audB, "the audit trail is copied as it was")
	sess, err := dst.FindSession(ctx, hashHex("sess"))
	require.NoError(t, err)
	assert.Equal(t, "c", sess.CSRF)

	// The sequences continue above every id SQLite handed out, also the
	// deleted submission's: the log still names it.
	var deleted int64
	for _, r := range want {
		deleted = max(deleted, r.SubmissionID)
	}
	sub, recs, err := formbuilder.ValidateSubmission(dstForms[0], formbuilder.SubmissionInput{
		Values:   map[string][]string{"email": {"new@example.com"}},
		Consents: map[int64]formbuilder.ConsentInput{want[0].ConsentID: {Checked: true}}})
	require.NoError(t, err)
	require.NoError(t, dst.CreateSubmission(ctx, sub, recs))
	assert.Greater(t, sub.ID, deleted)
	assert.EqualValues(t, 8, recs[0].ID)
	assert.Equal(t, want[6].Hash, recs[0].PrevHash, "the chain goes on from the copied head")
	u := &formbuilder.User{Email: "second@example.com"}
	require.NoError(t, dst.CreateUser(ctx, u))
	assert.Greater(t, u.ID, ua[0].ID)

	// A second run refuses: the target is not empty any more.
	out.Reset()
	errb.Reset()
	code = run(ctx, []string{"migrate-data", "--from", path, "--to", target}, &out, &errb)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "not empty")
}

// A source whose chain is broken is not copied: the copy would carry the
// forgery over with a fresh start.
func TestMigrateDataRefusesBrokenSource(t *testing.T) {
	testdb.PostgresOnly(t, "copies a SQLite file into PostgreSQL")
	path := sqliteInstallation(t)
	raw, err := sql.Open("sqlite3", "file:"+path)
	require.NoError(t, err)
	_, err = raw.Exec("DROP TRIGGER consent_records_no_update")
	require.NoError(t, err)
	_, err = raw.Exec("UPDATE consent_records SET subject = 'forged@example.com' WHERE id = 2")
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	target := pgtest.Empty(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"migrate-data", "--from", path, "--to", target}, &out, &errb)
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "broken at entry 2")
	assert.NotContains(t, out.String(), "copied")

	code = run(context.Background(), []string{"migrate-data", "--from", path, "--to", "not-a-url"}, &out, &errb)
	assert.Equal(t, 2, code, "usage error")
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"consentforms.db":                            "consentforms.db",
		"postgres://cf:s3cret@db.example/cf":         "postgres://cf:xxxxx@db.example/cf",
		"postgresql://db.example/cf?password=s3cret": "postgresql://db.example/cf?password=xxxxx",
		"postgres:///cf?host=/tmp/pg&user=cf":        "postgres:///cf?host=/tmp/pg&user=cf",
	} {
		assert.Equal(t, want, redactDSN(in), in)
	}
}
