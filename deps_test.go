package consentforms_test

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// securityFloors are the lowest acceptable versions of dependencies with
// past advisories. govulncheck's database cannot be reached from our
// machines (only the Go module proxy is), so the fixed versions are kept
// here; see ../shared/SECURITY.md. Raise a floor when an advisory is fixed
// upstream, never lower one.
var securityFloors = map[string]string{
	// Twelve advisories up to v2.52.14: CSRF token reuse, CORS * with
	// credentials, session fixation, BodyParser crashes on huge or negative
	// indexes, XSS in Ctx.Format.
	"github.com/gofiber/fiber/v2": "v2.52.15",
	// Older versions are retracted.
	"github.com/microcosm-cc/bluemonday": "v1.0.27",
	"github.com/mattn/go-sqlite3":        "v1.14.53",
	"golang.org/x/crypto":                "v0.59.0",
	"golang.org/x/net":                   "v0.62.0",
	// Fiber's HTTP engine: request parsing, multipart, timeouts.
	"github.com/valyala/fasthttp": "v1.51.0",
	// PostgreSQL driver of storage/postgres: advisories up to v5.9.1
	// (issue 14 sets the floor).
	"github.com/jackc/pgx/v5": "v5.9.2",
}

// TestDependencyFloors fails when go.mod requires a security-relevant
// module below its floor, or no longer requires it at all (a floor that
// silently stops applying is no floor).
func TestDependencyFloors(t *testing.T) {
	reqs, err := readRequires("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for mod, floor := range securityFloors {
		have, ok := reqs[mod]
		if r, replaced := reqs["replace "+mod]; replaced {
			// A replacement is what gets built: it must meet the floor too,
			// and a local directory cannot be checked at all.
			if !strings.HasPrefix(r, "v") {
				t.Errorf("go.mod replaces %s with %s: a security-relevant module must come from a version", mod, r)
				continue
			}
			have = r
		}
		if !ok {
			t.Errorf("go.mod does not require %s (floor %s): update securityFloors if it was dropped on purpose", mod, floor)
			continue
		}
		c, err := compareSemver(have, floor)
		if err != nil {
			t.Errorf("%s %s: %v", mod, have, err)
			continue
		}
		if c < 0 {
			t.Errorf("%s is %s, below the security floor %s", mod, have, floor)
		}
	}
}

// readRequires returns the required version per module path from the
// require directives of a go.mod file (single-line and block form), and
// under "replace MODULE" the target of each replace directive (a version,
// or a directory). It reads the file itself rather than through
// golang.org/x/mod, which this module does not otherwise need.
func readRequires(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reqs := map[string]string{}
	block := "" // "require" or "replace" inside a ( ) block
	unquote := func(s string) string {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		verb := block
		switch {
		case len(fields) == 0:
			continue
		case block != "" && fields[0] == ")":
			block = ""
			continue
		case (fields[0] == "require" || fields[0] == "replace") && len(fields) == 2 && fields[1] == "(":
			block = fields[0]
			continue
		case (fields[0] == "require" || fields[0] == "replace") && len(fields) >= 3:
			verb, fields = fields[0], fields[1:]
		case block == "":
			continue
		}
		switch verb {
		case "require":
			if len(fields) >= 2 {
				reqs[unquote(fields[0])] = fields[1]
			}
		case "replace":
			// old [version] => new [version]
			i := slices.Index(fields, "=>")
			if i < 1 || i+1 >= len(fields) {
				continue
			}
			target := unquote(fields[i+1])
			if i+2 < len(fields) {
				target = fields[i+2]
			}
			reqs["replace "+unquote(fields[0])] = target
		}
	}
	return reqs, sc.Err()
}

// semver is a parsed vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
type semver struct {
	nums [3]int
	pre  []string
}

func parseSemver(v string) (semver, error) {
	var s semver
	if !strings.HasPrefix(v, "v") {
		return s, errNotSemver(v)
	}
	rest := v[1:]
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		rest = rest[:i]
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return s, errNotSemver(v)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') {
			return s, errNotSemver(v)
		}
		s.nums[i] = n
	}
	if hasPre {
		if pre == "" {
			return s, errNotSemver(v)
		}
		s.pre = strings.Split(pre, ".")
	}
	return s, nil
}

type errNotSemver string

func (e errNotSemver) Error() string { return "not a semantic version: " + string(e) }

// compareSemver returns -1, 0 or 1 as a is lower than, equal to or higher
// than b, by the rules of semver.org §11 (a pre-release, which includes Go
// pseudo-versions like v1.2.4-0.2026…, is lower than its release).
func compareSemver(a, b string) (int, error) {
	x, err := parseSemver(a)
	if err != nil {
		return 0, err
	}
	y, err := parseSemver(b)
	if err != nil {
		return 0, err
	}
	for i := range 3 {
		if x.nums[i] != y.nums[i] {
			return cmpInt(x.nums[i], y.nums[i]), nil
		}
	}
	switch {
	case len(x.pre) == 0 && len(y.pre) == 0:
		return 0, nil
	case len(x.pre) == 0:
		return 1, nil
	case len(y.pre) == 0:
		return -1, nil
	}
	for i := 0; i < len(x.pre) && i < len(y.pre); i++ {
		p, q := x.pre[i], y.pre[i]
		pn, perr := strconv.Atoi(p)
		qn, qerr := strconv.Atoi(q)
		switch {
		case perr == nil && qerr == nil:
			if pn != qn {
				return cmpInt(pn, qn), nil
			}
		case perr == nil:
			return -1, nil // numeric identifiers sort before alphanumeric ones
		case qerr == nil:
			return 1, nil
		case p != q:
			if p < q {
				return -1, nil
			}
			return 1, nil
		}
	}
	return cmpInt(len(x.pre), len(y.pre)), nil
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestCompareSemver(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"v2.52.15", "v2.52.15", 0},
		{"v2.52.14", "v2.52.15", -1},
		{"v2.52.16", "v2.52.15", 1},
		{"v2.9.0", "v2.52.15", -1}, // numeric, not string order
		{"v2.100.0", "v2.52.15", 1},
		{"v3.0.0", "v2.99.99", 1},
		{"v1.0.27", "v1.0.3", 1},
		{"v0.59.0", "v0.60.0", -1},
		{"v1.14.53", "v1.14.9", 1},
		{"v1.0.0-rc.1", "v1.0.0", -1},
		{"v1.0.0-alpha", "v1.0.0-alpha.1", -1},
		{"v1.0.0-alpha.1", "v1.0.0-alpha.beta", -1},
		{"v1.0.0-beta.2", "v1.0.0-beta.11", -1},
		{"v1.0.0-rc.1", "v1.0.0-beta.11", 1},
		{"v1.2.4-0.20260101000000-abcdefabcdef", "v1.2.3", 1},
		{"v1.2.4-0.20260101000000-abcdefabcdef", "v1.2.4", -1},
		{"v1.0.0+build.5", "v1.0.0", 0},
		{"v2.52.15+incompatible", "v2.52.15", 0},
	}
	for _, c := range cases {
		got, err := compareSemver(c.a, c.b)
		if err != nil {
			t.Fatalf("%s vs %s: %v", c.a, c.b, err)
		}
		if got != c.want {
			t.Errorf("compareSemver(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
		if back, _ := compareSemver(c.b, c.a); back != -c.want {
			t.Errorf("compareSemver(%s, %s) = %d, want %d", c.b, c.a, back, -c.want)
		}
	}
	for _, bad := range []string{"2.52.15", "v2.52", "v2.x.1", "v1.02.3", "v1.0.0-", ""} {
		if _, err := compareSemver(bad, "v1.0.0"); err == nil {
			t.Errorf("%q accepted as a version", bad)
		}
	}
}

func TestReadRequires(t *testing.T) {
	path := t.TempDir() + "/go.mod"
	err := os.WriteFile(path, []byte(`module example.com/x

go 1.26

require github.com/one/a v1.2.3 // indirect

require (
	// a comment
	github.com/two/b v0.1.0
	"github.com/three/c" v2.0.0+incompatible // indirect
)

replace github.com/two/b => ../b

replace (
	github.com/one/a v1.2.3 => github.com/fork/a v1.2.2
)
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readRequires(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"github.com/one/a": "v1.2.3", "github.com/two/b": "v0.1.0", "github.com/three/c": "v2.0.0+incompatible",
		"replace github.com/two/b": "../b", "replace github.com/one/a": "v1.2.2"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}
