package main

import (
	"context"
	"fmt"
	"net/url"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/postgres"
	"github.com/consentforms/consentforms/storage/sqlite"
)

// store is what the commands need of a database, SQLite or PostgreSQL:
// every storage interface of formbuilder and a few extras.
type store interface {
	formbuilder.Storage
	// Secret returns the installation's signing key, created once.
	Secret(ctx context.Context) ([]byte, error)
	// OutboxSignal wakes the delivery worker after commits with deliveries.
	OutboxSignal() <-chan struct{}
	// Backup writes a SQLite copy, or explains how to back up PostgreSQL.
	Backup(ctx context.Context, path string) error
	// Serialize runs fn while no other server runs work under key.
	Serialize(ctx context.Context, key string, fn func(ctx context.Context) error) error
	Close() error
}

var (
	_ store = (*sqlite.DB)(nil)
	_ store = (*postgres.DB)(nil)
)

// openDB opens the database dsn names: a postgres:// or postgresql:// URL,
// or else the path of a SQLite file. obs, when given, hears about the
// group-commit writer's batches (metrics).
func openDB(dsn string, obs ...formbuilder.WriterObserver) (store, error) {
	if postgres.IsURL(dsn) {
		var opts []postgres.Option
		if len(obs) > 0 && obs[0] != nil {
			opts = append(opts, postgres.WithObserver(obs[0]))
		}
		db, err := postgres.Open(dsn, opts...)
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", redactDSN(dsn), err)
		}
		return db, nil
	}
	var opts []sqlite.Option
	if len(obs) > 0 && obs[0] != nil {
		opts = append(opts, sqlite.WithObserver(obs[0]))
	}
	db, err := sqlite.Open(dsn, opts...)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", dsn, err)
	}
	return db, nil
}

// redactDSN returns dsn fit for output and logs: a URL without its
// password (in the user part or as a password parameter).
func redactDSN(dsn string) string {
	if !postgres.IsURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparseable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
