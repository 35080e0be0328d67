package server_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/argus-exec/argus/internal/apispec"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// registeredRoutes reads the ServeMux patterns the server registers out of
// its own source: every string literal passed as the pattern of a
// HandleFunc or Handle call in a non-test file of this package or of the
// web UI's (server/ui, which routes.go mounts). Reading the
// source is the honest way to see the whole table, since ServeMux cannot
// list its patterns and routes() registers them in place.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	uiFiles, err := filepath.Glob("ui/*.go") // the web UI's package, mounted by routes.go
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, uiFiles...)
	fset := token.NewFileSet()
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: a route registered with a non-literal pattern; this test cannot see it", fset.Position(call.Pos()))
				return true
			}
			pattern, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pattern)
			return true
		})
	}
	return out
}

// TestEveryRouteIsDocumented holds routes.go and the OpenAPI document to
// the same set of JSON routes: each pattern the server registers under
// /api/ (and /healthz, /metrics) has its operation in the document, and
// each operation of the document is registered. Web UI patterns are left
// out of both by apispec.Described.
func TestEveryRouteIsDocumented(t *testing.T) {
	t.Parallel()
	var code []string
	ui := 0
	for _, p := range registeredRoutes(t) {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Errorf("pattern %q has no method: every route names one", p)
			continue
		}
		// "{$}" only anchors a ServeMux pattern at its end.
		path = strings.TrimSuffix(path, "{$}")
		if !apispec.Described(path) {
			ui++
			continue
		}
		code = append(code, method+" "+path)
	}
	if len(code) < 10 || ui == 0 {
		t.Fatalf("found %d API and %d UI patterns: is the source scan still seeing routes.go and ui/ui.go?", len(code), ui)
	}
	doc, err := apispec.Routes()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(code)
	for _, r := range code {
		if !slices.Contains(doc, r) {
			t.Errorf("the server registers %q, which server/api/openapi.yaml does not describe", r)
		}
	}
	for _, r := range doc {
		if !slices.Contains(code, r) {
			t.Errorf("server/api/openapi.yaml describes %q, which the server does not register", r)
		}
	}
}

// TestEveryDocumentedRouteAnswers asks the running server each documented
// operation, without a token and with placeholder path values: none may get
// the mux's own 404 or 405, which would mean no handler is there. The
// harness's checking client also holds each answer (mostly 401s) to the
// document.
func TestEveryDocumentedRouteAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	routes, err := apispec.Routes()
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		got := h.do(method, param.ReplaceAllString(path, "x"), "", nil)
		if got.code == 404 || got.code == 405 {
			t.Errorf("%s answered %d %s: no handler for a documented route", r, got.code, got.body)
		}
	}
}

// TestOpenAPIDocumentIsServed fetches the document without a token.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	r := h.expect(200, "GET", "/api/openapi.yaml", "", nil)
	if ct := r.header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if !bytes.Equal(r.body, api.OpenAPI) {
		t.Errorf("served %d bytes that differ from api.OpenAPI (%d bytes)", len(r.body), len(api.OpenAPI))
	}
	src, err := os.ReadFile(filepath.Join("api", "openapi.yaml"))
	if err != nil || !bytes.Equal(src, api.OpenAPI) {
		t.Errorf("api.OpenAPI is not server/api/openapi.yaml (%v)", err)
	}
}
