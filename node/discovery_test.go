package node

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/snapshot"
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
	got := slices.Clone(Events)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Events = %v\nthe code publishes %v", got, want)
	}
	msgs := mqtt.DiscoveryMessages(mqtt.NewTopics("camnode", "garden", "homeassistant"), mqtt.DeviceInfo{EventTypes: Events})
	for _, e := range want {
		if !strings.Contains(string(msgs[0].Payload), strconv.Quote(e)) {
			t.Errorf("discovery lacks event type %s", e)
		}
	}
}

// Home Assistant gets one Ingest sensor per destination, named without its key.
func TestDiscoveryTargetsAreRedacted(t *testing.T) {
	tn := newTestNode(t, map[string]string{"CAMNODE_RTMP_URL": "rtmp://a.example/live/secretkey1 \n rtmps://b.example:443/app/secretkey2"})
	got := tn.deviceInfo().Targets
	if len(got) != 2 || strings.Contains(strings.Join(got, " "), "secretkey") || !strings.Contains(got[1], "b.example") {
		t.Fatalf("discovery targets: %q", got)
	}
}

// A snapshot reaches Home Assistant as the node publishes it: the JPEG retained on
// <base>/snapshot, its info retained beside it; a failure keeps the last picture and says
// why, without the stream key.
func TestPublishSnapshotOnMosquitto(t *testing.T) {
	peers.Require(t, "mosquitto", "mosquitto_sub")
	b := peers.StartMosquitto(t)
	const key = "sk-snapshot-s3cr3t"
	t.Setenv("CAMNODE_NODE_ID", "snap")
	t.Setenv("CAMNODE_MQTT_URL", b.URL())
	t.Setenv("CAMNODE_RTMP_URL", "rtmp://127.0.0.1:1/live/"+key)
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	sub := peers.Subscribe(t, b, n.topics.Availability)
	if _, ok := sub.WaitFor(func(m peers.Message) bool { return m.Payload == "online" }, time.Minute); !ok {
		t.Fatal("node not online")
	}

	f := &media.Frame{Format: media.PixelI420, Width: 64, Height: 36, Strides: [3]int{64, 32, 32}}
	f.Planes[0], f.Planes[1], f.Planes[2] = make([]byte, 64*36), make([]byte, 32*18), make([]byte, 32*18)
	jpeg, err := snapshot.FromFrame(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	n.publishSnapshot(jpeg, snapshotInfo{TS: "2026-01-01T00:00:00.000Z", Width: 64, Height: 36, Bytes: len(jpeg)})
	n.publishSnapshot(nil, snapshotInfo{TS: "2026-01-01T00:00:10.000Z", Error: "decode failed on rtmp://x/live/" + key})

	retained := func(topic, format string) string {
		t.Helper()
		for range 60 { // the node's publishes are asynchronous: ask until both are there
			out, _ := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", strconv.Itoa(b.Port), "-t", topic,
				"--retained-only", "-C", "1", "-W", "2", "-F", format).Output()
			if s := strings.TrimSpace(string(out)); s != "" && (topic != n.topics.SnapshotInfo || strings.Contains(s, "10.000Z")) {
				return s
			}
		}
		t.Fatalf("nothing retained on %s", topic)
		return ""
	}
	if got := retained(n.topics.Snapshot, "%l"); got != strconv.Itoa(len(jpeg)) {
		t.Fatalf("retained snapshot of %s bytes, want the %d-byte JPEG", got, len(jpeg))
	}
	info := retained(n.topics.SnapshotInfo, "%p")
	if strings.Contains(info, key) || !strings.Contains(info, `"error":"decode failed on rtmp://x:1935/live/****"`) {
		t.Fatalf("snapshot info %s", info)
	}
}
