package node

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/camnode/camnode/mqtt"
)

// codeEvents reads every Event… string constant declared in the non-test Go files of dirs:
// the events the code can publish, found in the code rather than copied into the test.
func codeEvents(t *testing.T, dirs ...string) []string {
	t.Helper()
	var names []string
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range file.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !strings.HasPrefix(name.Name, "Event") || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							names = append(names, v)
						}
					}
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// The Home Assistant event entity's event_types are every event camnode can publish: each
// Event… constant of node and mqtt, no more, no less.
func TestEventTypesAreEveryEvent(t *testing.T) {
	want := codeEvents(t, ".", "../mqtt")
	if len(want) < 10 {
		t.Fatalf("found only %v in the code: the scan is broken", want)
	}
	got := slices.Clone(eventTypes())
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("eventTypes() = %v\nthe code publishes %v", got, want)
	}
	msgs := mqtt.DiscoveryMessages(mqtt.NewTopics("camnode", "garden", "homeassistant"), mqtt.DeviceInfo{EventTypes: eventTypes()})
	for _, e := range want {
		if !strings.Contains(string(msgs[0].Payload), strconv.Quote(e)) {
			t.Errorf("discovery lacks event type %s", e)
		}
	}
}

func TestRedactedTargets(t *testing.T) {
	got := redactedTargets("rtmp://a.example/live/secretkey1 \n rtmps://b.example:443/app/secretkey2")
	if len(got) != 2 || strings.Contains(strings.Join(got, " "), "secretkey") {
		t.Fatalf("redactedTargets: %q", got)
	}
}
