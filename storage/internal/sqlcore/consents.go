package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/consentforms/consentforms/formbuilder"
)

// versionColumns read a version (v) with the metadata of its document
// (d, joined by versionJoin); empty strings and 0 when it has none.
const versionColumns = `v.id, v.consent_id, v.number, v.text, v.label, v.link_url, v.language, v.hash, v.author, v.created_at,
	COALESCE(v.document_sha256, ''), COALESCE(d.name, ''), COALESCE(d.content_type, ''), COALESCE(d.size, 0),
	COALESCE(d.created_at, '')`

// versionJoin follows a version (v) to its document (d), if any.
const versionJoin = ` LEFT JOIN consent_documents d ON d.sha256 = v.document_sha256`

// versionScan holds what versionColumns scan into until finish.
type versionScan struct {
	v                  formbuilder.ConsentVersion
	created            string
	doc                formbuilder.Document
	docCreated, docSHA string
}

func (vs *versionScan) dest() []any {
	v := &vs.v
	return []any{&v.ID, &v.ConsentID, &v.Number, &v.Text, &v.Label, &v.LinkURL, &v.Language, &v.Hash, &v.Author,
		&vs.created, &vs.docSHA, &vs.doc.Name, &vs.doc.ContentType, &vs.doc.Size, &vs.docCreated}
}

func (vs *versionScan) finish() (*formbuilder.ConsentVersion, error) {
	var err error
	if vs.v.CreatedAt, err = parseTime(vs.created); err != nil {
		return nil, err
	}
	if vs.docSHA != "" {
		vs.doc.SHA256 = vs.docSHA
		if vs.doc.CreatedAt, err = parseTime(vs.docCreated); err != nil {
			return nil, err
		}
		d := vs.doc
		vs.v.Document = &d
	}
	v := vs.v
	return &v, nil
}

func scanVersion(s scanner) (*formbuilder.ConsentVersion, error) {
	var vs versionScan
	if err := s.Scan(vs.dest()...); err != nil {
		return nil, err
	}
	return vs.finish()
}

// consentColumns are the columns of a consent that scanConsent reads
// before its version's.
const consentColumns = `c.id, c.name, c.type, c.confirm_by_email, c.created_at, c.updated_at`

// consentSelect reads a consent with its current version.
const consentSelect = `SELECT ` + consentColumns + `, ` + versionColumns + `
	FROM consents c JOIN consent_versions v ON v.id = c.current_version_id` + versionJoin

func scanConsent(s scanner, extra ...any) (*formbuilder.Consent, error) {
	var c formbuilder.Consent
	var vs versionScan
	var cc, cu string
	dest := append(extra, &c.ID, &c.Name, &c.Type, &c.ConfirmByEmail, &cc, &cu)
	if err := s.Scan(append(dest, vs.dest()...)...); err != nil {
		return nil, err
	}
	var err error
	if c.CreatedAt, err = parseTime(cc); err != nil {
		return nil, err
	}
	if c.UpdatedAt, err = parseTime(cu); err != nil {
		return nil, err
	}
	if c.Current, err = vs.finish(); err != nil {
		return nil, err
	}
	return &c, nil
}

// insertVersion appends version number n of consent c with content. A
// document with bytes is stored first (the same bytes again are the same
// row); one named by hash alone must be stored already.
func insertVersion(ctx context.Context, tx *Tx, consentID int64, n int, content formbuilder.ConsentContent, author string, now string) (int64, error) {
	var docSHA any
	if d := content.Document; d != nil {
		if err := storeDocument(ctx, tx, d, now); err != nil {
			return 0, err
		}
		docSHA = d.SHA256
	}
	vid, err := insertID(ctx, tx.d, tx, `INSERT INTO consent_versions (consent_id, number, text, label,
		link_url, language, hash, author, created_at, document_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		consentID, n, content.Text, content.Label, content.LinkURL, content.Language, content.Hash(), author, now, docSHA)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, "UPDATE consents SET current_version_id = ? WHERE id = ?", vid, consentID)
	return vid, err
}

// CreateConsent implements formbuilder.ConsentService. It sets c.ID, the
// times and c.Current (version 1).
func (db *DB) CreateConsent(ctx context.Context, c *formbuilder.Consent, content formbuilder.ConsentContent, author string) error {
	if err := formbuilder.ValidateConsentWithContent(c, &content); err != nil {
		return err
	}
	now := db.now()
	ts := fmtTime(now)
	var id int64
	err := db.writeTx(ctx, func(tx *Tx) error {
		var err error
		id, err = insertID(ctx, db.d, tx, `INSERT INTO consents (name, type, confirm_by_email, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, c.Name, c.Type, c.ConfirmByEmail, ts, ts)
		if err != nil {
			return err
		}
		_, err = insertVersion(ctx, tx, id, 1, content, author, ts)
		return err
	})
	if err != nil {
		return err
	}
	got, err := db.FindConsentByID(ctx, id)
	if err != nil {
		return err
	}
	*c = *got
	return nil
}

// UpdateConsent implements formbuilder.ConsentService. A new version is
// added only when the content's hash (text, label, link URL, language)
// differs from the current one, so saving an unchanged form adds nothing.
// Any change bumps the Version of every form the consent is attached to:
// their cached pages (and cached consent names) are stale.
func (db *DB) UpdateConsent(ctx context.Context, c *formbuilder.Consent, content formbuilder.ConsentContent, author string) (*formbuilder.Consent, error) {
	if err := formbuilder.ValidateConsentWithContent(c, &content); err != nil {
		return nil, err
	}
	now := fmtTime(db.now())
	err := db.writeTx(ctx, func(tx *Tx) error {
		// Versions of one consent are numbered under its lock, so two
		// admins saving at once get n+1 and n+2.
		if err := db.d.LockTx(ctx, tx, "consent/"+strconv.FormatInt(c.ID, 10)); err != nil {
			return err
		}
		cur, err := scanConsent(tx.QueryRowContext(ctx, consentSelect+" WHERE c.id = ?", c.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(formbuilder.MsgConsentNotFound)
		}
		if err != nil {
			return err
		}
		if c.ConfirmByEmail && !cur.ConfirmByEmail {
			used, err := existsWhere(ctx, tx, "channels", "consent_id", c.ID)
			if err != nil {
				return err
			}
			if used {
				return formbuilder.FieldError("confirm_by_email", formbuilder.MsgChatCannotConfirm)
			}
		}
		changed := false
		if cur.Name != c.Name || cur.Type != c.Type || cur.ConfirmByEmail != c.ConfirmByEmail {
			changed = true
			if _, err := tx.ExecContext(ctx, "UPDATE consents SET name = ?, type = ?, confirm_by_email = ? WHERE id = ?",
				c.Name, c.Type, c.ConfirmByEmail, c.ID); err != nil {
				return err
			}
		}
		if formbuilder.NeedsNewVersion(cur.Current, content) {
			changed = true
			if _, err := insertVersion(ctx, tx, c.ID, cur.Current.Number+1, content, author, now); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE consents SET updated_at = ? WHERE id = ?", now, c.ID); err != nil {
			return err
		}
		// Every server drops its cached pages: finding which forms attach
		// the consent costs more than rendering a few pages again.
		tx.changed(formbuilder.Change{Kind: formbuilder.ChangeForms})
		_, err = tx.ExecContext(ctx, `UPDATE forms SET version = version + 1, updated_at = ?
			WHERE id IN (SELECT form_id FROM form_consents WHERE consent_id = ?)`, now, c.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	got, err := db.FindConsentByID(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	*c = *got
	return got, nil
}

// FindConsentByID implements formbuilder.ConsentService; the consent comes
// with its current version.
func (db *DB) FindConsentByID(ctx context.Context, id int64) (*formbuilder.Consent, error) {
	c, err := scanConsent(db.r.QueryRowContext(ctx, consentSelect+" WHERE c.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgConsentNotFound)
	}
	return c, db.dbErr(err)
}

// ListConsents implements formbuilder.ConsentService, ordered by name.
func (db *DB) ListConsents(ctx context.Context) ([]*formbuilder.Consent, error) {
	rows, err := db.r.QueryContext(ctx, consentSelect+" ORDER BY lower(c.name), c.id")
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, db.dbErr(err)
		}
		out = append(out, c)
	}
	return out, db.dbErr(rows.Err())
}

// ListConsentVersions implements formbuilder.ConsentService.
func (db *DB) ListConsentVersions(ctx context.Context, consentID int64) ([]*formbuilder.ConsentVersion, error) {
	var out []*formbuilder.ConsentVersion
	err := db.readTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM consents WHERE id = ?", consentID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound(formbuilder.MsgConsentNotFound)
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+versionColumns+" FROM consent_versions v"+versionJoin+
			" WHERE v.consent_id = ? ORDER BY v.number DESC", consentID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scanVersion(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}

// FindConsentVersion implements formbuilder.ConsentService.
func (db *DB) FindConsentVersion(ctx context.Context, id int64) (*formbuilder.ConsentVersion, error) {
	v, err := scanVersion(db.r.QueryRowContext(ctx, "SELECT "+versionColumns+" FROM consent_versions v"+versionJoin+
		" WHERE v.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgVersionNotFound)
	}
	return v, db.dbErr(err)
}
