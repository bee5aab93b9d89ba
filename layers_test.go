package consentforms_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointInward checks the layering of PRODUCT.md §7 on the real
// import graph (go list -deps, tests excluded): the domain imports no
// framework or driver, nothing under web/ imports a storage implementation,
// and only cmd/ wires everything together.
func TestImportsPointInward(t *testing.T) {
	const mod = "github.com/consentforms/consentforms/"
	// The parts report to observer interfaces; only package metrics (and
	// cmd, which wires it) know Prometheus.
	const prom = "github.com/prometheus/"
	rules := []struct {
		pkgs      string
		forbidden []string
	}{
		{"./formbuilder", []string{mod + "storage/", mod + "web/", mod + "widget/", mod + "delivery/",
			"github.com/gofiber/", "github.com/mattn/go-sqlite3/", "github.com/jackc/", "database/sql", prom}},
		{"./web/...", []string{mod + "storage/", "github.com/mattn/go-sqlite3/", "github.com/jackc/", "database/sql",
			mod + "metrics", prom}},
		{"./widget/...", []string{mod + "storage/", mod + "web/", "github.com/gofiber/", "database/sql", prom}},
		{"./delivery/...", []string{mod + "storage/", mod + "web/", "github.com/gofiber/", mod + "metrics", prom}},
		{"./storage/...", []string{mod + "web/", mod + "widget/", mod + "delivery/", "github.com/gofiber/",
			mod + "metrics", prom}},
		// Metrics implement the observer interfaces; only cmd wires them.
		// (Prometheus' collectors import database/sql for a collector of
		// pool stats, so that is not refused here.)
		{"./metrics/...", []string{mod + "storage/", mod + "web/", mod + "widget/", mod + "delivery/",
			"github.com/gofiber/", "github.com/mattn/go-sqlite3/", "github.com/jackc/"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", r.pkgs).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", r.pkgs, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				// "x/" forbids x and everything below it; other entries
				// are exact (database/sql, not database/sql/driver, which
				// Fiber's uuid dependency imports for its interfaces).
				if dep == f || strings.HasSuffix(f, "/") && (dep == strings.TrimSuffix(f, "/") || strings.HasPrefix(dep, f)) {
					t.Errorf("%s depends on %s", r.pkgs, dep)
				}
			}
		}
	}
	// The admin pages render through Fiber's Views engine.
	out, err := exec.Command("go", "list", "-deps", "./cmd/consentforms").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "github.com/gofiber/template/html/v2\n") {
		t.Error("cmd/consentforms does not build in github.com/gofiber/template/html/v2")
	}
}
