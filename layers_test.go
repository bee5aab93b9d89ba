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
	rules := []struct {
		pkgs      string
		forbidden []string
	}{
		{"./formbuilder", []string{mod + "storage/", mod + "web/", mod + "widget/", mod + "delivery/",
			"github.com/gofiber/", "github.com/mattn/go-sqlite3/", "github.com/jackc/", "database/sql"}},
		{"./web/...", []string{mod + "storage/", "github.com/mattn/go-sqlite3/", "github.com/jackc/", "database/sql"}},
		{"./widget/...", []string{mod + "storage/", mod + "web/", "github.com/gofiber/", "database/sql"}},
		{"./delivery/...", []string{mod + "storage/", mod + "web/", "github.com/gofiber/"}},
		{"./storage/...", []string{mod + "web/", mod + "widget/", mod + "delivery/", "github.com/gofiber/"}},
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
