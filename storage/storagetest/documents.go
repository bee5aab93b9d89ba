package storagetest

import (
	"bytes"
	"context"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdoc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DocumentsImmutable is what the database says when asked to change or
// remove a stored document.
const DocumentsImmutable = "consent documents are immutable"

// newDoc returns an upload of a PDF showing text.
func newDoc(t testing.TB, name, text string) *formbuilder.Document {
	t.Helper()
	d, err := formbuilder.NewDocument("document", name, testdoc.PDF(text))
	require.NoError(t, err)
	return d
}

// docContent is consent content whose label links to d.
func docContent(d *formbuilder.Document) formbuilder.ConsentContent {
	return formbuilder.ConsentContent{Text: "<p>Please read the policy.</p>", Label: "I agree to the %privacy policy%.",
		Language: "en", Document: d}
}

// ref is d named by its hash alone, as an editor that keeps it sends it.
func ref(d *formbuilder.Document) *formbuilder.Document {
	return &formbuilder.Document{SHA256: d.SHA256}
}

func requireDocMeta(t testing.TB, want *formbuilder.Document, got *formbuilder.Document) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, want.SHA256, got.SHA256)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.ContentType, got.ContentType)
	assert.Equal(t, want.Size, got.Size)
	assert.False(t, got.CreatedAt.IsZero())
	assert.Nil(t, got.Data, "versions and entries carry no bytes")
}

// testDocumentsStoredBySHA256: a document is stored once under its
// SHA-256 with the version that links to it; a new document is a new
// version, the old version keeps its own, and log entries name the
// document of their version.
func testDocumentsStoredBySHA256(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	d1 := newDoc(t, "privacy.pdf", "Privacy policy, version one")
	c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, c, docContent(d1), "alice"))
	v1 := c.Current
	requireDocMeta(t, d1, v1.Document)
	assert.True(t, v1.VerifyHash(), "the version's hash covers its document")
	assert.Equal(t, docContent(d1).Hash(), v1.Hash)
	assert.Equal(t, 1, e.count(t, "consent_documents"))

	got, err := db.FindDocument(ctx, d1.SHA256)
	require.NoError(t, err)
	assert.Equal(t, d1.Data, got.Data)
	assert.Equal(t, d1.Name, got.Name)
	assert.Equal(t, formbuilder.DocPDF, got.ContentType)

	// Keeping the document (named by hash) or uploading the same bytes
	// under another name changes nothing: same content, same version.
	same, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: c.Name, Type: c.Type}, docContent(ref(d1)), "bob")
	require.NoError(t, err)
	assert.Equal(t, v1.ID, same.Current.ID)
	again := newDoc(t, "renamed.pdf", "Privacy policy, version one")
	same, err = db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: c.Name, Type: c.Type}, docContent(again), "bob")
	require.NoError(t, err)
	assert.Equal(t, v1.ID, same.Current.ID)
	assert.Equal(t, 1, e.count(t, "consent_documents"), "the same bytes are one document")
	got, err = db.FindDocument(ctx, d1.SHA256)
	require.NoError(t, err)
	assert.Equal(t, "privacy.pdf", got.Name, "the first upload's name stays")

	// A form asking for the consent shows the document's link.
	form := NewForm("F", 0, c.ID)
	require.NoError(t, db.CreateForm(ctx, form))
	f, err := db.FindFormByID(ctx, form.ID)
	require.NoError(t, err)
	requireDocMeta(t, d1, f.Consents[0].Consent.Current.Document)
	fx := &fixture{env: e, Fixture: &Fixture{Store: db}}
	old := fx.Submit(t, f, "192.0.2.1")[0]

	// A new document: version 2; version 1 and its entry keep the first.
	d2 := newDoc(t, "privacy-2026.pdf", "Privacy policy, version two")
	upd, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: c.Name, Type: c.Type}, docContent(d2), "bob")
	require.NoError(t, err)
	assert.Equal(t, 2, upd.Current.Number)
	requireDocMeta(t, d2, upd.Current.Document)
	assert.Equal(t, 2, e.count(t, "consent_documents"))
	ov, err := db.FindConsentVersion(ctx, v1.ID)
	require.NoError(t, err)
	requireDocMeta(t, d1, ov.Document)
	vs, err := db.ListConsentVersions(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	requireDocMeta(t, d2, vs[0].Document)
	requireDocMeta(t, d1, vs[1].Document)
	for _, d := range []*formbuilder.Document{d1, d2} {
		got, err := db.FindDocument(ctx, d.SHA256)
		require.NoError(t, err, "both files stay stored")
		assert.Equal(t, d.Data, got.Data)
	}

	f, err = db.FindFormByID(ctx, form.ID)
	require.NoError(t, err)
	newer := fx.Submit(t, f, "192.0.2.2")[0]
	// Every way of reading the log names each entry's own document.
	byID := func(recs []*formbuilder.ConsentRecord) map[int64]*formbuilder.ConsentRecord {
		m := map[int64]*formbuilder.ConsentRecord{}
		for _, r := range recs {
			m[r.ID] = r
		}
		return m
	}
	listed, err := db.ListRecords(ctx, formbuilder.RecordFilter{})
	require.NoError(t, err)
	exported := allRecords(t, db)
	for name, recs := range map[string]map[int64]*formbuilder.ConsentRecord{"list": byID(listed), "export": byID(exported)} {
		requireDocMeta(t, d1, recs[old.ID].Document)
		requireDocMeta(t, d2, recs[newer.ID].Document)
		assert.Equal(t, recs[old.ID].Hash, recs[old.ID].ComputeHash(), name)
	}
	found, err := db.FindRecord(ctx, old.ID)
	require.NoError(t, err)
	requireDocMeta(t, d1, found.Document)
	w, err := db.Withdraw(ctx, old.ID, "192.0.2.1", "ua")
	require.NoError(t, err)
	found, err = db.FindRecord(ctx, w.ID)
	require.NoError(t, err)
	requireDocMeta(t, d1, found.Document)

	// Another consent may link to a stored document by its hash.
	c2 := &formbuilder.Consent{Name: "Terms", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, c2, docContent(ref(d2)), "alice"))
	requireDocMeta(t, d2, c2.Current.Document)
	assert.Equal(t, 2, e.count(t, "consent_documents"))
	// Back to no document at all is a version too.
	plain, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c2.ID, Name: c2.Name, Type: c2.Type}, Content("no file"), "alice")
	require.NoError(t, err)
	assert.Nil(t, plain.Current.Document)
	assert.Equal(t, 2, plain.Current.Number)

	requireVerified(t, db, 3)
}

// testDocumentsRefused: nothing is stored when the document is not one.
func testDocumentsRefused(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	d := newDoc(t, "p.pdf", "x")
	unknown := newDoc(t, "q.pdf", "never stored")
	lied := *d
	lied.Data = testdoc.PDF("other bytes")
	retyped := *d
	retyped.ContentType = formbuilder.DocHTML
	for name, content := range map[string]formbuilder.ConsentContent{
		"unknown hash":        docContent(ref(unknown)),
		"malformed hash":      docContent(&formbuilder.Document{SHA256: "../../etc/passwd"}),
		"hash of other bytes": docContent(&lied),
		"type of other bytes": docContent(&retyped),
		"and a link URL": func() formbuilder.ConsentContent {
			c := docContent(d)
			c.LinkURL = "https://example.com/privacy"
			return c
		}(),
	} {
		c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
		err := db.CreateConsent(ctx, c, content, "a")
		requireCode(t, formbuilder.EINVALID, err)
		assert.NotEmpty(t, formbuilder.ErrorFields(err)["document"], "%s: %v", name, err)
	}
	assert.Zero(t, e.count(t, "consents"))
	assert.Zero(t, e.count(t, "consent_documents"))

	// An update that fails on its document keeps the consent as it was.
	c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, c, Content("v1"), "a"))
	_, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: c.ID, Name: c.Name, Type: c.Type}, docContent(ref(unknown)), "a")
	requireCode(t, formbuilder.EINVALID, err)
	assert.Equal(t, 1, e.count(t, "consent_versions"))

	for _, sha := range []string{unknown.SHA256, "", "x", d.SHA256 + "0"} {
		_, err := db.FindDocument(ctx, sha)
		requireCode(t, formbuilder.ENOTFOUND, err)
	}
}

// testDocumentsAreAppendOnly: the database itself refuses to change or
// remove a stored document, as it does for consent versions.
func testDocumentsAreAppendOnly(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	d := newDoc(t, "p.pdf", "x")
	c := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, e.db.CreateConsent(ctx, c, docContent(d), "a"))
	for q, args := range map[string][]any{
		"UPDATE consent_documents SET data = $1 WHERE sha256 = $2":      {testdoc.PDF("y"), d.SHA256},
		"UPDATE consent_documents SET name = 'o.pdf' WHERE sha256 = $1": {d.SHA256},
		"DELETE FROM consent_documents WHERE sha256 = $1":               {d.SHA256},
	} {
		err := e.Exec(ctx, q, args...)
		require.Error(t, err, q)
		assert.Contains(t, err.Error(), DocumentsImmutable, q)
	}
	got, err := e.db.FindDocument(ctx, d.SHA256)
	require.NoError(t, err)
	assert.Equal(t, d.Data, got.Data)
	assert.Equal(t, "p.pdf", got.Name)
}

// testVerifyChecksDocuments: `consents verify` fails when a stored
// document's bytes (or its recorded type) no longer are what its version
// says, whether or not an entry was given under that version.
func testVerifyChecksDocuments(t *testing.T, open Opener) {
	ctx := context.Background()
	setup := func(t *testing.T) (*env, *formbuilder.Document, *formbuilder.Document) {
		e := newEnv(t, open)
		db := e.db
		f := newFixture(t, e)
		f.Submit(t, f.FormA, "192.0.2.1") // entries 1, 2: no documents
		used := newDoc(t, "privacy.pdf", "Privacy policy")
		_, err := db.UpdateConsent(ctx, &formbuilder.Consent{ID: f.C2.ID, Name: f.C2.Name, Type: f.C2.Type}, docContent(used), "a")
		require.NoError(t, err)
		form, err := db.FindFormByID(ctx, f.FormB.ID)
		require.NoError(t, err)
		f.Submit(t, form, "192.0.2.2") // entry 3, under the version with the document
		unused := newDoc(t, "terms.pdf", "Terms")
		c := &formbuilder.Consent{Name: "Terms", Type: formbuilder.ConsentCustom}
		require.NoError(t, db.CreateConsent(ctx, c, docContent(unused), "a"))
		requireVerified(t, db, 3)
		return e, used, unused
	}
	// Same length, one byte changed: what a careful forger would do.
	flip := func(d *formbuilder.Document) []byte {
		b := bytes.Clone(d.Data)
		i := bytes.Index(b, []byte("policy"))
		if i < 0 {
			i = bytes.Index(b, []byte("Terms"))
		}
		b[i] ^= 0x20
		return b
	}

	// tampered runs q with the triggers off and verifies.
	tampered := func(t *testing.T, e *env, q string, args ...any) formbuilder.VerifyResult {
		t.Helper()
		require.NoError(t, e.Tamper(ctx, q, args...))
		vr, err := e.db.Verify(ctx)
		require.NoError(t, err)
		assert.False(t, vr.OK())
		return vr
	}

	t.Run("changed bytes of a document entries point at", func(t *testing.T) {
		e, used, _ := setup(t)
		vr := tampered(t, e, "UPDATE consent_documents SET data = $1 WHERE sha256 = $2", flip(used), used.SHA256)
		assert.EqualValues(t, 3, vr.BrokenID, "the first entry given under it")
		assert.Contains(t, vr.Reason, "document "+used.SHA256)
		assert.Contains(t, vr.Reason, "changed")
	})

	t.Run("changed bytes of a document no entry points at yet", func(t *testing.T) {
		e, _, unused := setup(t)
		vr := tampered(t, e, "UPDATE consent_documents SET data = $1 WHERE sha256 = $2", flip(unused), unused.SHA256)
		assert.Zero(t, vr.BrokenID)
		assert.EqualValues(t, 3, vr.Checked, "the chain itself is intact")
		assert.Contains(t, vr.Reason, "document "+unused.SHA256)
	})

	t.Run("changed type", func(t *testing.T) {
		e, used, _ := setup(t)
		vr := tampered(t, e, "UPDATE consent_documents SET content_type = 'text/html' WHERE sha256 = $1", used.SHA256)
		assert.EqualValues(t, 3, vr.BrokenID)
		assert.Contains(t, vr.Reason, "type")
	})

	t.Run("version pointed at another document", func(t *testing.T) {
		e, used, unused := setup(t)
		vr := tampered(t, e, "UPDATE consent_versions SET document_sha256 = $1 WHERE document_sha256 = $2",
			unused.SHA256, used.SHA256)
		assert.EqualValues(t, 3, vr.BrokenID)
		assert.Contains(t, vr.Reason, "does not match its hash")
	})
}

func init() {
	register("DocumentsStoredBySHA256", testDocumentsStoredBySHA256)
	register("DocumentsRefused", testDocumentsRefused)
	register("DocumentsAreAppendOnly", testDocumentsAreAppendOnly)
	register("VerifyChecksDocuments", testVerifyChecksDocuments)
}
