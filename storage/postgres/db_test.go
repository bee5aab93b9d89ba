package postgres

// PostgreSQL-only tests: TRUNCATE, roles and grants, migrations of servers
// starting together, the placeholder rewriting. What every backend
// guarantees is tested in storagetest (TestConformance).

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/internal/testdoc"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRebind(t *testing.T) {
	d := dialect{}
	for in, want := range map[string]string{
		"SELECT 1":                            "SELECT 1",
		"a = ? AND b = ?":                     "a = $1 AND b = $2",
		`x LIKE ? ESCAPE '\' OR y = '?' OR ?`: `x LIKE $1 ESCAPE '\' OR y = '?' OR $2`,
		"it''s ? 'q?''?' ?":                   "it''s $1 'q?''?' $2",
	} {
		assert.Equal(t, want, d.Rebind(in), in)
		assert.Equal(t, want, d.Rebind(in), "cached: %s", in)
	}
}

func TestIsURL(t *testing.T) {
	assert.True(t, IsURL("postgres://u@h/db"))
	assert.True(t, IsURL("postgresql:///db?host=/tmp"))
	assert.False(t, IsURL("consentforms.db"))
	assert.False(t, IsURL("/var/lib/postgres.db"))
}

// TestTruncateIsRefused: row triggers do not fire on TRUNCATE; the
// statement triggers refuse it on the log, on consent versions and their
// documents, and on the audit trail.
func TestTruncateIsRefused(t *testing.T) {
	b := openBackend(t, storagetest.Options{})
	ctx := context.Background()
	c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, b.Store.CreateConsent(ctx, c, formbuilder.ConsentContent{Text: "<p>t</p>", Label: "l", Language: "en"}, "a"))
	// CASCADE, or the foreign keys refuse before the triggers are asked.
	u := &formbuilder.User{Email: "ada@example.com"}
	require.NoError(t, b.Store.CreateUser(ctx, u))
	require.NoError(t, b.Store.AppendAudit(ctx, &formbuilder.AuditEvent{UserID: u.ID, Actor: u.Email,
		Via: formbuilder.ViaAdmin, Target: formbuilder.AuditConsent, Action: "create"}))
	for _, q := range []string{"TRUNCATE consent_records CASCADE", "TRUNCATE consent_versions CASCADE",
		"TRUNCATE audit_events CASCADE", "TRUNCATE consent_documents CASCADE"} {
		err := b.Exec(ctx, q)
		require.Error(t, err, q)
		assert.Regexp(t, "append-only|immutable", err.Error(), q)
	}
	n, err := b.QueryInt(ctx, "SELECT COUNT(*) FROM consent_versions")
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	n, err = b.QueryInt(ctx, "SELECT COUNT(*) FROM audit_events")
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

func TestBackupRefusesAndNamesTheTools(t *testing.T) {
	db, _ := newTestDB(t)
	err := db.Backup(context.Background(), "x.db")
	require.Error(t, err)
	assert.Contains(t, formbuilder.ErrorMessage(err), "pg_dump")
}

// TestServersMigrateTogether: servers starting at once on an empty
// database apply every migration once; the migration lock orders them.
func TestServersMigrateTogether(t *testing.T) {
	u := pgtest.Empty(t)
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); dbs[i], errs[i] = Open(u) }()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		defer dbs[i].Close()
	}
	ms, err := sqlcore.LoadMigrations(Migrations())
	require.NoError(t, err)
	owner := pgtest.Owner(t, u)
	var rows int
	require.NoError(t, owner.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&rows))
	assert.Equal(t, len(ms), rows)
	v, err := dbs[0].SchemaVersion(context.Background())
	require.NoError(t, err)
	assert.Equal(t, ms[len(ms)-1].Version, v)

	// And first-start work under Serialize runs once per database.
	var created sync.Map
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = dbs[i].Serialize(context.Background(), "seed", func(ctx context.Context) error {
				c, err := dbs[i].CountUsers(ctx)
				if err != nil || c > 0 {
					return err
				}
				created.Store(i, true)
				return dbs[i].CreateUser(ctx, &formbuilder.User{Email: "admin@example.com"})
			})
		}()
	}
	wg.Wait()
	seeded := 0
	for i := range n {
		require.NoError(t, errs[i])
		if _, ok := created.Load(i); ok {
			seeded++
		}
	}
	assert.Equal(t, 1, seeded)
}

// appRoleSQL is the setup the README shows for a server role that does not
// own the tables: it cannot disable the log's triggers, and has no UPDATE,
// DELETE or TRUNCATE on the log, on consent versions and their documents,
// on the audit trail and on checkpoints. %s is the role.
const appRoleSQL = `
GRANT USAGE ON SCHEMA public TO %[1]s;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %[1]s;
REVOKE UPDATE, DELETE, TRUNCATE ON consent_records, consent_versions, consent_documents, audit_events, anchors FROM %[1]s;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %[1]s;`

// TestServerRoleWithoutOwnership runs the server as a role set up as the
// README says: it serves (submissions, withdrawals, verify), and cannot
// change the log even with the triggers in mind.
func TestServerRoleWithoutOwnership(t *testing.T) {
	owner, ownerURL := newTestDB(t)
	ownerDB := pgtest.Owner(t, ownerURL)
	ctx := context.Background()
	role := "cf_app_" + strings.ReplaceAll(t.Name(), "/", "_")
	role = strings.ToLower(role[:min(len(role), 40)])
	_, err := ownerDB.Exec("CREATE ROLE " + role + " LOGIN")
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		require.NoError(t, err)
	}
	_, err = ownerDB.Exec(fmt.Sprintf(appRoleSQL, role))
	require.NoError(t, err)
	require.NoError(t, owner.Close())

	u, err := url.Parse(ownerURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("user", role)
	u.RawQuery = q.Encode()
	u.User = nil
	app, err := Open(u.String())
	require.NoError(t, err, "the server runs (and migrates, a no-op) as the app role")
	defer app.Close()

	c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, app.CreateConsent(ctx, c, formbuilder.ConsentContent{Text: "<p>t</p>", Label: "l", Language: "en"}, "a"))
	form := &formbuilder.Form{Name: "F", Language: "en", Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}},
		Consents: []formbuilder.FormConsent{{ConsentID: c.ID, Required: true}}}
	require.NoError(t, app.CreateForm(ctx, form))
	sub, recs, err := formbuilder.ValidateSubmission(form, formbuilder.SubmissionInput{
		Values: map[string][]string{"email": {"a@example.com"}}, Consents: map[int64]formbuilder.ConsentInput{c.ID: {Checked: true}}})
	require.NoError(t, err)
	require.NoError(t, app.CreateSubmission(ctx, sub, recs))
	_, err = app.Withdraw(ctx, recs[0].ID, "192.0.2.1", "ua")
	require.NoError(t, err)
	_, err = app.UpdateConsent(ctx, c, formbuilder.ConsentContent{Text: "<p>t2</p>", Label: "l", Language: "en"}, "a")
	require.NoError(t, err, "a new version is an insert")
	doc, err := formbuilder.NewDocument("document", "policy.pdf", testdoc.PDF("Policy"))
	require.NoError(t, err)
	_, err = app.UpdateConsent(ctx, c, formbuilder.ConsentContent{Text: "<p>t2</p>", Label: "l", Language: "en", Document: doc}, "a")
	require.NoError(t, err, "a document and the version linking to it are inserts")
	n, err := app.DeleteSubmissionsBefore(ctx, form.ID, sub.CreatedAt.Add(1))
	require.NoError(t, err, "retention deletes submissions")
	assert.EqualValues(t, 1, n)
	// Staff work: users, tokens and the audit trail.
	otto := &formbuilder.User{Email: "otto@example.com", Role: formbuilder.RoleOperator}
	require.NoError(t, app.CreateUser(ctx, otto))
	require.NoError(t, app.CreateToken(ctx, &formbuilder.APIToken{Name: "t", Hash: formbuilder.HashToken("t"), UserID: otto.ID}))
	require.NoError(t, app.AppendAudit(ctx, &formbuilder.AuditEvent{UserID: otto.ID, Actor: otto.Email, Via: formbuilder.ViaAdmin,
		Target: formbuilder.AuditUser, Action: "create", TargetID: otto.ID}))
	require.NoError(t, app.SetUserActive(ctx, otto.ID, false), "deactivation revokes tokens and ends sessions")
	head, err := app.ChainHead(ctx)
	require.NoError(t, err)
	require.NoError(t, app.AppendAnchor(ctx, &formbuilder.Anchor{Seq: 1, EntryID: head.ID, EntryHash: head.Hash,
		CreatedAt: head.Time, Token: "a.b.c"}, []string{"https://anchors.example/in"}), "a checkpoint is an insert")
	require.NoError(t, app.EnqueueAccessLink(ctx, "a@example.com", "en"))

	raw := pgtest.Owner(t, u.String())
	for _, q := range []string{
		"ALTER TABLE consent_records DISABLE TRIGGER USER",
		"UPDATE consent_records SET subject = 'x'",
		"DELETE FROM consent_records",
		"TRUNCATE consent_records",
		"UPDATE consent_versions SET text = 'x'",
		"UPDATE audit_events SET actor = 'x'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
		"ALTER TABLE audit_events DISABLE TRIGGER USER",
		"UPDATE consent_documents SET name = 'x'",
		"DELETE FROM consent_documents",
		"TRUNCATE consent_documents",
		"ALTER TABLE consent_documents DISABLE TRIGGER USER",
		"DROP TRIGGER consent_records_no_change ON consent_records",
		"DELETE FROM anchors",
		"UPDATE anchors SET entry_hash = 'x'",
		"ALTER TABLE anchors DISABLE TRIGGER USER",
	} {
		_, err := raw.Exec(q)
		require.Error(t, err, q)
		assert.Regexp(t, "permission denied|must be owner", err.Error(), q)
	}
	vr, err := app.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, 2, vr.Checked)
}

// TestListenerReconnectResyncs: when the listening connection is lost (a
// restart of PostgreSQL, a terminated backend), notifications sent
// meanwhile are gone; the listener connects again and delivers a
// ChangeResync, and changes flow again after it.
func TestListenerReconnectResyncs(t *testing.T) {
	b := openBackend(t, storagetest.Options{})
	db := b.Store
	ctx := context.Background()
	var mu sync.Mutex
	var got []formbuilder.Change
	stop, err := db.SubscribeChanges(func(c formbuilder.Change) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	require.NoError(t, err)
	defer stop()
	kinds := func() []formbuilder.ChangeKind {
		mu.Lock()
		defer mu.Unlock()
		var out []formbuilder.ChangeKind
		for _, c := range got {
			out = append(out, c.Kind)
		}
		return out
	}
	save := func() {
		require.NoError(t, db.SaveSettings(ctx, &formbuilder.Settings{IPMode: formbuilder.IPFull}))
	}
	save()
	require.Eventually(t, func() bool { return len(kinds()) == 1 }, 10*time.Second, time.Millisecond)

	listeners := func() int64 {
		n, err := b.QueryInt(ctx, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", listenerName)
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, 1, listeners(), "one dedicated connection")
	require.NoError(t, b.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", listenerName))
	require.Eventually(t, func() bool { return len(kinds()) == 2 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, []formbuilder.ChangeKind{formbuilder.ChangeSettings, formbuilder.ChangeResync}, kinds())
	save()
	require.Eventually(t, func() bool { return len(kinds()) == 3 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, formbuilder.ChangeSettings, kinds()[2])
	assert.EqualValues(t, 1, listeners())

	// Close ends the listener's connection.
	require.NoError(t, db.Close())
	require.Eventually(t, func() bool { return listeners() == 0 }, 10*time.Second, time.Millisecond)
}

// TestListenerPingsAQuietConnection: a wait that runs out of time leaves
// the connection usable; notifications keep coming after quiet spells.
func TestListenerPingsAQuietConnection(t *testing.T) {
	// Restored after the database (and its listener) closed: cleanups run
	// last-in, first-out.
	old := listenPing
	t.Cleanup(func() { listenPing = old })
	listenPing = 20 * time.Millisecond
	b := openBackend(t, storagetest.Options{})
	got := make(chan formbuilder.Change, 10)
	stop, err := b.Store.SubscribeChanges(func(c formbuilder.Change) { got <- c })
	require.NoError(t, err)
	defer stop()
	for range 3 {
		time.Sleep(3 * listenPing)
		require.NoError(t, b.Store.SaveSettings(context.Background(), &formbuilder.Settings{IPMode: formbuilder.IPFull}))
		select {
		case c := <-got:
			require.Equal(t, formbuilder.ChangeSettings, c.Kind, "no resync: the connection was never lost")
		case <-time.After(10 * time.Second):
			t.Fatal("no change after a quiet spell")
		}
	}
}
