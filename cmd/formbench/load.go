package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// request is what a target sends, over and over.
type request struct {
	method string
	url    string
	header map[string]string
	body   []byte
	// status is the answer every request must get; others count as errors.
	status int
}

// loadResult is what one load run measured.
type loadResult struct {
	requests int64
	errors   int64
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// loader drives a target with a fixed number of connections for a duration.
type loader interface {
	name() string
	run(ctx context.Context, req request, conns int, d time.Duration) (loadResult, error)
}

// wrkLoader runs wrk with --latency; POSTs go through a Lua script.
type wrkLoader struct {
	threads int
	dir     string
	n       int
}

func (w *wrkLoader) name() string { return fmt.Sprintf("wrk -t%d", w.threads) }

func (w *wrkLoader) run(ctx context.Context, req request, conns int, d time.Duration) (loadResult, error) {
	secs := max(1, int((d+time.Second/2)/time.Second))
	args := []string{"-t" + strconv.Itoa(min(w.threads, conns)), "-c" + strconv.Itoa(conns),
		"-d" + strconv.Itoa(secs) + "s", "--latency", "--timeout", "10s"}
	// wrk does not check statuses beyond 2xx/3xx; the Lua script counts
	// every answer that is not the expected one.
	w.n++
	script := filepath.Join(w.dir, fmt.Sprintf("load%d.lua", w.n))
	if err := os.WriteFile(script, []byte(wrkScript(req)), 0o600); err != nil {
		return loadResult{}, err
	}
	args = append(args, "-s", script, req.url)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("wrk: %w\n%s", err, out.String())
	}
	return parseWrk(out.String(), d)
}

// wrkScript sets method, headers and body, and reports the number of
// answers whose status was not req.status (as "wrong N" on stdout).
func wrkScript(req request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %q\n", req.method)
	for k, v := range req.header {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, v)
	}
	if len(req.body) > 0 {
		fmt.Fprintf(&b, "wrk.body = %s\n", luaString(req.body))
	}
	fmt.Fprintf(&b, `local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) wrong = 0 end
function response(status, headers, body)
  if status ~= %d then wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("wrong") end
  io.write(string.format("wrong %%d\n", n))
end
`, req.status)
	return b.String()
}

// luaString quotes b as a Lua string literal; %q of Go is not Lua syntax
// for every byte, so bytes are escaped as decimal escapes where needed.
func luaString(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			fmt.Fprintf(&s, "\\%03d", c)
		}
	}
	s.WriteByte('"')
	return s.String()
}

var (
	wrkRequestsRE = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)`)
	wrkPctRE      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkErrorsRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkWrongRE    = regexp.MustCompile(`(?m)^wrong (\d+)$`)
)

func wrkDuration(n, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9}[unit]
	return time.Duration(f * mult), nil
}

// parseWrk reads requests, elapsed time, the 50th and 99th percentiles and
// the error counts out of wrk's report.
func parseWrk(out string, d time.Duration) (loadResult, error) {
	var r loadResult
	m := wrkRequestsRE.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("cannot read wrk's report:\n%s", out)
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	var err error
	if r.elapsed, err = wrkDuration(m[2], m[3]); err != nil {
		return r, err
	}
	for _, pm := range wrkPctRE.FindAllStringSubmatch(out, -1) {
		v, err := wrkDuration(pm[2], pm[3])
		if err != nil {
			return r, err
		}
		if pm[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if em := wrkErrorsRE.FindStringSubmatch(out); em != nil {
		for _, s := range em[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.errors += n
		}
	}
	if wm := wrkWrongRE.FindStringSubmatch(out); wm != nil {
		n, _ := strconv.ParseInt(wm[1], 10, 64)
		r.errors += n
	}
	return r, nil
}

// goLoader is the fallback where wrk is not installed: conns goroutines,
// each with a keep-alive connection of its own, recording every latency.
// It costs the machine more CPU per request than wrk, which lowers every
// target alike.
type goLoader struct{}

func (goLoader) name() string { return "Go load loop" }

func (goLoader) run(ctx context.Context, req request, conns int, d time.Duration) (loadResult, error) {
	tr := &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		// Bodies are counted as sent: gzip stays gzip.
		DisableCompression: true,
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lat := make([][]time.Duration, conns)
	errs := make([]int64, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				hr, err := http.NewRequestWithContext(ctx, req.method, req.url, bytes.NewReader(req.body))
				if err != nil {
					errs[i]++
					return
				}
				for k, v := range req.header {
					hr.Header.Set(k, v)
				}
				t0 := time.Now()
				resp, err := client.Do(hr)
				if err != nil {
					if ctx.Err() == nil {
						errs[i]++
					}
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if ctx.Err() != nil {
					break // cut off by the end of the run: not a full request
				}
				own = append(own, time.Since(t0))
				if err != nil || resp.StatusCode != req.status {
					errs[i]++
				}
			}
			lat[i] = own
		}()
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start)}
	var all []time.Duration
	for i := range lat {
		all = append(all, lat[i]...)
		r.errors += errs[i]
	}
	r.requests = int64(len(all))
	if len(all) > 0 {
		slices.Sort(all)
		r.p50 = all[len(all)*50/100]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return r, nil
}
