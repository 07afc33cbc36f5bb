package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

// openAPIPath is the HTTP API's description, relative to this package.
const openAPIPath = "../../docs/openapi.yaml"

// openAPIOperation is what the test reads of one operation.
type openAPIOperation struct {
	Responses map[string]yaml.Node `yaml:"responses"`
	// Planned: documented, not served yet. OutsideGateway: served by the server process
	// (health), not by Routes.
	Planned        bool `yaml:"x-chorus-planned"`
	OutsideGateway bool `yaml:"x-chorus-outside-gateway"`
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}

// echoParam is a path parameter as echo writes it (":id"); OpenAPI writes "{id}".
var echoParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// The routes the gateway registers and the operations docs/openapi.yaml describes are the same,
// method by method, so that the file cannot fall behind the code (or run ahead of it unmarked).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIPath, err)
	}
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi version %q, want 3.1.x", doc.OpenAPI)
	}

	documented := map[string]openAPIOperation{} // "GET /api/v1/rooms/{id}"
	for path, item := range doc.Paths {
		for key, node := range item {
			if !httpMethods[key] {
				continue // parameters, summary, ...
			}
			var op openAPIOperation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			if len(op.Responses) == 0 {
				t.Errorf("%s %s has no responses", strings.ToUpper(key), path)
			}
			documented[strings.ToUpper(key)+" "+path] = op
		}
	}

	e := echo.New()
	New(DefaultConfig(), Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Routes(e)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		served[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes registered: %v", len(served), served)
	}

	var problems []string
	for route := range served {
		op, ok := documented[route]
		switch {
		case !ok:
			problems = append(problems, route+": served but not in docs/openapi.yaml")
		case op.Planned:
			problems = append(problems, route+": served now: drop its x-chorus-planned in docs/openapi.yaml")
		case op.OutsideGateway:
			problems = append(problems, route+": registered by the gateway but marked x-chorus-outside-gateway")
		}
	}
	for route, op := range documented {
		if !served[route] && !op.Planned && !op.OutsideGateway {
			problems = append(problems, route+": in docs/openapi.yaml but not served (mark it x-chorus-planned if it is to come)")
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// Every path parameter is declared, every response has a status the gateway can answer, and every
// $ref names something the file defines.
func TestOpenAPIIsConsistent(t *testing.T) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIPath, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	var doc map[string]any
	if err := root.Decode(&doc); err != nil {
		t.Fatal(err)
	}

	// $refs resolve.
	var refs []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" {
					refs = append(refs, n.Content[i+1].Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	if len(refs) == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}
	for _, ref := range refs {
		if !resolves(doc, ref) {
			t.Errorf("$ref %q names nothing", ref)
		}
	}

	// Path parameters: every {name} of a path is declared on the path or on each operation.
	paths, _ := doc["paths"].(map[string]any)
	placeholder := regexp.MustCompile(`\{([^}]+)\}`)
	for path, v := range paths {
		item, _ := v.(map[string]any)
		shared := declaredPathParams(doc, item["parameters"])
		for method, opv := range item {
			if !httpMethods[method] {
				continue
			}
			op, _ := opv.(map[string]any)
			declared := declaredPathParams(doc, op["parameters"])
			for _, m := range placeholder.FindAllStringSubmatch(path, -1) {
				if !shared[m[1]] && !declared[m[1]] {
					t.Errorf("%s %s: path parameter %q is not declared", strings.ToUpper(method), path, m[1])
				}
			}
			for status := range op["responses"].(map[string]any) {
				var code int
				if _, err := fmt.Sscan(status, &code); err != nil || http.StatusText(code) == "" {
					t.Errorf("%s %s: response %q is not an HTTP status", strings.ToUpper(method), path, status)
				}
			}
		}
	}
}

// resolves tells whether a local $ref ("#/components/schemas/User") names a node of doc.
func resolves(doc map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// declaredPathParams are the names of the path parameters of a parameters list, following refs.
func declaredPathParams(doc map[string]any, list any) map[string]bool {
	out := map[string]bool{}
	params, _ := list.([]any)
	for _, p := range params {
		m, _ := p.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			m = lookup(doc, ref)
		}
		if m["in"] == "path" {
			name, _ := m["name"].(string)
			out[name] = true
		}
	}
	return out
}

func lookup(doc map[string]any, ref string) map[string]any {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := cur.(map[string]any)
		cur = m[part]
	}
	out, _ := cur.(map[string]any)
	return out
}
