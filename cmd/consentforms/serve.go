package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/metrics"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve")
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free port)")
	dbPath := dbFlag(fs)
	baseURL := fs.String("base-url", "", "public URL of the server, e.g. https://forms.example.com (default http://ADDR)")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is trusted")
	minFill := fs.Duration("min-fill-time", 2*time.Second, "refuse forms sent sooner than this after loading (bot trap; 0 disables)")
	rateIP := fs.Int("rate-ip", web.DefaultRateIP, "public posts per minute from one client IP, over all forms (0 disables)")
	rateForm := fs.Int("rate-form", web.DefaultRateForm, "posts per minute to one form, over all clients (0 disables)")
	rateIPForm := fs.Int("rate-ip-form", web.DefaultRateIPForm, "posts per minute from one client IP to one form (0 disables)")
	rateChatIP := fs.Int("rate-chat-ip", web.DefaultRateChatIP, "chat messages per minute from one client IP to one channel (0 disables)")
	rateChatChannel := fs.Int("rate-chat-channel", web.DefaultRateChatChannel, "chat messages per minute to one channel, over all clients (0 disables)")
	rateDocumentIP := fs.Int("rate-document-ip", web.DefaultRateDocumentIP, "consent documents (GET /d/…) per minute from one client IP (0 disables)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	adminEmail := fs.String("admin-email", "admin@example.com", "e-mail of the first admin created on a fresh database")
	smtpHost := fs.String("smtp-host", "", "SMTP server for notification mails (empty: mails wait in the outbox until one is set)")
	smtpPort := fs.Int("smtp-port", 0, "SMTP port (default 587, or 465 with --smtp-tls tls)")
	smtpTLS := fs.String("smtp-tls", delivery.TLSStartTLS, "SMTP security: starttls (upgrade, required), tls (from the first byte) or none")
	smtpUser := fs.String("smtp-user", "", "SMTP user name (empty: no authentication)")
	smtpPassword := fs.String("smtp-password", "", "SMTP password (better set through the environment than on the command line)")
	smtpFrom := fs.String("smtp-from", "", `sender of notification mails, e.g. "Forms <forms@example.com>"`)
	webhookPrivate := fs.Bool("webhook-allow-private", false,
		"let webhooks reach loopback, private and other non-public addresses (default: public addresses only)")
	metricsAddr := fs.String("metrics-addr", "",
		"serve Prometheus metrics at http://ADDR/metrics on a listener of their own, e.g. 127.0.0.1:9090 (default: off)")
	keyFile := signingKeyFlag(fs)
	confirmWithin := fs.Duration("confirm-within", formbuilder.DefaultConfirmWithin,
		"how long a visitor has to confirm a consent that needs confirmation by e-mail (double opt-in)")
	anchors := anchorFlags(fs)
	anchorEvery := fs.Int64("anchor-every", delivery.DefaultAnchorEvery, "sign a checkpoint of the consent log's head after this many new entries")
	anchorInterval := fs.Duration("anchor-interval", delivery.DefaultAnchorInterval,
		"sign a checkpoint at least this often while new entries come")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	receivers, err := anchors.receivers()
	if err != nil {
		return err
	}
	if *anchorEvery < 1 || *anchorInterval < time.Minute {
		return usageError("--anchor-every must be at least 1 and --anchor-interval at least a minute")
	}
	if *confirmWithin < time.Minute {
		return usageError("--confirm-within must be at least a minute")
	}
	keyPath, err := signingKeyPath(*keyFile, *dbPath)
	if err != nil {
		return err
	}
	tuneGC(os.Getenv)
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError("--log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	smtpCfg := &delivery.SMTPConfig{Host: *smtpHost, Port: *smtpPort, TLS: *smtpTLS, User: *smtpUser,
		Password: *smtpPassword, From: *smtpFrom}
	if *smtpHost != "" || *smtpFrom != "" {
		if err := smtpCfg.Validate(); err != nil {
			return usageError("--smtp-*: %v", err)
		}
	} else if *smtpUser != "" || *smtpPassword != "" {
		return usageError("--smtp-user and --smtp-password need --smtp-host and --smtp-from")
	}

	// Metrics are on only with --metrics-addr, on their own listener:
	// the public one never serves them, whatever a proxy lets through.
	var mx *metrics.Metrics
	var writerObs formbuilder.WriterObserver
	if *metricsAddr != "" {
		mx = metrics.New()
		writerObs = mx
	}
	db, err := openDB(*dbPath, writerObs)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, keyCreated, err := loadKeys(keyPath, true, time.Now())
	if err != nil {
		return err
	}
	ring := formbuilder.NewKeyRing(keys)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := strings.TrimRight(*baseURL, "/")
	if base == "" {
		base = "http://" + ln.Addr().String()
	}

	// Servers starting together on a fresh database seed it once.
	var first *firstAdmin
	err = db.Serialize(ctx, "first-start", func(ctx context.Context) error {
		var err error
		first, err = seedIfEmpty(ctx, db, *adminEmail)
		return err
	})
	if err != nil {
		return err
	}
	secret, err := db.Secret(ctx)
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{
		BaseURL:         base,
		Secret:          secret,
		Keys:            ring,
		ConfirmWithin:   *confirmWithin,
		TrustedProxies:  splitList(*proxies),
		MinFillTime:     *minFill,
		RateIP:          rateFlag(*rateIP),
		RateForm:        rateFlag(*rateForm),
		RateIPForm:      rateFlag(*rateIPForm),
		RateChatIP:      rateFlag(*rateChatIP),
		RateChatChannel: rateFlag(*rateChatChannel),
		RateDocumentIP:  rateFlag(*rateDocumentIP),
		Logger:          logger,

		// Only for the admin UI's notice that mails wait.
		SMTPConfigured: smtpCfg.Configured(),
		// Saving a webhook to a non-public address is refused unless the
		// worker may send there.
		WebhookAllowPrivate: *webhookPrivate,
		Observer:            observer(mx),
	}, services(db))
	if err != nil {
		return err
	}

	metricsURL := ""
	if mx != nil {
		mx.Watch(metrics.Sources{Gauges: db, ChatStreams: srv.ChatStreams})
		var stopMetrics func()
		metricsURL, stopMetrics, err = serveMetrics(*metricsAddr, mx, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	fmt.Fprintf(stdout, "consentforms is serving on %s\n", base)
	fmt.Fprintf(stdout, "  admin:     %s/admin\n", base)
	if metricsURL != "" {
		fmt.Fprintf(stdout, "  metrics:   %s   (a listener of its own, --metrics-addr)\n", metricsURL)
	}
	if first != nil {
		fmt.Fprintf(stdout, "  login:     %s\n", first.email)
		fmt.Fprintf(stdout, "  password:  %s   (shown once; change it with `consentforms admin passwd %s`)\n", first.password, first.email)
	}
	if key := demoFormKey(ctx, db); key != "" {
		fmt.Fprintf(stdout, "  demo form: %s/f/%s\n", base, key)
	}
	fmt.Fprintf(stdout, "  health:    %s/healthz\n", base)
	if keyCreated {
		fmt.Fprintf(stdout, "  keys:      created %s (mode 0600); keep it out of the database's backups and "+
			"its operator's reach; public keys at %s/.well-known/consentforms-keys\n", keyPath, base)
	} else {
		fmt.Fprintf(stdout, "  keys:      %s; public keys at %s/.well-known/consentforms-keys\n", keyPath, base)
	}
	if smtpCfg.Configured() {
		fmt.Fprintf(stdout, "  mail:      via %s:%d (%s)\n", smtpCfg.Host, smtpCfg.Port, smtpCfg.TLS)
	} else {
		fmt.Fprintf(stdout, "  mail:      no SMTP server set; notification mails wait (see --smtp-host)\n")
	}

	// Deliveries (webhooks, mails) and retention run beside the server and
	// stop before the database closes (defers run last-in, first-out). The
	// submit path only writes outbox rows; nothing here can slow it down.
	if *webhookPrivate {
		fmt.Fprintf(stdout, "  webhooks:  may reach private addresses too (--webhook-allow-private)\n")
	}
	if len(receivers) == 0 {
		fmt.Fprintf(stdout, "  anchors:   none: checkpoints of the consent log stay in its database, where they prove nothing "+
			"against its operator (see --anchor-webhook, --anchor-dir)\n")
	} else {
		fmt.Fprintf(stdout, "  anchors:   every %d entries or %s to %s\n", *anchorEvery, *anchorInterval, strings.Join(receivers, ", "))
	}
	dcfg := delivery.Config{
		Outbox: db, Forms: db, Submissions: db, Inbox: db, Users: db,
		Wake: db.OutboxSignal(), SMTP: smtpCfg, BaseURL: base, Logger: logger,
		AllowPrivate: *webhookPrivate,
		// The mails to visitors (double opt-in, self-service links) carry
		// links the app signs.
		Log: db, Consents: db, Links: srv,
		Anchors: db, AnchorReceivers: receivers, AnchorSecret: *anchors.secret,
	}
	if mx != nil {
		dcfg.Observer = mx
	}
	worker, err := delivery.New(dcfg)
	if err != nil {
		return err
	}
	retention := &delivery.Retention{Forms: db, Inbox: db, Outbox: db, Logger: logger}
	bgCtx, stopBG := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	anchorer := &delivery.Anchorer{Store: db, Keys: ring, Issuer: base, Receivers: receivers,
		Every: *anchorEvery, Interval: *anchorInterval, Logger: logger}
	bg.Add(4)
	go func() { defer bg.Done(); anchorer.Run(bgCtx) }()
	go func() { defer bg.Done(); worker.Run(bgCtx) }()
	go func() { defer bg.Done(); retention.Run(bgCtx) }()
	// A rotated key file (consentforms key rotate) is picked up while
	// serving: the new key starts signing at its time.
	go func() { defer bg.Done(); watchKeys(bgCtx, keyPath, ring, logger, keyReloadInterval) }()
	defer func() {
		stopBG()
		bg.Wait()
	}()

	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-sigCtx.Done():
	}
	logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("shutdown", "err", err)
	}
	return nil
}

// observer is mx as the app's observer; nil (metrics off) must stay an
// untyped nil, or the app would call methods on a nil *Metrics.
func observer(mx *metrics.Metrics) web.Observer {
	if mx == nil {
		return nil
	}
	return mx
}

// serveMetrics serves mx at /metrics on addr (plain net/http: a scrape a
// few times a minute needs nothing of Fiber) and returns its URL and the
// function that stops it.
func serveMetrics(addr string, mx *metrics.Metrics, logger *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mx.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener", "err", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/metrics", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}, nil
}

// Defaults of the garbage collector for serve, where GOGC and GOMEMLIMIT
// are not set. The server's live heap is small (about 5 MiB under load) and
// it allocates for every request, so with Go's GOGC=100 it collected ~17
// times a second under 64 posting clients. GOGC=400 collects a quarter as
// often for about 15 MiB more resident memory: wrk against the server,
// alternating settings, gave 104–120 µs of CPU per submission against
// 117–135 µs at GOGC=100, and a peak RSS of 71 MiB against 53–56 MiB. The
// soft limit makes the collector work harder again before a large live heap
// (a big admin job) grows to five times its size.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 128 << 20
)

// tuneGC sets the collector's defaults unless the environment (getenv)
// sets GOGC or GOMEMLIMIT, which the runtime has then applied already.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// services wires the storage implementation into the app's interfaces.
func services(db store) web.Services {
	return web.Services{
		Forms: db, Consents: db, Documents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db,
		Inbox: db, Outbox: db,
		Chat: db, Audit: db, Changes: db,
	}
}

// rateFlag maps a --rate-* flag to web.Config, where 0 means the default:
// on the command line 0 (or less) turns the limit off.
func rateFlag(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type firstAdmin struct{ email, password string }

// seedIfEmpty creates, on a database without users, the first admin with a
// random password, a German demo consent and a demo form that uses it.
func seedIfEmpty(ctx context.Context, db store, email string) (*firstAdmin, error) {
	n, err := db.CountUsers(ctx)
	if err != nil || n > 0 {
		return nil, err
	}
	pw := password.Generate(16)
	hash, err := password.Hash(pw)
	if err != nil {
		return nil, err
	}
	u := &formbuilder.User{Email: email, Name: "Admin", PasswordHash: hash}
	if err := db.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create first admin: %w", err)
	}
	content := formbuilder.ConsentContent{
		Language: "de",
		Label:    "Ich stimme der %Verarbeitung meiner personenbezogenen Daten% zu.",
		Text: "<p>Ich willige ein, dass die Beispiel GmbH, Musterstraße 1, 10115 Berlin, meine in diesem " +
			"Formular angegebenen Daten (Name, E-Mail, Telefon, Nachricht) verarbeitet, um meine Anfrage zu " +
			"beantworten.</p><p>Die Daten werden nicht an Dritte weitergegeben und nach Abschluss der Anfrage " +
			"gelöscht, soweit keine gesetzlichen Aufbewahrungspflichten bestehen.</p><p>Ich kann diese " +
			"Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen, z. B. per E-Mail an " +
			"<a href=\"mailto:datenschutz@example.com\">datenschutz@example.com</a>.</p>",
	}
	content.Sanitize()
	consent := &formbuilder.Consent{Name: "Datenschutz-Einwilligung (Demo)", Type: formbuilder.ConsentCustom}
	if err := db.CreateConsent(ctx, consent, content, email); err != nil {
		return nil, fmt.Errorf("create demo consent: %w", err)
	}
	form := &formbuilder.Form{
		Name:     "Kontaktformular (Demo)",
		Title:    "Kontakt",
		Language: "de",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName, Required: true},
			{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true, Placeholder: "name@example.com"},
			{Key: "phone", Label: "Telefon", Kind: formbuilder.KindPhone},
			{Key: "message", Label: "Nachricht", Kind: formbuilder.KindTextarea, Required: true},
		},
		Consents:          []formbuilder.FormConsent{{ConsentID: consent.ID, CheckedByDefault: true, Required: true}},
		SuccessMessage:    "Vielen Dank! Wir melden uns in Kürze.",
		ResponsibleUserID: u.ID,
	}
	if err := db.CreateForm(ctx, form); err != nil {
		return nil, fmt.Errorf("create demo form: %w", err)
	}
	return &firstAdmin{email: email, password: pw}, nil
}

// demoFormKey returns the key of the oldest active form, which on a fresh
// installation is the demo form.
func demoFormKey(ctx context.Context, db store) string {
	forms, err := db.ListForms(ctx, formbuilder.FormFilter{})
	if err != nil || len(forms) == 0 {
		return ""
	}
	oldest := forms[0]
	for _, f := range forms {
		if f.ID < oldest.ID {
			oldest = f
		}
	}
	return oldest.Key
}
