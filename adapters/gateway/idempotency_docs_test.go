package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/chorus-chat/chorus/adapters/ops"
	"github.com/chorus-chat/chorus/commands"
)

// keyedInOpenAPI is the set of operations ("POST /api/v1/rooms/{id}/join") that docs/openapi.yaml
// says take an Idempotency-Key.
func keyedInOpenAPI(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths {
		for method, node := range item {
			if !httpMethods[method] {
				continue
			}
			var op struct {
				Parameters []struct {
					Ref string `yaml:"$ref"`
				} `yaml:"parameters"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			for _, p := range op.Parameters {
				if p.Ref == "#/components/parameters/IdempotencyKey" {
					out = append(out, strings.ToUpper(method)+" "+path)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// The calls that take an Idempotency-Key are the same in the code and in docs/openapi.yaml: every
// write route is sent a key over 128 bytes, and those that read the key refuse it.
func TestIdempotencyKeyRoutesMatchTheDocs(t *testing.T) {
	e := newEnvWith(t, nil, func(d *Deps) { d.Admins, d.Operations = []string{"root"}, ops.NewAdmin(newFakeOps()) })
	tok, _ := e.user("root")
	_, other := e.user("other")
	room := e.room(tok, map[string]any{"name": "keys"})
	long := strings.Repeat("k", commands.MaxIdempotencyKeyBytes+1)
	// One body that every write route accepts up to the point where it reads the key.
	body := `{"username":"newbie","password":"password-newbie","name":"n","content":"c","role":"moderator",
		"seq":1,"user_id":"` + other.String() + `","event_type":"maintenance","message":"m","display_name":"d",
		"position_id":"` + uuid.NewString() + `"}`
	ids := strings.NewReplacer(":id", room.String(), ":mid", uuid.NewString(), ":user_id", other.String(), ":name", "read_model",
		":dept_id", uuid.NewString(), ":position_id", uuid.NewString(), ":role_id", uuid.NewString(), ":grant_id", uuid.NewString())

	var keyed []string
	ec := echo.New()
	e.gw.Routes(ec)
	for _, r := range ec.Routes() {
		if r.Method == http.MethodGet || !strings.HasPrefix(r.Path, "/api/v1/") || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		if r.Path == "/api/v1/auth/logout" || r.Path == "/api/v1/auth/refresh" {
			continue // they end the token the other calls use (and take no key)
		}
		token := tok
		if r.Path == "/api/v1/auth/register" || r.Path == "/api/v1/auth/login" {
			token = ""
		}
		req, _ := http.NewRequest(r.Method, e.srv.URL+ids.Replace(r.Path), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(idempotencyKeyHeader, long)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b errBody
		_ = json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(b.Error.Message, "idempotency key") {
			keyed = append(keyed, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
		}
	}
	sort.Strings(keyed)
	keyed = slices.Compact(keyed)
	t.Logf("routes that read the key: %v", keyed)
	documented := keyedInOpenAPI(t)
	for _, k := range keyed {
		if !slices.Contains(documented, k) {
			t.Errorf("%s takes an Idempotency-Key, docs/openapi.yaml does not say so", k)
		}
	}
	for _, d := range documented {
		if !slices.Contains(keyed, d) {
			t.Errorf("docs/openapi.yaml says %s takes an Idempotency-Key, the code ignores it", d)
		}
	}
	if len(keyed) < 15 {
		t.Errorf("only %d routes read the key: %v (the test no longer reaches them?)", len(keyed), keyed)
	}
}
