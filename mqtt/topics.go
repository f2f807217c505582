package mqtt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// DefaultPrefix is the first topic level when none is configured.
const DefaultPrefix = "camnode"

// Topics is every MQTT topic camnode subscribes or publishes to, derived from the topic
// prefix, the node ID and the Home Assistant discovery prefix. The layout is the contract
// of DESIGN.md "MQTT API"; no other file builds a topic string.
type Topics struct {
	Prefix          string // "camnode"
	NodeID          string // "garden"
	Base            string // "camnode/garden"
	DiscoveryPrefix string // "homeassistant"; empty when Home Assistant is not used

	// Subscribed by the node (QoS 1).
	StreamSet    string // <base>/stream/set: ON / OFF / TOGGLE
	Chat         string // <base>/chat: danmaku
	KeyframeSet  string // <base>/keyframe/set: anything asks for an IDR frame
	RestartSet   string // <base>/restart/set: anything restarts the pipeline
	DanmakuSet   string // <base>/danmaku/set: ON / OFF
	SnapshotSet  string // <base>/snapshot/set: anything asks for a snapshot now
	AllStreamSet string // <prefix>/all/stream/set: StreamSet for the whole fleet
	AllChat      string // <prefix>/all/chat: Chat for the whole fleet
	HAStatus     string // <discovery_prefix>/status: Home Assistant's birth message; empty without discovery

	// Published by the node.
	Availability  string // <base>/availability, retained: online / offline (also the last will)
	StreamState   string // <base>/stream/state, retained: ON / OFF, what the stream really is
	StreamDesired string // <base>/stream/desired, retained: ON / OFF, what was asked (the HA switch)
	DanmakuState  string // <base>/danmaku/state, retained: ON / OFF
	State         string // <base>/state, retained: JSON state
	Telemetry     string // <base>/telemetry: JSON every interval
	Event         string // <base>/event: JSON {"event","reason","ts"}
	ChatIn        string // <base>/chat/in: every chat message the node took (MQTT or a platform), normalised JSON
	Snapshot      string // <base>/snapshot, retained: JPEG of the picture as viewers see it
	SnapshotInfo  string // <base>/snapshot/info, retained: JSON {"ts","width","height","bytes","error"}
	// DiscoveryProbe, <base>/discovery/probe: a marker RetainedDiscovery publishes (not
	// retained) once per run with discovery off, after which every retained discovery
	// message of the node has arrived.
	DiscoveryProbe string
}

// fleetLevel is the topic level under the prefix that addresses every node at once; a node
// cannot be called that.
const fleetLevel = "all"

// NewTopics lays out the topics of one node. An empty prefix means DefaultPrefix; an empty
// discoveryPrefix leaves HAStatus empty, so nothing from Home Assistant is subscribed.
// Trailing slashes of prefix and discoveryPrefix are ignored. NewTopics does not check its
// input; Topics.Validate does.
func NewTopics(prefix, nodeID, discoveryPrefix string) Topics {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	discoveryPrefix = strings.TrimRight(discoveryPrefix, "/")
	base := prefix + "/" + nodeID
	t := Topics{
		Prefix:          prefix,
		NodeID:          nodeID,
		Base:            base,
		DiscoveryPrefix: discoveryPrefix,

		StreamSet:    base + "/stream/set",
		Chat:         base + "/chat",
		KeyframeSet:  base + "/keyframe/set",
		RestartSet:   base + "/restart/set",
		DanmakuSet:   base + "/danmaku/set",
		SnapshotSet:  base + "/snapshot/set",
		AllStreamSet: prefix + "/" + fleetLevel + "/stream/set",
		AllChat:      prefix + "/" + fleetLevel + "/chat",

		Availability:   base + "/availability",
		StreamState:    base + "/stream/state",
		StreamDesired:  base + "/stream/desired",
		DanmakuState:   base + "/danmaku/state",
		State:          base + "/state",
		Telemetry:      base + "/telemetry",
		Event:          base + "/event",
		ChatIn:         base + "/chat/in",
		Snapshot:       base + "/snapshot",
		SnapshotInfo:   base + "/snapshot/info",
		DiscoveryProbe: base + "/discovery/probe",
	}
	if discoveryPrefix != "" {
		t.HAStatus = discoveryPrefix + "/status"
	}
	return t
}

// Subscriptions returns the topics the session subscribes to, in a fixed order.
func (t Topics) Subscriptions() []string {
	subs := []string{t.StreamSet, t.Chat, t.KeyframeSet, t.RestartSet, t.DanmakuSet, t.SnapshotSet, t.AllStreamSet, t.AllChat}
	if t.HAStatus != "" {
		subs = append(subs, t.HAStatus)
	}
	return subs
}

// Validate reports a layout that cannot work: an empty or multi-level node ID, the node ID
// "all" (it would receive the fleet's commands twice), wildcards, or invalid UTF-8.
func (t Topics) Validate() error {
	switch {
	case t.NodeID == "":
		return fmt.Errorf("mqtt: node ID is empty")
	case t.NodeID == fleetLevel:
		return fmt.Errorf("mqtt: node ID %q is reserved for fleet commands", fleetLevel)
	case strings.Contains(t.NodeID, "/"):
		return fmt.Errorf("mqtt: node ID %q contains '/'", t.NodeID)
	}
	for _, part := range []struct{ name, value string }{
		{"topic prefix", t.Prefix}, {"node ID", t.NodeID}, {"discovery prefix", t.DiscoveryPrefix},
	} {
		if !utf8.ValidString(part.value) || strings.ContainsAny(part.value, "+#\x00") {
			return fmt.Errorf("mqtt: %s %q: wildcards, NUL and invalid UTF-8 are not allowed in a topic", part.name, part.value)
		}
	}
	if t.Prefix == "" || t.Base == "" {
		return fmt.Errorf("mqtt: topics not initialised (use NewTopics)")
	}
	return nil
}

// route tells which command a subscribed topic carries and whether it addresses the whole
// fleet. A node's own topics win over fleet topics; Validate keeps them apart anyway.
func (t Topics) route(topic string) (kind CommandKind, fleet bool, ok bool) {
	switch topic {
	case "":
		return 0, false, false
	case t.StreamSet:
		return CommandStream, false, true
	case t.Chat:
		return CommandChat, false, true
	case t.KeyframeSet:
		return CommandKeyframe, false, true
	case t.RestartSet:
		return CommandRestart, false, true
	case t.DanmakuSet:
		return CommandDanmaku, false, true
	case t.SnapshotSet:
		return CommandSnapshot, false, true
	case t.AllStreamSet:
		return CommandStream, true, true
	case t.AllChat:
		return CommandChat, true, true
	case t.HAStatus:
		return CommandHAOnline, false, true
	}
	return 0, false, false
}

// label is how a reason names a topic: relative to the node's base or the prefix
// ("stream/set", "all/chat"), or in full when it lies elsewhere.
func (t Topics) label(topic string) string {
	if rest, ok := strings.CutPrefix(topic, t.Base+"/"); ok && t.Base != "" {
		return rest
	}
	if rest, ok := strings.CutPrefix(topic, t.Prefix+"/"); ok && t.Prefix != "" {
		return rest
	}
	return topic
}
