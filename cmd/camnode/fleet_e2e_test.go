package main

// Issue 13, a fleet: ten camnode processes on one real Mosquitto answer one fleet command,
// survive a broker that is killed and restarted, cross a Mosquitto bridge, and are kept to
// their own topics by a Mosquitto ACL. bench/fleet runs the 50-node version with figures.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/mqtt"
)

// fleetWait is how long a whole fleet may take for one step on a loaded machine.
const fleetWait = 3 * time.Minute

// topicsOf is the topic under each node's base, e.g. "stream/state" for every ID.
func topicsOf(ids []string, rel string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "camnode/" + id + "/" + rel
	}
	return out
}

func discoveryTopics(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = mqtt.DiscoveryTopic(mqtt.NewTopics("camnode", id, "homeassistant"))
	}
	return out
}

func payloadIs(v string) func(peers.Message) bool {
	return func(m peers.Message) bool { return m.Payload == v }
}

func nonEmpty(m peers.Message) bool { return m.Payload != "" }

// awaitEach fails the test naming the topics that did not get their message in time.
func awaitEach(t *testing.T, sub *peers.Sub, from int, topics []string, match func(peers.Message) bool, what string) map[string]time.Time {
	t.Helper()
	at, missing := sub.AwaitEach(from, topics, match, fleetWait)
	if len(missing) > 0 {
		t.Fatalf("%s: nothing within %v on %d of %d topics: %v", what, fleetWait, len(missing), len(topics), missing)
	}
	return at
}

// fleetEnv is the settings of node id: the shared clip, its own stream name on the one
// nginx, reconnects to the broker capped low so a restarted broker sees the fleet soon.
func fleetEnv(id, broker, rtmp, clip string) map[string]string {
	return map[string]string{
		"CAMNODE_NODE_ID":            id,
		"CAMNODE_MQTT_URL":           broker,
		"CAMNODE_RTMP_URL":           rtmp,
		"CAMNODE_SOURCE":             "file://" + clip,
		"CAMNODE_TELEMETRY_INTERVAL": "1m",
		"CAMNODE_RECONNECT_MAX":      "5s",
	}
}

func TestFleetOfTenOnOneBroker(t *testing.T) {
	const n = 10
	clip := makeClip(t, "320x180", 60, 30)
	broker, ingest := peers.StartMosquitto(t), peers.StartNginx(t)
	sub := peers.Subscribe(t, broker, "camnode/#", "homeassistant/device/#")
	var ids []string
	nodes := map[string]*proc{}
	for i := range n {
		id := fmt.Sprintf("fleet-%02d", i+1)
		ids = append(ids, id)
		nodes[id] = startCamnode(t, fleetEnv(id, broker.URL(), ingest.URL(id), clip))
	}
	awaitEach(t, sub, 0, topicsOf(ids, "availability"), payloadIs("online"), "online")
	awaitEach(t, sub, 0, discoveryTopics(ids), nonEmpty, "discovery")
	awaitEach(t, sub, 0, topicsOf(ids, "stream/state"), payloadIs("OFF"), "stream/state OFF at boot")

	// One command for the whole fleet.
	from := len(sub.Messages())
	sent := time.Now()
	peers.Publish(t, broker, "camnode/all/stream/set", "ON")
	on := awaitEach(t, sub, from, topicsOf(ids, "stream/state"), payloadIs("ON"), "stream/state ON after camnode/all/stream/set ON")
	var lat []time.Duration
	for _, at := range on {
		lat = append(lat, at.Sub(sent))
	}
	slices.Sort(lat)
	t.Logf("command -> stream/state ON over %d nodes: p50 %v, max %v", n, lat[len(lat)/2], lat[len(lat)-1])
	var rss int64
	for _, p := range nodes {
		if r, err := peers.RSS(p.cmd.Process.Pid); err == nil {
			rss += r
		}
	}
	t.Logf("fleet RSS %.1f MB (race-detector builds)", float64(rss)/1e6)

	// The broker dies without a word and comes back empty (no persistence): every node
	// reconnects and publishes its retained state and discovery again, still live.
	broker.Kill()
	broker.Start(t)
	after := peers.Subscribe(t, broker, "camnode/+/availability", "camnode/+/stream/state", "homeassistant/device/+/config")
	awaitEach(t, after, 0, topicsOf(ids, "stream/state"), payloadIs("ON"), "stream/state ON after the broker restarted")
	awaitEach(t, after, 0, topicsOf(ids, "availability"), payloadIs("online"), "online after the broker restarted")
	awaitEach(t, after, 0, discoveryTopics(ids), nonEmpty, "discovery after the broker restarted")
	// What a client that connects now is told: retained, and the truth.
	late := peers.Subscribe(t, broker, "camnode/+/availability", "camnode/+/stream/state", "homeassistant/device/+/config")
	retainedOn := func(v string) func(peers.Message) bool {
		return func(m peers.Message) bool { return m.Retained && (v == "" && m.Payload != "" || m.Payload == v) }
	}
	awaitEach(t, late, 0, topicsOf(ids, "stream/state"), retainedOn("ON"), "retained stream/state ON")
	awaitEach(t, late, 0, topicsOf(ids, "availability"), retainedOn("online"), "retained online")
	awaitEach(t, late, 0, discoveryTopics(ids), retainedOn(""), "retained discovery")

	// And the fleet still obeys: all off, each stream recorded whole by nginx.
	from = len(after.Messages())
	peers.Publish(t, broker, "camnode/all/stream/set", "OFF")
	awaitEach(t, after, from, topicsOf(ids, "stream/state"), payloadIs("OFF"), "stream/state OFF after camnode/all/stream/set OFF")
	for _, id := range ids {
		recs := ingest.WaitPublishEnded(t, id, 1, time.Minute)
		if len(recs) != 1 {
			t.Fatalf("%s: recordings %v, want one stream across the broker's restart", id, recs)
		}
		v := peers.ProbeVideo(t, recs[0])
		if v.Codec != "h264" || v.Width != 320 || v.Height != 180 || v.DecodeErrors != "" || v.Frames < 30 {
			t.Fatalf("%s: recording %s: %s %dx%d, %d frames, errors %q", id, recs[0], v.Codec, v.Width, v.Height, v.Frames, v.DecodeErrors)
		}
	}
	for id, p := range nodes {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, time.Minute); code != 0 {
			t.Errorf("%s: exit %d", id, code)
		}
	}
}

// Nodes on broker A, the controller (standing for Home Assistant) on broker B bridged to A
// with camnode/# and homeassistant/# both ways: discovery, availability with the last will,
// state and commands all cross; B restarted, control resumes.
func TestFleetAcrossMosquittoBridge(t *testing.T) {
	clip := makeClip(t, "320x180", 60, 30)
	a, ingest := peers.StartMosquitto(t), peers.StartNginx(t)
	b := peers.StartMosquittoBridge(t, a, "camnode/#", "homeassistant/#")
	ids := []string{"site-1", "site-2"}
	ctl := peers.Subscribe(t, b, "camnode/#", "homeassistant/#")
	nodes := map[string]*proc{}
	for _, id := range ids {
		nodes[id] = startCamnode(t, fleetEnv(id, a.URL(), ingest.URL(id), clip))
	}
	awaitEach(t, ctl, 0, topicsOf(ids, "availability"), payloadIs("online"), "online, seen on B")
	awaitEach(t, ctl, 0, discoveryTopics(ids), nonEmpty, "discovery, seen on B")

	from := len(ctl.Messages())
	peers.Publish(t, b, "camnode/all/stream/set", "ON")
	awaitEach(t, ctl, from, topicsOf(ids, "stream/state"), payloadIs("ON"), "stream/state ON on B after ON published on B")
	awaitEach(t, ctl, from, topicsOf(ids, "state"), func(m peers.Message) bool { return strings.Contains(m.Payload, `"state":"live"`) }, "state live on B")

	// Home Assistant's birth message, published on B, reaches the nodes on A: they answer
	// with discovery again.
	from = len(ctl.Messages())
	peers.Publish(t, b, "homeassistant/status", "online")
	awaitEach(t, ctl, from, discoveryTopics(ids), nonEmpty, "discovery on B answering homeassistant/status online on B")

	// A node dies without a word: A publishes its last will, and it crosses to B.
	from = len(ctl.Messages())
	nodes["site-1"].cmd.Process.Kill()
	awaitEach(t, ctl, from, topicsOf(ids[:1], "availability"), payloadIs("offline"), "site-1's last will on B")

	// B restarts (empty: no persistence). Once the bridge is back, B holds A's retained
	// state again, and commands from B reach the node.
	b.Stop()
	b.Start(t)
	ctl2 := peers.Subscribe(t, b, "camnode/#")
	awaitEach(t, ctl2, 0, topicsOf(ids[1:], "stream/state"), func(m peers.Message) bool { return m.Payload == "ON" && m.Retained }, "site-2's retained stream/state on the restarted B")
	awaitEach(t, ctl2, 0, topicsOf(ids[:1], "availability"), payloadIs("offline"), "site-1's retained offline on the restarted B")
	from = len(ctl2.Messages())
	peers.Publish(t, b, "camnode/site-2/stream/set", "OFF")
	awaitEach(t, ctl2, from, topicsOf(ids[1:], "stream/state"), payloadIs("OFF"), "stream/state OFF on B after OFF from the restarted B")
}

// fleetACL is the ACL of docs/fleet.md: the tested file is the documented one.
func fleetACL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "fleet.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```conf\n(# /etc/mosquitto/camnode\\.acl\n.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("docs/fleet.md has no ```conf block starting with # /etc/mosquitto/camnode.acl")
	}
	return string(m[1])
}

// A node that writes another node's topics is refused by the documented Mosquitto ACL
// (pattern rules with %u), while real nodes under that ACL work as usual.
func TestFleetACLKeepsNodesToTheirOwnTopics(t *testing.T) {
	acl := fleetACL(t)
	// The node "garden" of the docs, and a second node "shed" added as the docs say.
	block := acl[strings.Index(acl, "user garden"):]
	acl = "# anonymous: the test's observer\ntopic readwrite #\n\n" + acl + "\n" + strings.ReplaceAll(block, "garden", "shed")
	users := map[string]string{"garden": "pw-garden-1", "shed": "pw-shed-2", "homeassistant": "pw-ha-3"}
	broker := peers.StartMosquittoACL(t, users, acl)
	obs := peers.Subscribe(t, broker, "#")
	ids := []string{"garden", "shed"}
	for _, id := range ids {
		startCamnode(t, map[string]string{
			"CAMNODE_NODE_ID": id, "CAMNODE_MQTT_URL": broker.URL(),
			"CAMNODE_MQTT_USERNAME": id, "CAMNODE_MQTT_PASSWORD": users[id],
			"CAMNODE_SOURCE": "testsrc",
		})
	}
	// Under the ACL a node publishes everything it has to: state and discovery.
	awaitEach(t, obs, 0, topicsOf(ids, "availability"), payloadIs("online"), "online under the ACL")
	awaitEach(t, obs, 0, topicsOf(ids, "state"), nonEmpty, "state under the ACL")
	awaitEach(t, obs, 0, discoveryTopics(ids), nonEmpty, "discovery under the ACL")

	// garden, with its own credentials, tries shed's command and state topics and shed's
	// discovery. Each mosquitto_pub waits for the broker's PUBACK; the allowed message
	// after them arrives after them, so whatever the broker let through is seen by then.
	from := len(obs.Messages())
	as := []string{"-u", "garden", "-P", users["garden"]}
	peers.Publish(t, broker, "camnode/shed/stream/set", "ON", as...)
	peers.Publish(t, broker, "camnode/shed/state", `{"state":"live"}`, append(as, "-r")...)
	peers.Publish(t, broker, "camnode/all/stream/set", "ON", as...)
	peers.Publish(t, broker, mqtt.DiscoveryTopic(mqtt.NewTopics("camnode", "shed", "homeassistant")), "", append(as, "-r")...)
	peers.Publish(t, broker, "camnode/garden/marker", "done", as...)
	awaitEach(t, obs, from, []string{"camnode/garden/marker"}, payloadIs("done"), "garden's own topic")
	shedDiscovery := mqtt.DiscoveryTopic(mqtt.NewTopics("camnode", "shed", "homeassistant"))
	for _, m := range obs.Messages()[from:] {
		switch {
		case m.Topic == "camnode/shed/stream/set", m.Topic == "camnode/all/stream/set",
			m.Topic == "camnode/shed/state" && m.Payload == `{"state":"live"}`,
			m.Topic == shedDiscovery && m.Payload == "":
			t.Errorf("the ACL let garden write %s: %q", m.Topic, m.Payload)
		}
	}
	if got := retainedNow(t, broker, []string{shedDiscovery}, 5*time.Second); got[shedDiscovery] == "" {
		t.Errorf("garden removed shed's discovery")
	}
	// The same command from Home Assistant's user goes through: shed answers it (no ingest
	// configured, so with a command_rejected event that says so).
	from = len(obs.Messages())
	peers.Publish(t, broker, "camnode/shed/stream/set", "ON", "-u", "homeassistant", "-P", users["homeassistant"])
	awaitEach(t, obs, from, []string{"camnode/shed/event"}, func(m peers.Message) bool {
		var e struct{ Event, Reason string }
		return json.Unmarshal([]byte(m.Payload), &e) == nil && e.Event == "command_rejected" && strings.Contains(e.Reason, "no ingest")
	}, "shed's answer to Home Assistant's command")
}
