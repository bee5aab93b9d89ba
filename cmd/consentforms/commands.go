package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

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
	db, err := openExistingDB(*dbPath)
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
		u := &formbuilder.User{Email: email, Name: *name, PasswordHash: hash, Role: formbuilder.RoleAdmin}
		if err := db.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := cliAudit(ctx, db, formbuilder.AuditUser, "create", u.ID, u.Email, map[string]string{"role": u.Role}); err != nil {
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
		if err := cliAudit(ctx, db, formbuilder.AuditUser, "reset_password", u.ID, u.Email, nil); err != nil {
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
	// "-" (stdin) is an argument, not a flag.
	if len(args) > 0 && (args[0] == "-" || len(args[0]) > 0 && args[0][0] != '-') {
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
	const usage = "usage: consentforms token create NAME [--user EMAIL] [--scope read|write] [--expires DAYS|DATE] | list | revoke ID"
	if len(args) == 0 {
		return usageError(usage)
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("token " + sub)
	dbPath := dbFlag(fs)
	var owner, scope, expires *string
	if sub == "create" {
		owner = fs.String("user", "", "e-mail of the user the token acts as (default: the first active admin)")
		scope = fs.String("scope", formbuilder.ScopeWrite, "read (GET only) or write")
		expires = fs.String("expires", "", "days until it expires (90 or 90d), or a date (YYYY-MM-DD); empty: never")
	}
	arg, err := parseFlagsWithArg(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "create", "revoke":
		if arg == "" {
			return usageError(usage)
		}
	case "list":
	default:
		return usageError("unknown token command %q (create, list, revoke)", sub)
	}
	db, err := openExistingDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "create":
		return tokenCreate(ctx, db, stdout, arg, *owner, *scope, *expires)
	case "list":
		return tokenList(ctx, db, stdout)
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return usageError("token revoke: %q is not a token id (see `consentforms token list`)", arg)
	}
	t, err := db.FindTokenByID(ctx, id)
	if err != nil {
		return err
	}
	if err := db.RevokeToken(ctx, id); err != nil {
		return err
	}
	if err := cliAudit(ctx, db, formbuilder.AuditToken, "revoke", t.ID, t.Name, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d (%q of %s) revoked: it is refused from now on\n", t.ID, t.Name, t.UserEmail)
	return nil
}

func tokenCreate(ctx context.Context, db store, stdout io.Writer, name, owner, scope, expires string) error {
	var u *formbuilder.User
	var err error
	if owner != "" {
		if u, err = db.FindUserByEmail(ctx, owner); err != nil {
			return err
		}
	} else if u, err = tokenOwner(ctx, db); err != nil {
		return err
	}
	at, err := formbuilder.ParseTokenExpiry(expires, time.Now())
	if err != nil {
		return usageError("--expires: %s", formbuilder.ErrorFields(err)["expires_at"])
	}
	plain, hash := formbuilder.NewAPIToken()
	t := &formbuilder.APIToken{Name: name, Hash: hash, UserID: u.ID, Scope: scope, ExpiresAt: at}
	if err := db.CreateToken(ctx, t); err != nil {
		return err
	}
	if err := cliAudit(ctx, db, formbuilder.AuditToken, "create", t.ID, t.Name, t.AuditDetails()); err != nil {
		return err
	}
	until := "never expires"
	if !t.ExpiresAt.IsZero() {
		until = "expires " + t.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "token %q created (id %d) for %s (%s), %s, %s; send it as 'Authorization: Bearer %s'\n%s\n",
		name, t.ID, u.Email, u.Role, t.Scope, until, plain, plain)
	return nil
}

// tokenOwner is the user a token acts as when --user is not given: the
// oldest active admin, which on most installations is the only one.
func tokenOwner(ctx context.Context, db store) (*formbuilder.User, error) {
	users, err := db.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	var first *formbuilder.User
	for _, u := range users {
		if u.IsAdmin() && (first == nil || u.ID < first.ID) {
			first = u
		}
	}
	if first == nil {
		return nil, fmt.Errorf("no active admin: create one with `consentforms admin add EMAIL`, or name the user with --user")
	}
	return first, nil
}

func tokenList(ctx context.Context, db store, stdout io.Writer) error {
	tokens, err := db.ListTokens(ctx)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		fmt.Fprintln(stdout, "no API tokens (create one with `consentforms token create NAME`)")
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tUSER\tSCOPE\tSTATUS\tCREATED\tLAST USED\tEXPIRES")
	for _, t := range tokens {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, cliText(t.Name), t.UserEmail, t.Scope, t.Status(now),
			cliTime(t.CreatedAt), cliTime(t.LastUsed), cliTime(t.ExpiresAt))
	}
	return tw.Flush()
}

// cliTime formats a time for lists; the zero time is "-".
func cliTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// cliText keeps names typed in the admin from moving a terminal's cursor
// or breaking the table: control characters and tabs become spaces.
func cliText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// cliAudit appends a change made on the command line to the audit trail.
func cliAudit(ctx context.Context, db store, target, action string, id int64, name string, details map[string]string) error {
	return db.AppendAudit(ctx, &formbuilder.AuditEvent{Actor: "cli", Via: formbuilder.ViaCLI, Target: target,
		Action: action, TargetID: id, TargetName: name, Details: details})
}

func cmdUser(ctx context.Context, args []string, stdout io.Writer) error {
	const usage = "usage: consentforms user list | deactivate EMAIL"
	if len(args) == 0 {
		return usageError(usage)
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("user " + sub)
	dbPath := dbFlag(fs)
	arg, err := parseFlagsWithArg(fs, args)
	if err != nil {
		return err
	}
	switch {
	case sub == "deactivate" && arg == "":
		return usageError(usage)
	case sub != "list" && sub != "deactivate":
		return usageError("unknown user command %q (list, deactivate)", sub)
	}
	db, err := openExistingDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	if sub == "list" {
		users, err := db.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tE-MAIL\tNAME\tROLE\tSTATUS\tCREATED")
		for _, u := range users {
			status := "active"
			if !u.Active() {
				status = "deactivated " + cliTime(u.DeactivatedAt)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, cliText(u.Name), u.Role, status, cliTime(u.CreatedAt))
		}
		return tw.Flush()
	}
	u, err := db.FindUserByEmail(ctx, arg)
	if err != nil {
		return err
	}
	if err := db.SetUserActive(ctx, u.ID, false); err != nil {
		return err
	}
	if err := cliAudit(ctx, db, formbuilder.AuditUser, "deactivate", u.ID, u.Email, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s deactivated: signed out everywhere, API tokens revoked; the consent log keeps naming them\n", u.Email)
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
	db, err := openExistingDB(*dbPath)
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
	case "anchor":
		return cmdAnchor(ctx, args[1:], stdout, stderr)
	}
	return usageError("unknown consents command %q (verify, export, anchor)", args[0])
}

func cmdVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("consents verify")
	dbPath := dbFlag(fs)
	anchors := fs.String("anchors", "", "also compare the log with the checkpoints in this directory or file "+
		"(as anchor receivers keep them): names entries missing after one, and entries re-sealed")
	keys := verifyKeyFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var ks *formbuilder.KeySet
	if *anchors != "" {
		var err error
		if ks, _, err = keys.load(ctx, *dbPath); err != nil {
			return err
		}
	}
	db, err := openExistingDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Verify(ctx)
	if err != nil {
		return err
	}
	var problems []string
	if !res.OK() {
		if res.BrokenID == 0 {
			// A document of a version no entry was given under yet.
			problems = append(problems, fmt.Sprintf("consent log not intact: %s (%d entries checked, their chain intact)",
				res.Reason, res.Checked))
		} else {
			problems = append(problems, fmt.Sprintf("consent log broken at entry %d: %s (%d entries checked)",
				res.BrokenID, res.Reason, res.Checked))
		}
	}
	summary := ""
	if *anchors != "" {
		more, s, err := verifyAnchors(ctx, db, *anchors, ks)
		if err != nil {
			return err
		}
		problems, summary = append(problems, more...), s
	}
	if len(problems) > 0 {
		return exitError{code: 1, msg: strings.Join(problems, "\n")}
	}
	fmt.Fprintf(stdout, "consent log ok: %d entries, hash chain intact\n", res.Checked)
	if summary != "" {
		fmt.Fprintf(stdout, "checkpoints ok: %s\n", summary)
	}
	return nil
}
