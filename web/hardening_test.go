package web_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// requireRateLimited checks a 429 answer: Retry-After in whole seconds and
// a message that says to wait.
func requireRateLimited(t *testing.T, resp *http.Response) {
	t.Helper()
	body := testenv.ReadBody(t, resp)
	require.Equal(t, 429, resp.StatusCode, body)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is a number of seconds: %q", resp.Header.Get("Retry-After"))
	require.Positive(t, secs)
	require.LessOrEqual(t, secs, 120)
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		eb := testenv.DecodeError(t, body)
		require.Equal(t, "rate_limited", eb.Error.Code)
		require.Contains(t, eb.Error.Message, "try again in "+strconv.Itoa(secs)+" seconds")
	} else {
		require.Contains(t, body, "Too many requests")
	}
}

func TestRateLimitPerIPAndForm(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) { c.RateIPForm, c.RateIP, c.RateForm = 3, 5, 100 })
	for i := range 3 {
		resp := e.postForm(e.formA.Key, e.validForm(e.RenderToken(e.formA.Key), fmt.Sprintf("a%d@example.com", i)))
		require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	}
	resp := e.postForm(e.formA.Key, e.validForm(e.RenderToken(e.formA.Key), "a4@example.com"))
	requireRateLimited(t, resp)
	resp = e.postJSON(e.formA.Key, e.validJSON(e.RenderToken(e.formA.Key), "a5@example.com"))
	requireRateLimited(t, resp)
	// A browser gets the HTML page.
	req := httptest.NewRequest("POST", "/f/"+e.formA.Key, strings.NewReader(e.validForm(e.RenderToken(e.formA.Key), "a6@example.com").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp = e.Do(req)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	requireRateLimited(t, resp)
	subs, _ := e.counts()
	require.Equal(t, 3, subs, "refused posts store nothing")

	// Another form from the same IP: the per-IP limit (5) is next.
	for i := range 2 {
		resp := e.postForm(e.formB.Key, url.Values{"_token": {e.RenderToken(e.formB.Key)}, "email": {fmt.Sprintf("b%d@example.com", i)},
			"consent_" + strconv.FormatInt(e.consent.ID, 10): {"1"}})
		require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	}
	resp = e.postForm(e.formB.Key, url.Values{"email": {"b3@example.com"}})
	requireRateLimited(t, resp)

	// Bad posts count too: a flood of garbage is refused before parsing.
	resp = e.postJSON(e.formB.Key, "garbage")
	requireRateLimited(t, resp)

	// Withdrawals share the per-IP limit.
	resp = e.Do(httptest.NewRequest("POST", "/w/1.abc", nil))
	requireRateLimited(t, resp)

	// The window slides: after two minutes everything is allowed again.
	e.Clock.Add(2 * time.Minute)
	resp = e.postForm(e.formA.Key, e.validForm(e.RenderToken(e.formA.Key), "later@example.com"))
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
}

// TestRateLimitPerForm counts posts to one form from many addresses; the
// addresses come through a trusted proxy (app.Test's peer is 0.0.0.0).
func TestRateLimitPerForm(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) {
		c.RateIPForm, c.RateIP, c.RateForm = 10, 60, 4
		c.TrustedProxies = []string{"0.0.0.0/32"}
	})
	for i := range 4 {
		resp := e.postForm(e.formB.Key, url.Values{"email": {"x@example.com"}},
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		require.Equal(t, 422, resp.StatusCode, "no token, but not limited")
	}
	resp := e.postForm(e.formB.Key, url.Values{"email": {"x@example.com"}}, "X-Forwarded-For", "198.51.100.99")
	requireRateLimited(t, resp)
	// Other forms are not affected.
	resp = e.postForm(e.formA.Key, e.validForm(e.RenderToken(e.formA.Key), "a@example.com"), "X-Forwarded-For", "198.51.100.99")
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
}

func TestRateLimitDefaultsOn(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) { c.RateIPForm, c.RateIP, c.RateForm = 0, 0, 0 })
	limited := 0
	for range web.DefaultRateIPForm + 1 {
		resp := e.postForm(e.formB.Key, url.Values{"email": {"x@example.com"}})
		testenv.ReadBody(t, resp)
		if resp.StatusCode == 429 {
			limited++
		}
	}
	require.Equal(t, 1, limited, "a zero Config means the default limits, not none")
}

// rawRequest writes req on a fresh connection to base and returns the
// connection and a reader of the answer.
func rawConn(t *testing.T, base string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestBodyLimit(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) { c.BodyLimit = 64 << 10 })
	base := e.Listen()
	key := e.formA.Key

	// Announced too large: refused after the headers, body never read.
	for _, accept := range []string{"application/json", "text/html"} {
		ct := "application/json"
		if accept == "text/html" {
			ct = "application/x-www-form-urlencoded"
		}
		conn := rawConn(t, base)
		fmt.Fprintf(conn, "POST /f/%s HTTP/1.1\r\nHost: forms.test\r\nContent-Type: %s\r\nAccept: %s\r\nContent-Length: %d\r\n\r\n{\"values\":",
			key, ct, accept, 10<<20)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body := testenv.ReadBody(t, resp)
		require.Equal(t, 413, resp.StatusCode, body)
		require.Contains(t, body, "larger than 64 KiB")
		if accept == "application/json" {
			require.Equal(t, "too_large", testenv.DecodeError(t, body).Error.Code)
		} else {
			require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		}
		require.True(t, resp.Close, "the server closes the connection after a 413")
	}

	// Chunked, so the size shows only while reading.
	conn := rawConn(t, base)
	fmt.Fprintf(conn, "POST /f/%s HTTP/1.1\r\nHost: forms.test\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n", key)
	go sendChunks(conn, strings.Repeat("a", 16<<10), 8)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body := testenv.ReadBody(t, resp)
	require.Equal(t, 413, resp.StatusCode, body)
	require.Contains(t, body, "larger than 64 KiB")

	// Through a normal client. fasthttp closes the connection right after
	// its 413, with the rest of the body unread, so the kernel may reset
	// the connection while the client still writes and the client never
	// sees the answer (a TCP race of every early-refusing server, seen in
	// 1-2 of 30 runs). Such a transport failure is retried; the answer
	// itself must be the 413.
	var hresp *http.Response
	for attempt := 0; attempt < 5; attempt++ {
		req, _ := http.NewRequest("POST", base+"/f/"+key, strings.NewReader("message="+strings.Repeat("x", 100<<10)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		hresp, err = http.DefaultClient.Do(req)
		if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			break
		}
	}
	require.NoError(t, err)
	require.Equal(t, 413, hresp.StatusCode)
	testenv.ReadBody(t, hresp)

	// Just under the limit is read and judged on its content.
	vals := e.validForm(e.RenderToken(key), "big@example.com")
	vals.Set("message", strings.Repeat("x", 60<<10))
	req, _ := http.NewRequest("POST", base+"/f/"+key, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	hresp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body = testenv.ReadBody(t, hresp)
	require.Equal(t, 422, hresp.StatusCode, body)
	require.Contains(t, testenv.DecodeError(t, body).Error.Fields["message"], "too long")
	e.RequireNothingStored()
}

// TestSlowloris: a client that sends its headers a byte at a time cannot
// hold a connection open past ReadTimeout.
func TestSlowloris(t *testing.T) {
	const readTimeout = 400 * time.Millisecond
	e := newHardEnv(t, func(c *web.Config) { c.ReadTimeout = readTimeout })
	base := e.Listen()
	conn := rawConn(t, base)
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		// Read until the server closes; whatever it says first (a 408 or
		// nothing) does not matter.
		_, _ = io.Copy(io.Discard, conn)
		closed <- time.Since(start)
	}()
	line := "POST /f/" + e.formA.Key + " HTTP/1.1\r\nHost: forms.test\r\n"
	sent := 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			require.Less(t, d, readTimeout+time.Second, "closed by ReadTimeout, not by trickling")
			require.Less(t, sent, 60, "the server did not wait for the whole header")
			// Writing more fails soon: the connection is gone.
			return
		case <-tick.C:
			h := fmt.Sprintf("X-Slow-%d: 1\r\n", sent)
			if sent < len(line) {
				h = line[sent : sent+1]
			}
			if _, err := conn.Write([]byte(h)); err != nil {
				d := time.Since(start)
				require.Less(t, d, readTimeout+time.Second)
				return
			}
			sent++
		case <-time.After(5 * time.Second):
			t.Fatal("the server kept a slow connection open for 5 s")
		}
	}
}

// TestIdleConnectionClosed: a connection that sends nothing is closed too.
func TestIdleConnectionClosed(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) { c.ReadTimeout, c.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond })
	base := e.Listen()
	conn := rawConn(t, base)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := io.Copy(io.Discard, conn)
	require.NoError(t, err, "closed by the server, not by our deadline")
	require.Less(t, time.Since(start), 2*time.Second)
}

// storedIPs returns the IP of the last submission and of its consent record.
func (e *hardEnv) storedIPs() (sub, rec string) {
	e.T.Helper()
	raw := e.Raw()
	require.NoError(e.T, raw.QueryRow("SELECT ip FROM submissions ORDER BY id DESC LIMIT 1").Scan(&sub))
	require.NoError(e.T, raw.QueryRow("SELECT ip FROM consent_records ORDER BY id DESC LIMIT 1").Scan(&rec))
	return sub, rec
}

// postReal posts a good submission of form A over a real connection with
// extra headers, and returns the status.
func (e *hardEnv) postReal(base, email string, hdr map[string]string) int {
	e.T.Helper()
	req, err := http.NewRequest("POST", base+"/f/"+e.formA.Key, strings.NewReader(e.validForm(e.RenderToken(e.formA.Key), email).Encode()))
	require.NoError(e.T, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.T, err)
	testenv.ReadBody(e.T, resp)
	return resp.StatusCode
}

// forgeries are headers a client can send to pretend another address.
var forgeries = []map[string]string{
	{"X-Forwarded-For": "6.6.6.6"},
	{"X-Forwarded-For": "6.6.6.6, 7.7.7.7"},
	{"X-Real-IP": "6.6.6.7"},
	{"Forwarded": "for=6.6.6.8"},
	{"X-Client-IP": "6.6.6.9", "True-Client-IP": "6.6.6.10", "CF-Connecting-IP": "6.6.6.11"},
	{"X-Forwarded-For": "::1"},
	{"X-Forwarded-For": "garbage\r\n"},
}

func TestClientIPUntrustedPeer(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) { c.RateIPForm, c.RateIP, c.RateForm = len(forgeries), 1000, 1000 })
	base := e.Listen()
	for i, h := range forgeries {
		if strings.ContainsAny(h["X-Forwarded-For"], "\r\n") {
			h = map[string]string{"X-Forwarded-For": "garbage"}
		}
		require.Equal(t, 201, e.postReal(base, fmt.Sprintf("f%d@example.com", i), h), "%v", h)
		sub, rec := e.storedIPs()
		require.Equal(t, "127.0.0.1", sub, "forged %v changed the stored IP", h)
		require.Equal(t, "127.0.0.1", rec, "forged %v changed the logged IP", h)
	}
	// Every forgery counted against 127.0.0.1: a new one does not escape the limit.
	require.Equal(t, 429, e.postReal(base, "escape@example.com", map[string]string{"X-Forwarded-For": "9.9.9.9"}))
}

func TestClientIPTrustedProxy(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) {
		c.TrustedProxies = []string{"127.0.0.1/32", "10.0.0.0/8"}
		c.RateIPForm, c.RateIP, c.RateForm = 2, 1000, 1000
	})
	base := e.Listen()
	cases := []struct {
		xff, want string
	}{
		{"203.0.113.7", "203.0.113.7"},
		// A forged left-most entry is never used: the right-most address
		// that is not a trusted proxy is the one our proxy saw.
		{"6.6.6.6, 203.0.113.8", "203.0.113.8"},
		{"6.6.6.6, 203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{"::ffff:203.0.113.10", "203.0.113.10"},
		{"2001:db8::1", "2001:db8::1"},
		// An entry that is not an address: stop at the last trusted hop.
		{"6.6.6.6, nonsense", "127.0.0.1"},
		{"6.6.6.6, 10.0.0.1, nonsense, 10.0.0.2", "10.0.0.2"},
		// Only trusted hops: the furthest one.
		{"10.0.0.5, 10.0.0.6", "10.0.0.5"},
		{"", "127.0.0.1"},
	}
	for i, tc := range cases {
		e.Clock.Add(2 * time.Minute) // a fresh rate window per case
		hdr := map[string]string{}
		if tc.xff != "" {
			hdr["X-Forwarded-For"] = tc.xff
		}
		require.Equal(t, 201, e.postReal(base, fmt.Sprintf("p%d@example.com", i), hdr), tc.xff)
		sub, rec := e.storedIPs()
		require.Equal(t, tc.want, sub, "X-Forwarded-For %q", tc.xff)
		require.Equal(t, tc.want, rec, "X-Forwarded-For %q", tc.xff)
	}

	// The rate limit counts the address the proxy saw, not the forged one.
	e.Clock.Add(2 * time.Minute)
	for i := range 2 {
		require.Equal(t, 201, e.postReal(base, fmt.Sprintf("r%d@example.com", i),
			map[string]string{"X-Forwarded-For": fmt.Sprintf("6.6.6.%d, 203.0.113.50", i)}))
	}
	require.Equal(t, 429, e.postReal(base, "r3@example.com", map[string]string{"X-Forwarded-For": "6.6.6.99, 203.0.113.50"}))
	require.Equal(t, 201, e.postReal(base, "r4@example.com", map[string]string{"X-Forwarded-For": "203.0.113.51"}),
		"another client behind the proxy is not limited")
}

// TestConcurrentSubmissionsKeepTheirValues posts many submissions at once.
// Fiber hands out strings that point into reused request buffers unless
// Immutable is set; a value kept past its handler (the group-commit writer
// holds it until the batch commits) would then show another request's bytes.
// Run with -race, it also shows data races on the way to storage.
func TestConcurrentSubmissionsKeepTheirValues(t *testing.T) {
	e := newHardEnv(t, nil)
	base := e.Listen()
	tok := e.RenderToken(e.formA.Key)
	const workers, each = 8, 12
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range each {
				email := fmt.Sprintf("w%02d-%02d@example.com", w, i)
				vals := e.validForm(tok, email)
				vals.Set("name", strings.Repeat(string(rune('A'+w)), 50+i))
				vals.Set("message", email+" "+strings.Repeat("m", 200*w+i))
				req, _ := http.NewRequest("POST", base+"/f/"+e.formA.Key, strings.NewReader(vals.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Accept", "application/json")
				req.Header.Set("User-Agent", "agent-"+email)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					errs <- fmt.Errorf("%s: status %d", email, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rows, err := e.Raw().Query(`SELECT s."values", s.subject, s.user_agent, r.subject, r.user_agent
		FROM submissions s JOIN consent_records r ON r.submission_id = s.id`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var vals, subject, ua, rSubject, rUA string
		require.NoError(t, rows.Scan(&vals, &subject, &ua, &rSubject, &rUA))
		var v map[string][]string
		require.NoError(t, json.Unmarshal([]byte(vals), &v))
		var w, i int
		_, err := fmt.Sscanf(subject, "w%02d-%02d@example.com", &w, &i)
		require.NoError(t, err, subject)
		require.Equal(t, []string{subject}, v["email"])
		require.Equal(t, []string{strings.Repeat(string(rune('A'+w)), 50+i)}, v["name"], subject)
		require.Equal(t, []string{subject + " " + strings.Repeat("m", 200*w+i)}, v["message"], subject)
		require.Equal(t, "agent-"+subject, ua)
		require.Equal(t, subject, rSubject)
		require.Equal(t, ua, rUA)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, workers*each, n)
}

// TestExpectContinueOverLimit: a client that announces a body over the
// limit and waits for "100 Continue" is refused at once (417, connection
// closed) and never invited to send it; under the limit it is invited
// (issue 15: 20).
func TestExpectContinueOverLimit(t *testing.T) {
	e := newHardEnv(t, func(c *web.Config) { c.BodyLimit = 64 << 10 })
	base := e.Listen()
	conn := rawConn(t, base)
	fmt.Fprintf(conn, "POST /f/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
		e.formA.Key, testenv.Host, 10<<20)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	testenv.ReadBody(t, resp)
	require.Equal(t, http.StatusExpectationFailed, resp.StatusCode, "no 100 Continue first")
	require.True(t, resp.Close, "the connection is closed")

	conn = rawConn(t, base)
	fmt.Fprintf(conn, "POST /f/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
		e.formA.Key, testenv.Host)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 100 Continue\r\n", line)
}
