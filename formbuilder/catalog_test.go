package formbuilder

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests below hold the catalogs to one another and to the code: a
// text missing in one language would show the English one (or its key) on
// a German page, and nothing else would notice.

// TestCatalogsHaveTheSameKeys fails on a key that one language has and
// the other lacks, on an empty text, and on a text whose {parameters}
// differ between the languages (a German text dropping {max} would say
// "höchstens  Zeichen").
func TestCatalogsHaveTheSameKeys(t *testing.T) {
	require.ElementsMatch(t, []string{LangEN, LangDE}, Languages)
	for _, l := range Languages {
		require.Greater(t, len(CatalogKeys(l)), 500, "the %s catalog", l)
		for _, other := range Languages {
			for _, k := range CatalogKeys(l) {
				assert.True(t, HasText(other, k), "%q is in the %s catalog but not in the %s one", k, l, other)
			}
		}
		for _, k := range CatalogKeys(l) {
			assert.NotEmpty(t, strings.TrimSpace(T(l, k)), "%s: %q is empty", l, k)
		}
	}
	for _, k := range CatalogKeys(LangEN) {
		assert.Equal(t, textParams(catalogEN[k]), textParams(catalogDE[k]), "parameters of %q", k)
	}
}

var paramRE = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

// textParams are the names of a text's {parameters}, sorted, once each.
func textParams(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range paramRE.FindAllStringSubmatch(s, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// TestGermanCatalogIsGerman catches texts copied over from the English
// catalog and left untranslated: a German text equal to the English one
// is allowed only for words both languages share (names, "Status",
// "Webhook", formats).
func TestGermanCatalogIsGerman(t *testing.T) {
	same := 0
	for _, k := range CatalogKeys(LangEN) {
		en, de := catalogEN[k], catalogDE[k]
		if en != de || len(strings.Fields(en)) < 3 {
			continue
		}
		same++
		t.Errorf("%q reads the same in German as in English: %q", k, en)
	}
	t.Logf("%d keys, %d sentences of three words or more alike in both languages", len(catalogEN), same)
}

// moduleRoot is the repository's root, where go.mod is.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "go.mod"))
	require.NoError(t, err, "the tests run in formbuilder/, one below the module root")
	return dir
}

// sourceFile is one parsed Go file of the module.
type sourceFile struct {
	path string
	file *ast.File
}

// moduleSources parses every Go file of the module (tests too: a test
// that quotes a code as a string proves nothing about the constant).
func moduleSources(t *testing.T) []sourceFile {
	t.Helper()
	root := moduleRoot(t)
	fset := token.NewFileSet()
	var out []sourceFile
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", ".ci":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, sourceFile{rel, f})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, len(out), 100, "the walk found the module's sources")
	return out
}

// isMsgCodeType reports whether expr names the type MsgCode (in
// formbuilder or through its import).
func isMsgCodeType(expr ast.Expr) bool {
	switch x := expr.(type) {
	case *ast.Ident:
		return x.Name == "MsgCode"
	case *ast.SelectorExpr:
		return x.Sel.Name == "MsgCode"
	}
	return false
}

// msgCodeConstants walks the module's sources for constants of type
// MsgCode and returns their values by name.
func msgCodeConstants(t *testing.T, files []sourceFile) map[string]string {
	consts := map[string]string{}
	for _, sf := range files {
		for _, decl := range sf.file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Type == nil || !isMsgCodeType(vs.Type) {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					require.True(t, ok && lit.Kind == token.STRING, "%s: %s is not a string literal", sf.path, name.Name)
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					consts[sf.path+": "+name.Name] = v
				}
			}
		}
	}
	return consts
}

// TestEveryMessageCodeHasTextInEveryLanguage walks every MsgCode constant
// of the module and fails on one without a text in either catalog, on two
// constants with one value, and on a code that looks like an interface
// key (codes have no dot).
func TestEveryMessageCodeHasTextInEveryLanguage(t *testing.T) {
	consts := msgCodeConstants(t, moduleSources(t))
	require.Contains(t, consts, filepath.Join("formbuilder", "msgcodes.go")+": MsgInternal", "the walk finds the constants")
	byValue := map[string]string{}
	for name, code := range consts {
		assert.Regexp(t, `^[a-z][a-z0-9_]*$`, code, name)
		if prev, ok := byValue[code]; ok {
			t.Errorf("%s and %s are both %q", prev, name, code)
		}
		byValue[code] = name
		for _, l := range Languages {
			assert.True(t, HasText(l, code), "%s (%q) has no %s text", name, code, l)
		}
	}
	// A catalog key without a dot is a message code: one without its
	// constant is a text nobody can use without writing the code as a
	// string.
	for _, k := range CatalogKeys(LangEN) {
		if !strings.Contains(k, ".") {
			_, ok := byValue[k]
			assert.True(t, ok, "the catalog has %q, a message code without a constant", k)
		}
	}
	t.Logf("%d message codes", len(consts))
}

// codeArgs are the functions that take a message code, with the position
// of the code among their arguments.
var codeArgs = map[string]int{"M": 0, "NewError": 1, "FieldError": 1}

// TestMessageCodesAreUsedByConstant scans the module's sources for a code
// written as a string where a MsgCode belongs (M("required"),
// NewError(EINVALID, "x"), Msg{Code: "x"}, MsgCode("x"), msg.Code ==
// "x"): the compiler accepts an untyped string there, and nothing would
// hold it to the catalogs.
func TestMessageCodesAreUsedByConstant(t *testing.T) {
	files := moduleSources(t)
	isString := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Kind == token.STRING
	}
	var bad []string
	checked := 0
	for _, sf := range files {
		ast.Inspect(sf.file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				// formbuilder's own calls, or calls through its import
				// (not fiber.NewError, not a test helper's FieldError).
				name := ""
				switch fn := x.Fun.(type) {
				case *ast.Ident:
					if sf.file.Name.Name == "formbuilder" {
						name = fn.Name
					}
				case *ast.SelectorExpr:
					if isIdent(fn.X, "formbuilder") {
						name = fn.Sel.Name
					}
				}
				if isMsgCodeType(x.Fun) && len(x.Args) == 1 && isString(x.Args[0]) {
					bad = append(bad, sf.path+": MsgCode("+x.Args[0].(*ast.BasicLit).Value+")")
				}
				if i, ok := codeArgs[name]; ok && i < len(x.Args) {
					checked++
					if isString(x.Args[i]) {
						bad = append(bad, sf.path+": "+name+"(…"+x.Args[i].(*ast.BasicLit).Value+"…)")
					}
				}
			case *ast.CompositeLit:
				if id, ok := x.Type.(*ast.Ident); ok && id.Name == "Msg" || isSel(x.Type, "Msg") {
					for _, el := range x.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok && isIdent(kv.Key, "Code") && isString(kv.Value) {
							bad = append(bad, sf.path+": Msg{Code: "+kv.Value.(*ast.BasicLit).Value+"}")
						}
					}
				}
			case *ast.BinaryExpr:
				if (x.Op == token.EQL || x.Op == token.NEQ) && (isSel(x.X, "Code") && isString(x.Y) || isSel(x.Y, "Code") && isString(x.X)) {
					lit := x.Y
					if isString(x.X) {
						lit = x.X
					}
					if v, _ := strconv.Unquote(lit.(*ast.BasicLit).Value); HasText(LangEN, v) && !isDomainErrorCode(v) {
						bad = append(bad, sf.path+": .Code == "+lit.(*ast.BasicLit).Value)
					}
				}
			}
			return true
		})
	}
	assert.Empty(t, bad, "message codes written as strings; use (or add) the MsgCode constant")
	assert.Greater(t, checked, 300, "the scan sees the calls that take a code")
	t.Logf("%d calls that take a message code", checked)
}

// isDomainErrorCode reports whether v is one of Error's codes (EINVALID
// …), which Code fields of Error compare with.
func isDomainErrorCode(v string) bool {
	switch v {
	case EINVALID, ENOTFOUND, ECONFLICT, EUNAUTHORIZED, EFORBIDDEN, ERATELIMIT, ETOOLARGE, EGONE, EINTERNAL:
		return true
	}
	return false
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isSel(e ast.Expr, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && s.Sel.Name == name
}

// keyUse is a catalog key the code or a template uses literally.
type keyUse struct {
	where, key string
}

// noticeCalls are the admin's helpers that name a notice for ?msg=
// (render shows "notice." + msg).
var noticeCalls = map[string]bool{"formURL": true, "channelURL": true, "deliveriesURL": true, "toLogin": true}

// keyOfCall returns the prefix a call's key gets when call takes a catalog
// key as its second argument: formbuilder.T and the admin's tr take whole
// keys, the widget's T the part after "widget.", the notice helpers a
// notice's name.
func keyOfCall(pkg, dir string, call *ast.CallExpr) (prefix string, ok bool) {
	var name, qual string
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		name = fn.Name
	case *ast.SelectorExpr:
		name = fn.Sel.Name
		if id, isID := fn.X.(*ast.Ident); isID {
			qual = id.Name
		}
	}
	switch {
	case name == "T" && (qual == "formbuilder" || qual == "" && pkg == "formbuilder"):
		return "", true
	case name == "T" && (qual == "widget" || qual == "" && pkg == "widget"):
		return "widget.", true
	case name == "tr" && dir == "web/admin":
		return "", true
	case noticeCalls[name] && dir == "web/admin":
		return "notice.", true
	}
	return "", false
}

var (
	// templateKeyRE finds {{t $l "key"}} and {{th $l "key" …}}.
	templateKeyRE = regexp.MustCompile(`\b(?:t|th) \$[a-zA-Z]+ "([^"]+)"`)
	// templatePrefixRE finds keys made by printf "prefix.%s".
	templatePrefixRE = regexp.MustCompile(`\b(?:t|th) \$[a-zA-Z]+ \(printf "([^"%]+)%[sd]"`)
	// widgetKeyRE finds the widget templates' {{.T.name}}.
	widgetKeyRE = regexp.MustCompile(`\.T\.([a-zA-Z_]+)`)
	// noticeRE finds notices named in a redirect's query.
	noticeRE = regexp.MustCompile(`\?msg=([a-z_-]+)`)
)

// usedKeys collects the keys the sources and templates name literally,
// and the prefixes of keys they build (printf "role.name.%s").
func usedKeys(t *testing.T, files []sourceFile) (keys []keyUse, prefixes []keyUse) {
	root := moduleRoot(t)
	for _, sf := range files {
		if strings.HasSuffix(sf.path, "_test.go") {
			// Tests name missing keys on purpose.
			continue
		}
		dir := filepath.ToSlash(filepath.Dir(sf.path))
		ast.Inspect(sf.file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				prefix, ok := keyOfCall(sf.file.Name.Name, dir, x)
				if !ok || len(x.Args) < 2 {
					return true
				}
				lit, ok := x.Args[1].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if v, _ := strconv.Unquote(lit.Value); v != "" {
					keys = append(keys, keyUse{sf.path, prefix + v})
				}
			case *ast.BasicLit:
				if x.Kind == token.STRING && strings.HasPrefix(dir, "web/admin") {
					for _, m := range noticeRE.FindAllStringSubmatch(x.Value, -1) {
						keys = append(keys, keyUse{sf.path, "notice." + m[1]})
					}
				}
			}
			return true
		})
	}
	for _, dir := range []string{"web/admin/templates", "widget/templates"} {
		paths, err := filepath.Glob(filepath.Join(root, dir, "*.html"))
		require.NoError(t, err)
		require.NotEmpty(t, paths, dir)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			rel, _ := filepath.Rel(root, p)
			for _, m := range templateKeyRE.FindAllStringSubmatch(string(b), -1) {
				keys = append(keys, keyUse{rel, m[1]})
			}
			for _, m := range templatePrefixRE.FindAllStringSubmatch(string(b), -1) {
				prefixes = append(prefixes, keyUse{rel, m[1]})
			}
			if dir == "widget/templates" {
				for _, m := range widgetKeyRE.FindAllStringSubmatch(string(b), -1) {
					// The widget's texts are its "widget." keys and the
					// chat's refusals by code (widget/i18n.go).
					k := "widget." + m[1]
					if !strings.Contains(m[1], ".") && HasText(LangEN, m[1]) {
						k = m[1]
					}
					keys = append(keys, keyUse{rel, k})
				}
			}
		}
	}
	return keys, prefixes
}

// TestEveryUsedKeyHasTextInEveryLanguage scans the Go sources (tr,
// formbuilder.T, the widget's T, the notices of redirects) and the
// templates (t, th, the widget's .T) for the catalog keys they name, and
// fails on one missing in either language: T would show the key itself.
func TestEveryUsedKeyHasTextInEveryLanguage(t *testing.T) {
	keys, prefixes := usedKeys(t, moduleSources(t))
	require.Greater(t, len(keys), 500, "the scan finds the keys in use")
	seen := map[string]bool{}
	for _, u := range keys {
		seen[u.key] = true
		for _, l := range Languages {
			assert.True(t, HasText(l, u.key), "%s uses %q, which the %s catalog lacks", u.where, u.key, l)
		}
	}
	for _, p := range prefixes {
		n := 0
		for _, k := range CatalogKeys(LangEN) {
			if strings.HasPrefix(k, p.key) {
				n++
			}
		}
		assert.Positive(t, n, "%s builds keys under %q, which the catalog has none of", p.where, p.key)
	}
	t.Logf("%d uses of %d distinct keys, %d built by prefix", len(keys), len(seen), len(prefixes))
}
