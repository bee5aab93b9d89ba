package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/consentforms/consentforms/formbuilder"
)

var _ formbuilder.DocumentService = (*DB)(nil)

// storeDocument makes sure d is stored, inside the transaction of the
// version that links to it. With bytes, it inserts them unless a document
// with the same SHA-256 exists: then these are the same bytes, and the
// first upload's name stays. Without bytes, the document must exist.
func storeDocument(ctx context.Context, tx *Tx, d *formbuilder.Document, now string) error {
	if err := d.Check(); err != nil {
		return err
	}
	if d.Data != nil {
		_, err := tx.ExecContext(ctx, `INSERT INTO consent_documents (sha256, name, content_type, size, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
			d.SHA256, d.Name, d.ContentType, d.Size, d.Data, now)
		return err
	}
	var ok bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM consent_documents WHERE sha256 = ?)", d.SHA256).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return formbuilder.FieldError("document", formbuilder.MsgDocNotStored)
	}
	return nil
}

const documentColumns = "sha256, name, content_type, size, created_at"

func scanDocument(s scanner, extra ...any) (*formbuilder.Document, error) {
	var d formbuilder.Document
	var created string
	if err := s.Scan(append([]any{&d.SHA256, &d.Name, &d.ContentType, &d.Size, &created}, extra...)...); err != nil {
		return nil, err
	}
	var err error
	d.CreatedAt, err = parseTime(created)
	return &d, err
}

// FindDocument implements formbuilder.DocumentService.
func (db *DB) FindDocument(ctx context.Context, sha string) (*formbuilder.Document, error) {
	if !formbuilder.ValidDocumentHash(sha) {
		return nil, notFound(formbuilder.MsgDocumentNotFound)
	}
	var data []byte
	d, err := scanDocument(db.r.QueryRowContext(ctx, "SELECT "+documentColumns+", data FROM consent_documents WHERE sha256 = ?", sha), &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgDocumentNotFound)
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	d.Data = data
	return d, nil
}

// versionDocs remembers which document each consent version links to, so
// entries read from the log get theirs without a join on every list and
// export query. Versions never change (the database refuses it), so an
// entry once read stays true; a version another process made is read on
// its first use here.
type versionDocs struct {
	mu   sync.Mutex
	docs map[int64]*formbuilder.Document // nil: the version has none
}

// attachDocuments sets the Document of every entry in recs from its
// version, reading the versions not seen before in one query.
func (db *DB) attachDocuments(ctx context.Context, recs []*formbuilder.ConsentRecord) error {
	vd := &db.versionDocs
	vd.mu.Lock()
	if vd.docs == nil {
		vd.docs = map[int64]*formbuilder.Document{}
	}
	var missing []string
	seen := map[int64]bool{}
	for _, r := range recs {
		if _, ok := vd.docs[r.VersionID]; !ok && !seen[r.VersionID] {
			seen[r.VersionID] = true
			missing = append(missing, strconv.FormatInt(r.VersionID, 10))
		}
	}
	vd.mu.Unlock()
	found := map[int64]*formbuilder.Document{}
	// The ids are integers from the database, safe to inline; a batch may
	// name more versions than SQLite takes parameters.
	for len(missing) > 0 {
		n := min(len(missing), 500)
		chunk := missing[:n]
		missing = missing[n:]
		rows, err := db.r.QueryContext(ctx, `SELECT v.id, d.sha256, d.name, d.content_type, d.size, d.created_at
			FROM consent_versions v LEFT JOIN consent_documents d ON d.sha256 = v.document_sha256
			WHERE v.id IN (`+strings.Join(chunk, ",")+`)`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var sha, name, ct, created sql.NullString
			var size sql.NullInt64
			if err := rows.Scan(&id, &sha, &name, &ct, &size, &created); err != nil {
				rows.Close()
				return err
			}
			found[id] = nil
			if sha.Valid {
				d := &formbuilder.Document{SHA256: sha.String, Name: name.String, ContentType: ct.String, Size: size.Int64}
				if d.CreatedAt, err = parseTime(created.String); err != nil {
					rows.Close()
					return err
				}
				found[id] = d
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	vd.mu.Lock()
	defer vd.mu.Unlock()
	for id, d := range found {
		vd.docs[id] = d
	}
	for _, r := range recs {
		if d := vd.docs[r.VersionID]; d != nil {
			c := *d
			r.Document = &c
		}
	}
	return nil
}

// verifyDocuments checks every document a version links to: stored, and
// its bytes still those of its SHA-256 (formbuilder.VerifyDocument). It
// returns, per document hash, what is wrong; documents are read one at a
// time, so memory holds at most one.
func (db *DB) verifyDocuments(ctx context.Context) (map[string]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT v.document_sha256, d.sha256 IS NOT NULL
		FROM consent_versions v LEFT JOIN consent_documents d ON d.sha256 = v.document_sha256
		WHERE v.document_sha256 IS NOT NULL ORDER BY v.document_sha256`)
	if err != nil {
		return nil, err
	}
	var shas []string
	problems := map[string]string{}
	for rows.Next() {
		var sha string
		var stored bool
		if err := rows.Scan(&sha, &stored); err != nil {
			rows.Close()
			return nil, err
		}
		if stored {
			shas = append(shas, sha)
		} else {
			problems[sha] = "it is not stored: the file was removed"
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	for _, sha := range shas {
		var data []byte
		d, err := scanDocument(db.r.QueryRowContext(ctx, "SELECT "+documentColumns+", data FROM consent_documents WHERE sha256 = ?", sha), &data)
		if err != nil {
			return nil, err
		}
		d.Data = data
		if p := formbuilder.VerifyDocument(d); p != "" {
			problems[sha] = p
		}
	}
	return problems, nil
}
