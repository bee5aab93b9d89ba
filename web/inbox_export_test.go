package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

// TestExport100kOverHTTP downloads 100,000 submissions as CSV from the
// real server on a loopback socket, reading the body as it streams and
// sampling the process's heap (server and client): memory stays flat, so
// nothing buffers the whole file.
func TestExport100kOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a database with 100,000 submissions")
	}
	const rows = 100_000
	e := newInboxEnv(t)
	// The database builds the rows itself: a second or two per 100,000.
	fill := `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $1)
		INSERT INTO submissions (form_id, form_key, "values", subject, page_url, ip, user_agent, created_at)
		SELECT $2, $3, json_object('email', json_array('v' || i || '@example.com'),
			'message', json_array('=1+1 a message with, a comma' || char(10) || 'and a second line ' || i)),
			'v' || i || '@example.com', 'https://shop.example/p', '198.51.100.1', 'ua',
			strftime('%Y-%m-%dT%H:%M:%S.000000000Z', '2026-04-01', '+' || (i / 100) || ' seconds')
		FROM seq`
	if e.Database.Backend == testdb.Postgres {
		fill = `INSERT INTO submissions (form_id, form_key, "values", subject, page_url, ip, user_agent, created_at)
		SELECT $2, $3, json_build_object('email', json_build_array('v' || i || '@example.com'),
			'message', json_build_array('=1+1 a message with, a comma' || chr(10) || 'and a second line ' || i))::text,
			'v' || i || '@example.com', 'https://shop.example/p', '198.51.100.1', 'ua',
			to_char(timestamp '2026-04-01' + (i / 100) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS".000000000Z"')
		FROM generate_series(0, $1 - 1) AS i`
	}
	_, err := e.Raw().Exec(fill, rows, e.f.ID, e.f.Key)
	require.NoError(t, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.Srv.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Srv.Shutdown(ctx)
	})
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/admin/forms/%d/submissions/export.csv", ln.Addr(), e.f.ID), nil)
	req.Host = testenv.Host
	for k, v := range e.Jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Content-Length"), "streamed, not buffered")

	var at1k, at50k, peak uint64
	samples := 0
	var lines, read int64
	// Each sample collects garbage first, so it sees what is live: the
	// server's page cache, assets and templates, plus whatever the export
	// holds. Without it the number swings with the GC's target instead.
	sample := func() {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		samples++
		peak = max(peak, ms.HeapInuse)
		if at1k == 0 && lines >= 2*1000 {
			at1k = ms.HeapInuse
		}
		if at50k == 0 && lines >= 2*50_000 {
			at50k = ms.HeapInuse
		}
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	buf := make([]byte, 32<<10)
	next := int64(0)
	for {
		n, err := br.Read(buf)
		for _, b := range buf[:n] {
			if b == '\n' {
				lines++
			}
		}
		read += int64(n)
		if read >= next {
			sample()
			next = read + 256<<10
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	// Each row has one line break inside its quoted message, plus the header.
	require.Equal(t, int64(2*rows+1), lines)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	atEnd := ms.HeapInuse
	t.Logf("HTTP export of %d submissions: %.1f MiB in %v; HeapInuse after GC at 1k rows %.1f MiB, at 50k %.1f MiB, "+
		"at 100k %.1f MiB, peak of %d samples %.1f MiB",
		rows, float64(read)/(1<<20), time.Since(start).Round(time.Millisecond), float64(at1k)/(1<<20),
		float64(at50k)/(1<<20), float64(atEnd)/(1<<20), samples, float64(peak)/(1<<20))
	// What the export keeps does not grow with the rows. The peak may hold
	// a few MiB of fresh garbage: the server goes on writing into the
	// socket's buffers while a sample collects.
	// The bound leaves room for what other goroutines of the test binary
	// (servers and workers of earlier tests) allocate meanwhile; buffering
	// the 15 MiB file, or even half of it, would still cross it.
	require.Less(t, atEnd, at1k+7<<20, "heap grew with the number of rows")
	require.Less(t, at50k, at1k+7<<20, "heap grew with the number of rows")
	require.Less(t, peak, at1k+32<<20)
}
