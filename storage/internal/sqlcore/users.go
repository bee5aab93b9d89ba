package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
)

const userSelect = "SELECT id, email, name, password_hash, role, language, created_at, COALESCE(deactivated_at, '') FROM users"

func scanUser(s scanner) (*formbuilder.User, error) {
	var u formbuilder.User
	var created, deactivated string
	if err := s.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Role, &u.Language, &created, &deactivated); err != nil {
		return nil, err
	}
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	u.DeactivatedAt, err = parseTime(deactivated)
	return &u, err
}

// CreateUser implements formbuilder.UserService. E-mail addresses are
// unique regardless of case (ECONFLICT).
func (db *DB) CreateUser(ctx context.Context, u *formbuilder.User) error {
	if u == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "user")
	}
	u.Email = strings.TrimSpace(u.Email)
	if u.Role == "" {
		u.Role = formbuilder.RoleAdmin
	}
	if err := u.Validate(); err != nil {
		return err
	}
	now := db.now()
	err := db.writeTx(ctx, func(tx *Tx) error {
		var err error
		u.ID, err = insertID(ctx, db.d, tx, "INSERT INTO users (email, name, password_hash, role, language, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			u.Email, u.Name, u.PasswordHash, u.Role, u.Language, fmtTime(now))
		return err
	})
	if err != nil {
		u.ID = 0
		if formbuilder.ErrorCode(err) == formbuilder.ECONFLICT {
			return &formbuilder.Error{Code: formbuilder.ECONFLICT, Msg: formbuilder.M(formbuilder.MsgUserExists),
				Fields: map[string]formbuilder.Msg{"email": formbuilder.M(formbuilder.MsgEmailTaken)}, Err: err}
		}
		return err
	}
	u.CreatedAt = now
	return nil
}

// errLastAdmin refuses a change that would leave no active admin.
var errLastAdmin = &formbuilder.Error{Code: formbuilder.ECONFLICT, Msg: formbuilder.M(formbuilder.MsgLastAdmin),
	Fields: map[string]formbuilder.Msg{"role": formbuilder.M(formbuilder.MsgLastAdminRole)}}

// lockAdmins returns the ids of the active admins, locked for the rest of
// tx, before any other row of users is locked. Every change that could
// remove an admin starts with it, so two admins demoting each other at once
// take turns, and the second sees the first's change: on SQLite the write
// lock orders them; on PostgreSQL the row locks, always taken in id order,
// so they cannot deadlock.
func (db *DB) lockAdmins(ctx context.Context, tx *Tx) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id FROM users WHERE role = ? AND deactivated_at IS NULL ORDER BY id"+
		db.d.ForUpdate(), formbuilder.RoleAdmin)
	if err != nil {
		return nil, err
	}
	return ScanIDs(rows, 0)
}

// ScanIDs reads and closes rows of one integer column; n is how many are
// expected, or 0 if unknown.
func ScanIDs(rows *sql.Rows, n int) ([]int64, error) {
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// onlyAdmin reports whether id is the one active admin of admins.
func onlyAdmin(admins []int64, id int64) bool { return len(admins) == 1 && admins[0] == id }

// lockUser reads user id's row for a change. ENOTFOUND.
func (db *DB) lockUser(ctx context.Context, tx *Tx, id int64) (*formbuilder.User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, userSelect+" WHERE id = ?"+db.d.ForUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgUserNotFound)
	}
	return u, err
}

// UpdateUser implements formbuilder.UserService.
func (db *DB) UpdateUser(ctx context.Context, u *formbuilder.User) error {
	if u == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "user")
	}
	if u.Role == "" {
		u.Role = formbuilder.RoleAdmin
	}
	// The e-mail is not changed here; validate name and role only.
	check := *u
	check.Email = "x@example.com"
	if err := check.Validate(); err != nil {
		return err
	}
	return db.writeTx(ctx, func(tx *Tx) error {
		admins, err := db.lockAdmins(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := db.lockUser(ctx, tx, u.ID); err != nil {
			return err
		}
		if u.Role != formbuilder.RoleAdmin && onlyAdmin(admins, u.ID) {
			return errLastAdmin
		}
		_, err = tx.ExecContext(ctx, "UPDATE users SET name = ?, role = ? WHERE id = ?", u.Name, u.Role, u.ID)
		return err
	})
}

// SetUserActive implements formbuilder.UserService: deactivating ends the
// user's sessions and revokes their tokens in the same transaction.
func (db *DB) SetUserActive(ctx context.Context, id int64, active bool) error {
	now := db.now()
	return db.writeTx(ctx, func(tx *Tx) error {
		admins, err := db.lockAdmins(ctx, tx)
		if err != nil {
			return err
		}
		old, err := db.lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if active {
			_, err := tx.ExecContext(ctx, "UPDATE users SET deactivated_at = NULL WHERE id = ?", id)
			return err
		}
		if onlyAdmin(admins, id) {
			return formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgLastAdmin)
		}
		if old.Active() {
			if _, err := tx.ExecContext(ctx, "UPDATE users SET deactivated_at = ? WHERE id = ?", fmtTime(now), id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
			fmtTime(now), id)
		return err
	})
}

// SetUserLanguage implements formbuilder.UserService.
func (db *DB) SetUserLanguage(ctx context.Context, id int64, lang string) error {
	if !formbuilder.ValidLanguage(lang) {
		return formbuilder.FieldError("language", formbuilder.MsgOneOf, "values", "de, en")
	}
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE users SET language = ? WHERE id = ?", lang, id))(formbuilder.MsgUserNotFound)
	})
}

// UpdatePassword implements formbuilder.UserService. ENOTFOUND.
func (db *DB) UpdatePassword(ctx context.Context, id int64, hash string) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", hash, id))(formbuilder.MsgUserNotFound)
	})
}

// affectOne turns "no row changed" into ENOTFOUND.
func affectOne(res sql.Result, err error) func(what formbuilder.MsgCode) error {
	return func(what formbuilder.MsgCode) error {
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound(what)
		}
		return nil
	}
}

func (db *DB) findUser(ctx context.Context, where string, arg any) (*formbuilder.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, userSelect+" WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgUserNotFound)
	}
	return u, db.dbErr(err)
}

// FindUserByID implements formbuilder.UserService.
func (db *DB) FindUserByID(ctx context.Context, id int64) (*formbuilder.User, error) {
	return db.findUser(ctx, "id = ?", id)
}

// FindUserByEmail implements formbuilder.UserService; case-insensitive.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*formbuilder.User, error) {
	// lower() on both sides: SQLite's column is COLLATE NOCASE, PostgreSQL's
	// unique index is on lower(email).
	return db.findUser(ctx, "lower(email) = lower(?)", strings.TrimSpace(email))
}

// ListUsers implements formbuilder.UserService, ordered by e-mail.
func (db *DB) ListUsers(ctx context.Context) ([]*formbuilder.User, error) {
	rows, err := db.r.QueryContext(ctx, userSelect+" ORDER BY lower(email), id")
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, db.dbErr(err)
		}
		out = append(out, u)
	}
	return out, db.dbErr(rows.Err())
}

// CountUsers implements formbuilder.UserService; the first start creates an
// admin when it is 0.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, db.dbErr(err)
}
