package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/camnode/camnode/internal/redact"
)

// Home Assistant MQTT discovery: one device-based discovery message per node,
// <discovery_prefix>/device/<device id>/config, retained, holding the device, the origin and
// every entity under "cmps". Home Assistant only acts on the components a message holds: a
// component left out of a later message stays as an orphan. So every component camnode has
// ever published (allComponents) that the current message does not carry goes out as a
// platform-only tombstone ({"p":"sensor"}), which removes it (Home Assistant 2024.11's
// device discovery contract). An empty payload removes the whole device: DiscoveryRemoval.
//
// Minimum Home Assistant version: 2024.11 (device-based discovery); 2025.10 for
// default_entity_id to name the entities (older versions ignore it and derive entity IDs
// from the names, e.g. text.camnode_garden_send_chat).

// DeviceInfo is what Home Assistant shows about the node on its device page, and what
// shapes its entities.
type DeviceInfo struct {
	Name             string // default "camnode <node ID>"
	Manufacturer     string // default DefaultManufacturer
	Model            string // default "camnode"
	HWVersion        string // the board, e.g. "Raspberry Pi 4 Model B Rev 1.4"; optional
	SWVersion        string // camnode's version, also the origin's sw_version
	ConfigurationURL string // optional; http://, https:// or homeassistant://
	SupportURL       string // the origin's support_url; default DefaultSupportURL
	// CPUTemperature says the board has a thermal sensor, so telemetry carries cpu_temp_c
	// and a CPU temperature sensor is offered.
	CPUTemperature bool
	// ChatMaxRunes caps the "Send chat" text entity below Home Assistant's own limit of 255,
	// so the UI refuses what the node would reject. 0 means 255.
	ChatMaxRunes int
	// EventTypes is every event name the node can publish on Topics.Event: the event
	// entity's event_types. Empty: no event entity.
	EventTypes []string
	// Targets are the destinations, redacted, in the order of the state's "targets" list.
	// With more than one, each gets an Ingest connectivity sensor (at most MaxTargetEntities).
	Targets []string
	// ChatSources are the rooms of CAMNODE_CHAT_FROM ("twitch:garden"), in the order of the
	// state's "chat_sources" list: each gets a connectivity sensor (at most MaxChatSourceEntities).
	ChatSources []string
}

// Defaults of the device and origin blocks.
const (
	DefaultManufacturer = "camnode project"
	DefaultSupportURL   = "https://github.com/camnode/camnode"
)

// MaxTargetEntities is how many destinations get their own Ingest sensor; the
// tombstones of removed ones cover the same range.
const MaxTargetEntities = 8

// MaxChatSourceEntities is how many chat readers get their own sensor.
const MaxChatSourceEntities = 8

// RetainedMessage is a message to publish with the retain flag.
type RetainedMessage struct {
	Topic   string
	Payload []byte // empty: delete the retained message
}

// Origin name of every discovery message.
const discoveryOrigin = "camnode"

// haTextMax is the longest value a Home Assistant text entity (and a sensor's state) takes.
const haTextMax = 255

// RediscoveryDelay is how long to wait before answering Home Assistant's "online" birth
// message with discovery: a random 1–5 s, so a fleet of nodes does not answer in the
// same instant when Home Assistant restarts.
func RediscoveryDelay() time.Duration {
	return time.Second + rand.N(RediscoveryDelayMax-time.Second)
}

// RediscoveryDelayMax bounds RediscoveryDelay.
const RediscoveryDelayMax = 5 * time.Second

// DeviceID is the node's device ID in Home Assistant: its identifier, the object ID of its
// discovery topic, and the start of every unique_id. It is derived from the base topic, so
// two fleets with different topic prefixes on one broker never collide: "camnode/garden"
// gives "camnode_garden".
func DeviceID(t Topics) string {
	return slug(t.Prefix + "_" + t.NodeID)
}

// entityPrefix starts every default_entity_id of the device. Entity IDs allow only
// [a-z0-9] and single inner underscores, so a device ID that loses anything on the way
// ("front-door", "front__door") gets a short hash of itself appended: "front-door" and
// "front_door" must not both become ..._front_door_stream.
func entityPrefix(deviceID string) string {
	p := entityObjectID(deviceID)
	if p == deviceID {
		return p
	}
	if p == "" { // nothing of [a-z0-9] in it: "日本"
		p = discoveryOrigin
	}
	h := fnv.New32a()
	h.Write([]byte(deviceID))
	return fmt.Sprintf("%s_%06x", p, h.Sum32()&0xffffff)
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
	device := map[string]any{"identifiers": []string{id}, "name": d.Name, "model": d.Model, "manufacturer": d.Manufacturer}
	if d.Name == "" {
		device["name"] = "camnode " + t.NodeID
	}
	if d.Model == "" {
		device["model"] = "camnode"
	}
	if d.Manufacturer == "" {
		device["manufacturer"] = DefaultManufacturer
	}
	for k, v := range map[string]string{"hw_version": d.HWVersion, "sw_version": d.SWVersion, "configuration_url": d.ConfigurationURL} {
		if v != "" {
			device[k] = v
		}
	}
	origin := map[string]any{"name": discoveryOrigin, "support_url": d.SupportURL}
	if d.SupportURL == "" {
		origin["support_url"] = DefaultSupportURL
	}
	if d.SWVersion != "" {
		origin["sw_version"] = d.SWVersion
	}
	prefix := entityPrefix(id)
	cmps := make(map[string]any)
	for _, e := range entities(t, d) {
		c := e.config
		c["platform"] = e.platform
		c["unique_id"] = id + "_" + e.key
		c["default_entity_id"] = e.platform + "." + prefix + "_" + e.key
		// Per component: Home Assistant before 2026.5 ignored the root's qos (core #170166),
		// and every command camnode takes is subscribed at QoS 1.
		c["qos"] = 1
		cmps[e.key] = c
	}
	for _, e := range allComponents(t) {
		if _, ok := cmps[e.key]; !ok {
			cmps[e.key] = map[string]any{"platform": e.platform} // tombstone: removes it
		}
	}
	payload, err := json.Marshal(map[string]any{
		"device": device,
		"origin": origin,
		// A shared option: every component takes it from here (device discovery, 2024.11).
		"availability": []map[string]string{{
			"topic": t.Availability, "payload_available": Online, "payload_not_available": Offline,
		}},
		"qos":  1, // for Home Assistant 2026.5 and later, which read it here too
		"cmps": cmps,
	})
	if err != nil { // maps of strings, numbers and bools always encode
		panic("mqtt: discovery payload: " + err.Error())
	}
	return []RetainedMessage{{Topic: DiscoveryTopic(t), Payload: payload}}
}

// retiredComponents were published by earlier camnode versions; they stay in
// allComponents so that their tombstones remove them from Home Assistant.
var retiredComponents = []entity{
	{key: "uptime", platform: "sensor"},        // replaced by "started" (a timestamp)
	{key: "stream_uptime", platform: "sensor"}, // replaced by "live_since"
}

// allComponents is every component camnode has ever published for a node with topics t:
// today's entities with every option on, the per-destination sensors up to
// MaxTargetEntities, and the retired ones.
func allComponents(t Topics) []entity {
	full := DeviceInfo{CPUTemperature: true, EventTypes: []string{"x"}, Targets: make([]string, MaxTargetEntities),
		ChatSources: make([]string, MaxChatSourceEntities)}
	return append(entities(t, full), retiredComponents...)
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
	for _, e := range allComponents(t) {
		msgs = append(msgs, RetainedMessage{Topic: t.DiscoveryPrefix + "/" + e.platform + "/" + id + "/" + e.key + "/config"})
	}
	return msgs
}

// discoveryFilters are the topic filters under which a node's retained discovery can lie:
// the device topic and the per-entity topics of an older layout.
func discoveryFilters(t Topics) []string {
	id := DeviceID(t)
	return []string{DiscoveryTopic(t), t.DiscoveryPrefix + "/+/" + id + "/+/config"}
}

// RetainedDiscovery connects once with cfg's broker settings (like PublishRetained) and
// returns the topics under which the broker holds a retained discovery message of the node
// (cfg.Topics): the device topic, or per-entity topics of an older layout. A node with
// discovery turned off removes exactly these, once, instead of publishing empty messages
// at every connect that make Home Assistant log "No device components to cleanup".
//
// The broker sends retained messages right after the subscription; a marker published
// afterwards on the node's own Topics.DiscoveryProbe comes after all of them, so the
// answer needs no waiting on a clock. ctx bounds the whole exchange.
func RetainedDiscovery(ctx context.Context, cfg Config) ([]string, error) {
	if cfg.Topics.DiscoveryPrefix == "" {
		return nil, nil
	}
	return retainedUnder(ctx, cfg, "probe", discoveryFilters(cfg.Topics))
}

// NodeRetained is RetainedDiscovery for `camnode forget`: the topics under which the broker
// holds a retained message of the node's discovery and, with state, every retained topic
// under its base topic (availability, state, stream/desired, snapshot, snapshot/info...).
func NodeRetained(ctx context.Context, cfg Config, state bool) ([]string, error) {
	var filters []string
	if cfg.Topics.DiscoveryPrefix != "" {
		filters = discoveryFilters(cfg.Topics)
	}
	if state {
		filters = append(filters, cfg.Topics.Base+"/#")
	}
	if len(filters) == 0 {
		return nil, nil
	}
	return retainedUnder(ctx, cfg, "forget", filters)
}

// retainedUnder connects as "camnode-<node ID>-<role>" and returns the topics under the
// filters that hold a retained message, sorted.
func retainedUnder(ctx context.Context, cfg Config, role string, under []string) ([]string, error) {
	t := cfg.Topics
	client, b, err := oneShotClient(ctx, cfg, role)
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(disconnectQuiesce)
	marker := t.DiscoveryProbe
	var (
		mu    sync.Mutex
		found []string
		done  = make(chan struct{})
		once  sync.Once
	)
	filters := map[string]byte{marker: 1}
	for _, f := range under {
		filters[f] = 1
	}
	tok := client.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) {
		if m.Topic() == marker {
			once.Do(func() { close(done) })
			return
		}
		if m.Retained() && len(m.Payload()) > 0 {
			mu.Lock()
			found = append(found, m.Topic())
			mu.Unlock()
		}
	})
	if err := waitToken(ctx, tok); err != nil {
		return nil, fmt.Errorf("mqtt: subscribe to %s on %s: %w", strings.Join(under, " "), b.redacted, err)
	}
	if err := waitToken(ctx, client.Publish(marker, 1, false, []byte("probe"))); err != nil {
		return nil, fmt.Errorf("mqtt: publish %s to %s: %w", marker, b.redacted, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("mqtt: look for retained messages on %s: %w", b.redacted, ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(found)
	return slices.Compact(found), nil
}

// PublishRetained connects once with cfg's broker settings, publishes msgs retained at QoS 1
// in order, waits for the broker to acknowledge each, and disconnects: for `camnode forget`,
// which must not look like the node itself. So unlike a Session it sets no last will,
// publishes no availability, subscribes to nothing and uses the client ID
// "camnode-<node ID>-forget" (a broker drops the older of two clients with one ID).
// Errors name the broker, redacted, never the password.
func PublishRetained(ctx context.Context, cfg Config, msgs []RetainedMessage) error {
	client, b, err := oneShotClient(ctx, cfg, "forget")
	if err != nil {
		return err
	}
	defer client.Disconnect(disconnectQuiesce)
	for _, m := range msgs {
		if err := waitToken(ctx, client.Publish(m.Topic, 1, true, m.Payload)); err != nil {
			return fmt.Errorf("mqtt: publish %s to %s: %s", m.Topic, b.redacted, redact.Echo(err.Error(), []string{cfg.Password, b.password}))
		}
	}
	return nil
}

// oneShotClient connects a plain client with cfg's broker settings and the client ID
// "camnode-<node ID>-<role>": no last will, no availability, no reconnects.
func oneShotClient(ctx context.Context, cfg Config, role string) (paho.Client, broker, error) {
	b, err := parseBrokerURL(cfg.URL)
	if err != nil {
		return nil, b, err
	}
	if cfg.Username == "" && cfg.Password == "" {
		cfg.Username, cfg.Password = b.username, b.password
	}
	opts := paho.NewClientOptions().
		AddBroker(b.dial.String()).
		SetClientID("camnode-" + cfg.Topics.NodeID + "-" + role).
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
			return nil, b, err
		}
		opts.SetTLSConfig(tc)
	case cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "":
		return nil, b, fmt.Errorf("mqtt: CA, certificate or key file given, but broker URL %s is not TLS (use ssl://, mqtts:// or wss://)", b.redacted)
	}
	client := paho.NewClient(opts)
	if err := waitToken(ctx, client.Connect()); err != nil {
		return nil, b, fmt.Errorf("mqtt: connect %s: %s", b.redacted, redact.Echo(err.Error(), []string{cfg.Password}))
	}
	return client, b, nil
}

func waitToken(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// entity is one component of the device: its key under "cmps" (also the end of its
// unique_id and entity ID), its platform, and its platform-specific options.
type entity struct {
	key      string
	platform string
	config   map[string]any
}

// The enum values of the "State" sensor: node.State as published in <base>/state.
var streamStates = []string{"idle", "starting", "live", "reconnecting", "error"}

// orNone renders a field of the JSON payload, or 'None' (Home Assistant: unknown) where
// the node leaves it out, rather than an undefined-variable warning in Home Assistant's log.
func orNone(field string) string {
	v := "value_json." + field
	return "{{ " + v + " if " + v + " is defined and " + v + " else 'None' }}"
}

func entities(t Topics, d DeviceInfo) []entity {
	chatMax := haTextMax
	if d.ChatMaxRunes > 0 && d.ChatMaxRunes < haTextMax {
		chatMax = d.ChatMaxRunes
	}
	es := []entity{
		{key: "stream", platform: "switch", config: map[string]any{
			"name": "Stream", "icon": "mdi:video",
			// The switch shows what was asked (stream/desired), so a stream that keeps
			// retrying can be switched off; Ingest and State show what really is.
			"command_topic": t.StreamSet, "state_topic": t.StreamDesired,
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
			// since, source, targets (redacted), size, fps and error as attributes
			"json_attributes_topic": t.State,
		}},
		{key: "problem", platform: "binary_sensor", config: map[string]any{
			"name": "Problem", "device_class": "problem",
			"state_topic": t.State,
			// ON on an error, and when the stream has been wanted for 60 s without any
			// live destination (the node says so in "problem").
			"value_template": "{{ 'ON' if value_json.state == 'error' or (value_json.problem is defined and value_json.problem) else 'OFF' }}",
		}},
		{key: "last_error", platform: "sensor", config: map[string]any{
			"name": "Last error", "icon": "mdi:alert-circle-outline", "entity_category": "diagnostic",
			"state_topic": t.State,
			// A sensor's state holds at most 255 characters; "none" while there is no error.
			"value_template": "{{ (value_json.error if value_json.error is defined and value_json.error else 'none')[:255] }}",
		}},
		{key: "live_since", platform: "sensor", config: map[string]any{
			"name": "Live since", "device_class": "timestamp", "icon": "mdi:broadcast",
			"state_topic": t.State, "value_template": orNone("live_since"),
		}},
		{key: "started", platform: "sensor", config: map[string]any{
			"name": "Started", "device_class": "timestamp", "entity_category": "diagnostic",
			"state_topic": t.State, "value_template": orNone("started"),
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
		{key: "snapshot", platform: "image", config: map[string]any{
			"name": "Snapshot", "image_topic": t.Snapshot, "content_type": "image/jpeg",
			// width, height and error (why there is no picture): not ts or bytes, which
			// change with every picture and would make a new state for the recorder each
			// CAMNODE_SNAPSHOT_INTERVAL.
			"json_attributes_topic":    t.SnapshotInfo,
			"json_attributes_template": "{{ {'width': value_json.width | default(None), 'height': value_json.height | default(None), 'error': value_json.error | default(None)} | tojson }}",
		}},
		{key: "take_snapshot", platform: "button", config: map[string]any{
			"name": "Take snapshot", "icon": "mdi:camera",
			"command_topic": t.SnapshotSet, "payload_press": "PRESS", "retain": false,
		}},
	}
	if len(d.EventTypes) > 0 {
		es = append(es, entity{key: "event", platform: "event", config: map[string]any{
			"name": "Event", "icon": "mdi:bell-ring-outline",
			"state_topic": t.Event, "event_types": d.EventTypes,
			// Home Assistant wants {"event_type": …}; the reason and time go along as
			// the event's attributes.
			// target: the destination (redacted) an event such as rtmp_rejected is about.
			"value_template": "{{ {'event_type': value_json.event, 'reason': value_json.reason, 'ts': value_json.ts, 'target': value_json.target | default(None)} | tojson }}",
		}})
	}
	if len(d.Targets) > 1 {
		targets := d.Targets[:min(len(d.Targets), MaxTargetEntities)]
		for i, target := range targets {
			name := "Ingest " + targetName(targets, i)
			if target == "" {
				name = "Ingest " + strconv.Itoa(i+1)
			}
			// By position in the state's targets list: the redacted URL may hold quotes.
			v := "value_json.targets[" + strconv.Itoa(i) + "]"
			es = append(es, entity{key: "ingest_" + strconv.Itoa(i+1), platform: "binary_sensor", config: map[string]any{
				"name": clip(name, 100), "device_class": "connectivity",
				"state_topic": t.State,
				"value_template": "{{ 'ON' if value_json.targets is defined and value_json.targets | length > " + strconv.Itoa(i) +
					" and " + v + ".state == 'live' else 'OFF' }}",
			}})
		}
	}
	for i, src := range d.ChatSources[:min(len(d.ChatSources), MaxChatSourceEntities)] {
		// By position in the state's chat_sources list, like the ingests.
		v := "value_json.chat_sources[" + strconv.Itoa(i) + "]"
		es = append(es, entity{key: "chat_source_" + strconv.Itoa(i+1), platform: "binary_sensor", config: map[string]any{
			"name": clip("Chat "+src, 100), "device_class": "connectivity", "icon": "mdi:chat-processing",
			"state_topic": t.State,
			"value_template": "{{ 'ON' if value_json.chat_sources is defined and value_json.chat_sources | length > " + strconv.Itoa(i) +
				" and " + v + ".connected else 'OFF' }}",
			// source, error (why it is not connected), since and note as attributes
			"json_attributes_topic":    t.State,
			"json_attributes_template": "{{ (" + v + " if value_json.chat_sources is defined and value_json.chat_sources | length > " + strconv.Itoa(i) + " else {}) | tojson }}",
		}})
	}
	for _, s := range telemetrySensors {
		if s.optional && !d.CPUTemperature {
			continue
		}
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
		es = append(es, entity{key: s.key, platform: "sensor", config: c})
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
	{key: "reconnects", name: "Reconnects", field: "reconnects", state: "total_increasing", icon: "mdi:lan-pending", precision: 0},
	{key: "chat_shown", name: "Chat shown", field: "chat_shown", state: "total_increasing", icon: "mdi:message-check", precision: 0},
	{key: "chat_dropped", name: "Chat dropped", field: "chat_dropped", state: "total_increasing", icon: "mdi:message-alert", precision: 0},
	{key: "chat_received", name: "Chat received", field: "chat_received", state: "total_increasing", category: "diagnostic", icon: "mdi:message-arrow-left", precision: 0},
	{key: "frames_sent", name: "Frames sent", field: "frames_sent", state: "total_increasing", category: "diagnostic", icon: "mdi:filmstrip", precision: 0, hidden: true},
	{key: "keyframes", name: "Keyframes", field: "keyframes", state: "total_increasing", category: "diagnostic", icon: "mdi:key-variant", precision: 0, hidden: true},
	{key: "data_sent", name: "Data sent", field: "bytes_sent", class: "data_size", unit: "MB", state: "total_increasing", category: "diagnostic", precision: 1, scale: 1e6, hidden: true},
	{key: "memory", name: "Memory", field: "rss_bytes", class: "data_size", unit: "MB", state: "measurement", category: "diagnostic", precision: 1, scale: 1e6},
	{key: "cpu_temperature", name: "CPU temperature", field: "cpu_temp_c", class: "temperature", unit: "°C", state: "measurement", category: "diagnostic", precision: 1, optional: true},
}

// targetName names destination i of targets (redacted URLs) by its host, "a.rtmp.youtube.com";
// by host and number, "a.example 2", when another destination has the same host.
func targetName(targets []string, i int) string {
	host := func(raw string) string {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
		return raw
	}
	h := host(targets[i])
	for j, other := range targets {
		if j != i && host(other) == h {
			return h + " " + strconv.Itoa(i+1)
		}
	}
	return h
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
