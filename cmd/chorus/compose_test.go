package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/caarlos0/env/v11"
	"gopkg.in/yaml.v3"
)

// No Docker engine runs where the tests run, so docker-compose.yml and the Dockerfile are checked
// against the binary itself: the command lines parse as chorus parses them, every variable is one
// Config reads, and the services point at each other the way a real deployment needs.

// composeFile is the part of docker-compose.yml these checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Command     composeArgs    `yaml:"command"`
	Environment composeEnv     `yaml:"environment"`
	DependsOn   composeDeps    `yaml:"depends_on"`
	Healthcheck *composeHealth `yaml:"healthcheck"`
	Ports       []string       `yaml:"ports"`
	Volumes     []string       `yaml:"volumes"`
}

type composeHealth struct {
	Test    composeArgs `yaml:"test"`
	Disable bool        `yaml:"disable"`
}

// composeArgs is a command line: compose accepts a list or one string (split on spaces here,
// which is all this file needs).
type composeArgs []string

func (a *composeArgs) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*a = strings.Fields(n.Value)
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*a = l
		return nil
	}
	return fmt.Errorf("line %d: want a string or a list", n.Line)
}

// composeEnv is an environment: compose accepts a map or a list of KEY=VALUE.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	out := composeEnv{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
	}
	*e = out
	return nil
}

// composeDeps maps each dependency to its condition ("" in the short list form).
type composeDeps map[string]string

func (d *composeDeps) UnmarshalYAML(n *yaml.Node) error {
	out := composeDeps{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			out[s] = ""
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = v.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on must be a list or a map", n.Line)
	}
	*d = out
	return nil
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(f.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return f
}

// chorusServices are the services built from this repository's Dockerfile.
func chorusServices(t *testing.T, f composeFile) map[string]composeService {
	t.Helper()
	out := map[string]composeService{}
	for name, s := range f.Services {
		if s.Build != nil {
			out[name] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("no service is built from the Dockerfile")
	}
	return out
}

// configEnvVars lists the variables Config reads, from its env struct tags.
func configEnvVars() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if tag, ok := t.Field(i).Tag.Lookup("env"); ok {
			name, _, _ := strings.Cut(tag, ",")
			out[name] = true
		}
	}
	return out
}

// parseCommandLine parses args exactly as the chorus binary does (same kong model) and returns
// the subcommand and the roles.
func parseCommandLine(args []string) (string, map[string]bool, error) {
	var c cli
	parser, err := kong.New(&c, kong.Name("chorus"), kong.Writers(io.Discard, io.Discard),
		kong.Exit(func(int) { panic("chorus would exit while parsing its command line") }))
	if err != nil {
		return "", nil, err
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return "", nil, err
	}
	roles, err := parseRoles(c.Roles)
	return kctx.Command(), roles, err
}

func TestComposeChorusServicesParseAsTheBinaryDoes(t *testing.T) {
	f := loadCompose(t)
	covered := map[string]bool{}
	for name, s := range chorusServices(t, f) {
		cmd, roles, err := parseCommandLine(s.Command)
		if err != nil {
			t.Errorf("%s: command %q: %v", name, s.Command, err)
			continue
		}
		if cmd != "serve" {
			t.Errorf("%s: command %q runs %q, want the server", name, s.Command, cmd)
		}
		for r := range roles {
			covered[r] = true
		}
	}
	for _, r := range []string{roleGateway, roleCommands, roleProjectors} {
		if !covered[r] {
			t.Errorf("no service runs the %s role", r)
		}
	}
}

func TestComposeEnvironmentIsWhatConfigReads(t *testing.T) {
	f := loadCompose(t)
	known := configEnvVars()
	for _, v := range []string{"CHORUS_HTTP_ADDR", "CHORUS_DATABASE_URL", "CHORUS_KAFKA_BROKERS", "CHORUS_REDIS_URL", "CHORUS_DATA_DIR"} {
		if !known[v] {
			t.Fatalf("Config has no field tagged env:%q (docs/protocol.md and the README name it); the reflection is broken", v)
		}
	}
	for name, s := range chorusServices(t, f) {
		for k := range s.Environment {
			if strings.HasPrefix(k, "CHORUS_") && !known[k] {
				t.Errorf("%s: sets %s, which Config does not read", name, k)
			}
		}
		var cfg Config
		if err := env.ParseWithOptions(&cfg, env.Options{Environment: s.Environment}); err != nil {
			t.Errorf("%s: environment does not parse: %v", name, err)
			continue
		}
		// Without these a process starts its own embedded broker or Redis, and separate
		// processes would not share them.
		if len(cfg.KafkaBrokers) == 0 || cfg.RedisURL == "" || s.Environment["CHORUS_DATABASE_URL"] == "" {
			t.Errorf("%s: must set CHORUS_KAFKA_BROKERS, CHORUS_REDIS_URL and CHORUS_DATABASE_URL", name)
			continue
		}
		checkDependency := func(what, host string) {
			if _, ok := f.Services[host]; !ok {
				t.Errorf("%s: %s names host %q, which is no service", name, what, host)
			} else if _, ok := s.DependsOn[host]; !ok {
				t.Errorf("%s: uses %s but does not depend on it", name, host)
			}
		}
		for _, b := range cfg.KafkaBrokers {
			host, _, err := net.SplitHostPort(b)
			if err != nil {
				t.Errorf("%s: CHORUS_KAFKA_BROKERS %q: %v", name, b, err)
				continue
			}
			checkDependency("CHORUS_KAFKA_BROKERS", host)
			if adv := f.Services[host].Environment["KAFKA_ADVERTISED_LISTENERS"]; !strings.Contains(adv, "://"+b) {
				t.Errorf("%s: broker %s is not among %s's advertised listeners %q", name, b, host, adv)
			}
		}
		if u, err := url.Parse(cfg.RedisURL); err != nil {
			t.Errorf("%s: CHORUS_REDIS_URL: %v", name, err)
		} else {
			checkDependency("CHORUS_REDIS_URL", u.Hostname())
		}
		if u, err := url.Parse(cfg.DatabaseURL); err != nil {
			t.Errorf("%s: CHORUS_DATABASE_URL: %v", name, err)
		} else {
			checkDependency("CHORUS_DATABASE_URL", u.Hostname())
			pw, _ := u.User.Password()
			if want := f.Services[u.Hostname()].Environment["POSTGRES_PASSWORD"]; pw != want {
				t.Errorf("%s: CHORUS_DATABASE_URL's password is %q, the postgres service's is %q", name, pw, want)
			}
		}

		// The HTTP listener must be reachable from outside the container, on the port that
		// is published and that the healthcheck asks.
		host, port, err := net.SplitHostPort(cfg.HTTPAddr)
		if err != nil {
			t.Errorf("%s: CHORUS_HTTP_ADDR %q: %v", name, cfg.HTTPAddr, err)
			continue
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			t.Errorf("%s: CHORUS_HTTP_ADDR %q listens on loopback only", name, cfg.HTTPAddr)
		}
		for _, p := range s.Ports {
			if !strings.HasSuffix(p, ":"+port) {
				t.Errorf("%s: publishes %q, but listens on port %s", name, p, port)
			}
		}
		if s.Healthcheck != nil {
			test := strings.Join(s.Healthcheck.Test, " ")
			if !strings.Contains(test, ":"+port+"/readyz") {
				t.Errorf("%s: healthcheck %q does not ask /readyz on port %s", name, test, port)
			}
		}
	}
}

func TestComposeDependenciesExistAndAreHealthy(t *testing.T) {
	f := loadCompose(t)
	for name, s := range f.Services {
		for dep, cond := range s.DependsOn {
			d, ok := f.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s: depends on %q, which is no service", name, dep)
			case cond != "service_healthy":
				t.Errorf("%s: depends on %s with condition %q, want service_healthy", name, dep, cond)
			case d.Healthcheck == nil:
				t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
	}
	for _, name := range slices.Sorted(mapKeys(chorusServices(t, f))) {
		if len(f.Services[name].DependsOn) == 0 {
			t.Errorf("%s: starts without waiting for Kafka, Postgres and Redis", name)
		}
	}
	published := map[string]string{}
	for name, s := range f.Services {
		for _, p := range s.Ports {
			hostPort := p[:strings.LastIndex(p, ":")]
			if other, dup := published[hostPort]; dup {
				t.Errorf("%s and %s both publish %s", name, other, hostPort)
			}
			published[hostPort] = name
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.ContainsAny(src, "./") {
				if _, ok := f.Volumes[src]; !ok {
					t.Errorf("%s: mounts volume %q, which is not declared", name, src)
				}
			}
		}
	}
}

func TestComposeEveryServiceHasAHealthcheck(t *testing.T) {
	f := loadCompose(t)
	for name, s := range f.Services {
		h := s.Healthcheck
		switch {
		case h == nil:
			t.Errorf("%s: no healthcheck", name)
		case h.Disable || len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL"):
			t.Errorf("%s: healthcheck test %q is not a command", name, h.Test)
		}
	}
}

// The cluster is three KRaft nodes set as docs/operations.md asks, so that losing one loses no
// acknowledged event and no transaction's outcome, and the Chorus services ask for replication
// 3 and min.insync.replicas 2 (kafka.CheckCluster would warn about anything less).
func TestComposeKafkaIsAThreeNodeClusterSafeForTransactions(t *testing.T) {
	f := loadCompose(t)
	ids, voters := map[string]bool{}, ""
	for _, name := range []string{"kafka1", "kafka2", "kafka3"} {
		k, ok := f.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if !strings.HasPrefix(k.Image, "apache/kafka:") {
			t.Errorf("%s: image %q, want apache/kafka", name, k.Image)
		}
		id := k.Environment["KAFKA_NODE_ID"]
		if ids[id] {
			t.Errorf("%s: node id %s is taken", name, id)
		}
		ids[id] = true
		if voters == "" {
			voters = k.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"]
		}
		if !strings.Contains(voters, id+"@"+name+":9093") || k.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] != voters {
			t.Errorf("%s: quorum voters %q do not name it (%s@%s:9093) or differ between nodes", name, k.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"], id, name)
		}
		for v, want := range map[string]string{
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_DEFAULT_REPLICATION_FACTOR":               "3",
			"KAFKA_MIN_INSYNC_REPLICAS":                      "2",
			"KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE":           "false",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "3",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "2",
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE":                "false",
		} {
			if got := k.Environment[v]; got != want {
				t.Errorf("%s: %s = %q, want %q", name, v, got, want)
			}
		}
	}
	for name, s := range chorusServices(t, f) {
		var cfg Config
		if err := env.ParseWithOptions(&cfg, env.Options{Environment: s.Environment}); err != nil {
			t.Fatal(err)
		}
		if err := cfg.checkKafka(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if cfg.Replication != 3 || len(cfg.KafkaBrokers) != 3 || kafkaConfig(cfg, nil).MinISR() != 2 {
			t.Errorf("%s: replication %d on %d brokers, min.insync.replicas %d; want 3 on 3, 2", name, cfg.Replication, len(cfg.KafkaBrokers), kafkaConfig(cfg, nil).MinISR())
		}
	}
}

func TestComposeDockerfileBuildsTheServer(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines and drop comments, then split into stages.
	text := regexp.MustCompile(`\\\n`).ReplaceAllString(string(b), " ")
	type stage struct {
		from string
		name string
		ins  []string
	}
	var stages []*stage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, rest, _ := strings.Cut(line, " ")
		if strings.EqualFold(op, "FROM") {
			f := strings.Fields(rest)
			s := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before FROM", line)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, strings.ToUpper(op)+" "+strings.TrimSpace(rest))
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a runtime", len(stages))
	}
	builder, runtime := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(builder.from, "golang:1.26") {
		t.Errorf("builder stage is FROM %s, want golang:1.26", builder.from)
	}
	var out string
	buildRe := regexp.MustCompile(`go build .*-o\s+(\S+)\s+.*\./cmd/chorus\s*$`)
	for _, in := range builder.ins {
		if m := buildRe.FindStringSubmatch(in); m != nil {
			out = m[1]
		}
	}
	if out == "" {
		t.Fatal("the builder stage has no `go build -o <file> ./cmd/chorus`")
	}
	// `go mod download` needs every module go.mod replaces with a directory of the repository.
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)=>\s*\./(\S+)`).FindAllStringSubmatch(string(gomod), -1) {
		copiedBefore := false
		for _, in := range builder.ins {
			if strings.HasPrefix(in, "RUN go mod download") {
				break
			}
			if f := strings.Fields(in); f[0] == "COPY" && slices.ContainsFunc(f[1:len(f)-1], func(src string) bool {
				return src == "." || strings.HasPrefix(m[1]+"/", strings.TrimPrefix(strings.TrimSuffix(src, "/")+"/", "./"))
			}) {
				copiedBefore = true
			}
		}
		if !copiedBefore {
			t.Errorf("go.mod replaces a module with ./%s, which the builder stage does not copy before `go mod download`", m[1])
		}
	}
	if strings.HasPrefix(runtime.from, "golang:") {
		t.Errorf("runtime stage is FROM %s: ship the binary, not the toolchain", runtime.from)
	}
	var copied, user, entry string
	for _, in := range runtime.ins {
		op, rest, _ := strings.Cut(in, " ")
		switch op {
		case "COPY":
			if f := strings.Fields(rest); len(f) == 3 && f[0] == "--from="+builder.name && f[1] == out {
				copied = f[2]
			}
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entry = rest
		}
	}
	if copied == "" {
		t.Errorf("the runtime stage does not copy %s from the builder", out)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("the runtime stage runs as %q, want a non-root user", user)
	}
	if !strings.Contains(entry, `"`+copied+`"`) {
		t.Errorf("ENTRYPOINT %s does not run %s", entry, copied)
	}
	// Every chorus service is built from this Dockerfile.
	for name, s := range chorusServices(t, loadCompose(t)) {
		if m, ok := s.Build.(map[string]any); ok {
			if df, _ := m["dockerfile"].(string); df != "cmd/chorus/Dockerfile" {
				t.Errorf("%s: built from %s", name, df)
			}
		}
	}
}

// The README's configuration table is the operator's reference: it must name every variable
// Config reads and none it does not.
func TestComposeREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	known := configEnvVars()
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(CHORUS_[A-Z0-9_]+)` \\|").FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	for _, v := range slices.Sorted(mapKeys(known)) {
		if !documented[v] {
			t.Errorf("README.md's configuration table does not list %s", v)
		}
	}
	for _, v := range slices.Sorted(mapKeys(documented)) {
		if !known[v] {
			t.Errorf("README.md lists %s, which Config does not read", v)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
