package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testUsers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()

	n, err := db.CountUsers(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)

	u := &formbuilder.User{Email: "Admin@Example.com", Name: "Ada", PasswordHash: "h1"}
	require.NoError(t, db.CreateUser(ctx, u))
	assert.NotZero(t, u.ID)
	assert.False(t, u.CreatedAt.IsZero())

	requireCode(t, formbuilder.ECONFLICT, db.CreateUser(ctx, &formbuilder.User{Email: "admin@example.com"}))
	requireCode(t, formbuilder.EINVALID, db.CreateUser(ctx, &formbuilder.User{Email: "not an address"}))

	got, err := db.FindUserByEmail(ctx, "ADMIN@example.com")
	require.NoError(t, err)
	assert.Equal(t, u.ID, got.ID)
	assert.Equal(t, "h1", got.PasswordHash)
	assert.True(t, u.CreatedAt.Equal(got.CreatedAt))

	require.NoError(t, db.UpdatePassword(ctx, u.ID, "h2"))
	got, err = db.FindUserByID(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, "h2", got.PasswordHash)

	requireCode(t, formbuilder.ENOTFOUND, db.UpdatePassword(ctx, 999, "x"))
	_, err = db.FindUserByID(ctx, 999)
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindUserByEmail(ctx, "nobody@example.com")
	requireCode(t, formbuilder.ENOTFOUND, err)

	require.NoError(t, db.CreateUser(ctx, &formbuilder.User{Email: "b@example.com"}))
	list, err := db.ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	n, err = db.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}

func testSessions(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	u := &formbuilder.User{Email: "a@example.com"}
	require.NoError(t, db.CreateUser(ctx, u))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	s := &formbuilder.Session{ID: hashOf("token1"), UserID: u.ID, CSRF: "c1", CreatedAt: t0}
	require.NoError(t, db.CreateSession(ctx, s))
	assert.Equal(t, t0, s.LastSeen)
	requireCode(t, formbuilder.ECONFLICT, db.CreateSession(ctx, s))
	requireCode(t, formbuilder.EINVALID, db.CreateSession(ctx, &formbuilder.Session{ID: "token1", UserID: u.ID}))
	requireCode(t, formbuilder.EINVALID, db.CreateSession(ctx, &formbuilder.Session{ID: hashOf("x"), UserID: 999}))

	got, err := db.FindSession(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, *s, *got)
	_, err = db.FindSession(ctx, hashOf("nope"))
	requireCode(t, formbuilder.ENOTFOUND, err)

	require.NoError(t, db.TouchSession(ctx, s.ID, t0.Add(time.Hour)))
	got, err = db.FindSession(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(time.Hour), got.LastSeen)
	requireCode(t, formbuilder.ENOTFOUND, db.TouchSession(ctx, hashOf("nope"), t0))

	// Expiry: idle (last seen) and absolute (created) limits.
	old := &formbuilder.Session{ID: hashOf("old"), UserID: u.ID, CreatedAt: t0.Add(-48 * time.Hour)}
	idle := &formbuilder.Session{ID: hashOf("idle"), UserID: u.ID, CreatedAt: t0, LastSeen: t0.Add(-time.Minute)}
	require.NoError(t, db.CreateSession(ctx, old))
	require.NoError(t, db.CreateSession(ctx, idle))
	require.NoError(t, db.DeleteExpiredSessions(ctx, t0, t0.Add(-24*time.Hour)))
	_, err = db.FindSession(ctx, old.ID)
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindSession(ctx, idle.ID)
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindSession(ctx, s.ID)
	require.NoError(t, err)

	require.NoError(t, db.DeleteSession(ctx, s.ID))
	require.NoError(t, db.DeleteSession(ctx, s.ID), "logging out twice is fine")
	_, err = db.FindSession(ctx, s.ID)
	requireCode(t, formbuilder.ENOTFOUND, err)

	for _, tok := range []string{"a", "b"} {
		require.NoError(t, db.CreateSession(ctx, &formbuilder.Session{ID: hashOf(tok), UserID: u.ID}))
	}
	require.NoError(t, db.DeleteUserSessions(ctx, u.ID))
	assert.Zero(t, e.count(t, "sessions"))
}

func testTokens(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	u := &formbuilder.User{Email: "owner@example.com"}
	require.NoError(t, db.CreateUser(ctx, u))
	tok := &formbuilder.APIToken{Name: "ci", Hash: hashOf("secret"), UserID: u.ID}
	require.NoError(t, db.CreateToken(ctx, tok))
	assert.NotZero(t, tok.ID)
	assert.Equal(t, formbuilder.ScopeWrite, tok.Scope, "an empty scope is read-write")
	assert.Equal(t, "owner@example.com", tok.UserEmail)
	requireCode(t, formbuilder.ECONFLICT, db.CreateToken(ctx, &formbuilder.APIToken{Name: "again", Hash: tok.Hash, UserID: u.ID}))
	for name, bad := range map[string]*formbuilder.APIToken{
		"hash":    {Name: "raw", Hash: "secret", UserID: u.ID},
		"name":    {Hash: hashOf("x"), UserID: u.ID},
		"user_id": {Name: "nobody", Hash: hashOf("y")},
		"scope":   {Name: "s", Hash: hashOf("z"), UserID: u.ID, Scope: "admin"},
	} {
		err := db.CreateToken(ctx, bad)
		requireCode(t, formbuilder.EINVALID, err)
		assert.Contains(t, formbuilder.ErrorFields(err), name)
	}
	err := db.CreateToken(ctx, &formbuilder.APIToken{Name: "ghost", Hash: hashOf("g"), UserID: 999})
	requireCode(t, formbuilder.EINVALID, err)
	assert.Contains(t, formbuilder.ErrorFields(err), "user_id")

	expires := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	ro := &formbuilder.APIToken{Name: "reader", Hash: hashOf("reader"), UserID: u.ID, Scope: formbuilder.ScopeRead, ExpiresAt: expires}
	require.NoError(t, db.CreateToken(ctx, ro))

	got, err := db.FindTokenByHash(ctx, tok.Hash)
	require.NoError(t, err)
	assert.Equal(t, "ci", got.Name)
	assert.Equal(t, u.ID, got.UserID)
	assert.True(t, got.LastUsed.IsZero())
	assert.True(t, got.Usable(expires))
	_, err = db.FindTokenByHash(ctx, hashOf("other"))
	requireCode(t, formbuilder.ENOTFOUND, err)
	got, err = db.FindTokenByID(ctx, ro.ID)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ScopeRead, got.Scope)
	assert.Equal(t, expires, got.ExpiresAt)
	assert.False(t, got.CanWrite())
	assert.True(t, got.Usable(expires.Add(-time.Nanosecond)))
	assert.False(t, got.Usable(expires), "expired at its expiry")

	at := time.Date(2026, 2, 2, 2, 2, 2, 2, time.UTC)
	require.NoError(t, db.TouchToken(ctx, tok.ID, at))
	requireCode(t, formbuilder.ENOTFOUND, db.TouchToken(ctx, 999, at))
	list, err := db.ListTokens(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, at, list[0].LastUsed)
	assert.Equal(t, "owner@example.com", list[1].UserEmail)

	// Revoked tokens stay listed, with the first revocation time.
	require.NoError(t, db.RevokeToken(ctx, tok.ID))
	got, err = db.FindTokenByHash(ctx, tok.Hash)
	require.NoError(t, err)
	first := got.RevokedAt
	assert.False(t, first.IsZero())
	assert.False(t, got.Usable(first.Add(-time.Hour)), "a revoked token is not usable, whatever the time")
	require.NoError(t, db.RevokeToken(ctx, tok.ID), "revoking twice is fine")
	got, err = db.FindTokenByHash(ctx, tok.Hash)
	require.NoError(t, err)
	assert.Equal(t, first, got.RevokedAt)
	requireCode(t, formbuilder.ENOTFOUND, db.RevokeToken(ctx, 999))
	list, err = db.ListTokens(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 2)

	// A deactivated user's tokens are revoked with the deactivation, and
	// the user gets no new one.
	admin := &formbuilder.User{Email: "admin@example.com"}
	require.NoError(t, db.CreateUser(ctx, admin))
	require.NoError(t, db.SetUserActive(ctx, u.ID, false))
	got, err = db.FindTokenByID(ctx, ro.ID)
	require.NoError(t, err)
	assert.False(t, got.RevokedAt.IsZero())
	err = db.CreateToken(ctx, &formbuilder.APIToken{Name: "late", Hash: hashOf("late"), UserID: u.ID})
	requireCode(t, formbuilder.EINVALID, err)
	assert.Contains(t, formbuilder.ErrorFields(err), "user_id")
}

// testUserRoles: roles, renames, deactivation (which ends sessions and
// revokes tokens at once) and the rule that an installation keeps at least
// one active admin.
func testUserRoles(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	ada := &formbuilder.User{Email: "ada@example.com", Name: "Ada"}
	require.NoError(t, db.CreateUser(ctx, ada))
	assert.Equal(t, formbuilder.RoleAdmin, ada.Role, "an empty role is admin")
	otto := &formbuilder.User{Email: "otto@example.com", Role: formbuilder.RoleOperator}
	require.NoError(t, db.CreateUser(ctx, otto))
	err := db.CreateUser(ctx, &formbuilder.User{Email: "x@example.com", Role: "root"})
	requireCode(t, formbuilder.EINVALID, err)
	assert.Contains(t, formbuilder.ErrorFields(err), "role")

	got, err := db.FindUserByID(ctx, otto.ID)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.RoleOperator, got.Role)
	assert.True(t, got.Active())
	assert.False(t, got.IsAdmin())

	// Rename and promote; the e-mail stays.
	require.NoError(t, db.UpdateUser(ctx, &formbuilder.User{ID: otto.ID, Email: "ignored@example.com", Name: "Otto", Role: formbuilder.RoleAdmin}))
	got, err = db.FindUserByID(ctx, otto.ID)
	require.NoError(t, err)
	assert.Equal(t, "Otto", got.Name)
	assert.Equal(t, "otto@example.com", got.Email)
	assert.True(t, got.IsAdmin())
	requireCode(t, formbuilder.ENOTFOUND, db.UpdateUser(ctx, &formbuilder.User{ID: 999, Name: "x"}))
	requireCode(t, formbuilder.EINVALID, db.UpdateUser(ctx, &formbuilder.User{ID: otto.ID, Role: "root"}))

	// Deactivation ends sessions and revokes tokens in one go.
	require.NoError(t, db.CreateSession(ctx, &formbuilder.Session{ID: hashOf("otto-session"), UserID: otto.ID}))
	require.NoError(t, db.CreateToken(ctx, &formbuilder.APIToken{Name: "otto", Hash: hashOf("otto-token"), UserID: otto.ID}))
	require.NoError(t, db.SetUserActive(ctx, otto.ID, false))
	got, err = db.FindUserByID(ctx, otto.ID)
	require.NoError(t, err)
	assert.False(t, got.Active())
	assert.False(t, got.IsAdmin(), "a deactivated admin is no admin")
	_, err = db.FindSession(ctx, hashOf("otto-session"))
	requireCode(t, formbuilder.ENOTFOUND, err)
	tok, err := db.FindTokenByHash(ctx, hashOf("otto-token"))
	require.NoError(t, err)
	assert.False(t, tok.RevokedAt.IsZero())
	deactivated := got.DeactivatedAt
	require.NoError(t, db.SetUserActive(ctx, otto.ID, false), "twice is fine")
	got, err = db.FindUserByID(ctx, otto.ID)
	require.NoError(t, err)
	assert.Equal(t, deactivated, got.DeactivatedAt, "the first time is kept")
	list, err := db.ListUsers(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 2, "deactivated users are listed, never deleted")

	// Ada is now the only active admin: she can be neither deactivated
	// nor made an operator.
	requireCode(t, formbuilder.ECONFLICT, db.SetUserActive(ctx, ada.ID, false))
	requireCode(t, formbuilder.ECONFLICT, db.UpdateUser(ctx, &formbuilder.User{ID: ada.ID, Role: formbuilder.RoleOperator}))
	require.NoError(t, db.UpdateUser(ctx, &formbuilder.User{ID: ada.ID, Name: "Ada L.", Role: formbuilder.RoleAdmin}),
		"renaming the last admin is fine")

	// Reactivated, Otto is an admin again, and Ada may step down.
	require.NoError(t, db.SetUserActive(ctx, otto.ID, true))
	require.NoError(t, db.UpdateUser(ctx, &formbuilder.User{ID: ada.ID, Role: formbuilder.RoleOperator}))
	requireCode(t, formbuilder.ECONFLICT, db.SetUserActive(ctx, otto.ID, false))
	requireCode(t, formbuilder.ENOTFOUND, db.SetUserActive(ctx, 999, false))
}

// testLastAdminRace: two admins demoting each other at once, each through
// its own connection pool as two servers would, leave one admin.
func testLastAdminRace(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := &formbuilder.User{Email: "a@example.com"}
	b := &formbuilder.User{Email: "b@example.com"}
	require.NoError(t, e.db.CreateUser(ctx, a))
	require.NoError(t, e.db.CreateUser(ctx, b))
	other := e.Reopen(t)
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[0] = e.db.UpdateUser(ctx, &formbuilder.User{ID: a.ID, Role: formbuilder.RoleOperator})
		}()
		go func() {
			defer wg.Done()
			errs[1] = other.SetUserActive(ctx, b.ID, false)
		}()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				requireCode(t, formbuilder.ECONFLICT, err)
			}
		}
		require.False(t, errs[0] != nil && errs[1] != nil, "one of them may go through")
		list, err := e.db.ListUsers(ctx)
		require.NoError(t, err)
		admins := 0
		for _, u := range list {
			if u.IsAdmin() {
				admins++
			}
		}
		require.Equal(t, 1, admins, "round %d: %v", round, errs)
		// Back to two admins for the next round.
		require.NoError(t, e.db.UpdateUser(ctx, &formbuilder.User{ID: a.ID, Role: formbuilder.RoleAdmin}))
		require.NoError(t, e.db.SetUserActive(ctx, b.ID, true))
	}
}

func testSettings(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	s, err := db.GetSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.IPFull, s.IPMode)

	s.IPMode = formbuilder.IPTruncated
	s.Company = formbuilder.CompanyData{Name: "ACME GmbH", Purposes: "answering requests"}
	require.NoError(t, db.SaveSettings(ctx, s))
	got, err := db.GetSettings(ctx)
	require.NoError(t, err)
	assert.Equal(t, s, got)

	requireCode(t, formbuilder.EINVALID, db.SaveSettings(ctx, &formbuilder.Settings{IPMode: "none"}))
}

func testConsentsAndVersions(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	requireCode(t, formbuilder.EINVALID, db.CreateConsent(ctx, c, formbuilder.ConsentContent{Language: "xx"}, "a"))
	require.NoError(t, db.CreateConsent(ctx, c, Content("v1"), "alice"))
	require.NotNil(t, c.Current)
	assert.Equal(t, 1, c.Current.Number)
	assert.Equal(t, Content("v1").Hash(), c.Current.Hash)
	assert.True(t, c.Current.VerifyHash())
	assert.Equal(t, "alice", c.Current.Author)
	v1 := c.Current

	got, err := db.FindConsentByID(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, c, got)
	_, err = db.FindConsentByID(ctx, 999)
	requireCode(t, formbuilder.ENOTFOUND, err)

	form := NewForm("F", 0, c.ID)
	require.NoError(t, db.CreateForm(ctx, form))
	assert.Equal(t, 1, form.Version)

	// Same content, same name: nothing changes, not even the form version.
	same, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: "Privacy", Type: formbuilder.ConsentCustom}, Content("v1"), "bob")
	require.NoError(t, err)
	assert.Equal(t, v1.ID, same.Current.ID)
	vs, err := db.ListConsentVersions(ctx, c.ID)
	require.NoError(t, err)
	assert.Len(t, vs, 1)
	f, err := db.FindFormByID(ctx, form.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, f.Version)

	// A record given under version 1 keeps pointing at it.
	fx := &fixture{env: e, Fixture: &Fixture{Store: db}}
	recs := fx.Submit(t, f, "192.0.2.1")
	require.Len(t, recs, 1)
	assert.Equal(t, v1.ID, recs[0].VersionID)

	// New text: version 2; the form's cached pages are stale.
	upd, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: "Privacy", Type: formbuilder.ConsentCustom}, Content("v2"), "bob")
	require.NoError(t, err)
	assert.Equal(t, 2, upd.Current.Number)
	assert.Equal(t, Content("v2").Hash(), upd.Current.Hash)
	assert.Equal(t, "bob", upd.Current.Author)
	vs, err = db.ListConsentVersions(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	assert.Equal(t, []int{2, 1}, []int{vs[0].Number, vs[1].Number}, "newest first")
	f, err = db.FindFormByID(ctx, form.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, f.Version)
	assert.Equal(t, upd.Current.ID, f.Consents[0].Consent.Current.ID)

	old, err := db.FindRecord(ctx, recs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, v1.ID, old.VersionID)
	assert.Equal(t, 1, old.VersionNo)
	ov, err := db.FindConsentVersion(ctx, old.VersionID)
	require.NoError(t, err)
	assert.Equal(t, old.TextHash, ov.Hash)
	assert.Equal(t, "<p>v1</p>", ov.Text)

	// A rename alone adds no version but still bumps the forms.
	ren, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: "Datenschutz", Type: formbuilder.ConsentCustom}, Content("v2"), "bob")
	require.NoError(t, err)
	assert.Equal(t, upd.Current.ID, ren.Current.ID)
	assert.Equal(t, "Datenschutz", ren.Name)
	f, err = db.FindFormByID(ctx, form.ID)
	require.NoError(t, err)
	assert.Equal(t, 3, f.Version)

	_, err = db.UpdateConsent(ctx, &formbuilder.Consent{ID: 999, Name: "x", Type: formbuilder.ConsentCustom}, Content("x"), "b")
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.ListConsentVersions(ctx, 999)
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindConsentVersion(ctx, 999)
	requireCode(t, formbuilder.ENOTFOUND, err)

	list, err := db.ListConsents(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 2, list[0].Current.Number)
}

func testConsentVersionsAreImmutable(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE consent_versions SET text = 'changed' WHERE id = $1",
		"DELETE FROM consent_versions WHERE id = $1",
	} {
		err := e.Exec(ctx, q, f.C1.Current.ID)
		require.Error(t, err, q)
		assert.Contains(t, err.Error(), "consent versions are immutable", q)
	}
	v, err := db.FindConsentVersion(ctx, f.C1.Current.ID)
	require.NoError(t, err)
	assert.True(t, v.VerifyHash())
}

func testForms(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()

	a := f.FormA
	assert.True(t, formbuilder.ValidFormKey(a.Key))
	assert.Equal(t, 1, a.Version)
	assert.Equal(t, "Olga Owner", a.ResponsibleUser)
	require.Len(t, a.Consents, 2)
	assert.Equal(t, f.C1.ID, a.Consents[0].ConsentID, "admin's order is kept")
	assert.Equal(t, f.C2.ID, a.Consents[1].ConsentID)
	require.NotNil(t, a.Consents[0].Consent)
	require.NotNil(t, a.Consents[0].Consent.Current)
	assert.Equal(t, "Newsletter", a.Consents[0].Consent.Name)
	assert.True(t, a.Consents[0].CheckedByDefault)
	assert.True(t, a.Consents[0].Required)

	byKey, err := db.FindFormByKey(ctx, a.Key)
	require.NoError(t, err)
	assert.Equal(t, a, byKey)
	byID, err := db.FindFormByID(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, byID)
	_, err = db.FindFormByKey(ctx, "zzzzzzzzzzzzzzzz")
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindFormByKey(ctx, "not a key!")
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindFormByID(ctx, 999)
	requireCode(t, formbuilder.ENOTFOUND, err)

	// Given key; a second form with it conflicts.
	k := &formbuilder.Form{Name: "Keyed", Language: "de", Key: "abcdefghijkl"}
	require.NoError(t, db.CreateForm(ctx, k))
	assert.Equal(t, "abcdefghijkl", k.Key)
	requireCode(t, formbuilder.ECONFLICT, db.CreateForm(ctx, &formbuilder.Form{Name: "Dup", Language: "de", Key: "abcdefghijkl"}))
	requireCode(t, formbuilder.EINVALID, db.CreateForm(ctx, &formbuilder.Form{Name: "", Language: "de"}))
	err = db.CreateForm(ctx, NewForm("Unknown consent", 0, 999))
	requireCode(t, formbuilder.EINVALID, err)
	assert.Contains(t, formbuilder.ErrorFields(err), "consents.0.consent_id")
	err = db.CreateForm(ctx, NewForm("Unknown user", 999))
	requireCode(t, formbuilder.EINVALID, err)

	// Update: reorder consents, change switches, description sanitised.
	upd := *a
	upd.Name = "Contact A2"
	upd.Key = "ignoredignored"
	upd.Description = `<p onclick="x()">Hi<script>alert(1)</script></p>`
	upd.Consents = []formbuilder.FormConsent{{ConsentID: f.C2.ID, CheckedByDefault: false, Required: false}, {ConsentID: f.C1.ID, Required: true}}
	upd.AllowedOrigins = []string{"https://shop.example.com"}
	require.NoError(t, db.UpdateForm(ctx, &upd))
	assert.Equal(t, 2, upd.Version)
	assert.Equal(t, a.Key, upd.Key, "the key of a published form does not change")
	assert.Equal(t, "<p>Hi</p>", upd.Description)
	got, err := db.FindFormByID(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, &upd, got)
	assert.Equal(t, f.C2.ID, got.Consents[0].ConsentID)
	assert.False(t, got.Consents[0].CheckedByDefault)
	assert.False(t, got.Consents[0].Required)
	assert.Equal(t, []string{"https://shop.example.com"}, got.AllowedOrigins)
	assert.True(t, got.CreatedAt.Equal(a.CreatedAt))
	assert.True(t, got.UpdatedAt.After(a.UpdatedAt))

	missing := *a
	missing.ID = 999
	requireCode(t, formbuilder.ENOTFOUND, db.UpdateForm(ctx, &missing))

	// Archive hides from the default list and bumps the version.
	require.NoError(t, db.ArchiveForm(ctx, a.ID, true))
	require.NoError(t, db.ArchiveForm(ctx, a.ID, true), "archiving twice is fine")
	requireCode(t, formbuilder.ENOTFOUND, db.ArchiveForm(ctx, 999, true))
	got, err = db.FindFormByID(ctx, a.ID)
	require.NoError(t, err)
	assert.True(t, got.Archived)
	assert.Equal(t, 3, got.Version)

	list, err := db.ListForms(ctx, formbuilder.FormFilter{})
	require.NoError(t, err)
	assert.Equal(t, []string{"Contact B", "Keyed"}, formNames(list))
	list, err = db.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"Contact A2", "Contact B", "Keyed"}, formNames(list))
	require.Len(t, list[0].Consents, 2)
	require.NotNil(t, list[0].Consents[1].Consent.Current)
	list, err = db.ListForms(ctx, formbuilder.FormFilter{IncludeArchived: true, Query: "contact"})
	require.NoError(t, err)
	assert.Equal(t, []string{"Contact A2", "Contact B"}, formNames(list))
	list, err = db.ListForms(ctx, formbuilder.FormFilter{Query: "100%_"})
	require.NoError(t, err)
	assert.Empty(t, list, "LIKE wildcards in the query are literal")
}

func formNames(fs []*formbuilder.Form) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func testSubmissionsFindAndRetention(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	sub, recs := f.Submission(t, f.FormA, "a@example.com", "192.0.2.1")
	require.NoError(t, db.CreateSubmission(ctx, sub, recs))
	assert.NotZero(t, sub.ID)
	for _, r := range recs {
		assert.Equal(t, sub.ID, r.SubmissionID)
		assert.Equal(t, sub.CreatedAt, r.Time)
	}
	got, err := db.FindSubmission(ctx, sub.ID)
	require.NoError(t, err)
	assert.Equal(t, sub, got)
	_, err = db.FindSubmission(ctx, 999)
	requireCode(t, formbuilder.ENOTFOUND, err)

	sub2, recs2 := f.Submission(t, f.FormA, "b@example.com", "192.0.2.2")
	require.NoError(t, db.CreateSubmission(ctx, sub2, recs2))
	sub3, recs3 := f.Submission(t, f.FormB, "c@example.com", "192.0.2.3")
	require.NoError(t, db.CreateSubmission(ctx, sub3, recs3))

	// Retention deletes the first submission of form A only; the log stays.
	n, err := db.DeleteSubmissionsBefore(ctx, f.FormA.ID, sub2.CreatedAt)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	_, err = db.FindSubmission(ctx, sub.ID)
	requireCode(t, formbuilder.ENOTFOUND, err)
	_, err = db.FindSubmission(ctx, sub2.ID)
	require.NoError(t, err)
	_, err = db.FindSubmission(ctx, sub3.ID)
	require.NoError(t, err)
	r, err := db.FindRecord(ctx, recs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, sub.ID, r.SubmissionID)
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, 5, vr.Checked)

	// Ids are not reused after the delete: records still name the right one.
	sub4, recs4 := f.Submission(t, f.FormB, "d@example.com", "192.0.2.4")
	require.NoError(t, db.CreateSubmission(ctx, sub4, recs4))
	assert.Greater(t, sub4.ID, sub3.ID)

	requireCode(t, formbuilder.EINVALID, db.CreateSubmission(ctx, &formbuilder.Submission{}, nil))
	requireCode(t, formbuilder.EINVALID, db.CreateSubmission(ctx, &formbuilder.Submission{FormID: f.FormA.ID},
		[]*formbuilder.ConsentRecord{{Action: formbuilder.ActionWithdrawn}}))
}

func init() {
	register("Users", testUsers)
	register("Sessions", testSessions)
	register("Tokens", testTokens)
	register("UserRoles", testUserRoles)
	register("LastAdminRace", testLastAdminRace)
	register("Settings", testSettings)
	register("ConsentsAndVersions", testConsentsAndVersions)
	register("ConsentVersionsAreImmutable", testConsentVersionsAreImmutable)
	register("Forms", testForms)
	register("SubmissionsFindAndRetention", testSubmissionsFindAndRetention)
}
