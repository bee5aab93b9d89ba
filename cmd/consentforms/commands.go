package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
)

func cmdMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("migrate")
	dbPath := dbFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Open applies pending migrations in order, each in a transaction.
	db, err := openDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "database %s is up to date\n", redactDSN(*dbPath))
	return nil
}

func cmdAdmin(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: consentforms admin add|passwd EMAIL [--db FILE]")
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("admin " + sub)
	dbPath := dbFlag(fs)
	name := fs.String("name", "", "display name (admin add)")
	email, err := parseFlagsWithArg(fs, args)
	if err != nil {
		return err
	}
	if email == "" {
		return usageError("usage: consentforms admin %s EMAIL", sub)
	}
	if err := requireExistingDB(*dbPath); err != nil {
		return err
	}
	db, err := openDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	pw := password.Generate(16)
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		u := &formbuilder.User{Email: email, Name: *name, PasswordHash: hash}
		if err := db.CreateUser(ctx, u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "admin %s created\npassword: %s\n", email, pw)
	case "passwd":
		u, err := db.FindUserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if err := db.UpdatePassword(ctx, u.ID, hash); err != nil {
			return err
		}
		// A new password ends every session signed in with the old one.
		if err := db.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new password for %s: %s\n", email, pw)
	default:
		return usageError("unknown admin command %q (add, passwd)", sub)
	}
	return nil
}

// parseFlagsWithArg parses args into fs and returns the one positional
// argument, which may come first or after the flags, so that both
// `admin add EMAIL --db x` and `admin add --db x EMAIL` work. It returns
// "" when there is none.
func parseFlagsWithArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		arg, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	if arg == "" && fs.NArg() > 0 {
		arg = fs.Arg(0)
	}
	return arg, nil
}

func cmdToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("usage: consentforms token create NAME [--db FILE]")
	}
	fs := newFlagSet("token create")
	dbPath := dbFlag(fs)
	name, err := parseFlagsWithArg(fs, args[1:])
	if err != nil {
		return err
	}
	if name == "" {
		return usageError("usage: consentforms token create NAME")
	}
	if err := requireExistingDB(*dbPath); err != nil {
		return err
	}
	db, err := openDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	plain := "cf_" + formbuilder.RandomKey(20)
	sum := sha256.Sum256([]byte(plain))
	t := &formbuilder.APIToken{Name: name, Hash: hex.EncodeToString(sum[:])}
	if err := db.CreateToken(ctx, t); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %q created (id %d); send it as 'Authorization: Bearer %s'\n%s\n", name, t.ID, plain, plain)
	return nil
}

func cmdBackup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("backup")
	dbPath := dbFlag(fs)
	file, err := parseFlagsWithArg(fs, args)
	if err != nil {
		return err
	}
	if file == "" {
		return usageError("usage: consentforms backup FILE [--db FILE]  (SQLite only; PostgreSQL: pg_dump)")
	}
	if err := requireExistingDB(*dbPath); err != nil {
		return err
	}
	db, err := openDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(ctx, file); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s written to %s\n", redactDSN(*dbPath), file)
	return nil
}

func cmdConsents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: consentforms consents verify|export [flags]")
	}
	switch args[0] {
	case "verify":
		return cmdVerify(ctx, args[1:], stdout)
	case "export":
		return cmdExport(ctx, args[1:], stdout, stderr)
	}
	return usageError("unknown consents command %q (verify, export)", args[0])
}

func cmdVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("consents verify")
	dbPath := dbFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := requireExistingDB(*dbPath); err != nil {
		return err
	}
	db, err := openDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Verify(ctx)
	if err != nil {
		return err
	}
	if !res.OK() {
		return exitError{code: 1, msg: fmt.Sprintf("consent log broken at entry %d: %s (%d entries checked)",
			res.BrokenID, res.Reason, res.Checked)}
	}
	fmt.Fprintf(stdout, "consent log ok: %d entries, hash chain intact\n", res.Checked)
	return nil
}
