package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	_ "github.com/mattn/go-sqlite3" // the baseline's own plain driver registration
)

// Environment of a baseline server (see startBaseline).
const (
	envPage   = "FORMBENCH_PAGE"    // file with the form page bytes
	envPageGz = "FORMBENCH_PAGE_GZ" // file with the same page as our gzip body
	envEmbed  = "FORMBENCH_EMBED"   // file with the embed.js bytes
	envDB     = "FORMBENCH_DB"      // database file of the sqlite baseline
)

// baselineConfig is Fiber's default configuration but for the write buffer,
// which is the size web.New sets (8 KiB): with the default 4 KiB a 6 KiB
// page takes two write syscalls, and the ratios would then measure buffer
// sizes rather than what our handlers add.
func baselineConfig() fiber.Config {
	return fiber.Config{DisableStartupMessage: true, WriteBufferSize: 8 << 10}
}

// serveBaseline runs a baseline server until it is killed. It prints
// "listening on ADDR" once it accepts connections.
func serveBaseline(kind string, stdout io.Writer) error {
	var app *fiber.App
	switch kind {
	case "static":
		a, err := staticApp()
		if err != nil {
			return err
		}
		app = a
	case "sqlite":
		a, err := sqliteApp(os.Getenv(envDB))
		if err != nil {
			return err
		}
		app = a
	case "postgres":
		a, err := postgresApp(os.Getenv(envPG))
		if err != nil {
			return err
		}
		app = a
	default:
		return fmt.Errorf("unknown baseline %q", kind)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	return app.Listener(ln)
}

// staticApp is the ceiling of a page server on Fiber: a handler that sends
// bytes it already has, with the content type and nothing else.
func staticApp() (*fiber.App, error) {
	page, err := os.ReadFile(os.Getenv(envPage))
	if err != nil {
		return nil, err
	}
	pageGz, err := os.ReadFile(os.Getenv(envPageGz))
	if err != nil {
		return nil, err
	}
	embed, err := os.ReadFile(os.Getenv(envEmbed))
	if err != nil {
		return nil, err
	}
	app := fiber.New(baselineConfig())
	app.Get("/page", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Send(page)
	})
	app.Get("/page.gz", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(pageGz)
	})
	app.Get("/embed.js", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		return c.Send(embed)
	})
	return app, nil
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, form_key TEXT NOT NULL, "values" TEXT NOT NULL,
    subject TEXT NOT NULL, page_url TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS consent_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, consent_id INTEGER NOT NULL,
    form_key TEXT NOT NULL, page_url TEXT NOT NULL, ip TEXT NOT NULL, user_agent TEXT NOT NULL,
    subject TEXT NOT NULL, initial_state INTEGER NOT NULL, interacted INTEGER NOT NULL,
    submission_id INTEGER NOT NULL, hash TEXT NOT NULL);`

// baselineSubmission is the JSON a form posts, as our server reads it.
type baselineSubmission struct {
	Values   map[string]string          `json:"values"`
	Consents map[string]baselineConsent `json:"consents"`
	PageURL  string                     `json:"page_url"`
	Token    string                     `json:"token"`
}

// baselineConsent is a consent box as a post sends it.
type baselineConsent struct {
	Checked    bool `json:"checked"`
	Initial    bool `json:"initial"`
	Interacted bool `json:"interacted"`
}

// sqliteApp stores each posted submission durably in a transaction of its
// own: the submission row and one consent record row per ticked consent,
// WAL with synchronous=FULL, one connection (more only queue on SQLite's
// lock). This is the straightforward design group commit is measured
// against.
func sqliteApp(path string) (*fiber.App, error) {
	if path == "" {
		return nil, fmt.Errorf("%s is not set", envDB)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if _, err := db.Exec(sqliteSchema); err != nil {
		return nil, err
	}
	// go-sqlite3 leaves WAL at NORMAL unless told: make sure the baseline
	// pays for the same durability as we do.
	var sync int
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		return nil, fmt.Errorf("baseline database is not synchronous=FULL (%d, %v)", sync, err)
	}
	return submitApp(func(ctx context.Context, p *postedSubmission) (int64, error) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		res, err := tx.Exec(`INSERT INTO submissions (form_key, "values", subject, page_url, ip, user_agent,
			created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, p.key, p.values, p.subject, p.PageURL, p.ip, p.ua, p.now)
		if err != nil {
			return 0, err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return 0, err
		}
		for _, ci := range p.ticked {
			sum := sha256.Sum256([]byte(ci.key + p.now + p.subject + p.ip))
			if _, err := tx.Exec(`INSERT INTO consent_records (time, consent_id, form_key, page_url, ip,
				user_agent, subject, initial_state, interacted, submission_id, hash)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.now, ci.id, "", p.PageURL, p.ip, p.ua, p.subject,
				ci.Initial, ci.Interacted, id, hex.EncodeToString(sum[:])); err != nil {
				return 0, err
			}
		}
		return id, tx.Commit()
	}), nil
}

// postedSubmission is a submission as the baselines read it from a post.
type postedSubmission struct {
	baselineSubmission
	// values is Values as JSON; now the time, as text.
	values, now, ip, ua, subject, key string
	ticked                            []tickedConsent
}

// tickedConsent is a consent a post ticked, with its id as sent (key) and
// as a number.
type tickedConsent struct {
	key string
	id  int64
	baselineConsent
}

// submitApp is a baseline server whose POST /f/:key reads a submission the
// way every baseline does and has store keep it, answering 201 with the
// id store returns.
func submitApp(store func(ctx context.Context, p *postedSubmission) (int64, error)) *fiber.App {
	app := fiber.New(baselineConfig())
	app.Post("/f/:key", func(c *fiber.Ctx) error {
		var p postedSubmission
		if err := json.Unmarshal(c.Body(), &p.baselineSubmission); err != nil {
			return fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		vals, err := json.Marshal(p.Values)
		if err != nil {
			return err
		}
		p.values, p.now = string(vals), time.Now().UTC().Format(time.RFC3339Nano)
		p.ip, p.ua, p.subject, p.key = c.IP(), string(c.Request().Header.UserAgent()), p.Values["email"], c.Params("key")
		for k, ci := range p.Consents {
			if !ci.Checked {
				continue
			}
			cid, err := strconv.ParseInt(k, 10, 64)
			if err != nil {
				return fiber.NewError(fiber.StatusBadRequest, "bad consent id")
			}
			p.ticked = append(p.ticked, tickedConsent{key: k, id: cid, baselineConsent: ci})
		}
		id, err := store(c.UserContext(), &p)
		if err != nil {
			return err
		}
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": id})
	})
	return app
}
