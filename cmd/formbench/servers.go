package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a server formbench started and stops.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	// stderr keeps the tail of what the server logged, for error reports.
	stderr *tailBuffer
}

// startProcess runs cmd and waits until a line of its stdout matches ready,
// returning that line's submatches. The rest of stdout is drained, so the
// server never blocks on a full pipe.
func startProcess(ctx context.Context, name string, cmd *exec.Cmd, ready *regexp.Regexp,
	timeout time.Duration) (*process, []string, error) {
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = p.stderr
	// A process group of its own: an interrupt of formbench reaches us, and
	// we stop the servers ourselves, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var sent bool
		for sc.Scan() {
			if !sent {
				if m := ready.FindStringSubmatch(sc.Text()); m != nil {
					found <- m
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case m := <-found:
		return p, m, nil
	case <-p.done:
		return nil, nil, fmt.Errorf("%s exited before it was ready: %s", name, p.stderr.String())
	case <-time.After(timeout):
		p.stop()
		return nil, nil, fmt.Errorf("%s not ready after %v: %s", name, timeout, p.stderr.String())
	case <-ctx.Done():
		p.stop()
		return nil, nil, ctx.Err()
	}
}

// pid is the server's process id, for its memory figures.
func (p *process) pid() int { return p.cmd.Process.Pid }

// stop asks the server to shut down (SIGTERM) and kills it if it has not
// within five seconds.
func (p *process) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// alive returns an error when the server has exited.
func (p *process) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %s", p.name, p.stderr.String())
	default:
		return nil
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// buildServer compiles cmd/consentforms of this module into dir. Building
// (rather than go run) leaves one process per server, whose memory is the
// server's alone.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "consentforms")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/consentforms/consentforms/cmd/consentforms")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/consentforms: %w\n%s", err, out.String())
	}
	return bin, nil
}

var (
	servingRE  = regexp.MustCompile(`serving on (http://\S+)`)
	demoFormRE = regexp.MustCompile(`demo form: (http://\S+)`)
)

// ourServer is the consentforms server under test.
type ourServer struct {
	*process
	base     string
	formURL  string
	embedURL string
}

// startOurs runs the real server on db, a SQLite file or a PostgreSQL URL
// (a fresh database, or one a server started before seeded). The rate
// limits are off: they protect a public server from one client, and here
// one client is all there is. The fill-time bot trap is off so that one
// render token serves every post. key is the receipt signing key file,
// which servers on one PostgreSQL database must share (serve requires it
// there and creates it on the first start).
func startOurs(ctx context.Context, bin, db, key string) (*ourServer, error) {
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--signing-key", key,
		"--min-fill-time", "0", "--log-level", "warn", "--rate-ip", "0", "--rate-form", "0", "--rate-ip-form", "0")
	cmd.Env = cleanEnv()
	// The demo form line comes after the serving line; wait for it.
	p, m, err := startProcess(ctx, "consentforms", cmd, demoFormRE, 60*time.Second)
	if err != nil {
		return nil, err
	}
	formURL := m[1]
	i := strings.Index(formURL, "/f/")
	if i < 0 {
		p.stop()
		return nil, fmt.Errorf("unexpected demo form URL %q", formURL)
	}
	base := formURL[:i]
	return &ourServer{process: p, base: base, formURL: formURL, embedURL: base + "/embed.js"}, nil
}

// cleanEnv is the environment without CONSENTFORMS_* settings, which would
// change the server under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CONSENTFORMS_") && !strings.HasPrefix(kv, baselineEnv+"=") {
			env = append(env, kv)
		}
	}
	return env
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// startBaseline re-executes formbench as the baseline server kind with the
// given environment (paths of the bodies or of the database).
func startBaseline(ctx context.Context, kind string, env ...string) (*process, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self)
	cmd.Env = append(cleanEnv(), append([]string{baselineEnv + "=" + kind}, env...)...)
	p, m, err := startProcess(ctx, "baseline "+kind, cmd, listeningRE, 30*time.Second)
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + m[1], nil
}

// rssSampler records the largest resident set of a process while it runs.
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan int64
}

// sampleRSS starts sampling the VmRSS of pid every 50 ms.
func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, ok := procStatusKB(pid, "VmRSS"); ok && kb > peak {
				peak = kb
			}
			select {
			case <-s.stop:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak in KiB (0 where /proc is absent).
func (s *rssSampler) finish() int64 {
	close(s.stop)
	return <-s.done
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user plus system CPU time pid has used so far.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may contain spaces; fields count from
	// the closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// procStatusKB reads one "Name: N kB" line of /proc/PID/status.
func procStatusKB(pid int, name string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		return n, err == nil
	}
	return 0, false
}
