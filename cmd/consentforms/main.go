// Command consentforms runs the consentforms server and its maintenance
// subcommands. Run it without arguments to serve on an embedded SQLite
// database; see `consentforms help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `consentforms — embeddable forms with a GDPR consent log

Usage:
  consentforms [serve] [flags]          run the server (default)
  consentforms migrate [flags]          apply database migrations and exit
  consentforms admin add EMAIL          create an admin; prints a one-time password
  consentforms admin passwd EMAIL       set a new random password for an admin
  consentforms user list                list users with their role and status
  consentforms user deactivate EMAIL    deactivate a user: sessions end, tokens are revoked
  consentforms token create NAME        create a JSON API bearer token (--user, --scope, --expires)
  consentforms token list               list API tokens with owner, scope, last use and expiry
  consentforms token revoke ID          revoke an API token at once
  consentforms consents verify [--anchors DIR|FILE]
                                        check the consent log's hash chain (and against checkpoints)
  consentforms consents anchor          sign a checkpoint of the log's head now
  consentforms receipt verify FILE|-    check a consent receipt's signature and its entry in the log
  consentforms consents export [flags]  export the consent log (CSV or NDJSON)
  consentforms key rotate|public        rotate the signing key, or print its public JWKS
  consentforms backup FILE              write a consistent copy of a SQLite database
  consentforms migrate-data --from FILE --to postgres://…
                                        copy a SQLite database into an empty PostgreSQL one

Every flag can also be set with an environment variable CONSENTFORMS_<FLAG>,
upper case with '-' as '_' (for example CONSENTFORMS_DB=/var/lib/cf.db, or
CONSENTFORMS_DB=postgres://consentforms@db.internal/consentforms).
Run 'consentforms COMMAND -h' for the flags of a command.

`

// stdin is where `receipt verify -` reads; tests set it.
var stdin io.Reader = os.Stdin

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it with their own arguments
// and writers, and get the exit code back.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || isHelp(args[0])) {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args, stdout)
	case "admin":
		err = cmdAdmin(ctx, args, stdout)
	case "token":
		err = cmdToken(ctx, args, stdout)
	case "user":
		err = cmdUser(ctx, args, stdout)
	case "consents":
		err = cmdConsents(ctx, args, stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args, stdout)
	case "migrate-data":
		err = cmdMigrateData(ctx, args, stdout)
	case "key":
		err = cmdKey(ctx, args, stdout)
	case "receipt":
		err = cmdReceipt(ctx, args, stdin, stdout)
	case "help", "-h", "-help", "--help":
		// The commands first, then the flags of serve, which runs when no
		// command is named: `consentforms --help` used to show only those.
		fmt.Fprint(stdout, usage)
		_ = cmdServe(ctx, []string{"-h"}, stdout, stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ee exitError
		if errors.As(err, &ee) {
			fmt.Fprintln(stderr, "consentforms:", ee.msg)
			return ee.code
		}
		fmt.Fprintln(stderr, "consentforms:", err)
		return 1
	}
	return 0
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// exitError carries a specific exit code (2 for usage errors).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

// newFlagSet returns a flag set whose defaults can be overridden by
// CONSENTFORMS_* variables; call applyEnv after defining the flags.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Flags of consentforms %s:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags applies CONSENTFORMS_* environment variables to every flag
// first, so that explicit flags win over the environment.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "CONSENTFORMS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = usageError("%s: %v", env, err)
			}
		}
		if !strings.Contains(f.Usage, "CONSENTFORMS_") {
			f.Usage += " (env " + env + ")"
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("%v", err)
	}
	return nil
}

// dbFlag adds the --db flag every command that opens the database has.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "consentforms.db", "SQLite database file, or a postgres:// (postgresql://) URL")
}
