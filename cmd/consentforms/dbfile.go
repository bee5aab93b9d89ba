package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// requireExistingDB refuses a --db that names a database file that does
// not exist. Opening one creates and migrates it, so a mistyped path would
// make `consents verify` report an intact, empty log ("ok: 0 entries") and
// `admin add` put an admin into a database no server uses. Only serve and
// migrate create databases. A URL (a database server) is left to its
// server, which says itself whether the database exists.
func requireExistingDB(path string) error {
	if strings.Contains(path, "://") {
		return nil
	}
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return exitError{code: 1, msg: fmt.Sprintf("no database file %s: check --db (`consentforms migrate --db %s` creates a new one)", path, path)}
	}
	// Any other problem (permissions, say) is for opening to report.
	return nil
}

// openExistingDB opens the database of a command that works on an
// installation: a missing SQLite file is refused (requireExistingDB)
// rather than created empty.
func openExistingDB(path string) (store, error) {
	if err := requireExistingDB(path); err != nil {
		return nil, err
	}
	return openDB(path)
}
