package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
)

// The commands that check the log against evidence kept outside it: a
// visitor's receipt (receipt verify) and the checkpoints of the chain head
// (consents verify --anchors), and the one that makes a checkpoint on
// demand (consents anchor).

// verifyKeys are the flags that say which public keys verify signatures.
type verifyKeys struct {
	file, jwks *string
}

func verifyKeyFlags(fs *flag.FlagSet) *verifyKeys {
	return &verifyKeys{
		file: fs.String("key", "", "key file or saved JWKS to check signatures with (default: the signing key file beside the SQLite database)"),
		jwks: fs.String("jwks", "", "URL of the published keys to check signatures with, e.g. https://forms.example.com/.well-known/consentforms-keys"),
	}
}

// maxJWKS bounds a fetched or read key set.
const maxJWKS = 1 << 20

// load returns the public keys the flags name; the default needs the
// SQLite file dsn.
func (v *verifyKeys) load(ctx context.Context, dsn string) (*formbuilder.KeySet, string, error) {
	if *v.jwks != "" {
		if *v.file != "" {
			return nil, "", usageError("give --key or --jwks, not both")
		}
		ks, err := fetchJWKS(ctx, *v.jwks)
		return ks, *v.jwks, err
	}
	path, err := signingKeyPath(*v.file, dsn)
	if err != nil {
		return nil, "", usageError("with PostgreSQL give --key FILE or --jwks URL")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", exitError{code: 1, msg: fmt.Sprintf("cannot read the keys: %v (give --key FILE or --jwks URL)", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJWKS))
	if err != nil {
		return nil, "", err
	}
	// Only the public halves are used: a saved JWKS works as well as the
	// key file itself.
	ks, err := formbuilder.ParseKeySet(data)
	if err != nil {
		return nil, "", exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
	}
	return ks.Public(), path, nil
}

func fetchJWKS(ctx context.Context, u string) (*formbuilder.KeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil || (req.URL.Scheme != "https" && req.URL.Scheme != "http") {
		return nil, usageError("--jwks %q is not an http(s) URL", u)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, exitError{code: 1, msg: fmt.Sprintf("fetch the keys from %s: %v", u, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, exitError{code: 1, msg: fmt.Sprintf("fetch the keys from %s: HTTP %d", u, resp.StatusCode)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS))
	if err != nil {
		return nil, err
	}
	ks, err := formbuilder.ParseKeySet(data)
	if err != nil {
		return nil, exitError{code: 1, msg: fmt.Sprintf("the keys at %s: %v", u, err)}
	}
	return ks, nil
}

func cmdReceipt(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError("usage: consentforms receipt verify FILE|- [--key FILE | --jwks URL] [--db FILE]")
	}
	fs := newFlagSet("receipt verify")
	dbPath := dbFlag(fs)
	keys := verifyKeyFlags(fs)
	file, err := parseFlagsWithArg(fs, args[1:])
	if err != nil {
		return err
	}
	if file == "" {
		return usageError("usage: consentforms receipt verify FILE|-  (- reads the receipt from stdin)")
	}
	var raw []byte
	if file == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, formbuilder.MaxJWS+1))
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	ks, from, err := keys.load(ctx, *dbPath)
	if err != nil {
		return err
	}
	r, err := formbuilder.VerifyReceipt(strings.TrimSpace(string(raw)), ks)
	if err != nil {
		return exitError{code: 1, msg: formbuilder.ErrorMessage(err) + " (keys from " + from + ")"}
	}
	db, err := openExistingDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	rec, err := db.FindRecord(ctx, r.Entry.ID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		head, herr := db.ChainHead(ctx)
		if herr != nil {
			return herr
		}
		return exitError{code: 1, msg: fmt.Sprintf("entry missing: the receipt (signed, valid) is of entry %d given at %s, "+
			"which the log does not hold; the log ends at entry %d", r.Entry.ID, r.Entry.Time, head.ID)}
	}
	if err != nil {
		return err
	}
	if err := r.CheckEntry(rec); err != nil {
		return exitError{code: 1, msg: formbuilder.ErrorMessage(err)}
	}
	fmt.Fprintf(stdout, "receipt ok: signed by %s, and entry %d (%s, %s) is in the log unchanged with hash %s\n",
		r.Issuer, rec.ID, rec.Action, r.Entry.Time, rec.Hash)
	return nil
}

// readCheckpoints reads the checkpoint tokens of path: every file of a
// directory (as a directory receiver keeps them), or one file with a token
// per line.
func readCheckpoints(path string) (map[string][]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, exitError{code: 1, msg: fmt.Sprintf("--anchors: %v", err)}
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	out := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out[f] = formbuilder.ParseTokens(data)
	}
	return out, nil
}

// verifyAnchors compares the log with the checkpoints at path, checked
// against ks, and returns what it found: the problems (checkpoints that
// do not verify and ways the log disagrees) and a summary line.
func verifyAnchors(ctx context.Context, db store, path string, ks *formbuilder.KeySet) (problems []string, summary string, err error) {
	files, err := readCheckpoints(path)
	if err != nil {
		return nil, "", err
	}
	var names []string
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	var cps []*formbuilder.Checkpoint
	for _, f := range names {
		for i, tok := range files[f] {
			cp, err := formbuilder.VerifyCheckpoint(tok, ks)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s (token %d): %s", f, i+1, formbuilder.ErrorMessage(err)))
				continue
			}
			cps = append(cps, cp)
		}
	}
	if len(cps) == 0 && len(problems) == 0 {
		return nil, "", exitError{code: 1, msg: fmt.Sprintf("--anchors: no checkpoints in %s", path)}
	}
	head, err := db.ChainHead(ctx)
	if err != nil {
		return nil, "", err
	}
	rep, err := formbuilder.CheckAnchors(ctx, cps, head, db.FindRecord)
	if err != nil {
		return nil, "", err
	}
	for _, p := range rep.Problems {
		problems = append(problems, p.Message)
	}
	newest := cps[0]
	for _, cp := range cps {
		if cp.Seq > newest.Seq {
			newest = cp
		}
	}
	summary = fmt.Sprintf("%d checkpoints agree with the log (the newest, %d of %s, saw it up to entry %d)",
		rep.Checkpoints, newest.Seq, newest.Time, newest.EntryID)
	return problems, summary, nil
}

func cmdAnchor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("consents anchor")
	dbPath := dbFlag(fs)
	keyFile := signingKeyFlag(fs)
	baseURL := fs.String("base-url", "", "public URL of the server, named in the checkpoint as its issuer")
	out := fs.String("out", "", "write the checkpoint to this file too (it is always printed)")
	anchors := anchorFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	receivers, err := anchors.receivers()
	if err != nil {
		return err
	}
	ks, _, err := existingKeys(*keyFile, *dbPath)
	if err != nil {
		return err
	}
	db, err := openExistingDB(*dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := delivery.MakeAnchor(ctx, db, ks, strings.TrimRight(*baseURL, "/"), receivers, time.Now())
	if err != nil {
		if formbuilder.ErrorCode(err) == formbuilder.ECONFLICT {
			return exitError{code: 1, msg: formbuilder.ErrorMessage(err)}
		}
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(a.Token+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, a.Token)
	fmt.Fprintf(stderr, "checkpoint %d of entry %d (hash %s) signed; queued for %d receivers, which a running server sends\n",
		a.Seq, a.EntryID, a.EntryHash, len(receivers))
	return nil
}
