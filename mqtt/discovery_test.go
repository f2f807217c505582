package mqtt

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var haDevice = DeviceInfo{
	Name: "Garden camera", HWVersion: "Raspberry Pi 4 Model B Rev 1.4", SWVersion: "v1.2.3",
	ConfigurationURL: "http://garden.local:8080/", CPUTemperature: true,
	EventTypes:  []string{"stream_started", "stream_stopped", "rtmp_rejected", "source_failed", "chat_rejected"},
	Targets:     []string{"rtmp://a.example/live/****", "rtmps://b.example/app/****"},
	ChatSources: []string{"twitch:garden", "bilibili:21452505"},
}

// discoveryPayload returns the one discovery message of t and d, decoded.
func discoveryPayload(t *testing.T, topics Topics, d DeviceInfo) (string, map[string]any) {
	t.Helper()
	msgs := DiscoveryMessages(topics, d)
	if len(msgs) != 1 {
		t.Fatalf("%d discovery messages, want 1 device-based message", len(msgs))
	}
	var m map[string]any
	if err := json.Unmarshal(msgs[0].Payload, &m); err != nil {
		t.Fatalf("discovery payload: %v\n%s", err, msgs[0].Payload)
	}
	return msgs[0].Topic, m
}

func component(t *testing.T, root map[string]any, key string) map[string]any {
	t.Helper()
	c, ok := root["cmps"].(map[string]any)[key].(map[string]any)
	if !ok {
		t.Fatalf("no component %q in discovery", key)
	}
	return c
}

// Every payload camnode can publish passes the schema written from Home Assistant's docs.
func TestDiscoveryFollowsHomeAssistantDocs(t *testing.T) {
	cases := map[string]struct {
		topics Topics
		dev    DeviceInfo
	}{
		"full device info":         {NewTopics("camnode", "garden", "homeassistant"), haDevice},
		"zero device info":         {NewTopics("camnode", "garden", "homeassistant"), DeviceInfo{}},
		"no thermal sensor":        {NewTopics("camnode", "pi-zero", "homeassistant"), DeviceInfo{SWVersion: "dev", ChatMaxRunes: 100}},
		"nested prefixes, odd IDs": {NewTopics("home/cams", "front__door-2", "ha/disc"), DeviceInfo{ChatMaxRunes: 1000, SupportURL: "https://example.org/camnode"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			for _, m := range DiscoveryMessages(tc.topics, tc.dev) {
				if errs := validateDeviceDiscovery(m.Topic, m.Payload); len(errs) > 0 {
					t.Fatalf("%s does not follow the docs:\n%s", m.Topic, strings.Join(errs, "\n"))
				}
			}
		})
	}
}

// The schema check itself: each mistake Home Assistant would silently ignore, or reject
// with only a log line, must fail it.
func TestSchemaCheckCatchesMistakes(t *testing.T) {
	good := DiscoveryMessages(NewTopics("camnode", "garden", "homeassistant"), haDevice)[0]
	mutations := []struct {
		name, want string
		edit       func(root, cmps map[string]any)
	}{
		{"misspelled key", `unknown key "unit_of_measurment"`, func(_, c map[string]any) {
			b := c["bitrate"].(map[string]any)
			b["unit_of_measurment"] = b["unit_of_measurement"]
			delete(b, "unit_of_measurement")
		}},
		{"deprecated object_id", `unknown key "object_id"`, func(_, c map[string]any) {
			c["stream"].(map[string]any)["object_id"] = "camnode_garden_stream"
		}},
		{"misspelled abbreviation", `unknown key "stat_tt"`, func(_, c map[string]any) {
			c["fps"].(map[string]any)["stat_tt"] = "x/y"
		}},
		{"key and abbreviation", `both "unique_id" and its abbreviation "uniq_id"`, func(_, c map[string]any) {
			c["fps"].(map[string]any)["uniq_id"] = "x"
		}},
		{"qos as a string", `qos: want an integer`, func(r, _ map[string]any) { r["qos"] = "1" }},
		{"qos out of range", `qos: 3 out of range`, func(r, _ map[string]any) { r["qos"] = 3 }},
		{"retain as a string", `retain: want a boolean`, func(_, c map[string]any) { c["stream"].(map[string]any)["retain"] = "false" }},
		{"unknown state class", `"measurment" is not one of`, func(_, c map[string]any) { c["fps"].(map[string]any)["state_class"] = "measurment" }},
		{"unknown device class", `"bitrate" is not one of`, func(_, c map[string]any) { c["bitrate"].(map[string]any)["device_class"] = "bitrate" }},
		{"unit not of its class", `unit "kbps" is not valid with device_class data_rate`, func(_, c map[string]any) {
			c["bitrate"].(map[string]any)["unit_of_measurement"] = "kbps"
		}},
		{"state class not of its class", `state_class "total_increasing" is not valid with device_class temperature`, func(_, c map[string]any) {
			c["cpu_temperature"].(map[string]any)["state_class"] = "total_increasing"
		}},
		{"config category on a sensor", `entity_category must be diagnostic`, func(_, c map[string]any) {
			c["memory"].(map[string]any)["entity_category"] = "config"
		}},
		{"text too long", `max 300: a text entity takes at most 255`, func(_, c map[string]any) { c["chat"].(map[string]any)["max"] = 300 }},
		{"text mode", `"multiline" is not one of`, func(_, c map[string]any) { c["chat"].(map[string]any)["mode"] = "multiline" }},
		{"button class", `"reboot" is not one of`, func(_, c map[string]any) { c["restart"].(map[string]any)["device_class"] = "reboot" }},
		{"binary sensor class", `"ingest" is not one of`, func(_, c map[string]any) { c["ingest"].(map[string]any)["device_class"] = "ingest" }},
		{"missing command topic", `required key "command_topic" missing`, func(_, c map[string]any) {
			delete(c["keyframe"].(map[string]any), "command_topic")
		}},
		{"missing unique_id", `required key "unique_id" missing`, func(_, c map[string]any) { delete(c["danmaku"].(map[string]any), "unique_id") }},
		{"duplicate unique_id", `also used by`, func(_, c map[string]any) {
			c["fps"].(map[string]any)["unique_id"] = c["bitrate"].(map[string]any)["unique_id"]
		}},
		{"entity ID in another domain", `is not in the switch domain`, func(_, c map[string]any) {
			c["stream"].(map[string]any)["default_entity_id"] = "sensor.camnode_garden_stream"
		}},
		{"entity ID with a dash", `is not an entity ID`, func(_, c map[string]any) {
			c["stream"].(map[string]any)["default_entity_id"] = "switch.camnode-garden"
		}},
		{"device at component level", `unknown key "device"`, func(r, c map[string]any) { c["fps"].(map[string]any)["device"] = r["device"] }},
		{"no origin", `required key "origin" missing`, func(r, _ map[string]any) { delete(r, "origin") }},
		{"origin without name", `required key "name" missing`, func(r, _ map[string]any) { delete(r["origin"].(map[string]any), "name") }},
		{"device without identifiers", `at least one of identifiers or connections`, func(r, _ map[string]any) {
			delete(r["device"].(map[string]any), "identifiers")
		}},
		{"configuration URL", `not an http://, https:// or homeassistant:// URL`, func(r, _ map[string]any) {
			r["device"].(map[string]any)["configuration_url"] = "garden.local"
		}},
		{"unbalanced template", `not a balanced Jinja template`, func(_, c map[string]any) {
			c["fps"].(map[string]any)["value_template"] = "{{ value_json.fps }"
		}},
		{"wildcard command topic", `is not a topic`, func(_, c map[string]any) { c["stream"].(map[string]any)["command_topic"] = "camnode/+/stream/set" }},
		{"availability twice", `availability and availability_topic must not be used together`, func(r, _ map[string]any) {
			r["availability_topic"] = "camnode/garden/availability"
		}},
		{"availability twice in a component", `availability and availability_topic must not be used together`, func(r, c map[string]any) {
			c["fps"].(map[string]any)["availability"] = r["availability"]
			c["fps"].(map[string]any)["availability_topic"] = "camnode/garden/availability"
		}},
		{"availability without topic", `required key "topic" missing`, func(r, _ map[string]any) {
			a := r["availability"].([]any)[0].(map[string]any)
			delete(a, "topic")
		}},
		{"enum with a unit", `options cannot be used together`, func(_, c map[string]any) {
			c["state"].(map[string]any)["unit_of_measurement"] = "s"
		}},
		{"unknown platform", `platform "camera_switch"`, func(_, c map[string]any) { c["stream"].(map[string]any)["platform"] = "camera_switch" }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			var root map[string]any
			dec := json.NewDecoder(bytes.NewReader(good.Payload))
			if err := dec.Decode(&root); err != nil {
				t.Fatal(err)
			}
			m.edit(root, root["cmps"].(map[string]any))
			b, _ := json.Marshal(root)
			errs := validateDeviceDiscovery(good.Topic, b)
			if !strings.Contains(strings.Join(errs, "\n"), m.want) {
				t.Fatalf("schema check missed %s: want %q, got %q", m.name, m.want, errs)
			}
		})
	}
	if errs := validateDeviceDiscovery("homeassistant/device/cam.garden/config", good.Payload); len(errs) == 0 {
		t.Fatalf("a '.' in the discovery topic's object ID passed")
	}
}

// What a user finds in Home Assistant: the entities the issue asks for, wired to the
// topics the node really uses, with the right classes and units.
func TestDiscoveryContent(t *testing.T) {
	topics := NewTopics("camnode", "garden", "homeassistant")
	topic, root := discoveryPayload(t, topics, haDevice)
	if topic != "homeassistant/device/camnode_garden/config" {
		t.Fatalf("discovery topic %q", topic)
	}
	dev := root["device"].(map[string]any)
	if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "camnode_garden" ||
		dev["name"] != haDevice.Name || dev["model"] != "camnode" || dev["hw_version"] != haDevice.HWVersion ||
		dev["manufacturer"] != DefaultManufacturer || dev["sw_version"] != "v1.2.3" || dev["configuration_url"] != haDevice.ConfigurationURL {
		t.Fatalf("device block: %v", dev)
	}
	if o := root["origin"].(map[string]any); o["name"] != "camnode" || o["sw_version"] != "v1.2.3" || o["support_url"] != DefaultSupportURL {
		t.Fatalf("origin block: %v", o)
	}

	type want map[string]any
	checks := map[string]want{
		"stream": {"platform": "switch", "name": "Stream", "command_topic": "camnode/garden/stream/set",
			"state_topic": "camnode/garden/stream/desired", "payload_on": "ON", "payload_off": "OFF", "retain": false},
		"danmaku": {"platform": "switch", "command_topic": "camnode/garden/danmaku/set", "state_topic": "camnode/garden/danmaku/state"},
		"ingest":  {"platform": "binary_sensor", "device_class": "connectivity", "state_topic": "camnode/garden/state"},
		"keyframe": {"platform": "button", "name": "Keyframe", "command_topic": "camnode/garden/keyframe/set",
			"payload_press": "PRESS"},
		"restart": {"platform": "button", "device_class": "restart", "command_topic": "camnode/garden/restart/set"},
		"chat": {"platform": "text", "name": "Send chat", "command_topic": "camnode/garden/chat",
			"max": float64(255)},
		"bitrate": {"platform": "sensor", "device_class": "data_rate", "unit_of_measurement": "kbit/s",
			"state_class": "measurement", "state_topic": "camnode/garden/telemetry", "value_template": "{{ value_json.bitrate_kbps }}"},
		"fps":            {"platform": "sensor", "unit_of_measurement": "fps", "state_class": "measurement", "value_template": "{{ value_json.fps }}"},
		"frames_dropped": {"platform": "sensor", "state_class": "total_increasing", "value_template": "{{ value_json.frames_dropped }}"},
		"live_since":     {"platform": "sensor", "device_class": "timestamp", "state_topic": "camnode/garden/state"},
		"started":        {"platform": "sensor", "device_class": "timestamp", "entity_category": "diagnostic", "state_topic": "camnode/garden/state"},
		"problem":        {"platform": "binary_sensor", "device_class": "problem", "state_topic": "camnode/garden/state"},
		"last_error":     {"platform": "sensor", "entity_category": "diagnostic", "state_topic": "camnode/garden/state"},
		"snapshot": {"platform": "image", "image_topic": "camnode/garden/snapshot", "content_type": "image/jpeg",
			"json_attributes_topic": "camnode/garden/snapshot/info"},
		"take_snapshot": {"platform": "button", "command_topic": "camnode/garden/snapshot/set", "payload_press": "PRESS"},
		"event":         {"platform": "event", "state_topic": "camnode/garden/event"},
		"ingest_1":      {"platform": "binary_sensor", "device_class": "connectivity", "name": "Ingest a.example"},
		"ingest_2":      {"platform": "binary_sensor", "device_class": "connectivity", "state_topic": "camnode/garden/state", "name": "Ingest b.example"},
		"reconnects":    {"platform": "sensor", "state_class": "total_increasing"},
		"chat_shown":    {"platform": "sensor", "state_class": "total_increasing", "value_template": "{{ value_json.chat_shown }}"},
		"chat_dropped":  {"platform": "sensor", "state_class": "total_increasing", "value_template": "{{ value_json.chat_dropped }}"},
		"cpu_temperature": {"platform": "sensor", "device_class": "temperature", "unit_of_measurement": "°C",
			"entity_category": "diagnostic"},
		"memory": {"platform": "sensor", "device_class": "data_size", "entity_category": "diagnostic"},
	}
	for key, w := range checks {
		c := component(t, root, key)
		for k, v := range w {
			if c[k] != v {
				t.Errorf("%s.%s = %#v, want %#v", key, k, c[k], v)
			}
		}
	}
	// One availability at the root, which every component takes, not a copy in each.
	if av, _ := root["availability"].([]any); len(av) != 1 || av[0].(map[string]any)["topic"] != "camnode/garden/availability" {
		t.Errorf("root availability %v, want the node's availability topic", root["availability"])
	}
	if b := DiscoveryMessages(topics, haDevice)[0].Payload; bytes.Count(b, []byte("camnode/garden/availability")) != 1 {
		t.Errorf("the availability topic is in the %d-byte payload %d times, want once", len(b), bytes.Count(b, []byte("camnode/garden/availability")))
	}
	for key, v := range root["cmps"].(map[string]any) {
		c := v.(map[string]any)
		if len(c) == 1 {
			continue // a tombstone
		}
		if c["availability"] != nil || c["availability_topic"] != nil {
			t.Errorf("%s: an availability of its own: %v", key, c["availability"])
		}
		if c["unique_id"] != "camnode_garden_"+key || c["default_entity_id"] != c["platform"].(string)+".camnode_garden_"+key {
			t.Errorf("%s: unique_id %v, default_entity_id %v", key, c["unique_id"], c["default_entity_id"])
		}
	}

	// A board without a thermal sensor gets no CPU temperature entity; the text entity
	// follows CAMNODE_CHAT_MAX_RUNES.
	_, bare := discoveryPayload(t, topics, DeviceInfo{ChatMaxRunes: 100})
	if c := component(t, bare, "cpu_temperature"); len(c) != 1 {
		t.Errorf("CPU temperature offered without a thermal sensor: %v", c)
	}
	for _, key := range []string{"event", "ingest_1", "ingest_2"} {
		if c := component(t, bare, key); len(c) != 1 {
			t.Errorf("%s offered without event types or several targets: %v", key, c)
		}
	}
	if c := component(t, bare, "chat"); c["max"] != float64(100) {
		t.Errorf("chat max %v with CAMNODE_CHAT_MAX_RUNES=100", c["max"])
	}
	if dev := bare["device"].(map[string]any); dev["name"] != "camnode garden" || dev["model"] != "camnode" || dev["hw_version"] != nil {
		t.Errorf("default device name/model: %v", dev)
	}
	if _, ok := bare["device"].(map[string]any)["configuration_url"]; ok {
		t.Errorf("configuration_url published while unknown")
	}

	// Without a discovery prefix nothing is published or removed.
	if m := DiscoveryMessages(NewTopics("camnode", "garden", ""), haDevice); m != nil {
		t.Errorf("discovery without a prefix: %v", m)
	}
	if m := DiscoveryRemoval(NewTopics("camnode", "garden", "")); m != nil {
		t.Errorf("removal without a prefix: %v", m)
	}
}

// Removal clears the device topic and every per-entity topic, with empty payloads.
func TestDiscoveryRemoval(t *testing.T) {
	topics := NewTopics("camnode", "garden", "homeassistant")
	msgs := DiscoveryRemoval(topics)
	seen := map[string]bool{}
	for _, m := range msgs {
		if len(m.Payload) != 0 {
			t.Fatalf("removal of %s carries %q", m.Topic, m.Payload)
		}
		seen[m.Topic] = true
	}
	if msgs[0].Topic != "homeassistant/device/camnode_garden/config" {
		t.Fatalf("first removal %s, want the device topic", msgs[0].Topic)
	}
	_, root := discoveryPayload(t, topics, haDevice)
	for key, v := range root["cmps"].(map[string]any) {
		legacy := "homeassistant/" + v.(map[string]any)["platform"].(string) + "/camnode_garden/" + key + "/config"
		if !seen[legacy] {
			t.Errorf("removal misses %s", legacy)
		}
	}
	if len(seen) != len(msgs) {
		t.Errorf("removal repeats topics: %d messages, %d topics", len(msgs), len(seen))
	}
}

func TestRediscoveryDelay(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		d := RediscoveryDelay()
		if d < time.Second || d >= 5*time.Second {
			t.Fatalf("delay %v outside [1s, 5s)", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 delays took only %d values: no jitter", len(seen))
	}
}

func TestEntityObjectID(t *testing.T) {
	for in, want := range map[string]string{
		"camnode_garden_stream": "camnode_garden_stream",
		"home_cams_front-door":  "home_cams_front_door",
		"__A--b__c_":            "a_b_c",
		"cam/ü/x":               "cam_x",
	} {
		if got := entityObjectID(in); got != want {
			t.Errorf("entityObjectID(%q) = %q, want %q", in, got, want)
		}
	}
}

// jinjaPython finds a Python with Jinja2 (Home Assistant's template engine): Debian's
// python3-jinja2, or whatever python3 is on PATH. scripts/ci/homeassistant.sh installs it
// and sets CAMNODE_REQUIRE_JINJA=1, so CI never skips this.
func jinjaPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import jinja2").Run() == nil {
			return py
		}
	}
	if os.Getenv("CAMNODE_REQUIRE_JINJA") == "1" {
		t.Fatalf("python3 with jinja2 is required (apt-get install python3-jinja2)")
	}
	t.Skip("python3 with jinja2 missing (apt-get install python3-jinja2)")
	return ""
}

// renderJinja renders each template with Jinja2 the way Home Assistant's MQTT entities do:
// value is the payload, value_json the payload parsed as JSON.
func renderJinja(t *testing.T, py string, jobs []jinjaJob) []string {
	t.Helper()
	in, _ := json.Marshal(jobs)
	const script = `
import json, sys, jinja2
env = jinja2.Environment()
out = []
for job in json.load(sys.stdin):
    ctx = {"value": job["value"]}
    try:
        ctx["value_json"] = json.loads(job["value"])
    except ValueError:
        pass
    out.append(env.from_string(job["template"]).render(**ctx))
json.dump(out, sys.stdout)
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("jinja2: %v\n%s", err, stderr.String())
	}
	var out []string
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("jinja2 output %q: %v", outb, err)
	}
	return out
}

type jinjaJob struct {
	Template string `json:"template"`
	Value    string `json:"value"`
}

// The templates render with a real Jinja engine to what Home Assistant expects, on
// payloads shaped like the node's, and what Home Assistant sends is a command the node
// accepts.
func TestTemplatesRenderWithJinja(t *testing.T) {
	py := jinjaPython(t)
	topics := NewTopics("camnode", "garden", "homeassistant")
	_, root := discoveryPayload(t, topics, haDevice)

	telemetry := `{"fps":29.97,"bitrate_kbps":2480.5,"frames_sent":900,"frames_dropped":3,"bytes_sent":9300000,` +
		`"keyframes":15,"reconnects":1,"stream_uptime_s":30.1,"uptime_s":42.5,"chat_received":7,"chat_shown":6,` +
		`"chat_dropped":1,"cpu_temp_c":51.2,"rss_bytes":23456789}`
	noTemp := strings.Replace(telemetry, `"cpu_temp_c":51.2,`, "", 1)
	live := `{"state":"live","since":"2025-01-02T15:04:05.000Z","started":"2025-01-02T15:00:00.000Z","live_since":"2025-01-02T15:04:05.000Z",` +
		`"source":"testsrc","target":"rtmp://x/live/****","targets":[{"target":"rtmp://a.example/live/****","state":"live"},{"target":"rtmps://b.example/app/****","state":"reconnecting","error":"x"}]}`
	idle := `{"state":"idle","since":"2025-01-02T15:04:05.000Z","started":"2025-01-02T15:00:00.000Z","source":"testsrc","target":""}`
	failed := `{"state":"error","since":"2025-01-02T15:04:05.000Z","source":"testsrc","target":"","error":"` + strings.Repeat("é", 300) + `"}`
	event := `{"event":"rtmp_rejected","reason":"ingest said \"no\"","ts":"2025-01-02T15:04:05.123Z","target":"rtmps://b.example:443/app/****"}`
	nodeEvent := `{"event":"stream_started","reason":"","ts":"2025-01-02T15:04:05.123Z"}`
	picture := `{"ts":"2025-01-02T15:04:05.123Z","width":1280,"height":720,"bytes":81234}`
	nextPicture := `{"ts":"2025-01-02T15:04:15.456Z","width":1280,"height":720,"bytes":80777}`
	noPicture := `{"ts":"2025-01-02T15:04:25.789Z","error":"no picture within 30s"}`
	chat := `ünïcødé "quoted" {not json} <b>&`
	withChat := `{"state":"idle","since":"2025-01-02T15:04:05.000Z","source":"testsrc","target":"","chat_sources":[` +
		`{"source":"twitch:garden","connected":true},{"source":"bilibili:21452505","connected":false,"error":"bilibili: code 60004; retrying in 1s"}]}`

	type expect struct {
		key, field, value, want string
	}
	cases := []expect{
		{"bitrate", "value_template", telemetry, "2480.5"},
		{"fps", "value_template", telemetry, "29.97"},
		{"frames_dropped", "value_template", telemetry, "3"},
		{"reconnects", "value_template", telemetry, "1"},
		{"chat_shown", "value_template", telemetry, "6"},
		{"chat_dropped", "value_template", telemetry, "1"},
		{"chat_received", "value_template", telemetry, "7"},
		{"frames_sent", "value_template", telemetry, "900"},
		{"keyframes", "value_template", telemetry, "15"},
		{"data_sent", "value_template", telemetry, "9.3"},
		{"memory", "value_template", telemetry, "23.5"},
		{"cpu_temperature", "value_template", telemetry, "51.2"},
		{"cpu_temperature", "value_template", noTemp, "None"}, // Home Assistant: unknown
		{"ingest", "value_template", live, "ON"},
		{"ingest", "value_template", idle, "OFF"},
		{"state", "value_template", live, "live"},
		{"problem", "value_template", failed, "ON"},
		{"problem", "value_template", live, "OFF"},
		{"problem", "value_template", strings.Replace(live, `"state":"live"`, `"state":"reconnecting","problem":true`, 1), "ON"},
		{"last_error", "value_template", failed, strings.Repeat("é", 255)},
		{"last_error", "value_template", live, "none"},
		{"live_since", "value_template", live, "2025-01-02T15:04:05.000Z"},
		{"live_since", "value_template", idle, "None"}, // Home Assistant: unknown
		{"started", "value_template", idle, "2025-01-02T15:00:00.000Z"},
		{"ingest_1", "value_template", live, "ON"},
		{"ingest_2", "value_template", live, "OFF"},
		{"ingest_1", "value_template", idle, "OFF"}, // no targets list at all
		{"event", "value_template", event, `{"event_type": "rtmp_rejected", "reason": "ingest said \"no\"", "target": "rtmps://b.example:443/app/****", "ts": "2025-01-02T15:04:05.123Z"}`},
		{"event", "value_template", nodeEvent, `{"event_type": "stream_started", "reason": "", "target": null, "ts": "2025-01-02T15:04:05.123Z"}`},
		// The snapshot's attributes are the same for every picture of one size.
		{"snapshot", "json_attributes_template", picture, `{"error": null, "height": 720, "width": 1280}`},
		{"snapshot", "json_attributes_template", nextPicture, `{"error": null, "height": 720, "width": 1280}`},
		{"snapshot", "json_attributes_template", noPicture, `{"error": "no picture within 30s", "height": null, "width": null}`},
		{"chat_source_1", "value_template", withChat, "ON"},
		{"chat_source_2", "value_template", withChat, "OFF"},
		{"chat_source_1", "value_template", idle, "OFF"}, // no chat_sources at all
		{"chat_source_2", "json_attributes_template", withChat, `{"connected": false, "error": "bilibili: code 60004; retrying in 1s", "source": "bilibili:21452505"}`},
		{"chat_source_1", "json_attributes_template", idle, "{}"},
		{"chat", "command_template", chat, ""},
	}
	var jobs []jinjaJob
	for _, c := range cases {
		tpl, _ := component(t, root, c.key)[c.field].(string)
		jobs = append(jobs, jinjaJob{Template: tpl, Value: c.value})
	}
	out := renderJinja(t, py, jobs)
	for i, c := range cases {
		if c.key == "chat" {
			continue
		}
		if strings.TrimSpace(out[i]) != c.want {
			t.Errorf("%s %s on %.40s… rendered %q, want %q", c.key, c.field, c.value, out[i], c.want)
		}
	}

	// The text entity's command: JSON whose text is exactly what the user typed, on the
	// chat topic, accepted by the node's parser.
	sent := out[len(out)-1]
	var msg struct{ Text, Source string }
	if err := json.Unmarshal([]byte(sent), &msg); err != nil || msg.Text != chat || msg.Source != "homeassistant" {
		t.Fatalf("chat command %q: %+v, %v", sent, msg, err)
	}
	if cmd, err := ParseCommand(topics, component(t, root, "chat")["command_topic"].(string), []byte(sent), false, 0); err != nil || cmd.Kind != CommandChat {
		t.Fatalf("node rejects Home Assistant's chat: %v", err)
	}

	// The switches' and buttons' payloads are commands the node takes.
	for key, payloads := range map[string][]string{"stream": {"payload_on", "payload_off"}, "danmaku": {"payload_on", "payload_off"}, "keyframe": {"payload_press"}, "restart": {"payload_press"}} {
		c := component(t, root, key)
		for _, p := range payloads {
			if _, err := ParseCommand(topics, c["command_topic"].(string), []byte(c[p].(string)), false, 0); err != nil {
				t.Errorf("%s %s %q rejected by the node: %v", key, p, c[p], err)
			}
		}
	}
}

// Whatever prefixes and node ID a Topics layout accepts, the discovery message follows the
// docs and removal covers the same device.
func FuzzDiscovery(f *testing.F) {
	f.Add("camnode", "garden", "homeassistant", "v1.0", 100)
	f.Add("home/cams", "front__door-2", "ha/disc", "", 0)
	f.Add("_", "-", "x", "dev", 1000)
	f.Add("ü/ß", "日本", "homeassistant", "1\x00", 1)
	f.Fuzz(func(t *testing.T, prefix, node, disc, version string, chatMax int) {
		topics := NewTopics(prefix, node, disc)
		if topics.Validate() != nil || topics.DiscoveryPrefix == "" {
			return
		}
		msgs := DiscoveryMessages(topics, DeviceInfo{SWVersion: version, ChatMaxRunes: chatMax, CPUTemperature: chatMax%2 == 0})
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		if errs := validateDeviceDiscovery(msgs[0].Topic, msgs[0].Payload); len(errs) > 0 {
			t.Fatalf("topics %+v: %s", topics, strings.Join(errs, "\n"))
		}
		if rm := DiscoveryRemoval(topics); rm[0].Topic != msgs[0].Topic {
			t.Fatalf("removal of %s, discovery on %s", rm[0].Topic, msgs[0].Topic)
		}
	})
}

// The switch shows what was asked, not what the stream is: a stream that keeps retrying
// stays ON in Home Assistant and can be switched off from the toggle.
func TestStreamSwitchShowsDesiredState(t *testing.T) {
	topics := NewTopics("camnode", "garden", "homeassistant")
	_, root := discoveryPayload(t, topics, haDevice)
	sw := component(t, root, "stream")
	if sw["state_topic"] != topics.StreamDesired || topics.StreamDesired != "camnode/garden/stream/desired" {
		t.Fatalf("stream switch state_topic %v, want %s", sw["state_topic"], topics.StreamDesired)
	}
	// What really is stays visible: the Ingest and State entities read <base>/state.
	if component(t, root, "ingest")["state_topic"] != topics.State || component(t, root, "state")["state_topic"] != topics.State {
		t.Fatalf("ingest/state do not read %s", topics.State)
	}
}

// A component of message 1 missing from message 2 is removed by a platform-only tombstone
// in message 2 (Home Assistant otherwise keeps it as an orphan), and so are the entities
// of older camnode versions.
func TestDiscoveryTombstones(t *testing.T) {
	topics := NewTopics("camnode", "garden", "homeassistant")
	first := DeviceInfo{CPUTemperature: true, EventTypes: []string{"stream_started"},
		Targets: []string{"rtmp://a/live/****", "rtmp://b/live/****", "rtmp://c/live/****"}}
	second := DeviceInfo{Targets: []string{"rtmp://a/live/****"}}
	_, m1 := discoveryPayload(t, topics, first)
	_, m2 := discoveryPayload(t, topics, second)
	c1, c2 := m1["cmps"].(map[string]any), m2["cmps"].(map[string]any)
	removed := 0
	for key, v := range c1 {
		c := v.(map[string]any)
		if len(c) == 1 {
			continue
		}
		now, ok := c2[key].(map[string]any)
		switch {
		case !ok:
			t.Errorf("%s: in message 1, left out of message 2 without a tombstone", key)
		case len(now) == 1:
			removed++
			if now["platform"] != c["platform"] {
				t.Errorf("%s: tombstone %v for a %v", key, now, c["platform"])
			}
		}
	}
	// cpu_temperature, event, ingest_1, ingest_2, ingest_3 (one target: no per-target sensors)
	if removed != 5 {
		t.Errorf("%d components removed, want 5", removed)
	}
	for _, key := range []string{"uptime", "stream_uptime"} {
		if c, ok := c2[key].(map[string]any); !ok || len(c) != 1 || c["platform"] != "sensor" {
			t.Errorf("retired %s: %v, want the tombstone {\"platform\":\"sensor\"}", key, c2[key])
		}
	}
	if errs := validateDeviceDiscovery(DiscoveryTopic(topics), DiscoveryMessages(topics, second)[0].Payload); len(errs) > 0 {
		t.Fatalf("message with tombstones: %s", strings.Join(errs, "\n"))
	}
}

// Home Assistant before 2026.5 ignores the root's qos: each component carries its own.
func TestDiscoveryQoSOnEachComponent(t *testing.T) {
	_, root := discoveryPayload(t, NewTopics("camnode", "garden", "homeassistant"), haDevice)
	if root["qos"] != float64(1) {
		t.Errorf("root qos %v", root["qos"])
	}
	for key, v := range root["cmps"].(map[string]any) {
		if c := v.(map[string]any); len(c) > 1 && c["qos"] != float64(1) {
			t.Errorf("%s: qos %v, want 1", key, c["qos"])
		}
	}
}

// Node IDs that differ only in '-' and '_' (or doubled '_') get different entity IDs.
func TestEntityIDsDoNotCollide(t *testing.T) {
	seen := map[string]string{}
	for _, node := range []string{"front-door", "front_door", "front__door", "front-_door", "frontdoor", "garden"} {
		_, root := discoveryPayload(t, NewTopics("camnode", node, "homeassistant"), DeviceInfo{})
		e := component(t, root, "stream")["default_entity_id"].(string)
		if other, dup := seen[e]; dup {
			t.Errorf("%s and %s both get %s", node, other, e)
		}
		seen[e] = node
	}
	// The plain case stays readable: no hash where nothing was lost.
	if _, root := discoveryPayload(t, NewTopics("camnode", "front_door", "homeassistant"), DeviceInfo{}); component(t, root, "chat")["default_entity_id"] != "text.camnode_front_door_chat" {
		t.Errorf("front_door: %v", component(t, root, "chat")["default_entity_id"])
	}
}

// The event entity lists exactly the event types the node passes; the node's test checks
// that list against its code.
func TestEventEntity(t *testing.T) {
	_, root := discoveryPayload(t, NewTopics("camnode", "garden", "homeassistant"), haDevice)
	got, _ := component(t, root, "event")["event_types"].([]any)
	if len(got) != len(haDevice.EventTypes) {
		t.Fatalf("event_types %v, want %v", got, haDevice.EventTypes)
	}
	for i, e := range haDevice.EventTypes {
		if got[i] != e {
			t.Fatalf("event_types %v, want %v", got, haDevice.EventTypes)
		}
	}
}

// The schema check knows the event and image platforms' required keys.
func TestSchemaCheckNewPlatforms(t *testing.T) {
	good := DiscoveryMessages(NewTopics("camnode", "garden", "homeassistant"), haDevice)[0]
	for name, m := range map[string]struct {
		want string
		edit func(c map[string]any)
	}{
		"event without types":   {`required key "event_types" missing`, func(c map[string]any) { delete(c["event"].(map[string]any), "event_types") }},
		"image without topic":   {`exactly one of image_topic and url_topic`, func(c map[string]any) { delete(c["snapshot"].(map[string]any), "image_topic") }},
		"image content type":    {`"jpeg" is not one of`, func(c map[string]any) { c["snapshot"].(map[string]any)["content_type"] = "jpeg" }},
		"event device class":    {`"alarm" is not one of`, func(c map[string]any) { c["event"].(map[string]any)["device_class"] = "alarm" }},
		"tombstone unknown pf.": {`platform "sensorr"`, func(c map[string]any) { c["uptime"] = map[string]any{"platform": "sensorr"} }},
	} {
		t.Run(name, func(t *testing.T) {
			var root map[string]any
			if err := json.Unmarshal(good.Payload, &root); err != nil {
				t.Fatal(err)
			}
			m.edit(root["cmps"].(map[string]any))
			b, _ := json.Marshal(root)
			if errs := validateDeviceDiscovery(good.Topic, b); !strings.Contains(strings.Join(errs, "\n"), m.want) {
				t.Fatalf("want %q, got %q", m.want, errs)
			}
		})
	}
}
