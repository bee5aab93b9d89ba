package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/atomicfile"
	"github.com/consentforms/consentforms/storage/postgres"
)

// The signing key file: the Ed25519 keys that sign consent receipts and
// checkpoints, kept outside the database so that whoever controls the
// database cannot sign what they changed. It is a JWK set with the private
// halves (formbuilder.KeySet.MarshalFile), mode 0600.

// signingKeyFlag adds --signing-key.
func signingKeyFlag(fs *flag.FlagSet) *string {
	return fs.String("signing-key", "", "Ed25519 key file that signs receipts and checkpoints, kept outside the database "+
		"(default: the SQLite file's path + "+signingKeySuffix+"; required with PostgreSQL)")
}

// signingKeySuffix names the default key file beside a SQLite database.
const signingKeySuffix = ".signing-key"

// signingKeyPath returns the key file to use: flag, or beside the SQLite
// file dsn. With PostgreSQL there is no "beside": every server must sign
// with the same key, which only the operator can hand them.
func signingKeyPath(flag, dsn string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if postgres.IsURL(dsn) {
		return "", usageError("--signing-key is required with PostgreSQL: give every server the same key file, " +
			"kept outside the database (the first server start creates it when it does not exist)")
	}
	return dsn + signingKeySuffix, nil
}

// loadKeys reads the key file at path. With create, a missing file is made
// with a new key: written whole to a file of its own, then linked to path,
// which fails when path exists, so that two servers starting together make
// one file and neither reads half of it; created says it was this call. A
// file that others may read is refused: whoever reads it can sign receipts.
func loadKeys(path string, create bool, now time.Time) (ks *formbuilder.KeySet, created bool, err error) {
	if create {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			ks, err := createKeys(path, now)
			if err == nil {
				return ks, true, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return nil, false, fmt.Errorf("create signing key %s: %w", path, err)
			}
		}
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, exitError{code: 1, msg: fmt.Sprintf("no signing key file %s: check --signing-key (serve creates one on its first start)", path)}
	}
	if err != nil {
		return nil, false, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, false, exitError{code: 1, msg: fmt.Sprintf("signing key file %s may be read by others (mode %04o): "+
			"whoever reads it can sign receipts; chmod 600 %s", path, st.Mode().Perm(), path)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	ks, err = formbuilder.ParseKeySet(data)
	if err != nil {
		return nil, false, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return ks, false, nil
}

// createKeys makes a key file with a new key at path, unless one exists
// (an error wrapping fs.ErrExist).
func createKeys(path string, now time.Time) (*formbuilder.KeySet, error) {
	ks, err := formbuilder.NewKeySet(now)
	if err != nil {
		return nil, err
	}
	tmp, err := writeTemp(path, ks)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return nil, err
	}
	return ks, nil
}

// writeTemp writes ks to a new file (mode 0600) beside path and returns
// its name.
func writeTemp(path string, ks *formbuilder.KeySet) (string, error) {
	data, err := ks.MarshalFile()
	if err != nil {
		return "", err
	}
	return atomicfile.WriteTemp(filepath.Dir(path), filepath.Base(path)+".new-*", data)
}

// existingKeys reads the key file that the --signing-key value flag names
// for the database dsn, and returns it with its path; the file must exist.
func existingKeys(flag, dsn string) (*formbuilder.KeySet, string, error) {
	path, err := signingKeyPath(flag, dsn)
	if err != nil {
		return nil, "", err
	}
	ks, _, err := loadKeys(path, false, time.Now())
	return ks, path, err
}

// saveKeys replaces the key file at path with ks: written to a new file
// beside it (mode 0600) and renamed over it, so a reader sees the old file
// or the new one, never half of one.
func saveKeys(path string, ks *formbuilder.KeySet) error {
	tmp, err := writeTemp(path, ks)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	atomicfile.SyncDir(filepath.Dir(path))
	return nil
}

// keyReloadInterval is how often serve looks for a rotated key file; a
// rotation starts its new key formbuilder.RotateDelay ahead, well after.
const keyReloadInterval = 10 * time.Second

// watchKeys loads the key file at path into ring whenever it changes, until
// ctx ends. A file that does not read is logged and the keys stay as they
// were.
func watchKeys(ctx context.Context, path string, ring *formbuilder.KeyRing, logger *slog.Logger, every time.Duration) {
	last := fileStamp(path)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		stamp := fileStamp(path)
		if stamp == last {
			continue
		}
		ks, _, err := loadKeys(path, false, time.Now())
		if err != nil {
			logger.Error("signing keys not reloaded", "file", path, "err", err)
			continue
		}
		last = stamp
		ring.Store(ks)
		logger.Info("signing keys reloaded", "file", path, "keys", len(ks.Keys))
	}
}

// fileStamp is what tells a changed file: its modification time and size.
func fileStamp(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return st.ModTime().String() + "/" + fmt.Sprint(st.Size())
}

func cmdKey(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "public") {
		return usageError("usage: consentforms key rotate|public [--signing-key FILE] [--db FILE]")
	}
	sub := args[0]
	fs := newFlagSet("key " + sub)
	dbPath := dbFlag(fs)
	keyFile := signingKeyFlag(fs)
	delay := fs.Duration("start-in", formbuilder.RotateDelay,
		"rotate: when the new key starts (and the old one ends); every server must have the new file by then")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *delay < 2*keyReloadInterval {
		return usageError("--start-in must be at least %s: servers look for a new key file every %s", 2*keyReloadInterval, keyReloadInterval)
	}
	ks, path, err := existingKeys(*keyFile, *dbPath)
	if err != nil {
		return err
	}
	if sub == "public" {
		out, err := ks.MarshalJWKS()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", out)
		return err
	}
	k, err := ks.Rotate(time.Now(), *delay)
	if err != nil {
		return err
	}
	if err := saveKeys(path, ks); err != nil {
		return fmt.Errorf("save signing key %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "new signing key %s signs from %s on; the old keys stay listed for verifying.\n"+
		"Running servers load it within %s. With several servers, copy %s to every one before then.\n",
		k.ID, k.NotBefore.Format(time.RFC3339), keyReloadInterval, path)
	return nil
}

// anchorConfig are the flags of the anchor receivers, shared by serve and
// consents anchor.
type anchorConfig struct {
	webhooks, dirs, secret *string
}

// anchorFlags adds --anchor-webhook, --anchor-webhook-secret and
// --anchor-dir.
func anchorFlags(fs *flag.FlagSet) *anchorConfig {
	return &anchorConfig{
		webhooks: fs.String("anchor-webhook", "", "comma-separated URLs that receive every checkpoint of the consent log's head "+
			"(signed like submission webhooks with --anchor-webhook-secret); keep them out of the database operator's reach"),
		secret: fs.String("anchor-webhook-secret", "", "secret that signs the anchor webhooks (16 to 200 characters)"),
		dirs: fs.String("anchor-dir", "", "comma-separated directories that receive every checkpoint as a file "+
			"(a mount the database operator cannot change)"),
	}
}

// receivers returns the configured anchor receivers, checked.
func (a *anchorConfig) receivers() ([]string, error) {
	var out []string
	hooks, dirs := splitList(*a.webhooks), splitList(*a.dirs)
	for _, r := range append(hooks, dirs...) {
		if msg := delivery.ValidAnchorReceiver(r); msg != "" {
			return nil, usageError("anchor receiver %q %s", r, msg)
		}
		out = append(out, r)
	}
	for _, h := range hooks {
		if !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
			return nil, usageError("--anchor-webhook %q is not an http(s) URL", h)
		}
	}
	for _, d := range dirs {
		if strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
			return nil, usageError("--anchor-dir %q is a URL: give it to --anchor-webhook", d)
		}
	}
	if len(hooks) > 0 && (len(*a.secret) < 16 || len(*a.secret) > 200) {
		return nil, usageError("--anchor-webhook needs --anchor-webhook-secret of 16 to 200 characters")
	}
	return out, nil
}
