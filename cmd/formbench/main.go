// Command formbench measures consentforms against the ceiling of its stack,
// side by side in one run on one machine: the real server (built from this
// module and run as a subprocess on a temporary database) and two baselines,
// also subprocesses, so that each server's memory is its own:
//
//   - a bare Fiber handler returning the very bytes of our form page and of
//     embed.js (the most any page server on Fiber can do), and
//   - a bare Fiber + SQLite handler that stores the same submission (a
//     submission row and a consent record row) in one transaction per
//     request, WAL with synchronous=FULL: what durable writes cost without
//     group commit.
//
// With -db postgres://… the submission path is measured on that
// PostgreSQL server too (it must run with fsync and synchronous_commit on;
// formbench creates fresh databases and drops them afterwards): one of our
// servers, two of them on one database with the load split between them,
// and a bare Fiber + PostgreSQL handler that stores each submission in a
// transaction of its own under the same kind of chain lock (advisory lock,
// head read, inserts, commit).
//
// Each target gets the same load: a number of keep-alive connections for a
// fixed duration, by wrk when it is installed, else by a Go load loop. The
// runs repeat, and the table shows requests per second, latency percentiles,
// the server's resident memory and the ratios ours/baseline per run. Machines
// are shared and noisy, so only the ratios of targets measured next to each
// other mean something; no figure here is a promise.
//
// It also times the first page and a filtered page of the consent log at
// 1,000 entries and at -log-entries entries.
//
// Usage, from the module root:
//
//	go run ./cmd/formbench [-duration 10s] [-connections 64] [-repeat 3] [-log-entries 1000000] [-db postgres://…]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// baselineEnv names the baseline a re-executed formbench serves; the parent
// sets it, so the child needs no flags of its own (and a test binary can be
// re-executed the same way, see TestMain).
const baselineEnv = "FORMBENCH_BASELINE"

func main() {
	if kind := os.Getenv(baselineEnv); kind != "" {
		if err := serveBaseline(kind, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "formbench baseline:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "formbench:", err)
		os.Exit(1)
	}
}

// options are the command line of a benchmark run.
type options struct {
	duration    time.Duration
	connections int
	repeat      int
	threads     int
	load        string // auto, wrk or go
	logEntries  int
	only        map[string]bool
	serverBin   string
	keep        bool
	gzip        bool
	// db is a PostgreSQL server URL to measure the submission path on too.
	db string
	// notDurable lets the smoke test run the PostgreSQL targets on the
	// test cluster, which runs without fsync.
	notDurable bool
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("formbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "load duration of each target in each run")
	fs.IntVar(&o.connections, "connections", 64, "concurrent keep-alive connections")
	fs.IntVar(&o.repeat, "repeat", 3, "number of runs; ratios are taken per run, the summary shows medians")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads")
	fs.StringVar(&o.load, "load", "auto", "load generator: wrk, go (a Go loop) or auto (wrk when on PATH)")
	fs.IntVar(&o.logEntries, "log-entries", 100_000,
		"time the consent log at 1,000 and at this many entries (1000000 for the issue's target; 0 skips)")
	only := fs.String("only", "", "comma-separated subset of: page, embed, submit, log")
	fs.StringVar(&o.serverBin, "server-bin", "", "consentforms binary to run (default: go build ./cmd/consentforms)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (databases, bodies, logs)")
	fs.BoolVar(&o.gzip, "gzip", true, "also measure the form page with Accept-Encoding: gzip")
	fs.BoolVar(&o.notDurable, "allow-not-durable", false,
		"with -db: measure on a server without fsync or synchronous_commit too (for smoke tests: the figures are not of durable submissions)")
	fs.StringVar(&o.db, "db", "", "also measure submissions on this PostgreSQL server (postgres://…, a role that may create databases; fsync and synchronous_commit on)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./cmd/formbench [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.db != "" && !strings.HasPrefix(o.db, "postgres://") && !strings.HasPrefix(o.db, "postgresql://") {
		return nil, errors.New("-db must be a postgres:// or postgresql:// URL")
	}
	if o.duration <= 0 || o.connections <= 0 || o.repeat <= 0 || o.threads <= 0 {
		return nil, errors.New("-duration, -connections, -repeat and -threads must be positive")
	}
	switch o.load {
	case "auto", "wrk", "go":
	default:
		return nil, fmt.Errorf("-load must be auto, wrk or go, not %q", o.load)
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			p = strings.TrimSpace(p)
			switch p {
			case "page", "embed", "submit", "log":
				o.only[p] = true
			default:
				return nil, fmt.Errorf("-only: unknown part %q", p)
			}
		}
	}
	return o, nil
}

// want reports whether part is to be measured.
func (o *options) want(part string) bool { return o.only == nil || o.only[part] }
