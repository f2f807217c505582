package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Home Assistant MQTT discovery: one device-based discovery message per node,
// <discovery_prefix>/device/<device id>/config, retained, holding the device, the origin and
// every entity under "cmps". Home Assistant drops components left out of a later message and
// the whole device on an empty payload, so a node that stops publishing discovery clears it
// with DiscoveryRemoval.

// DeviceInfo is what Home Assistant shows about the node on its device page.
type DeviceInfo struct {
	Name             string // default "camnode <node ID>"
	Manufacturer     string // optional
	Model            string // default "camnode"; e.g. the board: "Raspberry Pi 4 Model B Rev 1.4"
	SWVersion        string // camnode's version, also the origin's sw_version
	ConfigurationURL string // optional; http://, https:// or homeassistant://
	SupportURL       string // optional; the origin's support_url
	// CPUTemperature says the board has a thermal sensor, so telemetry carries cpu_temp_c
	// and a CPU temperature sensor is offered.
	CPUTemperature bool
	// ChatMaxRunes caps the "Send chat" text entity below Home Assistant's own limit of 255,
	// so the UI refuses what the node would reject. 0 means 255.
	ChatMaxRunes int
}

// RetainedMessage is a message to publish with the retain flag.
type RetainedMessage struct {
	Topic   string
	Payload []byte // empty: delete the retained message
}

// Origin name of every discovery message.
const discoveryOrigin = "camnode"

// haTextMax is the longest value a Home Assistant text entity takes.
const haTextMax = 255

// RediscoveryDelay is how long to wait before answering Home Assistant's "online" birth
// message with discovery: a random 1–5 s, so a fleet of nodes does not answer in the
// same instant when Home Assistant restarts.
func RediscoveryDelay() time.Duration {
	return time.Second + rand.N(4*time.Second)
}

// DeviceID is the node's device ID in Home Assistant: its identifier, the object ID of its
// discovery topic, and the start of every unique_id and entity ID. It is derived from the
// base topic, so two fleets with different topic prefixes on one broker never collide:
// "camnode/garden" gives "camnode_garden".
func DeviceID(t Topics) string {
	return slug(t.Prefix + "_" + t.NodeID)
}

// DiscoveryTopic is the device-based discovery topic of the node.
func DiscoveryTopic(t Topics) string {
	return t.DiscoveryPrefix + "/device/" + DeviceID(t) + "/config"
}

// DiscoveryMessages returns the retained discovery message(s) of the node: publish them
// after every connect and when Home Assistant says "online" on Topics.HAStatus. Without a
// discovery prefix there is nothing to publish.
func DiscoveryMessages(t Topics, d DeviceInfo) []RetainedMessage {
	if t.DiscoveryPrefix == "" {
		return nil
	}
	id := DeviceID(t)
	device := map[string]any{"identifiers": []string{id}, "name": d.Name, "model": d.Model}
	if d.Name == "" {
		device["name"] = "camnode " + t.NodeID
	}
	if d.Model == "" {
		device["model"] = "camnode"
	}
	for k, v := range map[string]string{"manufacturer": d.Manufacturer, "sw_version": d.SWVersion, "configuration_url": d.ConfigurationURL} {
		if v != "" {
			device[k] = v
		}
	}
	origin := map[string]any{"name": discoveryOrigin}
	if d.SWVersion != "" {
		origin["sw_version"] = d.SWVersion
	}
	if d.SupportURL != "" {
		origin["support_url"] = d.SupportURL
	}
	cmps := make(map[string]any)
	for _, e := range entities(t, d) {
		if e.optional && !d.CPUTemperature {
			continue
		}
		c := e.config
		c["platform"] = e.platform
		c["unique_id"] = id + "_" + e.key
		c["default_entity_id"] = e.platform + "." + entityObjectID(id+"_"+e.key)
		c["availability"] = []map[string]string{{
			"topic": t.Availability, "payload_available": Online, "payload_not_available": Offline,
		}}
		cmps[e.key] = c
	}
	payload, err := json.Marshal(map[string]any{
		"device": device,
		"origin": origin,
		"qos":    1, // every command camnode takes is subscribed at QoS 1
		"cmps":   cmps,
	})
	if err != nil { // maps of strings, numbers and bools always encode
		panic("mqtt: discovery payload: " + err.Error())
	}
	return []RetainedMessage{{Topic: DiscoveryTopic(t), Payload: payload}}
}

// DiscoveryRemoval returns the empty retained messages that make Home Assistant forget the
// node: the device-based discovery topic, and every per-entity topic
// (<prefix>/<platform>/<device id>/<entity>/config) an older layout could have left behind.
func DiscoveryRemoval(t Topics) []RetainedMessage {
	if t.DiscoveryPrefix == "" {
		return nil
	}
	id := DeviceID(t)
	msgs := []RetainedMessage{{Topic: DiscoveryTopic(t)}}
	for _, e := range entities(t, DeviceInfo{}) {
		msgs = append(msgs, RetainedMessage{Topic: t.DiscoveryPrefix + "/" + e.platform + "/" + id + "/" + e.key + "/config"})
	}
	return msgs
}

// PublishRetained connects once with cfg's broker settings, publishes msgs retained at QoS 1
// in order, waits for the broker to acknowledge each, and disconnects: for `camnode forget`,
// which must not look like the node itself. So unlike a Session it sets no last will,
// publishes no availability, subscribes to nothing and uses the client ID
// "camnode-<node ID>-forget" (a broker drops the older of two clients with one ID).
// Errors name the broker, redacted, never the password.
func PublishRetained(ctx context.Context, cfg Config, msgs []RetainedMessage) error {
	b, err := parseBrokerURL(cfg.URL)
	if err != nil {
		return err
	}
	if cfg.Username == "" && cfg.Password == "" {
		cfg.Username, cfg.Password = b.username, b.password
	}
	opts := paho.NewClientOptions().
		AddBroker(b.dial.String()).
		SetClientID("camnode-" + cfg.Topics.NodeID + "-forget").
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(publishTimeout)
	switch {
	case b.tls:
		tc, err := tlsConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return err
		}
		opts.SetTLSConfig(tc)
	case cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "":
		return fmt.Errorf("mqtt: CA, certificate or key file given, but broker URL %s is not TLS (use ssl://, mqtts:// or wss://)", b.redacted)
	}
	scrub := func(err error) string {
		msg := err.Error()
		if cfg.Password != "" {
			msg = strings.ReplaceAll(msg, cfg.Password, "****")
		}
		return msg
	}
	wait := func(tok paho.Token) error {
		select {
		case <-tok.Done():
			return tok.Error()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	client := paho.NewClient(opts)
	if err := wait(client.Connect()); err != nil {
		return fmt.Errorf("mqtt: connect %s: %s", b.redacted, scrub(err))
	}
	defer client.Disconnect(disconnectQuiesce)
	for _, m := range msgs {
		if err := wait(client.Publish(m.Topic, 1, true, m.Payload)); err != nil {
			return fmt.Errorf("mqtt: publish %s to %s: %s", m.Topic, b.redacted, scrub(err))
		}
	}
	return nil
}

// entity is one component of the device: its key under "cmps" (also the end of its
// unique_id and entity ID), its platform, and its platform-specific options.
type entity struct {
	key      string
	platform string
	config   map[string]any
	optional bool // only with DeviceInfo.CPUTemperature
}

// The enum values of the "State" sensor: node.State as published in <base>/state.
var streamStates = []string{"idle", "starting", "live", "reconnecting", "error"}

func entities(t Topics, d DeviceInfo) []entity {
	chatMax := haTextMax
	if d.ChatMaxRunes > 0 && d.ChatMaxRunes < haTextMax {
		chatMax = d.ChatMaxRunes
	}
	es := []entity{
		{key: "stream", platform: "switch", config: map[string]any{
			"name": "Stream", "icon": "mdi:video",
			"command_topic": t.StreamSet, "state_topic": t.StreamState,
			"payload_on": "ON", "payload_off": "OFF",
			// Not retained: camnode ignores retained commands (no ghost switching at boot).
			"retain": false,
		}},
		{key: "ingest", platform: "binary_sensor", config: map[string]any{
			"name": "Ingest", "device_class": "connectivity",
			"state_topic":    t.State,
			"value_template": "{{ 'ON' if value_json.state == 'live' else 'OFF' }}",
		}},
		{key: "state", platform: "sensor", config: map[string]any{
			"name": "State", "icon": "mdi:broadcast",
			"device_class": "enum", "options": streamStates,
			"state_topic": t.State, "value_template": "{{ value_json.state }}",
			// since, source, target (redacted), size, fps and error as attributes
			"json_attributes_topic": t.State,
		}},
		{key: "keyframe", platform: "button", config: map[string]any{
			"name": "Keyframe", "icon": "mdi:key-variant",
			"command_topic": t.KeyframeSet, "payload_press": "PRESS", "retain": false,
		}},
		{key: "restart", platform: "button", config: map[string]any{
			"name": "Restart", "device_class": "restart", "entity_category": "config",
			"command_topic": t.RestartSet, "payload_press": "PRESS", "retain": false,
		}},
		{key: "chat", platform: "text", config: map[string]any{
			"name": "Send chat", "icon": "mdi:chat",
			"command_topic": t.Chat, "mode": "text", "min": 1, "max": chatMax, "retain": false,
			// Always JSON, so a message that happens to start with "{" or "[" is still text.
			"command_template": "{{ {'text': value, 'source': 'homeassistant'} | tojson }}",
		}},
		{key: "danmaku", platform: "switch", config: map[string]any{
			"name": "Danmaku", "icon": "mdi:comment-text-multiple", "entity_category": "config",
			"command_topic": t.DanmakuSet, "state_topic": t.DanmakuState,
			"payload_on": "ON", "payload_off": "OFF", "retain": false,
		}},
	}
	for _, s := range telemetrySensors {
		c := map[string]any{
			"name":           s.name,
			"state_topic":    t.Telemetry,
			"value_template": s.template(),
		}
		for k, v := range map[string]string{"device_class": s.class, "unit_of_measurement": s.unit, "state_class": s.state, "entity_category": s.category, "icon": s.icon} {
			if v != "" {
				c[k] = v
			}
		}
		c["suggested_display_precision"] = s.precision
		if s.hidden {
			c["enabled_by_default"] = false
		}
		es = append(es, entity{key: s.key, platform: "sensor", config: c, optional: s.optional})
	}
	return es
}

// telemetrySensor is a sensor on a field of the <base>/telemetry JSON.
type telemetrySensor struct {
	key, name, field   string
	class, unit, state string
	category, icon     string
	precision          int     // suggested_display_precision
	scale              float64 // divide the field by this (bytes to MB); 0: as is
	hidden             bool    // not enabled by default: changes every interval, rarely looked at
	optional           bool    // absent from telemetry on boards without a thermal sensor
}

func (s telemetrySensor) template() string {
	v := "value_json." + s.field
	switch {
	case s.optional:
		// Home Assistant takes 'None' as "unknown", rather than logging an undefined field.
		return "{{ " + v + " if " + v + " is defined else 'None' }}"
	case s.scale != 0:
		return "{{ (" + v + " / " + strconv.FormatFloat(s.scale, 'f', -1, 64) + ") | round(1) }}"
	}
	return "{{ " + v + " }}"
}

// telemetrySensors follow the fields of node/telemetry.go (DESIGN.md "telemetry").
var telemetrySensors = []telemetrySensor{
	{key: "bitrate", name: "Bitrate", field: "bitrate_kbps", class: "data_rate", unit: "kbit/s", state: "measurement", precision: 0},
	{key: "fps", name: "Frame rate", field: "fps", unit: "fps", state: "measurement", icon: "mdi:filmstrip", precision: 1},
	{key: "frames_dropped", name: "Frames dropped", field: "frames_dropped", state: "total_increasing", icon: "mdi:filmstrip-off", precision: 0},
	{key: "stream_uptime", name: "Stream uptime", field: "stream_uptime_s", class: "duration", unit: "s", state: "measurement", precision: 0},
	{key: "reconnects", name: "Reconnects", field: "reconnects", state: "total_increasing", icon: "mdi:lan-pending", precision: 0},
	{key: "chat_shown", name: "Chat shown", field: "chat_shown", state: "total_increasing", icon: "mdi:message-check", precision: 0},
	{key: "chat_dropped", name: "Chat dropped", field: "chat_dropped", state: "total_increasing", icon: "mdi:message-alert", precision: 0},
	{key: "chat_received", name: "Chat received", field: "chat_received", state: "total_increasing", category: "diagnostic", icon: "mdi:message-arrow-left", precision: 0},
	{key: "frames_sent", name: "Frames sent", field: "frames_sent", state: "total_increasing", category: "diagnostic", icon: "mdi:filmstrip", precision: 0, hidden: true},
	{key: "keyframes", name: "Keyframes", field: "keyframes", state: "total_increasing", category: "diagnostic", icon: "mdi:key-variant", precision: 0, hidden: true},
	{key: "data_sent", name: "Data sent", field: "bytes_sent", class: "data_size", unit: "MB", state: "total_increasing", category: "diagnostic", precision: 1, scale: 1e6, hidden: true},
	{key: "uptime", name: "Uptime", field: "uptime_s", class: "duration", unit: "s", state: "measurement", category: "diagnostic", precision: 0},
	{key: "memory", name: "Memory", field: "rss_bytes", class: "data_size", unit: "MB", state: "measurement", category: "diagnostic", precision: 1, scale: 1e6},
	{key: "cpu_temperature", name: "CPU temperature", field: "cpu_temp_c", class: "temperature", unit: "°C", state: "measurement", category: "diagnostic", precision: 1, optional: true},
}

// slug keeps what Home Assistant allows in a discovery topic's object ID, [a-zA-Z0-9_-],
// and lowercases, since the same string starts the entity IDs.
func slug(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// entityObjectID makes the part of an entity ID after the platform: Home Assistant allows
// [a-z0-9_] with no leading, trailing or doubled underscore.
func entityObjectID(s string) string {
	var b strings.Builder
	under := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(c)
			under = false
			continue
		}
		under = true
	}
	return b.String()
}
