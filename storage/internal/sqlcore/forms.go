package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
)

const formSelect = `SELECT f.id, f.key, f.name, f.title, f.language, f.description, f.fields,
	f.submit_label, f.success_message, f.redirect_url, COALESCE(f.responsible_user_id, 0),
	COALESCE(CASE WHEN trim(u.name) <> '' THEN u.name ELSE u.email END, ''),
	f.allowed_origins, f.retention_days, f.archived, f.version, f.created_at, f.updated_at,
	f.notifications
	FROM forms f LEFT JOIN users u ON u.id = f.responsible_user_id`

func scanForm(s scanner) (*formbuilder.Form, error) {
	var f formbuilder.Form
	var fields, origins, created, updated, notifications string
	err := s.Scan(&f.ID, &f.Key, &f.Name, &f.Title, &f.Language, &f.Description, &fields,
		&f.SubmitLabel, &f.SuccessMessage, &f.RedirectURL, &f.ResponsibleUserID, &f.ResponsibleUser,
		&origins, &f.RetentionDays, &f.Archived, &f.Version, &created, &updated, &notifications)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(notifications), &f.Notifications); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(fields), &f.Fields); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(origins), &f.AllowedOrigins); err != nil {
		return nil, err
	}
	if f.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if f.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	f.Consents = []formbuilder.FormConsent{}
	return &f, nil
}

// loadFormConsents fills the Consents of forms, each with its consent and
// current version, in the order the admin arranged them.
func loadFormConsents(ctx context.Context, q queryer, forms []*formbuilder.Form) error {
	if len(forms) == 0 {
		return nil
	}
	byID := make(map[int64]*formbuilder.Form, len(forms))
	ids := make([]string, 0, len(forms))
	for _, f := range forms {
		byID[f.ID] = f
		ids = append(ids, strconv.FormatInt(f.ID, 10))
	}
	// The ids are integers from the database, safe to inline; a page of
	// forms may exceed SQLite's bound-parameter limit.
	rows, err := q.QueryContext(ctx, `SELECT fc.form_id, fc.checked_by_default, fc.required,
		`+consentColumns+`, `+versionColumns+`
		FROM form_consents fc
		JOIN consents c ON c.id = fc.consent_id
		JOIN consent_versions v ON v.id = c.current_version_id`+versionJoin+`
		WHERE fc.form_id IN (`+strings.Join(ids, ",")+`)
		ORDER BY fc.form_id, fc.position`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var formID int64
		var fc formbuilder.FormConsent
		c, err := scanConsent(rows, &formID, &fc.CheckedByDefault, &fc.Required)
		if err != nil {
			return err
		}
		fc.ConsentID, fc.Consent = c.ID, c
		f := byID[formID]
		f.Consents = append(f.Consents, fc)
	}
	return rows.Err()
}

// checkFormRefs turns missing consents and users into field errors instead
// of a bare foreign key failure.
func checkFormRefs(ctx context.Context, tx *Tx, f *formbuilder.Form) error {
	errs := map[string]formbuilder.Msg{}
	for i, c := range f.Consents {
		if ok, err := exists(ctx, tx, "consents", c.ConsentID); err != nil {
			return err
		} else if !ok {
			errs["consents."+strconv.Itoa(i)+".consent_id"] = formbuilder.M(formbuilder.MsgUnknownConsentID)
		}
	}
	if f.ResponsibleUserID != 0 {
		if ok, err := exists(ctx, tx, "users", f.ResponsibleUserID); err != nil {
			return err
		} else if !ok {
			errs["responsible_user_id"] = formbuilder.M(formbuilder.MsgUnknownUser)
		}
	}
	return formbuilder.FieldErrors(errs)
}

func writeFormConsents(ctx context.Context, tx *Tx, f *formbuilder.Form) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM form_consents WHERE form_id = ?", f.ID); err != nil {
		return err
	}
	for i, c := range f.Consents {
		if _, err := tx.ExecContext(ctx, `INSERT INTO form_consents (form_id, consent_id, position,
			checked_by_default, required) VALUES (?, ?, ?, ?, ?)`,
			f.ID, c.ConsentID, i, c.CheckedByDefault, c.Required); err != nil {
			return err
		}
	}
	return nil
}

// formJSON encodes the JSON columns; nil lists are stored as [].
func formJSON(f *formbuilder.Form) (fields, origins, notifications string, err error) {
	fl := f.Fields
	if fl == nil {
		fl = []formbuilder.Field{}
	}
	or := f.AllowedOrigins
	if or == nil {
		or = []string{}
	}
	b1, err := json.Marshal(fl)
	if err != nil {
		return "", "", "", err
	}
	b2, err := json.Marshal(or)
	if err != nil {
		return "", "", "", err
	}
	// The outbox insert reads the notifications column with a primary-key
	// lookup inside the writer's transaction.
	b3, err := json.Marshal(f.Notifications)
	return string(b1), string(b2), string(b3), err
}

// prepareForm validates f. The description is run through the one
// sanitising policy (idempotent) as a last guard: it is rendered as HTML on
// customers' sites.
func prepareForm(f *formbuilder.Form) error {
	if f == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "form")
	}
	if err := f.Validate(); err != nil {
		return err
	}
	f.Description = formbuilder.Sanitize(f.Description)
	return nil
}

// CreateForm implements formbuilder.FormService. It generates Key when
// empty, sets Version 1 and the times, and fills f's Consents (with their
// current versions) and ResponsibleUser as FindFormByID would.
func (db *DB) CreateForm(ctx context.Context, f *formbuilder.Form) error {
	if err := prepareForm(f); err != nil {
		return err
	}
	if f.Key == "" {
		f.Key = formbuilder.NewFormKey()
	}
	fields, origins, notif, err := formJSON(f)
	if err != nil {
		return formbuilder.Internal(err)
	}
	now := fmtTime(db.now())
	var id int64
	err = db.writeTx(ctx, func(tx *Tx) error {
		if err := checkFormRefs(ctx, tx, f); err != nil {
			return err
		}
		var err error
		id, err = insertID(ctx, db.d, tx, `INSERT INTO forms (key, name, title, language, description,
			fields, submit_label, success_message, redirect_url, responsible_user_id, allowed_origins,
			retention_days, archived, version, created_at, updated_at, notifications)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
			f.Key, f.Name, f.Title, f.Language, f.Description, fields, f.SubmitLabel, f.SuccessMessage,
			f.RedirectURL, nullID(f.ResponsibleUserID), origins, f.RetentionDays, f.Archived, now, now, notif)
		if err != nil {
			return err
		}
		f.ID = id
		return writeFormConsents(ctx, tx, f)
	})
	if err != nil {
		f.ID = 0
		if formbuilder.ErrorCode(err) == formbuilder.ECONFLICT {
			return &formbuilder.Error{Code: formbuilder.ECONFLICT, Msg: formbuilder.M(formbuilder.MsgFormKeyTaken),
				Fields: map[string]formbuilder.Msg{"key": formbuilder.M(formbuilder.MsgKeyTaken)}, Err: err}
		}
		return err
	}
	return db.reloadForm(ctx, f)
}

func (db *DB) reloadForm(ctx context.Context, f *formbuilder.Form) error {
	got, err := db.FindFormByID(ctx, f.ID)
	if err != nil {
		return err
	}
	*f = *got
	return nil
}

// UpdateForm implements formbuilder.FormService. The key, creation time and
// archived flag are kept (the key is in published embed codes; ArchiveForm
// changes the flag); everything else is replaced and Version bumped. f is
// refreshed from the database afterwards.
func (db *DB) UpdateForm(ctx context.Context, f *formbuilder.Form) error {
	if err := prepareForm(f); err != nil {
		return err
	}
	fields, origins, notif, err := formJSON(f)
	if err != nil {
		return formbuilder.Internal(err)
	}
	now := fmtTime(db.now())
	err = db.writeTx(ctx, func(tx *Tx) error {
		if err := checkFormRefs(ctx, tx, f); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE forms SET name = ?, title = ?, language = ?,
			description = ?, fields = ?, submit_label = ?, success_message = ?, redirect_url = ?,
			responsible_user_id = ?, allowed_origins = ?, retention_days = ?, notifications = ?,
			version = version + 1, updated_at = ? WHERE id = ?`,
			f.Name, f.Title, f.Language, f.Description, fields, f.SubmitLabel, f.SuccessMessage,
			f.RedirectURL, nullID(f.ResponsibleUserID), origins, f.RetentionDays, notif, now, f.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(formbuilder.MsgFormNotFound)
		}
		if err := formChanged(ctx, tx, f.ID); err != nil {
			return err
		}
		return writeFormConsents(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return db.reloadForm(ctx, f)
}

// formChanged announces at the commit that form id renders differently:
// every server drops its cached page.
func formChanged(ctx context.Context, tx *Tx, id int64) error {
	var key string
	if err := tx.QueryRowContext(ctx, "SELECT key FROM forms WHERE id = ?", id).Scan(&key); err != nil {
		return err
	}
	tx.changed(formbuilder.Change{Kind: formbuilder.ChangeForm, ID: id, Key: key})
	return nil
}

// ArchiveForm implements formbuilder.FormService. It bumps Version because
// an archived form renders differently.
func (db *DB) ArchiveForm(ctx context.Context, id int64, archived bool) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE forms SET archived = ?, version = version + 1,
			updated_at = ? WHERE id = ? AND archived <> ?`, archived, fmtTime(db.now()), id, archived)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			return formChanged(ctx, tx, id)
		}
		// Nothing changed: already in that state, or missing.
		var c int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM forms WHERE id = ?", id).Scan(&c); err != nil {
			return err
		}
		if c == 0 {
			return notFound(formbuilder.MsgFormNotFound)
		}
		return nil
	})
}

func (db *DB) findForm(ctx context.Context, where string, arg any) (*formbuilder.Form, error) {
	return findLoaded(ctx, db, formbuilder.MsgFormNotFound, formSelect+" WHERE "+where, arg, scanForm, loadFormConsents)
}

// findLoaded reads the one row of query (a not-found error naming what when
// there is none) with scan, then its references with load, in one read
// transaction so the row and its references agree.
func findLoaded[T any](ctx context.Context, db *DB, what formbuilder.MsgCode, query string, arg any,
	scan func(scanner) (T, error), load func(context.Context, queryer, []T) error) (T, error) {
	var v T
	err := db.readTx(ctx, func(tx *Tx) error {
		var err error
		v, err = scan(tx.QueryRowContext(ctx, query, arg))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(what)
		}
		if err != nil {
			return err
		}
		return load(ctx, tx, []T{v})
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// listLoaded reads every row of query with scan, then their references
// with load, in one read transaction.
func listLoaded[T any](ctx context.Context, db *DB, query string, args []any,
	scan func(scanner) (T, error), load func(context.Context, queryer, []T) error) ([]T, error) {
	var out []T
	err := db.readTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, v)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		return load(ctx, tx, out)
	})
	return out, err
}

// FindFormByID implements formbuilder.FormService.
func (db *DB) FindFormByID(ctx context.Context, id int64) (*formbuilder.Form, error) {
	return db.findForm(ctx, "f.id = ?", id)
}

// FindFormByKey implements formbuilder.FormService.
func (db *DB) FindFormByKey(ctx context.Context, key string) (*formbuilder.Form, error) {
	if !formbuilder.ValidFormKey(key) {
		return nil, notFound(formbuilder.MsgFormNotFound)
	}
	return db.findForm(ctx, "f.key = ?", key)
}

// ListForms implements formbuilder.FormService, ordered by name. Query
// matches name, title and key (substring, case-insensitive for ASCII).
func (db *DB) ListForms(ctx context.Context, filter formbuilder.FormFilter) ([]*formbuilder.Form, error) {
	var conds []string
	var args []any
	if !filter.IncludeArchived {
		conds = append(conds, "f.archived = false")
	}
	if q := strings.TrimSpace(filter.Query); q != "" {
		p := "%" + escapeLike(q) + "%"
		like := " " + db.d.ILike() + ` ? ESCAPE '\'`
		conds = append(conds, "(f.name"+like+" OR f.title"+like+" OR f.key"+like+")")
		args = append(args, p, p, p)
	}
	return listLoaded(ctx, db, formSelect+and(conds...)+" ORDER BY lower(f.name), f.id", args,
		scanForm, loadFormConsents)
}
