package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CommandKind is what a command asks the node to do. The zero value is no command.
type CommandKind int

const (
	CommandStream   CommandKind = iota + 1 // start, stop or toggle the stream (Switch)
	CommandKeyframe                        // ask the source for an IDR frame now
	CommandRestart                         // restart the pipeline
	CommandDanmaku                         // show or hide chat in the stream (Switch)
	CommandChat                            // a chat message (Payload, parsed by the node)
	CommandHAOnline                        // Home Assistant restarted: publish discovery again
	CommandSnapshot                        // take a snapshot of the picture now
)

func (k CommandKind) String() string {
	switch k {
	case CommandStream:
		return "stream"
	case CommandKeyframe:
		return "keyframe"
	case CommandRestart:
		return "restart"
	case CommandDanmaku:
		return "danmaku"
	case CommandChat:
		return "chat"
	case CommandHAOnline:
		return "ha_online"
	case CommandSnapshot:
		return "snapshot"
	}
	return "CommandKind(" + strconv.Itoa(int(k)) + ")"
}

// Switch is the value of an ON/OFF command. The zero value is no value.
type Switch int

const (
	SwitchOff Switch = iota + 1
	SwitchOn
	SwitchToggle
)

// String returns the payload form: "ON", "OFF" or "TOGGLE".
func (s Switch) String() string {
	switch s {
	case SwitchOff:
		return "OFF"
	case SwitchOn:
		return "ON"
	case SwitchToggle:
		return "TOGGLE"
	}
	return "Switch(" + strconv.Itoa(int(s)) + ")"
}

// Command is one accepted message from a subscribed topic.
type Command struct {
	Kind CommandKind
	// Switch is set for CommandStream and CommandDanmaku.
	Switch Switch
	// Payload is set for CommandChat: the raw payload (a copy the receiver owns), not empty,
	// valid UTF-8 and within the size limit; the chat parser decides what it means.
	Payload []byte
	// Topic is the topic the message came on.
	Topic string
	// Fleet is true for commands on <prefix>/all/…, addressed to every node.
	Fleet bool
}

// DefaultMaxPayload is the largest payload accepted on a command or chat topic.
const DefaultMaxPayload = 64 << 10

// Event names of rejected messages.
const (
	EventCommandRejected = "command_rejected"
	EventChatRejected    = "chat_rejected"
)

// RejectError is why a message on a subscribed topic was not turned into a command.
type RejectError struct {
	// Topic is the topic the message came on, unmodified.
	Topic string
	// Event is the event to publish: EventCommandRejected, EventChatRejected, or "" for a
	// message ignored without an event (Home Assistant's "offline", an empty message that
	// clears a retained command).
	Event string
	// Reason names the topic (relative to the node, e.g. "stream/set") and why, quoting at
	// most 32 bytes of the payload; it is valid UTF-8 without control characters and at
	// most maxReasonLen bytes.
	Reason string
}

func (e *RejectError) Error() string { return "mqtt: message rejected: " + e.Reason }

// Silent reports whether the message is dropped without an event.
func (e *RejectError) Silent() bool { return e.Event == "" }

const (
	// quoteMax bounds how much of an offending payload a reason repeats: enough to
	// recognise it, never a 1 MB echo.
	quoteMax = 32
	// maxReasonLen bounds a reason whatever the topic or payload.
	maxReasonLen = 200
)

// ParseCommand turns a message that arrived on topic into a command. A retained message on
// a command or chat topic is rejected (a stale retained "ON" must never switch a camera on
// at boot); so is a payload that is larger than maxPayload (DefaultMaxPayload when <= 0),
// not UTF-8, or not understood. Every error is a *RejectError.
func ParseCommand(topics Topics, topic string, payload []byte, retained bool, maxPayload int) (Command, error) {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	kind, fleet, ok := topics.route(topic)
	if !ok {
		return Command{}, reject(topic, EventCommandRejected, "unexpected topic "+quote([]byte(topic)))
	}
	label := topics.label(topic)
	cmd := Command{Kind: kind, Topic: topic, Fleet: fleet}

	if kind == CommandHAOnline {
		// Home Assistant also announces "offline"; a retained "online" says nothing new
		// because discovery is published on every connect anyway.
		switch {
		case retained:
			return Command{}, reject(topic, "", label+": retained status ignored")
		case len(payload) > 64 || !strings.EqualFold(string(bytes.TrimSpace(payload)), "online"):
			return Command{}, reject(topic, "", label+": status "+quote(payload)+" ignored")
		}
		return cmd, nil
	}

	event := EventCommandRejected
	if kind == CommandChat {
		event = EventChatRejected
	}
	switch {
	case retained && kind == CommandChat:
		return Command{}, reject(topic, event, label+": retained chat ignored; clear it with: "+clearRetained(topic))
	case retained:
		return Command{}, reject(topic, event, label+": retained command ignored; clear it with: "+clearRetained(topic))
	case len(payload) == 0 && kind == CommandChat:
		return Command{}, reject(topic, event, label+": empty payload")
	case len(payload) == 0:
		// mosquitto_pub -r -n is how a user deletes a ghost retained command; the broker
		// forwards that empty message to us, and it deserves no complaint.
		return Command{}, reject(topic, "", label+": empty payload ignored")
	case len(payload) > maxPayload:
		return Command{}, reject(topic, event, fmt.Sprintf("%s: payload of %d bytes exceeds the %d-byte limit", label, len(payload), maxPayload))
	case !utf8.Valid(payload):
		return Command{}, reject(topic, event, label+": payload is not valid UTF-8: "+quote(payload))
	}

	switch kind {
	case CommandChat:
		// Control characters in chat are the chat parser's business: it removes them.
		cmd.Payload = bytes.Clone(payload)
		return cmd, nil
	case CommandStream, CommandDanmaku:
		sw, err := ParseSwitch(payload)
		if err != nil {
			return Command{}, reject(topic, event, label+": "+err.Error())
		}
		cmd.Switch = sw
		return cmd, nil
	default: // keyframe, restart, snapshot: any text is a press (Home Assistant's button sends "PRESS")
		if hasControl(payload) {
			return Command{}, reject(topic, event, label+": payload contains control characters: "+quote(payload))
		}
		return cmd, nil
	}
}

// clearRetained is the command line that deletes the retained message of topic (add the
// broker's -h/-p and credentials as usual). A topic with characters a shell would read is
// single-quoted.
func clearRetained(topic string) string {
	t := sanitize(topic)
	if strings.ContainsAny(t, " \t'\"$`\\!*?[]{}()<>|&;#~") {
		t = "'" + strings.ReplaceAll(t, "'", `'\''`) + "'"
	}
	return "mosquitto_pub -r -n -t " + t
}

// switchHint is what a switch command accepts, said wherever a value is not understood.
const switchHint = " (want ON, OFF or TOGGLE)"

// reject builds a RejectError. The reason is sanitised as a whole because a label comes
// from configuration that ParseCommand does not check.
func reject(topic, event, reason string) *RejectError {
	return &RejectError{Topic: topic, Event: event, Reason: clip(sanitize(reason), maxReasonLen)}
}

// ParseSwitch reads an ON/OFF/TOGGLE command in the forms people and automations send:
// ON, OFF, TOGGLE, 1, 0, true, false, start, stop in any ASCII case with surrounding
// whitespace; a JSON string of one of those ("ON"); or a JSON object {"state": v} where v
// is one of those strings, true/false or 1/0. The error quotes at most 32 bytes of the
// payload.
func ParseSwitch(payload []byte) (Switch, error) {
	p := bytes.TrimSpace(payload)
	if !utf8.Valid(p) {
		return 0, fmt.Errorf("payload is not valid UTF-8: %s", quote(payload))
	}
	if len(p) == 0 {
		return 0, errors.New("empty switch value")
	}
	switch p[0] {
	case '{':
		var obj struct {
			State json.RawMessage `json:"state"`
		}
		if err := json.Unmarshal(p, &obj); err != nil {
			return 0, fmt.Errorf("invalid JSON: %s", quote(payload))
		}
		if obj.State == nil {
			return 0, fmt.Errorf(`JSON without "state": %s`, quote(payload))
		}
		if sw, ok := jsonSwitch(obj.State); ok {
			return sw, nil
		}
		return 0, fmt.Errorf("unknown switch value %s%s", quoteJSON(obj.State), switchHint)
	case '"':
		if sw, ok := jsonSwitch(p); ok {
			return sw, nil
		}
		return 0, fmt.Errorf("unknown switch value %s%s", quoteJSON(p), switchHint)
	}
	if sw, ok := plainSwitch(p); ok {
		return sw, nil
	}
	return 0, fmt.Errorf("unknown switch value %s%s", quote(payload), switchHint)
}

// quoteJSON quotes a JSON string value by its content, as the plain form is quoted ("sideways",
// not "\"sideways\""), and any other JSON value as it was sent.
func quoteJSON(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return quote([]byte(s))
	}
	return quote(v)
}

// jsonSwitch reads one JSON value: a string in a plain form, true/false, or the number 1/0.
func jsonSwitch(v json.RawMessage) (Switch, bool) {
	var value interface{}
	if err := json.Unmarshal(v, &value); err != nil {
		return 0, false
	}
	switch x := value.(type) {
	case string:
		return plainSwitch(bytes.TrimSpace([]byte(x)))
	case bool:
		if x {
			return SwitchOn, true
		}
		return SwitchOff, true
	case float64:
		switch x {
		case 1:
			return SwitchOn, true
		case 0:
			return SwitchOff, true
		}
	}
	return 0, false
}

// plainSwitch reads a trimmed plain value. Case folding is ASCII only, so look-alikes such
// as "ſtart" (long s) stay unknown.
func plainSwitch(p []byte) (Switch, bool) {
	if len(p) > len("toggle") {
		return 0, false
	}
	var buf [len("toggle")]byte
	for i, c := range p {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(p)]) {
	case "on", "1", "true", "start":
		return SwitchOn, true
	case "off", "0", "false", "stop":
		return SwitchOff, true
	case "toggle":
		return SwitchToggle, true
	}
	return 0, false
}

// hasControl reports control characters other than tab, CR and LF in valid UTF-8.
func hasControl(p []byte) bool {
	for _, r := range string(p) {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return true
		}
	}
	return false
}

// quote renders at most quoteMax bytes of p as a Go-quoted string for a reason, sanitised;
// "…" marks a cut.
func quote(p []byte) string {
	n := 0
	for n < len(p) {
		_, size := utf8.DecodeRune(p[n:])
		if n+size > quoteMax {
			break
		}
		n += size
	}
	s := strconv.Quote(sanitize(string(p[:n])))
	if n < len(p) {
		s += "…"
	}
	return s
}

// sanitize makes text safe to show in an event or a log line: invalid UTF-8, control
// characters and format characters (bidi overrides, zero-width) become U+FFFD.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			r = utf8.RuneError
		}
		b.WriteRune(r) // an invalid byte arrives here as RuneError already
	}
	return b.String()
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
