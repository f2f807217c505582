// Package deploy holds no Go code: its tests check the deployment examples beside them
// (Home Assistant automations, the container files, the settings example) against the
// node they deploy.
package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/mqtt"
)

func loadYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s does not load: %v", path, err)
	}
}

// The example automations are for the node "garden" with the default prefixes.
var gardenTopics = mqtt.NewTopics("camnode", "garden", "homeassistant")

// gardenDevice is a node as the examples expect it: one destination, events known.
var gardenDevice = mqtt.DeviceInfo{CPUTemperature: true, EventTypes: []string{"stream_started", "stream_stopped"}}

// gardenEntities are the entity IDs Home Assistant gives the node's discovered entities.
func gardenEntities(t *testing.T) map[string]bool {
	t.Helper()
	var root struct {
		Cmps map[string]struct {
			DefaultEntityID string `json:"default_entity_id"`
		} `json:"cmps"`
	}
	if err := json.Unmarshal(mqtt.DiscoveryMessages(gardenTopics, gardenDevice)[0].Payload, &root); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range root.Cmps {
		if c.DefaultEntityID != "" { // not a tombstone
			ids[c.DefaultEntityID] = true
		}
	}
	return ids
}

// automation is the shape of one entry of automations.yaml, in Home Assistant's current
// syntax (triggers/conditions/actions, "trigger:" and "action:" keys). Unknown top-level
// keys fail the load.
type automation struct {
	ID          string           `yaml:"id"`
	Alias       string           `yaml:"alias"`
	Description string           `yaml:"description"`
	Mode        string           `yaml:"mode"`
	Triggers    []map[string]any `yaml:"triggers"`
	Conditions  []map[string]any `yaml:"conditions"`
	Actions     []map[string]any `yaml:"actions"`
}

var (
	entityRef = regexp.MustCompile(`\b(switch|sensor|binary_sensor|button|text|image|event)\.camnode_[a-z0-9_]+`)
	// Trigger platforms and actions the examples may use: each is a documented Home
	// Assistant trigger or service.
	knownTriggers = []string{"state", "numeric_state", "template", "persistent_notification", "mqtt", "time", "event"}
	knownActions  = []string{"switch.turn_on", "switch.turn_off", "button.press", "mqtt.publish", "text.set_value", "notify.notify"}
)

// walk calls fn for every string in a YAML value, with the key it sits under.
func walk(v any, key string, fn func(key, s string)) {
	switch x := v.(type) {
	case string:
		fn(key, x)
	case []any:
		for _, e := range x {
			walk(e, key, fn)
		}
	case []map[string]any:
		for _, e := range x {
			walk(e, key, fn)
		}
	case map[string]any:
		for k, e := range x {
			walk(e, k, fn)
		}
	}
}

// The automations load, use real triggers and actions, and talk to entities and topics
// the node really has.
func TestHomeAssistantAutomations(t *testing.T) {
	var autos []automation
	loadYAML(t, "homeassistant/automations.yaml", &autos)
	if len(autos) != 3 {
		t.Fatalf("%d automations, want the 3 of the README", len(autos))
	}
	entities := gardenEntities(t)
	ids := map[string]bool{}
	var chatPayloads []string
	for _, a := range autos {
		if a.ID == "" || ids[a.ID] || a.Alias == "" || len(a.Triggers) == 0 || len(a.Actions) == 0 {
			t.Errorf("automation %q: needs a unique id, an alias, triggers and actions", a.ID)
		}
		ids[a.ID] = true
		if !slices.Contains([]string{"", "single", "restart", "queued", "parallel"}, a.Mode) {
			t.Errorf("%s: mode %q", a.ID, a.Mode)
		}
		for _, tr := range a.Triggers {
			if p, _ := tr["trigger"].(string); !slices.Contains(knownTriggers, p) {
				t.Errorf("%s: trigger %v", a.ID, tr["trigger"])
			}
		}
		for _, ac := range a.Actions {
			name, _ := ac["action"].(string)
			if name == "" {
				if _, ok := ac["delay"]; ok {
					continue
				}
				t.Errorf("%s: step %v is neither an action nor a delay", a.ID, ac)
				continue
			}
			if !slices.Contains(knownActions, name) {
				t.Errorf("%s: action %q", a.ID, name)
			}
			if name == "mqtt.publish" {
				data, _ := ac["data"].(map[string]any)
				topic, _ := data["topic"].(string)
				if !slices.Contains(gardenTopics.Subscriptions(), topic) {
					t.Errorf("%s: publishes to %q, which the node does not subscribe to", a.ID, topic)
				}
				if data["retain"] != false {
					t.Errorf("%s: a retained command is ignored by the node; set retain: false", a.ID)
				}
				if topic == gardenTopics.Chat {
					chatPayloads = append(chatPayloads, data["payload"].(string))
				}
			}
		}
		all := map[string]any{"triggers": a.Triggers, "conditions": a.Conditions, "actions": a.Actions}
		walk(all, "", func(_, s string) {
			for _, ref := range entityRef.FindAllString(s, -1) {
				if !entities[ref] {
					t.Errorf("%s: refers to %s, which discovery does not create", a.ID, ref)
				}
			}
			if strings.Count(s, "{{") != strings.Count(s, "}}") || strings.Count(s, "{%") != strings.Count(s, "%}") {
				t.Errorf("%s: unbalanced template %q", a.ID, s)
			}
		})
	}
	if len(chatPayloads) != 1 {
		t.Fatalf("want one automation that forwards to the chat, found %d", len(chatPayloads))
	}
	checkChatTemplate(t, chatPayloads[0])
}

// checkChatTemplate renders the forwarding template with Jinja2 (Home Assistant's template
// engine) for a long notification: a JSON chat message within the node's 100-rune limit,
// which the node's parser takes.
func checkChatTemplate(t *testing.T, tpl string) {
	t.Helper()
	py := jinjaPython(t)
	if py == "" {
		t.Log("python3 with jinja2 missing: chat template not rendered")
		return
	}
	const script = `
import json, sys, jinja2
tpl = sys.stdin.read()
n = {"title": "Doorbell", "message": "Someone is at the front door — " + "ding dong " * 20}
print(jinja2.Environment().from_string(tpl).render(trigger={"notification": n}))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(tpl)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jinja2: %v", err)
	}
	var msg struct{ Text, User, Mode, Color string }
	if err := json.Unmarshal(out, &msg); err != nil {
		t.Fatalf("chat payload %q is not JSON: %v", out, err)
	}
	if n := utf8.RuneCountInString(msg.Text); n == 0 || n > 100 || !strings.HasPrefix(msg.Text, "Doorbell: Someone is at the front door") {
		t.Fatalf("chat text %q (%d runes)", msg.Text, utf8.RuneCountInString(msg.Text))
	}
	if !slices.Contains([]string{"scroll", "top", "bottom", "reverse"}, msg.Mode) || !regexp.MustCompile(`^#[0-9a-f]{6}$`).MatchString(msg.Color) {
		t.Fatalf("chat mode %q, colour %q", msg.Mode, msg.Color)
	}
	if cmd, err := mqtt.ParseCommand(gardenTopics, gardenTopics.Chat, out, false, 0); err != nil || cmd.Kind != mqtt.CommandChat {
		t.Fatalf("the node rejects the forwarded chat: %v", err)
	}
}

// envLines reads VAR=value lines; commented ones ("#CAMNODE_X=…") are returned apart.
func envLines(t *testing.T, path string) (set, commented [][2]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	assign := regexp.MustCompile(`^(#?)(CAMNODE_[A-Z0-9_]+)=(.*)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "# ") || line == "#" {
			continue
		}
		m := assign.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s: %q is neither a comment nor CAMNODE_VAR=value", path, line)
			continue
		}
		if m[1] == "#" {
			commented = append(commented, [2]string{m[2], m[3]})
		} else {
			set = append(set, [2]string{m[2], m[3]})
		}
	}
	return set, commented
}

// loadWith runs config.Load with exactly these CAMNODE_ variables set.
func loadWith(t *testing.T, vars map[string]string) error {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CAMNODE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	defer func() {
		for k := range vars {
			os.Unsetenv(k)
		}
	}()
	_, err := config.Load()
	return err
}

// Every line of the settings example, commented alternatives included, is a setting
// camnode takes with a value it accepts.
func TestEnvExampleLoads(t *testing.T) {
	checkEnvFile(t, "camnode.env.example", nil)
}

// The Debian package's settings file (/etc/camnode/camnode.env) likewise, its Pi camera
// lines (the auto default, rpicam and rpicam:1) included.
func TestPackageEnvLoads(t *testing.T) {
	checkEnvFile(t, "debian/camnode.env", nil)
}

// checkEnvFile loads the set lines of an env file, then each commented line on top of
// them; excused says which failing commented lines to let through (nil: none).
func checkEnvFile(t *testing.T, path string, excused func(name, value string, err error) bool) {
	t.Helper()
	set, commented := envLines(t, path)
	base := map[string]string{}
	for _, kv := range set {
		base[kv[0]] = kv[1]
	}
	if len(base) < 10 {
		t.Fatalf("only %d settings in %s", len(base), path)
	}
	if err := loadWith(t, base); err != nil {
		t.Fatalf("the settings of %s: %v", path, err)
	}
	// Files named by the TLS settings must exist for Load; a certificate needs its key.
	dir := t.TempDir()
	caPEM, err := os.ReadFile(peers.NewPKI(t).CA)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range commented {
		vars := map[string]string{}
		for k, v := range base {
			vars[k] = v
		}
		vars[kv[0]] = kv[1]
		if strings.HasSuffix(kv[0], "_FILE") {
			for _, f := range []string{"CAMNODE_MQTT_CERT_FILE", "CAMNODE_MQTT_KEY_FILE", kv[0]} {
				p := filepath.Join(dir, strings.ToLower(f))
				content := []byte("x")
				if strings.HasSuffix(f, "_CA_FILE") {
					content = caPEM // CA files are checked to hold a certificate
				}
				os.WriteFile(p, content, 0o600)
				if f == kv[0] || kv[0] != "CAMNODE_MQTT_CA_FILE" {
					vars[f] = p
				}
			}
			vars["CAMNODE_MQTT_URL"] = "mqtts://broker.example.org:8883"
		}
		if err := loadWith(t, vars); err != nil {
			if excused != nil && excused(kv[0], kv[1], err) {
				t.Logf("%s: %s=%s not taken yet: %v", path, kv[0], kv[1], err)
				continue
			}
			t.Errorf("%s: commented %s=%s: %v", path, kv[0], kv[1], err)
		}
	}
}

// The compose example wires the node to its broker and ingest by service name, with
// settings camnode accepts, and builds from the Dockerfile beside it.
func TestComposeExample(t *testing.T) {
	var compose struct {
		Name     string `yaml:"name"`
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Restart     string            `yaml:"restart"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   []string          `yaml:"depends_on"`
			EnvFile     []string          `yaml:"env_file"`
			Environment map[string]string `yaml:"environment"`
			Build       struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	loadYAML(t, "container/compose.yaml", &compose)
	node, ok := compose.Services["camnode"]
	if !ok || compose.Services["mosquitto"].Image == "" || compose.Services["ingest"].Image == "" {
		t.Fatalf("compose services: %v", compose.Services)
	}
	ctx := filepath.Join("container", node.Build.Context)
	if _, err := os.Stat(filepath.Join(ctx, node.Build.Dockerfile)); err != nil {
		t.Fatalf("build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
		t.Fatalf("build context %s is not the repository root: %v", ctx, err)
	}
	for _, v := range compose.Services["mosquitto"].Volumes {
		if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, "./") {
			if _, err := os.Stat(filepath.Join("container", src)); err != nil {
				t.Errorf("mosquitto volume: %v", err)
			}
		}
	}
	if !strings.HasPrefix(node.Environment["CAMNODE_MQTT_URL"], "tcp://mosquitto:") ||
		!strings.HasPrefix(node.Environment["CAMNODE_RTMP_URL"], "rtmp://ingest:") {
		t.Fatalf("camnode does not reach the compose broker and ingest: %v", node.Environment)
	}
	vars := map[string]string{}
	for _, f := range node.EnvFile {
		set, _ := envLines(t, filepath.Join("container", f))
		for _, kv := range set {
			vars[kv[0]] = kv[1]
		}
	}
	for k, v := range node.Environment {
		vars[k] = v
	}
	if err := loadWith(t, vars); err != nil {
		t.Fatalf("compose settings: %v", err)
	}
}

// The Dockerfile builds through the make target CI runs (so CI builds the image's binary),
// for the three platforms, and ships a runtime with libx264 that runs camnode unprivileged.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("container/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM golang:",
		"make release-bin RELEASE_PLATFORM=${TARGETPLATFORM}",
		"FROM debian:${DEBIAN}-slim",
		"libx264-164",
		"COPY --from=build /out/camnode /usr/local/bin/camnode",
		"USER camnode",
		`ENTRYPOINT ["/usr/local/bin/camnode"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	mk, err := os.ReadFile("../mk/release.mk")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		if !strings.Contains(string(mk), p) || !strings.Contains(df, p) {
			t.Errorf("platform %s missing from mk/release.mk or the Dockerfile", p)
		}
	}
}

// blueprint is the shape of a Home Assistant automation blueprint; unknown keys fail the load.
type blueprint struct {
	Blueprint struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Domain      string `yaml:"domain"`
		SourceURL   string `yaml:"source_url"`
		// Homeassistant.MinVersion: Home Assistant refuses to load a blueprint for an older
		// version with that message, instead of failing on an unknown key.
		Homeassistant struct {
			MinVersion string `yaml:"min_version"`
		} `yaml:"homeassistant"`
		Input map[string]struct {
			Name        string         `yaml:"name"`
			Description string         `yaml:"description"`
			Default     any            `yaml:"default"`
			Selector    map[string]any `yaml:"selector"`
		} `yaml:"input"`
	} `yaml:"blueprint"`
	Mode       string           `yaml:"mode"`
	Max        int              `yaml:"max"`
	Variables  map[string]any   `yaml:"variables"`
	Triggers   []map[string]any `yaml:"triggers"`
	Conditions []map[string]any `yaml:"conditions"`
	Actions    []map[string]any `yaml:"actions"`
}

// inputRefs are the names of every `!input name` in a YAML document.
func inputRefs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var refs []string
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		if n.Tag == "!input" {
			refs = append(refs, n.Value)
		}
		for _, c := range n.Content {
			visit(c)
		}
	}
	visit(&doc)
	return refs
}

// checkSteps checks a list of automation steps: known actions, delays, and if/then/else
// whose branches are steps again.
func checkSteps(t *testing.T, where string, steps []any) {
	t.Helper()
	for _, st := range steps {
		m, ok := st.(map[string]any)
		if !ok {
			t.Errorf("%s: step %v is not a mapping", where, st)
			continue
		}
		switch {
		case m["action"] != nil:
			if name, _ := m["action"].(string); !slices.Contains(knownActions, name) {
				t.Errorf("%s: action %q", where, name)
			}
		case m["delay"] != nil:
		case m["if"] != nil:
			for _, branch := range []string{"then", "else"} {
				if b, ok := m[branch].([]any); ok {
					checkSteps(t, where+"."+branch, b)
				}
			}
		default:
			t.Errorf("%s: step %v is neither an action, a delay nor an if", where, m)
		}
	}
}

// The blueprints load as Home Assistant reads them, use only their declared inputs (and
// all of them), real triggers and actions, balanced templates, and entities discovery creates.
func TestHomeAssistantBlueprints(t *testing.T) {
	files, _ := filepath.Glob("homeassistant/blueprints/*.yaml")
	if len(files) != 2 {
		t.Fatalf("blueprints %v, want forward-chat and stream-while-on", files)
	}
	entities := gardenEntities(t)
	for _, f := range files {
		var bp blueprint
		loadYAML(t, f, &bp)
		name := filepath.Base(f)
		if bp.Blueprint.Domain != "automation" || !strings.HasPrefix(bp.Blueprint.Name, "camnode: ") ||
			!strings.HasSuffix(bp.Blueprint.SourceURL, "deploy/homeassistant/blueprints/"+name) || len(bp.Triggers) == 0 || len(bp.Actions) == 0 {
			t.Errorf("%s: blueprint header %+v", name, bp.Blueprint)
		}
		if !slices.Contains([]string{"single", "restart", "queued", "parallel"}, bp.Mode) {
			t.Errorf("%s: mode %q", name, bp.Mode)
		}
		used := map[string]bool{}
		for _, ref := range inputRefs(t, f) {
			if _, ok := bp.Blueprint.Input[ref]; !ok {
				t.Errorf("%s: !input %s is not declared", name, ref)
			}
			used[ref] = true
		}
		for in, spec := range bp.Blueprint.Input {
			if !used[in] {
				t.Errorf("%s: input %s is declared but never used", name, in)
			}
			if spec.Name == "" || len(spec.Selector) != 1 {
				t.Errorf("%s: input %s needs a name and one selector", name, in)
			}
		}
		// triggers:/trigger: and action: need Home Assistant 2024.10.
		if v := bp.Blueprint.Homeassistant.MinVersion; !regexp.MustCompile(`^20[2-9][0-9]\.(1[0-2]|[1-9])\.[0-9]+$`).MatchString(v) || v < "2024.10.0" {
			t.Errorf("%s: homeassistant.min_version %q, want 2024.10.0 or later", name, v)
		}
		for _, tr := range bp.Triggers {
			if p, _ := tr["trigger"].(string); !slices.Contains(append(knownTriggers, "homeassistant"), p) {
				t.Errorf("%s: trigger %v", name, tr["trigger"])
			}
			// A state trigger with none of to, from, not_to, not_from fires on every
			// attribute change too (a person's GPS update): "to: null" is any state change.
			if tr["trigger"] == "state" {
				has := false
				for _, k := range []string{"to", "from", "not_to", "not_from"} {
					_, ok := tr[k]
					has = has || ok
				}
				if !has {
					t.Errorf("%s: state trigger %v fires on attribute changes: give it to: null", name, tr)
				}
			}
		}
		steps := make([]any, len(bp.Actions))
		for i, a := range bp.Actions {
			steps[i] = a
		}
		checkSteps(t, name, steps)
		all := map[string]any{"b": bp.Blueprint.Description, "v": bp.Variables, "t": bp.Triggers, "c": bp.Conditions, "a": bp.Actions}
		for _, in := range bp.Blueprint.Input {
			all[in.Name] = in.Description
		}
		walk(all, "", func(_, s string) {
			for _, ref := range entityRef.FindAllString(s, -1) {
				if !entities[ref] {
					t.Errorf("%s: refers to %s, which discovery does not create", name, ref)
				}
			}
			if strings.Count(s, "{{") != strings.Count(s, "}}") || strings.Count(s, "{%") != strings.Count(s, "%}") {
				t.Errorf("%s: unbalanced template %q", name, s)
			}
		})
	}
}

// jinjaPython is a python3 that has Jinja2, or "" (a failure under CAMNODE_REQUIRE_JINJA=1,
// where CI installs python3-jinja2).
func jinjaPython(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import jinja2").Run() == nil {
			return p
		}
	}
	if os.Getenv("CAMNODE_REQUIRE_JINJA") == "1" {
		t.Fatal("python3 with jinja2 is required (apt-get install python3-jinja2)")
	}
	return ""
}

// jinja renders templates with Jinja2, Home Assistant's engine: each job's context is JSON,
// and "states" in it becomes the states() function over that map. Skips (or fails under
// CAMNODE_REQUIRE_JINJA=1) where python3-jinja2 is missing.
func jinja(t *testing.T, jobs []jinjaJob) []string {
	t.Helper()
	py := jinjaPython(t)
	if py == "" {
		t.Skip("python3 with jinja2 missing")
	}
	const script = `
import json, sys, jinja2
env = jinja2.Environment()
out = []
for job in json.load(sys.stdin):
    ctx = dict(job["ctx"])
    st = ctx.pop("states", {})
    ctx["states"] = lambda e, st=st: st.get(e, "unknown")
    out.append(env.from_string(job["template"]).render(**ctx))
json.dump(out, sys.stdout)
`
	in, _ := json.Marshal(jobs)
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("jinja2: %v\n%s", err, stderr.String())
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type jinjaJob struct {
	Template string         `json:"template"`
	Ctx      map[string]any `json:"ctx"`
}

// The forward-chat blueprint's message, sent through the chat entity's own command
// template, is a chat the node takes: "user: text", cut to the node's limit.
func TestForwardChatBlueprintRenders(t *testing.T) {
	var bp blueprint
	loadYAML(t, "homeassistant/blueprints/camnode_forward_chat.yaml", &bp)
	value := bp.Actions[0]["data"].(map[string]any)["value"].(string)
	cond := bp.Conditions[0]["value_template"].(string)
	vars := map[string]any{"user_attribute": "user", "max_length": 100}
	long := "Someone is at the front door — " + strings.Repeat("ding dong ", 20)
	withVars := func(m map[string]any) map[string]any {
		for k, v := range vars {
			m[k] = v
		}
		return m
	}
	entityTrigger := withVars(map[string]any{"trigger": map[string]any{"id": "entity", "to_state": map[string]any{"state": long, "attributes": map[string]any{"user": "alice"}}}})
	eventTrigger := withVars(map[string]any{"trigger": map[string]any{"id": "event", "event": map[string]any{"data": map[string]any{"text": "hello 弹幕"}}}})
	blank := withVars(map[string]any{"trigger": map[string]any{"id": "event", "event": map[string]any{"data": map[string]any{"text": "  "}}}})
	out := jinja(t, []jinjaJob{
		{value, entityTrigger}, {value, eventTrigger},
		{cond, entityTrigger}, {cond, blank},
	})
	if n := utf8.RuneCountInString(out[0]); n != 100 || !strings.HasPrefix(out[0], "alice: Someone is at the front door") {
		t.Errorf("entity message %q (%d runes)", out[0], n)
	}
	if out[1] != "hello 弹幕" {
		t.Errorf("event message %q", out[1])
	}
	if out[2] != "True" || out[3] != "False" {
		t.Errorf("condition: %q for a message, %q for blanks", out[2], out[3])
	}
	// Through the text entity of discovery to the node.
	var root struct {
		Cmps map[string]map[string]any `json:"cmps"`
	}
	json.Unmarshal(mqtt.DiscoveryMessages(gardenTopics, gardenDevice)[0].Payload, &root)
	text := root.Cmps["chat"]
	sent := jinja(t, []jinjaJob{{text["command_template"].(string), map[string]any{"value": out[0]}}})[0]
	cmd, err := mqtt.ParseCommand(gardenTopics, text["command_topic"].(string), []byte(sent), false, 0)
	if err != nil || cmd.Kind != mqtt.CommandChat {
		t.Fatalf("the node rejects %q: %v", sent, err)
	}
	msgs, errs := chat.Parse(cmd.Payload, chat.Limits{})
	if len(errs) > 0 || len(msgs) != 1 || msgs[0].Text != out[0] {
		t.Fatalf("the node reads %q as %+v, %v", sent, msgs, errs)
	}
}

// The stream-while-on blueprint's test says on for each "on" state and off otherwise.
func TestStreamWhileOnBlueprintRenders(t *testing.T) {
	var bp blueprint
	loadYAML(t, "homeassistant/blueprints/camnode_stream_while_on.yaml", &bp)
	cond := bp.Actions[0]["if"].([]any)[0].(map[string]any)["value_template"].(string)
	onStates := bp.Blueprint.Input["on_states"].Default
	var jobs []jinjaJob
	for _, state := range []string{"on", "home", "off", "not_home", "unavailable"} {
		jobs = append(jobs, jinjaJob{cond, map[string]any{"trigger_entity": "person.alice", "on_states": onStates, "states": map[string]any{"person.alice": state}}})
	}
	if out := jinja(t, jobs); !slices.Equal(out, []string{"True", "True", "False", "False", "False"}) {
		t.Fatalf("on/home/off/not_home/unavailable rendered %v", out)
	}
}

// The dashboard example shows only entities discovery creates, and the ones a user needs.
func TestHomeAssistantDashboard(t *testing.T) {
	var dash struct {
		Title string           `yaml:"title"`
		Views []map[string]any `yaml:"views"`
	}
	loadYAML(t, "homeassistant/dashboard.yaml", &dash)
	if dash.Title == "" || len(dash.Views) == 0 {
		t.Fatalf("dashboard %+v", dash)
	}
	entities := gardenEntities(t)
	seen := map[string]bool{}
	walk(map[string]any{"views": dash.Views}, "", func(_, s string) {
		for _, ref := range entityRef.FindAllString(s, -1) {
			if !entities[ref] {
				t.Errorf("dashboard refers to %s, which discovery does not create", ref)
			}
			seen[ref] = true
		}
	})
	for _, want := range []string{"image.camnode_garden_snapshot", "switch.camnode_garden_stream", "sensor.camnode_garden_state",
		"text.camnode_garden_chat", "binary_sensor.camnode_garden_problem", "event.camnode_garden_event"} {
		if !seen[want] {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}
