package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// target is one server and request measured in every run.
type target struct {
	name  string
	group string // page, embed, submit: ours and its baseline share it
	ours  bool
	proc  *process
	req   request
	// proc2 and req2, when set, are a second server measured together
	// with the first: the connections are split between the two.
	proc2 *process
	req2  request
}

// measurement is one target's result in one run.
type measurement struct {
	target *target
	run    int
	res    loadResult
	rssKB  int64
	// cpu is the server's CPU time during the run: per request it is a
	// figure the noise of a shared machine moves less than requests/s.
	cpu time.Duration
}

// cpuPerReq is the server's CPU time per request, or 0 when unknown.
func (m measurement) cpuPerReq() time.Duration {
	if m.res.requests == 0 {
		return 0
	}
	return m.cpu / time.Duration(m.res.requests)
}

// Targets of the summary, as "ours / baseline" pairs.
var ratioPairs = []struct {
	label, ours, base string
	min               float64
}{
	{"form page", "ours: form page", "bare Fiber: same bytes", 0.7},
	{"form page, gzip", "ours: form page (gzip)", "bare Fiber: same gzip bytes", 0.7},
	{"embed.js", "ours: embed.js", "bare Fiber: embed.js bytes", 0.7},
	{"durable submissions", "ours: submission", "bare Fiber+SQLite: 1 tx/request", 4},
	{"durable submissions, PostgreSQL", targetPG, baselinePG, 10},
	{"two servers / one, PostgreSQL", targetPG2, targetPG, 1},
}

// Names of the PostgreSQL targets (-db).
const (
	baselinePG = "bare Fiber+PostgreSQL: 1 tx/request"
	targetPG   = "ours: submission, PostgreSQL"
	targetPG2  = "ours: two servers, PostgreSQL"
)

// Absolute targets of the submission path, per target: requests per
// second at least, p99 at most.
var absTargets = []struct {
	label, target string
	minRPS        float64
	maxP99        time.Duration
}{
	{"submission p99 (ms)", "ours: submission", 0, 50 * time.Millisecond},
	{"PostgreSQL: stored submissions/s", targetPG, 2000, 0},
	{"PostgreSQL: submission p99 (ms)", targetPG, 0, 100 * time.Millisecond},
	{"PostgreSQL, two servers: p99 (ms)", targetPG2, 0, 100 * time.Millisecond},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "formbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(stderr, "formbench: keeping %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	var ld loader = goLoader{}
	if o.load != "go" {
		if _, err := exec.LookPath("wrk"); err == nil {
			ld = &wrkLoader{threads: o.threads, dir: dir}
		} else if o.load == "wrk" {
			return fmt.Errorf("-load wrk: %w", err)
		}
	}
	fmt.Fprintf(stdout, "formbench: %d CPUs (GOMAXPROCS %d), %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	if o.want("page") || o.want("embed") || o.want("submit") {
		fmt.Fprintf(stdout, "; %d connections, %v per target and run, %d runs, load by %s",
			o.connections, o.duration, o.repeat, ld.name())
	}
	fmt.Fprintln(stdout)

	var targets []*target
	var procs []*process
	var pg *pgDatabases
	defer func() {
		for _, p := range procs {
			p.stop()
		}
		// After the servers: a database in use cannot be dropped cleanly.
		if pg != nil {
			if o.keep {
				pg.keep()
			} else {
				pg.drop()
			}
		}
	}()
	if o.want("page") || o.want("embed") || o.want("submit") {
		bin := o.serverBin
		if bin == "" {
			fmt.Fprintln(stderr, "formbench: building cmd/consentforms ...")
			if bin, err = buildServer(ctx, dir); err != nil {
				return err
			}
		}
		ours, err := startOurs(ctx, bin, filepath.Join(dir, "consentforms.db"), filepath.Join(dir, "signing-key.json"))
		if err != nil {
			return err
		}
		procs = append(procs, ours.process)
		fx, err := fetchFixture(ctx, ours)
		if err != nil {
			return err
		}
		targets, err = setUpTargets(ctx, o, dir, ours, fx, &procs)
		if err != nil {
			return err
		}
		if o.db != "" && o.want("submit") {
			if pg, err = createDatabases(ctx, o.db, o.notDurable); err != nil {
				return fmt.Errorf("-db: %w", err)
			}
			if o.notDurable {
				fmt.Fprintln(stderr, "formbench: -allow-not-durable: the PostgreSQL figures may not be of durable submissions")
			}
			more, err := setUpPostgresTargets(ctx, bin, dir, pg, &procs)
			if err != nil {
				return err
			}
			targets = append(targets, more...)
		}
	}

	var results []measurement
	if len(targets) > 0 {
		// The first requests of a server are slower (connections, caches,
		// the first writes to a new database file): warm every target up.
		warm := min(o.duration, time.Second)
		for _, t := range targets {
			if _, err := t.load(ctx, ld, o.connections, warm); err != nil {
				return fmt.Errorf("warm-up of %s: %w", t.name, err)
			}
		}
		// Each run measures every target once, so a ratio compares two
		// targets measured minutes apart at most, under the same noise.
		for r := 1; r <= o.repeat; r++ {
			for _, t := range targets {
				for _, p := range t.procs() {
					if err := p.alive(); err != nil {
						return err
					}
				}
				s := sampleRSS(t.proc.pid())
				cpu0 := t.cpu()
				res, err := t.load(ctx, ld, o.connections, o.duration)
				cpu1 := t.cpu()
				rss := s.finish()
				if err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				results = append(results, measurement{target: t, run: r, res: res, rssKB: rss, cpu: cpu1 - cpu0})
				fmt.Fprintf(stderr, "formbench: run %d %-34s %9.0f req/s\n", r, t.name, res.rps())
			}
		}
		printLoadTables(stdout, o, results)
	}

	if o.want("log") && o.logEntries > 0 {
		if err := benchLog(ctx, stdout, stderr, dir, o.logEntries); err != nil {
			return err
		}
	}
	return nil
}

// procs are the target's server processes.
func (t *target) procs() []*process {
	if t.proc2 != nil {
		return []*process{t.proc, t.proc2}
	}
	return []*process{t.proc}
}

// cpu is the CPU time the target's servers have used so far.
func (t *target) cpu() time.Duration {
	var sum time.Duration
	for _, p := range t.procs() {
		c, _ := procCPU(p.pid())
		sum += c
	}
	return sum
}

// load runs the target's load: on a pair of servers, half the connections
// go to each at the same time, and the result is their sum (the p50 and
// p99 are the higher of the two).
func (t *target) load(ctx context.Context, ld loader, conns int, d time.Duration) (loadResult, error) {
	if t.proc2 == nil {
		return ld.run(ctx, t.req, conns, d)
	}
	var res [2]loadResult
	var errs [2]error
	var wg sync.WaitGroup
	for i, req := range []request{t.req, t.req2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = ld.run(ctx, req, max(1, conns/2), d)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return loadResult{}, err
	}
	return loadResult{
		requests: res[0].requests + res[1].requests,
		errors:   res[0].errors + res[1].errors,
		elapsed:  max(res[0].elapsed, res[1].elapsed),
		p50:      max(res[0].p50, res[1].p50),
		p99:      max(res[0].p99, res[1].p99),
	}, nil
}

// setUpPostgresTargets starts, on the databases pg made, the PostgreSQL
// baseline and two of our servers (the second starts on the database the
// first seeded), and lists the targets: the baseline, one server, both.
func setUpPostgresTargets(ctx context.Context, bin, dir string, pg *pgDatabases, procs *[]*process) ([]*target, error) {
	base, addr, err := startBaseline(ctx, "postgres", envPG+"="+pg.base, envPGNotDurable+"="+strconv.FormatBool(pg.notDurable))
	if err != nil {
		return nil, err
	}
	*procs = append(*procs, base)
	a, err := startOurs(ctx, bin, pg.ours, filepath.Join(dir, "pg-signing-key.json"))
	if err != nil {
		return nil, err
	}
	*procs = append(*procs, a.process)
	b, err := startOurs(ctx, bin, pg.ours, filepath.Join(dir, "pg-signing-key.json"))
	if err != nil {
		return nil, err
	}
	*procs = append(*procs, b.process)
	// The render token is signed with the database's secret: both servers
	// take the one A's page carries.
	fx, err := fetchFixture(ctx, a)
	if err != nil {
		return nil, err
	}
	post := func(url string) request {
		return request{method: "POST", url: url, body: fx.submission, status: 201,
			header: map[string]string{"Content-Type": "application/json", "Accept": "application/json"}}
	}
	key := a.formURL[strings.LastIndex(a.formURL, "/")+1:]
	return []*target{
		{name: baselinePG, group: "submit", proc: base, req: post(addr + "/f/" + key)},
		{name: targetPG, group: "submit", ours: true, proc: a.process, req: post(a.formURL)},
		{name: targetPG2, group: "submit", ours: true, proc: a.process, req: post(a.formURL),
			proc2: b.process, req2: post(b.base + "/f/" + key)},
	}, nil
}

// fixture is what the load needs from our server: the bodies the baselines
// send, and a valid submission.
type fixture struct {
	page, pageGz, embed []byte
	submission          []byte
	submitURL           string
}

var (
	tokenRE     = regexp.MustCompile(`name="_token" value="([^"]+)"`)
	consentIDRE = regexp.MustCompile(`name="consent_(\d+)"`)
)

// fetchFixture reads our form page and embed.js, builds a JSON submission of
// the demo form with the page's render token, and posts it once to check
// that the server takes it.
func fetchFixture(ctx context.Context, ours *ourServer) (*fixture, error) {
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	get := func(url, ae string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return nil, err
		}
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if ae == "gzip" && resp.Header.Get("Content-Encoding") != "gzip" {
			return nil, fmt.Errorf("GET %s: no gzip body", url)
		}
		return b, nil
	}
	fx := &fixture{submitURL: ours.formURL}
	var err error
	if fx.page, err = get(ours.formURL, ""); err != nil {
		return nil, err
	}
	if fx.pageGz, err = get(ours.formURL, "gzip"); err != nil {
		return nil, err
	}
	if fx.embed, err = get(ours.embedURL, ""); err != nil {
		return nil, err
	}
	tok := tokenRE.FindSubmatch(fx.page)
	cid := consentIDRE.FindSubmatch(fx.page)
	if tok == nil || cid == nil {
		return nil, fmt.Errorf("the demo form page has no render token or consent box")
	}
	// The demo form of a fresh database: name, email, phone, message and
	// one required consent (cmd/consentforms seedIfEmpty).
	fx.submission, err = json.Marshal(map[string]any{
		"token": string(tok[1]),
		"values": map[string]string{"name": "Erika Mustermann", "email": "erika@example.com",
			"phone": "+49 30 1234567", "message": "Bitte rufen Sie mich zurück."},
		"consents": map[string]any{string(cid[1]): map[string]bool{"checked": true, "initial": true}},
		"page_url": "https://shop.example/kontakt",
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", fx.submitURL, bytes.NewReader(fx.submission))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		return nil, fmt.Errorf("a test submission got %s: %s", resp.Status, body)
	}
	return fx, nil
}

// setUpTargets starts the baselines and lists the targets in run order:
// each of ours right after its baseline.
func setUpTargets(ctx context.Context, o *options, dir string, ours *ourServer, fx *fixture,
	procs *[]*process) ([]*target, error) {
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, b, 0o600)
	}
	pagePath, err := write("page.html", fx.page)
	if err != nil {
		return nil, err
	}
	gzPath, err := write("page.html.gz", fx.pageGz)
	if err != nil {
		return nil, err
	}
	embedPath, err := write("embed.js", fx.embed)
	if err != nil {
		return nil, err
	}
	var targets []*target
	get := func(url string, hdr map[string]string) request {
		return request{method: "GET", url: url, header: hdr, status: 200}
	}
	gz := map[string]string{"Accept-Encoding": "gzip"}
	if o.want("page") || o.want("embed") {
		static, addr, err := startBaseline(ctx, "static", envPage+"="+pagePath, envPageGz+"="+gzPath, envEmbed+"="+embedPath)
		if err != nil {
			return nil, err
		}
		*procs = append(*procs, static)
		if o.want("page") {
			targets = append(targets,
				&target{name: "bare Fiber: same bytes", group: "page", proc: static, req: get(addr+"/page", nil)},
				&target{name: "ours: form page", group: "page", ours: true, proc: ours.process, req: get(ours.formURL, nil)})
			if o.gzip {
				targets = append(targets,
					&target{name: "bare Fiber: same gzip bytes", group: "page", proc: static, req: get(addr+"/page.gz", gz)},
					&target{name: "ours: form page (gzip)", group: "page", ours: true, proc: ours.process, req: get(ours.formURL, gz)})
			}
		}
		if o.want("embed") {
			targets = append(targets,
				&target{name: "bare Fiber: embed.js bytes", group: "embed", proc: static, req: get(addr+"/embed.js", nil)},
				&target{name: "ours: embed.js", group: "embed", ours: true, proc: ours.process, req: get(ours.embedURL, nil)})
		}
	}
	if o.want("submit") {
		sq, addr, err := startBaseline(ctx, "sqlite", envDB+"="+filepath.Join(dir, "baseline.db"))
		if err != nil {
			return nil, err
		}
		*procs = append(*procs, sq)
		post := func(url string) request {
			return request{method: "POST", url: url, body: fx.submission, status: 201,
				header: map[string]string{"Content-Type": "application/json", "Accept": "application/json"}}
		}
		key := fx.submitURL[strings.LastIndex(fx.submitURL, "/")+1:]
		targets = append(targets,
			&target{name: "bare Fiber+SQLite: 1 tx/request", group: "submit", proc: sq, req: post(addr + "/f/" + key)},
			&target{name: "ours: submission", group: "submit", ours: true, proc: ours.process, req: post(fx.submitURL)})
	}
	return targets, nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func us(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

func mib(kb int64) string {
	if kb <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(kb)/1024)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printLoadTables prints every measurement, then the ratios per run with
// their medians, checked against the targets.
func printLoadTables(w io.Writer, o *options, results []measurement) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "run\ttarget\treq/s\tp50\tp99\tRSS MiB\tserver CPU/req\terrors\t")
	for _, m := range results {
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n", m.run, m.target.name, m.res.rps(),
			ms(m.res.p50), ms(m.res.p99), mib(m.rssKB), us(m.cpuPerReq()), m.res.errors)
	}
	tw.Flush()

	find := func(run int, name string) *measurement {
		for i := range results {
			if results[i].run == run && results[i].target.name == name {
				return &results[i]
			}
		}
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "ours / baseline\t"
	for r := 1; r <= o.repeat; r++ {
		hdr += fmt.Sprintf("run %d\t", r)
	}
	fmt.Fprintln(tw, hdr+"median\ttarget\t\t")
	for _, p := range ratioPairs {
		var ratios []float64
		line := p.label + "\t"
		for r := 1; r <= o.repeat; r++ {
			a, b := find(r, p.ours), find(r, p.base)
			if a == nil || b == nil || b.res.rps() == 0 {
				line += "-\t"
				continue
			}
			x := a.res.rps() / b.res.rps()
			ratios = append(ratios, x)
			line += fmt.Sprintf("%.2f×\t", x)
		}
		if len(ratios) == 0 {
			continue
		}
		med := median(ratios)
		fmt.Fprintf(tw, "%s%.2f×\t≥ %.1f×\t%s\t\n", line, med, p.min, verdict(med >= p.min))
	}
	// Throughput, latency and memory targets of the submission path and of
	// the server.
	for _, a := range absTargets {
		var xs []float64
		line := a.label + "\t"
		for r := 1; r <= o.repeat; r++ {
			m := find(r, a.target)
			if m == nil {
				line += "-\t"
				continue
			}
			x := m.res.rps()
			if a.maxP99 > 0 {
				x = float64(m.res.p99) / float64(time.Millisecond)
			}
			xs = append(xs, x)
			if a.maxP99 > 0 {
				line += fmt.Sprintf("%.1f\t", x)
			} else {
				line += fmt.Sprintf("%.0f\t", x)
			}
		}
		if len(xs) == 0 {
			continue
		}
		med := median(xs)
		if a.maxP99 > 0 {
			limit := float64(a.maxP99) / float64(time.Millisecond)
			fmt.Fprintf(tw, "%s%.1f\t< %.0f\t%s\t\n", line, med, limit, verdict(med < limit))
		} else {
			fmt.Fprintf(tw, "%s%.0f\t≥ %.0f\t%s\t\n", line, med, a.minRPS, verdict(med >= a.minRPS))
		}
	}
	var ourRSS int64
	for _, m := range results {
		if m.target.ours && m.rssKB > ourRSS {
			ourRSS = m.rssKB
		}
	}
	if ourRSS > 0 {
		fmt.Fprintf(tw, "our server's peak RSS (MiB)\t%s%s\t< 100\t%s\t\n",
			strings.Repeat("\t", o.repeat), mib(ourRSS), verdict(ourRSS < 100*1024))
	}
	tw.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
