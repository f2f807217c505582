package mqtt

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/camnode/camnode/internal/peers"
)

func TestParseSwitch(t *testing.T) {
	tests := []struct {
		payload string
		want    Switch
	}{
		{"ON", SwitchOn}, {"on", SwitchOn}, {"On", SwitchOn}, {" on\n", SwitchOn}, {"\ton \r\n", SwitchOn},
		{"OFF", SwitchOff}, {"off", SwitchOff}, {"oFf", SwitchOff},
		{"TOGGLE", SwitchToggle}, {"toggle", SwitchToggle}, {" Toggle ", SwitchToggle},
		{"1", SwitchOn}, {"0", SwitchOff},
		{"true", SwitchOn}, {"TRUE", SwitchOn}, {"false", SwitchOff}, {"False", SwitchOff},
		{"start", SwitchOn}, {"START", SwitchOn}, {"stop", SwitchOff}, {"Stop", SwitchOff},
		{`"ON"`, SwitchOn}, {`"off"`, SwitchOff}, {` " toggle " `, SwitchToggle},
		{`{"state":"ON"}`, SwitchOn}, {`{"state":"off"}`, SwitchOff}, {`{"state":"Toggle"}`, SwitchToggle},
		{`{"state":"start"}`, SwitchOn}, {`{"state":"0"}`, SwitchOff},
		{`{"state":true}`, SwitchOn}, {`{"state":false}`, SwitchOff},
		{`{"state":1}`, SwitchOn}, {`{"state":0}`, SwitchOff}, {`{"state":1.0}`, SwitchOn},
		{` { "state" : "ON" , "by": "automation.garden" } `, SwitchOn},
		{`{"State":"ON"}`, SwitchOn}, // encoding/json matches keys without regard to case
	}
	for _, tc := range tests {
		got, err := ParseSwitch([]byte(tc.payload))
		if err != nil || got != tc.want {
			t.Errorf("ParseSwitch(%q) = %v, %v; want %v", tc.payload, got, err, tc.want)
		}
	}
}

func TestParseSwitchRejects(t *testing.T) {
	tests := []struct {
		payload string
		errHas  string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"maybe", `unknown switch value "maybe"`},
		{"onn", "unknown switch value"},
		{"o n", "unknown switch value"},
		{"2", "unknown switch value"},
		{"yes", "unknown switch value"},
		{"ſtart", "unknown switch value"}, // long s folds to s in Unicode, not in ASCII
		{"\u212Aoff", "unknown switch value"},
		{"ON\x00", "unknown switch value"},
		{"\xff\xfe", "not valid UTF-8"},
		{`{"state":`, "invalid JSON"},
		{`{"state":"ON"`, "invalid JSON"},
		{`{"stat":"ON"}`, `JSON without "state"`},
		{`{}`, `JSON without "state"`},
		{`{"state":null}`, "unknown switch value"},
		{`{"state":"maybe"}`, `unknown switch value "maybe" (want ON, OFF or TOGGLE)`},
		{`{"state":2}`, "unknown switch value"},
		{`{"state":{"state":"ON"}}`, "unknown switch value"},
		{`{"state":["ON"]}`, "unknown switch value"},
		{`"maybe"`, "unknown switch value"},
		{`"ON`, "unknown switch value"},
		{`["ON"]`, "unknown switch value"},
		{strings.Repeat("x", 100), `unknown switch value "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"…`},
	}
	for _, tc := range tests {
		got, err := ParseSwitch([]byte(tc.payload))
		if err == nil {
			t.Errorf("ParseSwitch(%q) = %v, want error", tc.payload, got)
			continue
		}
		if got != 0 || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("ParseSwitch(%q) = %v, %q; want 0 and error containing %q", tc.payload, got, err, tc.errHas)
		}
	}
}

var testTopics = NewTopics("camnode", "n1", "homeassistant")

func TestNewTopics(t *testing.T) {
	tp := NewTopics("camnode/", "garden", "homeassistant")
	want := map[string]string{
		tp.Base: "camnode/garden", tp.StreamSet: "camnode/garden/stream/set", tp.StreamState: "camnode/garden/stream/state",
		tp.State: "camnode/garden/state", tp.Availability: "camnode/garden/availability", tp.Telemetry: "camnode/garden/telemetry",
		tp.Event: "camnode/garden/event", tp.Chat: "camnode/garden/chat", tp.KeyframeSet: "camnode/garden/keyframe/set",
		tp.RestartSet: "camnode/garden/restart/set", tp.DanmakuSet: "camnode/garden/danmaku/set",
		tp.DanmakuState: "camnode/garden/danmaku/state", tp.AllStreamSet: "camnode/all/stream/set",
		tp.AllChat: "camnode/all/chat", tp.HAStatus: "homeassistant/status",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("topic %q, want %q", got, w)
		}
	}
	if len(want) != 15 {
		t.Errorf("topics are not distinct: %d of 15", len(want))
	}
	if got := strings.Join(tp.Subscriptions(), " "); got != "camnode/garden/stream/set camnode/garden/chat camnode/garden/keyframe/set "+
		"camnode/garden/restart/set camnode/garden/danmaku/set camnode/garden/snapshot/set camnode/all/stream/set camnode/all/chat homeassistant/status" {
		t.Errorf("subscriptions: %s", got)
	}
	if err := tp.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	noHA := NewTopics("", "garden", "")
	if noHA.Prefix != DefaultPrefix || noHA.HAStatus != "" || len(noHA.Subscriptions()) != 8 {
		t.Errorf("without prefix and discovery: %+v, subscriptions %v", noHA, noHA.Subscriptions())
	}

	for _, bad := range []Topics{
		NewTopics("camnode", "", "homeassistant"),
		NewTopics("camnode", "all", "homeassistant"),
		NewTopics("camnode", "a/b", "homeassistant"),
		NewTopics("camnode", "cam+1", "homeassistant"),
		NewTopics("cam#", "n1", "homeassistant"),
		NewTopics("camnode", "n1", "home+assistant"),
		NewTopics("camnode", "n\xff", "homeassistant"),
		{},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("Validate(%q, %q, %q) = nil, want error", bad.Prefix, bad.NodeID, bad.DiscoveryPrefix)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tp := testTopics
	tests := []struct {
		topic   string
		payload string
		want    Command
	}{
		{tp.StreamSet, "on", Command{Kind: CommandStream, Switch: SwitchOn, Topic: tp.StreamSet}},
		{tp.StreamSet, `{"state":"OFF"}`, Command{Kind: CommandStream, Switch: SwitchOff, Topic: tp.StreamSet}},
		{tp.AllStreamSet, "TOGGLE", Command{Kind: CommandStream, Switch: SwitchToggle, Topic: tp.AllStreamSet, Fleet: true}},
		{tp.DanmakuSet, "OFF", Command{Kind: CommandDanmaku, Switch: SwitchOff, Topic: tp.DanmakuSet}},
		{tp.KeyframeSet, "PRESS", Command{Kind: CommandKeyframe, Topic: tp.KeyframeSet}},
		{tp.KeyframeSet, "{not json at all", Command{Kind: CommandKeyframe, Topic: tp.KeyframeSet}},
		{tp.RestartSet, "now please\n", Command{Kind: CommandRestart, Topic: tp.RestartSet}},
		{tp.SnapshotSet, "PRESS", Command{Kind: CommandSnapshot, Topic: tp.SnapshotSet}},
		{tp.Chat, "666", Command{Kind: CommandChat, Payload: []byte("666"), Topic: tp.Chat}},
		{tp.Chat, "a\x07b", Command{Kind: CommandChat, Payload: []byte("a\x07b"), Topic: tp.Chat}},
		{tp.AllChat, `{"text":"hi","user":"alice"}`, Command{Kind: CommandChat, Payload: []byte(`{"text":"hi","user":"alice"}`), Topic: tp.AllChat, Fleet: true}},
		{tp.HAStatus, "online", Command{Kind: CommandHAOnline, Topic: tp.HAStatus}},
	}
	for _, tc := range tests {
		got, err := ParseCommand(tp, tc.topic, []byte(tc.payload), false, 0)
		if err != nil || !equalCommand(got, tc.want) {
			t.Errorf("ParseCommand(%s, %q) = %+v, %v; want %+v", tc.topic, tc.payload, got, err, tc.want)
		}
	}

	// The chat payload is the receiver's own copy: paho reuses nothing, but a caller might.
	buf := []byte("hello")
	cmd, err := ParseCommand(tp, tp.Chat, buf, false, 0)
	buf[0] = 'J'
	if err != nil || string(cmd.Payload) != "hello" {
		t.Errorf("chat payload shares the caller's buffer: %q, %v", cmd.Payload, err)
	}
}

func equalCommand(a, b Command) bool {
	return a.Kind == b.Kind && a.Switch == b.Switch && bytes.Equal(a.Payload, b.Payload) && a.Topic == b.Topic && a.Fleet == b.Fleet
}

func TestParseCommandRejects(t *testing.T) {
	tp := testTopics
	big := strings.Repeat("A", DefaultMaxPayload+1)
	tests := []struct {
		topic    string
		payload  string
		retained bool
		event    string // "" = ignored silently
		reason   string
	}{
		{tp.StreamSet, "ON", true, EventCommandRejected, "stream/set: retained command ignored; clear it with: mosquitto_pub -r -n -t camnode/n1/stream/set"},
		{tp.AllStreamSet, "ON", true, EventCommandRejected, "all/stream/set: retained command ignored; clear it with: mosquitto_pub -r -n -t camnode/all/stream/set"},
		{tp.KeyframeSet, "PRESS", true, EventCommandRejected, "keyframe/set: retained command ignored; clear it with: mosquitto_pub -r -n -t camnode/n1/keyframe/set"},
		{tp.RestartSet, "x", true, EventCommandRejected, "restart/set: retained command ignored; clear it with: mosquitto_pub -r -n -t camnode/n1/restart/set"},
		{tp.DanmakuSet, "ON", true, EventCommandRejected, "danmaku/set: retained command ignored; clear it with: mosquitto_pub -r -n -t camnode/n1/danmaku/set"},
		{tp.Chat, "old news", true, EventChatRejected, "chat: retained chat ignored; clear it with: mosquitto_pub -r -n -t camnode/n1/chat"},
		{tp.AllChat, "old news", true, EventChatRejected, "all/chat: retained chat ignored; clear it with: mosquitto_pub -r -n -t camnode/all/chat"},
		{tp.StreamSet, `{"state":"sideways"}`, false, EventCommandRejected, `stream/set: unknown switch value "sideways" (want ON, OFF or TOGGLE)`},
		{tp.StreamSet, `"sideways"`, false, EventCommandRejected, `stream/set: unknown switch value "sideways" (want ON, OFF or TOGGLE)`},
		{tp.StreamSet, `{"state":2}`, false, EventCommandRejected, `stream/set: unknown switch value "2" (want ON, OFF or TOGGLE)`},
		{tp.StreamSet, "maybe", false, EventCommandRejected, `stream/set: unknown switch value "maybe" (want ON, OFF or TOGGLE)`},
		{tp.StreamSet, `{"state":`, false, EventCommandRejected, `stream/set: invalid JSON: "{\"state\":"`},
		{tp.DanmakuSet, `{"on":true}`, false, EventCommandRejected, `danmaku/set: JSON without "state": "{\"on\":true}"`},
		{tp.StreamSet, "\xffON\xfe", false, EventCommandRejected, `stream/set: payload is not valid UTF-8: "�ON�"`},
		{tp.Chat, "caf\xe9", false, EventChatRejected, `chat: payload is not valid UTF-8: "caf�"`},
		{tp.KeyframeSet, "PRE\x00SS", false, EventCommandRejected, `keyframe/set: payload contains control characters: "PRE�SS"`},
		{tp.StreamSet, big, false, EventCommandRejected, "stream/set: payload of 65537 bytes exceeds the 65536-byte limit"},
		{tp.AllChat, big, false, EventChatRejected, "all/chat: payload of 65537 bytes exceeds the 65536-byte limit"},
		{tp.Chat, "", false, EventChatRejected, "chat: empty payload"},
		{tp.StreamSet, "", false, "", "stream/set: empty payload ignored"},
		{tp.RestartSet, "", false, "", "restart/set: empty payload ignored"},
		{tp.HAStatus, "offline", false, "", `homeassistant/status: status "offline" ignored`},
		{tp.HAStatus, "online", true, "", "homeassistant/status: retained status ignored"},
		{tp.Base + "/stream/state", "ON", false, EventCommandRejected, `unexpected topic "camnode/n1/stream/state"`},
		{"evil/\u202etopic\x1b[31m", "ON", false, EventCommandRejected, `unexpected topic "evil/�topic�[31m"`},
	}
	for _, tc := range tests {
		got, err := ParseCommand(tp, tc.topic, []byte(tc.payload), tc.retained, 0)
		var re *RejectError
		if !errors.As(err, &re) {
			t.Errorf("ParseCommand(%s, %.20q, retained=%v) = %+v, %v; want *RejectError", tc.topic, tc.payload, tc.retained, got, err)
			continue
		}
		if re.Event != tc.event || re.Reason != tc.reason || re.Topic != tc.topic || got.Kind != 0 {
			t.Errorf("ParseCommand(%s, %.20q, retained=%v):\n got event %q reason %q topic %q\nwant event %q reason %q",
				tc.topic, tc.payload, tc.retained, re.Event, re.Reason, re.Topic, tc.event, tc.reason)
		}
	}

	// The limit is the caller's: 1 MB of chat is fine when allowed.
	if _, err := ParseCommand(tp, tp.Chat, []byte(strings.Repeat("x", 1<<20)), false, 2<<20); err != nil {
		t.Errorf("1 MB chat with a 2 MB limit: %v", err)
	}
	if _, err := ParseCommand(tp, tp.Chat, []byte("12345"), false, 4); err == nil {
		t.Errorf("5-byte chat with a 4-byte limit accepted")
	}
}

// A reason quotes at most 32 bytes of the payload, never splits a character and marks the cut.
func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"ON", `"ON"`},
		{strings.Repeat("a", 32), `"` + strings.Repeat("a", 32) + `"`},
		{strings.Repeat("a", 33), `"` + strings.Repeat("a", 32) + `"…`},
		{strings.Repeat("a", 31) + "弹幕", `"` + strings.Repeat("a", 31) + `"…`},
		{strings.Repeat("a", 29) + "弹幕", `"` + strings.Repeat("a", 29) + `弹"…`},
		{"tab\there", `"tab�here"`},
		{"\u200bzero width", `"�zero width"`},
		{`say "hi"`, `"say \"hi\""`},
	}
	for _, tc := range tests {
		if got := quote([]byte(tc.in)); got != tc.want {
			t.Errorf("quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzParseSwitch(f *testing.F) {
	for _, s := range []string{"ON", " off ", "Toggle", "1", "0", "true", "stop", `"ON"`, `{"state":"ON"}`,
		`{"state":true}`, `{"state":1}`, `{"state":`, `{"state":null}`, "\xff", "ſtart", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		sw, err := ParseSwitch(payload)
		if err != nil {
			msg := err.Error()
			if sw != 0 || !utf8.ValidString(msg) || len(msg) > maxReasonLen || strings.IndexFunc(msg, unicode.IsControl) >= 0 {
				t.Fatalf("ParseSwitch(%q) = %v, %q", payload, sw, msg)
			}
			return
		}
		if sw != SwitchOn && sw != SwitchOff && sw != SwitchToggle {
			t.Fatalf("ParseSwitch(%q) = %v", payload, sw)
		}
		// A plain value means the same inside {"state": …}.
		if p := bytes.TrimSpace(payload); len(p) > 0 && p[0] != '{' && p[0] != '"' {
			wrapped := `{"state":` + strconv.Quote(string(p)) + `}`
			if got, err := ParseSwitch([]byte(wrapped)); err != nil || got != sw {
				t.Fatalf("ParseSwitch(%q) = %v but ParseSwitch(%s) = %v, %v", payload, sw, wrapped, got, err)
			}
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	subs := testTopics.Subscriptions()
	for i := range subs {
		for _, p := range []string{"ON", `{"state":"off"}`, "PRESS", "online", "\xff\xfe", "", "a\x00b", `{"text":"666"}`} {
			f.Add("", []byte(p), false, uint8(i))
			f.Add("", []byte(p), true, uint8(i))
		}
	}
	f.Add("camnode/n1/stream/state", []byte("ON"), false, uint8(255))
	f.Add("\xff/\u202e", []byte("ON"), false, uint8(255))
	f.Fuzz(func(t *testing.T, topic string, payload []byte, retained bool, pick uint8) {
		// Most random topics are unknown; pick steers the fuzzer to the subscribed ones too.
		if int(pick) < len(subs) {
			topic = subs[pick]
		}
		orig := bytes.Clone(payload)
		cmd, err := ParseCommand(testTopics, topic, payload, retained, 1024)
		if !bytes.Equal(payload, orig) {
			t.Fatalf("ParseCommand changed its input")
		}
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v, want *RejectError", err, err)
			}
			r := re.Reason
			if cmd.Kind != 0 || r == "" || !utf8.ValidString(r) || len(r) > maxReasonLen ||
				strings.IndexFunc(r, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Cf, c) }) >= 0 {
				t.Fatalf("bad rejection of %q on %q: cmd %+v reason %q", payload, topic, cmd, r)
			}
			if re.Event != "" && re.Event != EventCommandRejected && re.Event != EventChatRejected {
				t.Fatalf("event %q", re.Event)
			}
			return
		}
		kind, fleet, ok := testTopics.route(topic)
		switch {
		case !ok || cmd.Kind != kind || cmd.Fleet != fleet || cmd.Topic != topic:
			t.Fatalf("command %+v from %q", cmd, topic)
		case retained:
			t.Fatalf("retained message accepted: %+v", cmd)
		case len(payload) > 1024 || !utf8.Valid(payload):
			t.Fatalf("oversize or invalid payload accepted: %+v", cmd)
		case (kind == CommandStream || kind == CommandDanmaku) != (cmd.Switch != 0):
			t.Fatalf("switch %v on %v", cmd.Switch, kind)
		case kind == CommandChat && (!bytes.Equal(cmd.Payload, payload) || len(payload) > 0 && &cmd.Payload[0] == &payload[0]):
			t.Fatalf("chat payload %q is not a copy of %q", cmd.Payload, payload)
		case kind != CommandChat && cmd.Payload != nil:
			t.Fatalf("payload on %v", kind)
		}
	})
}

// TestRetainedEventSaysHowToClear runs the command line a retained-command event gives, as a
// user copies it (with the broker's -h/-p added), and checks that it clears the ghost: the
// next node to connect sees no retained command.
func TestRetainedEventSaysHowToClear(t *testing.T) {
	m := peers.StartMosquitto(t)
	tp := nodeTopics
	for _, topic := range []string{tp.StreamSet, tp.Chat} {
		peers.Publish(t, m, topic, "ON", "-r")
	}
	sub := peers.Subscribe(t, m, tp.Event)
	first := startTestNode(t, m.URL(), nil)
	for _, topic := range []string{tp.StreamSet, tp.Chat} {
		evs := waitEvent(t, sub, tp.Event, "mosquitto_pub -r -n -t "+topic)
		reason := evs[len(evs)-1].Reason
		_, line, ok := strings.Cut(reason, "clear it with: ")
		if !ok {
			t.Fatalf("event %q says no command", reason)
		}
		args := append(strings.Fields(line)[1:], "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port))
		if out, err := exec.Command("mosquitto_pub", args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
	}
	first.Close()

	from := len(sub.Messages())
	startTestNode(t, m.URL(), nil)
	peers.Publish(t, m, tp.StreamSet, "sentinel")
	if _, ok := sub.WaitNext(from, func(msg peers.Message) bool { return strings.Contains(msg.Payload, "sentinel") }, 10*time.Second); !ok {
		t.Fatal("no event for the sentinel")
	}
	for _, msg := range sub.Messages()[from:] {
		if strings.Contains(msg.Payload, "retained") {
			t.Errorf("after the printed command, still: %s", msg.Payload)
		}
	}
}

func TestClearRetainedQuotesForTheShell(t *testing.T) {
	for topic, want := range map[string]string{
		"camnode/garden/stream/set":   "mosquitto_pub -r -n -t camnode/garden/stream/set",
		"cam node/it's/stream/set":    `mosquitto_pub -r -n -t 'cam node/it'\''s/stream/set'`,
		"camnode/$(reboot)/chat":      `mosquitto_pub -r -n -t 'camnode/$(reboot)/chat'`,
		"camnode/\u202egarden/stream": "mosquitto_pub -r -n -t camnode/\ufffdgarden/stream",
	} {
		if got := clearRetained(topic); got != want {
			t.Errorf("clearRetained(%q) = %q, want %q", topic, got, want)
		}
	}
}
