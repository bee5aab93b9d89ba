package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
)

const userSelect = "SELECT id, email, name, password_hash, created_at FROM users"

func scanUser(s scanner) (*formbuilder.User, error) {
	var u formbuilder.User
	var created string
	if err := s.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created); err != nil {
		return nil, err
	}
	var err error
	u.CreatedAt, err = parseTime(created)
	return &u, err
}

// CreateUser implements formbuilder.UserService. E-mail addresses are
// unique regardless of case (ECONFLICT).
func (db *DB) CreateUser(ctx context.Context, u *formbuilder.User) error {
	if u == nil {
		return formbuilder.Errorf(formbuilder.EINVALID, "user is required")
	}
	u.Email = strings.TrimSpace(u.Email)
	if err := u.Validate(); err != nil {
		return err
	}
	now := db.now()
	err := db.writeTx(ctx, func(tx *Tx) error {
		var err error
		u.ID, err = insertID(ctx, db.d, tx, "INSERT INTO users (email, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
			u.Email, u.Name, u.PasswordHash, fmtTime(now))
		return err
	})
	if err != nil {
		u.ID = 0
		if formbuilder.ErrorCode(err) == formbuilder.ECONFLICT {
			return &formbuilder.Error{Code: formbuilder.ECONFLICT, Message: "a user with this e-mail exists already",
				Fields: map[string]string{"email": "is taken"}, Err: err}
		}
		return err
	}
	u.CreatedAt = now
	return nil
}

// UpdatePassword implements formbuilder.UserService. ENOTFOUND.
func (db *DB) UpdatePassword(ctx context.Context, id int64, hash string) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", hash, id))("user")
	})
}

// affectOne turns "no row changed" into ENOTFOUND.
func affectOne(res sql.Result, err error) func(what string) error {
	return func(what string) error {
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
		return nil, notFound("user")
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
