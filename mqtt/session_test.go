package mqtt

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/camnode/camnode/internal/peers"
)

// What a user types into mosquitto_pub arrives as a command, in order, and what the node
// must ignore (Home Assistant's "offline") arrives as nothing.
func TestCommandsFromMosquittoPub(t *testing.T) {
	m := peers.StartMosquitto(t)
	n := startTestNode(t, m.URL(), nil)
	tp := n.topics
	events := peers.Subscribe(t, m, tp.Event)

	tests := []struct {
		topic, payload string
		want           Command
	}{
		{tp.StreamSet, "on", Command{Kind: CommandStream, Switch: SwitchOn, Topic: tp.StreamSet}},
		{tp.StreamSet, `{"state":"OFF"}`, Command{Kind: CommandStream, Switch: SwitchOff, Topic: tp.StreamSet}},
		{tp.StreamSet, `{"state":true}`, Command{Kind: CommandStream, Switch: SwitchOn, Topic: tp.StreamSet}},
		{tp.AllStreamSet, "toggle", Command{Kind: CommandStream, Switch: SwitchToggle, Topic: tp.AllStreamSet, Fleet: true}},
		{tp.DanmakuSet, "OFF", Command{Kind: CommandDanmaku, Switch: SwitchOff, Topic: tp.DanmakuSet}},
		{tp.KeyframeSet, "PRESS", Command{Kind: CommandKeyframe, Topic: tp.KeyframeSet}},
		{tp.RestartSet, "PRESS", Command{Kind: CommandRestart, Topic: tp.RestartSet}},
		{tp.Chat, "弹幕 666", Command{Kind: CommandChat, Payload: []byte("弹幕 666"), Topic: tp.Chat}},
		{tp.AllChat, `{"text":"hi all"}`, Command{Kind: CommandChat, Payload: []byte(`{"text":"hi all"}`), Topic: tp.AllChat, Fleet: true}},
		{tp.HAStatus, "offline", Command{}}, // ignored: the next command is the one below
		{tp.HAStatus, "online", Command{Kind: CommandHAOnline, Topic: tp.HAStatus}},
	}
	for _, tc := range tests {
		peers.Publish(t, m, tc.topic, tc.payload)
		if tc.want.Kind == 0 {
			continue
		}
		if got := n.next(t); !equalCommand(got, tc.want) {
			t.Errorf("mosquitto_pub -t %s -m %q: got %+v, want %+v", tc.topic, tc.payload, got, tc.want)
		}
	}

	// Three commands in one go keep their order.
	cmd := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", tp.StreamSet, "-l")
	cmd.Stdin = strings.NewReader("ON\nOFF\nTOGGLE\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v: %s", err, out)
	}
	for _, want := range []Switch{SwitchOn, SwitchOff, SwitchToggle} {
		if got := n.next(t); got.Kind != CommandStream || got.Switch != want {
			t.Errorf("in order: got %v %v, want stream %v", got.Kind, got.Switch, want)
		}
	}

	// Nothing above was rejected: the first event is the one this provokes.
	peers.Publish(t, m, tp.StreamSet, "maybe")
	evs := waitEvent(t, events, tp.Event, "maybe")
	if len(evs) != 1 || evs[0].Event != EventCommandRejected ||
		evs[0].Reason != `stream/set: unknown switch value "maybe" (want ON, OFF or TOGGLE)` {
		t.Errorf("events: %+v", evs)
	}
	if ts, err := time.Parse(time.RFC3339Nano, evs[0].TS); err != nil || !strings.HasSuffix(evs[0].TS, "Z") ||
		len(evs[0].TS) != len("2006-01-02T15:04:05.000Z") || time.Since(ts) > time.Minute {
		t.Errorf("event ts %q (%v): want RFC 3339 UTC with milliseconds, now", evs[0].TS, err)
	}
}

// A retained command waiting on the broker when the node connects ("ghost switching") is
// ignored with an event; so is a retained chat. Clearing it with an empty retained message
// is silent, and a live command afterwards is the first command the node sees.
func TestRetainedCommandIgnored(t *testing.T) {
	m := peers.StartMosquitto(t)
	tp := nodeTopics
	peers.Publish(t, m, tp.StreamSet, "ON", "-r")
	peers.Publish(t, m, tp.AllStreamSet, "ON", "-r")
	peers.Publish(t, m, tp.Chat, "yesterday's chat", "-r")
	peers.Publish(t, m, tp.HAStatus, "online", "-r")
	sub := peers.Subscribe(t, m, tp.Event)

	n := startTestNode(t, m.URL(), nil)
	peers.Publish(t, m, tp.StreamSet, "", "-r") // the user deletes the ghost
	peers.Publish(t, m, tp.StreamSet, "off")
	if got := n.next(t); got.Kind != CommandStream || got.Switch != SwitchOff {
		t.Fatalf("first command %+v, want the live OFF", got)
	}

	peers.Publish(t, m, tp.StreamSet, "sentinel")
	got := map[string]string{}
	for _, ev := range waitEvent(t, sub, tp.Event, "sentinel") {
		got[ev.Reason] = ev.Event
	}
	want := map[string]string{
		"stream/set: retained command ignored; clear it with: mosquitto_pub -r -n -t " + tp.StreamSet:        EventCommandRejected,
		"all/stream/set: retained command ignored; clear it with: mosquitto_pub -r -n -t " + tp.AllStreamSet: EventCommandRejected,
		"chat: retained chat ignored; clear it with: mosquitto_pub -r -n -t " + tp.Chat:                      EventChatRejected,
		`stream/set: unknown switch value "sentinel" (want ON, OFF or TOGGLE)`:                               EventCommandRejected,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
}

// Garbage on every subscribed topic gives one event each and no command; the session
// still works afterwards.
func TestGarbageOnEveryTopic(t *testing.T) {
	m := peers.StartMosquitto(t)
	n := startTestNode(t, m.URL(), nil)
	tp := n.topics
	sub := peers.Subscribe(t, m, tp.Event)

	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 300)
	rand.New(rand.NewSource(1)).Read(random)
	random[0] = 0xff // never valid UTF-8
	garbage := map[string]string{
		"random":   file("random", random),
		"latin1":   file("latin1", []byte("caf\xe9 ON")),
		"huge":     file("huge", []byte(strings.Repeat("ON", 1<<19))), // 1 MiB
		"badjson":  file("badjson", []byte(`{"state": "ON"`)),
		"control":  file("control", []byte("PRESS\x00\x1b[2J")),
		"nonsense": file("nonsense", []byte(`{"state":"maybe"}`)),
	}
	type want struct{ event, reason string }
	var wants []want
	send := func(topic, kind string, w want) {
		peers.PublishFile(t, m, topic, garbage[kind])
		if w.reason != "" {
			wants = append(wants, w)
		}
	}
	for _, topic := range []string{tp.StreamSet, tp.AllStreamSet, tp.DanmakuSet} {
		l := tp.label(topic)
		send(topic, "random", want{EventCommandRejected, l + `: payload is not valid UTF-8: "`})
		send(topic, "latin1", want{EventCommandRejected, l + `: payload is not valid UTF-8: "caf� ON"`})
		send(topic, "huge", want{EventCommandRejected, l + ": payload of 1048576 bytes exceeds the 65536-byte limit"})
		send(topic, "badjson", want{EventCommandRejected, l + `: invalid JSON: "{\"state\": \"ON\""`})
		send(topic, "nonsense", want{EventCommandRejected, l + `: unknown switch value "maybe" (want ON, OFF or TOGGLE)`})
	}
	for _, topic := range []string{tp.KeyframeSet, tp.RestartSet} {
		l := tp.label(topic)
		send(topic, "random", want{EventCommandRejected, l + `: payload is not valid UTF-8: "`})
		send(topic, "huge", want{EventCommandRejected, l + ": payload of 1048576 bytes exceeds the 65536-byte limit"})
		send(topic, "control", want{EventCommandRejected, l + `: payload contains control characters: "PRESS��[2J"`})
	}
	for _, topic := range []string{tp.Chat, tp.AllChat} {
		l := tp.label(topic)
		send(topic, "random", want{EventChatRejected, l + `: payload is not valid UTF-8: "`})
		send(topic, "latin1", want{EventChatRejected, l + `: payload is not valid UTF-8: "caf� ON"`})
		send(topic, "huge", want{EventChatRejected, l + ": payload of 1048576 bytes exceeds the 65536-byte limit"})
	}
	send(tp.HAStatus, "random", want{})
	send(tp.HAStatus, "huge", want{})

	peers.Publish(t, m, tp.StreamSet, "ON")
	if got := n.next(t); got.Kind != CommandStream || got.Switch != SwitchOn {
		t.Fatalf("after garbage: command %+v, want stream ON", got)
	}
	if len(n.Commands()) != 0 {
		t.Errorf("%d more commands queued", len(n.Commands()))
	}

	peers.Publish(t, m, tp.StreamSet, "sentinel")
	evs := waitEvent(t, sub, tp.Event, "sentinel")
	evs = evs[:len(evs)-1]
	if len(evs) != len(wants) {
		t.Errorf("%d events, want %d: %+v", len(evs), len(wants), evs)
	}
	for i := 0; i < len(evs) && i < len(wants); i++ {
		ev, w := evs[i], wants[i]
		if ev.Event != w.event || !strings.HasPrefix(ev.Reason, w.reason) || len(ev.Reason) > maxReasonLen || !utf8.ValidString(ev.Reason) {
			t.Errorf("event %d: %s %q\nwant %s %q…", i, ev.Event, ev.Reason, w.event, w.reason)
		}
	}
}

// A node that does not keep up loses commands with a "node busy" event each, never stalls.
func TestNodeBusy(t *testing.T) {
	m := peers.StartMosquitto(t)
	n := startTestNode(t, m.URL(), nil)
	sub := peers.Subscribe(t, m, n.topics.Event)

	const sent = commandQueue + 44
	cmd := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", n.topics.KeyframeSet, "-l")
	cmd.Stdin = strings.NewReader(strings.Repeat("PRESS\n", sent))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v: %s", err, out)
	}
	peers.Publish(t, m, n.topics.StreamSet, "sentinel")
	evs := waitEvent(t, sub, n.topics.Event, "sentinel")
	busy := 0
	for _, ev := range evs {
		if ev.Event == EventCommandRejected && ev.Reason == "keyframe/set: node busy, command dropped" {
			busy++
		}
	}
	if busy != sent-commandQueue || len(n.Commands()) != commandQueue || len(evs) != busy+1 {
		t.Errorf("%d busy events of %d, %d commands queued; want %d busy, %d queued", busy, len(evs), len(n.Commands()), sent-commandQueue, commandQueue)
	}
}

// Availability is "online" (retained) while the session runs and "offline" after Close;
// what was queued before Close still goes out, before "offline".
func TestAvailabilityOnlineOffline(t *testing.T) {
	m := peers.StartMosquitto(t)
	n := startTestNode(t, m.URL(), nil)
	tp := n.topics

	sub := peers.Subscribe(t, m, tp.Availability, tp.Event)
	if msg, ok := sub.WaitFor(func(msg peers.Message) bool { return msg.Topic == tp.Availability }, 5*time.Second); !ok ||
		msg.Payload != Online || !msg.Retained {
		t.Fatalf("availability after Start: %+v (seen: %v)", msg, ok)
	}
	if !n.Connected() {
		t.Errorf("Connected() = false after Start")
	}

	n.PublishEvent("stream_stopped", "shutting down")
	n.Close()
	if n.Connected() {
		t.Errorf("Connected() = true after Close")
	}
	msg, ok := sub.WaitNext(0, func(msg peers.Message) bool { return msg.Topic == tp.Availability && msg.Payload == Offline }, 5*time.Second)
	if !ok {
		t.Fatalf("no offline after Close: %+v", sub.Messages())
	}
	var order []string
	for _, mm := range sub.Messages() {
		order = append(order, mm.Topic+"="+mm.Payload)
	}
	if got := strings.Join(order, " "); !strings.Contains(got, `"stream_stopped"`) || strings.Index(got, `"stream_stopped"`) > strings.Index(got, "=offline") {
		t.Errorf("the event queued before Close did not go out before offline: %s", got)
	}
	late := peers.Subscribe(t, m, tp.Availability)
	if msg, ok = late.WaitFor(func(msg peers.Message) bool { return msg.Topic == tp.Availability }, 5*time.Second); !ok || msg.Payload != Offline || !msg.Retained {
		t.Errorf("retained availability after Close: %+v", msg)
	}
	// A clean DISCONNECT: the broker did not need the last will.
	if log := m.Log(); !strings.Contains(log, "Client camnode-n1 disconnected.") {
		t.Errorf("broker log shows no clean disconnect of camnode-n1:\n%s", log)
	}

	// The channel is closed, and Close can be called again.
	if _, open := <-n.Commands(); open {
		t.Errorf("Commands() still open after Close")
	}
	n.Close()
	n.Publish(tp.State, true, []byte("{}"))
	if err := n.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

// When the node's connection dies without a DISCONNECT, the broker publishes the last will:
// availability "offline", retained. Once the network is back the session reconnects,
// says "online" again and takes commands.
func TestLastWill(t *testing.T) {
	m := peers.StartMosquitto(t)
	proxy := startProxy(t, m.Addr())
	n := startTestNode(t, "tcp://"+proxy.addr(), nil)
	tp := n.topics
	sub := peers.Subscribe(t, m, tp.Availability)
	isAvail := func(msg peers.Message) bool { return msg.Topic == tp.Availability }
	if msg, ok := sub.WaitFor(isAvail, 5*time.Second); !ok || msg.Payload != Online {
		t.Fatalf("availability after Start: %+v", sub.Messages())
	}

	from := len(sub.Messages())
	proxy.down()
	if msg, ok := sub.WaitNext(from, isAvail, 10*time.Second); !ok || msg.Payload != Offline {
		t.Fatalf("after the connection died: %+v, want the last will %q", sub.Messages(), Offline)
	}
	late := peers.Subscribe(t, m, tp.Availability)
	if msg, ok := late.WaitFor(isAvail, 5*time.Second); !ok || msg.Payload != Offline || !msg.Retained {
		t.Errorf("a late subscriber sees %+v, want retained %q", msg, Offline)
	}
	if n.Connected() {
		t.Errorf("Connected() = true while the network is down")
	}

	from = len(sub.Messages())
	proxy.up(t)
	n.waitConnects(t, 2, 15*time.Second)
	if msg, ok := sub.WaitNext(from, isAvail, 10*time.Second); !ok || msg.Payload != Online {
		t.Errorf("after reconnect: %+v, want %q", sub.Messages(), Online)
	}
	peers.Publish(t, m, tp.StreamSet, "ON")
	if got := n.next(t); got.Kind != CommandStream || got.Switch != SwitchOn {
		t.Errorf("after reconnect: %+v", got)
	}
}

// The broker restarts (losing every subscription, it keeps no state): the session
// reconnects, calls OnConnect again, and commands arrive again. Publishing while the broker
// is away never blocks.
func TestBrokerRestart(t *testing.T) {
	m := peers.StartMosquitto(t)
	n := startTestNode(t, m.URL(), nil)
	n.waitConnects(t, 1, 5*time.Second)

	m.Stop()
	for i := 0; i < 2*outboxQueue; i++ {
		n.Publish(n.topics.Telemetry, false, []byte(`{"fps":30}`))
		n.PublishEvent("rtmp_disconnected", "test")
	}
	m.Start(t)
	n.waitConnects(t, 2, 20*time.Second)
	if !n.Connected() {
		t.Errorf("Connected() = false after OnConnect")
	}

	sub := peers.Subscribe(t, m, n.topics.Availability)
	if msg, ok := sub.WaitFor(func(msg peers.Message) bool { return msg.Topic == n.topics.Availability }, 30*time.Second); !ok || msg.Payload != Online {
		t.Errorf("availability after the restart: %+v", msg)
	}
	peers.Publish(t, m, n.topics.StreamSet, "stop")
	if got := n.next(t); got.Kind != CommandStream || got.Switch != SwitchOff {
		t.Errorf("after the restart: %+v", got)
	}
}

// With the broker down, Start gives up when its context ends but the session keeps trying,
// and connects once the broker is there.
func TestStartBeforeBroker(t *testing.T) {
	m := peers.StartMosquitto(t)
	m.Stop()
	n := newTestNode(t, m.URL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := n.Start(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still retrying") || n.Connected() {
		t.Fatalf("Start with the broker down: %v (connected %v)", err, n.Connected())
	}
	if err := n.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start: %v", err)
	}
	m.Start(t)
	n.waitConnects(t, 1, 15*time.Second)
	peers.Publish(t, m, n.topics.DanmakuSet, "on")
	if got := n.next(t); got.Kind != CommandDanmaku || got.Switch != SwitchOn {
		t.Errorf("command: %+v", got)
	}
}

// TLS with a private CA and a client certificate (the broker requires one), over ssl:// and
// mqtts://; a broker whose certificate the node does not trust is never connected to.
func TestTLS(t *testing.T) {
	pki := peers.NewPKI(t)
	tlsPort := peers.FreePort(t)
	m := peers.StartMosquitto(t,
		fmt.Sprintf("listener %d 127.0.0.1", tlsPort),
		"cafile "+pki.CA, "certfile "+pki.ServerCert, "keyfile "+pki.ServerKey, "require_certificate true")
	if err := peers.WaitPort(fmt.Sprintf("127.0.0.1:%d", tlsPort), 5*time.Second); err != nil {
		t.Fatal(err) // the harness waits for its own listener only
	}

	for _, scheme := range []string{"ssl", "mqtts"} {
		t.Run(scheme, func(t *testing.T) {
			n := startTestNode(t, fmt.Sprintf("%s://127.0.0.1:%d", scheme, tlsPort), func(c *Config) {
				c.CAFile, c.CertFile, c.KeyFile = pki.CA, pki.ClientCert, pki.ClientKey
			})
			peers.Publish(t, m, n.topics.StreamSet, "ON")
			if got := n.next(t); got.Kind != CommandStream || got.Switch != SwitchOn {
				t.Errorf("command over TLS: %+v", got)
			}
		})
	}

	t.Run("untrusted", func(t *testing.T) {
		n := newTestNode(t, fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), func(c *Config) {
			c.CAFile, c.CertFile, c.KeyFile = pki.OtherCA, pki.ClientCert, pki.ClientKey
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := n.Start(ctx); err == nil {
			t.Fatalf("connected to a broker signed by an untrusted CA")
		}
		if !strings.Contains(n.logs.String(), "certificate") {
			t.Errorf("log does not say why:\n%s", n.logs)
		}
	})
}

// ws:// goes through paho's websocket transport.
func TestWebsocket(t *testing.T) {
	wsPort := peers.FreePort(t)
	m := peers.StartMosquitto(t, fmt.Sprintf("listener %d 127.0.0.1", wsPort), "protocol websockets")
	if err := peers.WaitPort(fmt.Sprintf("127.0.0.1:%d", wsPort), 5*time.Second); err != nil {
		t.Fatal(err) // the harness waits for its own listener only
	}
	n := startTestNode(t, fmt.Sprintf("ws://127.0.0.1:%d/mqtt", wsPort), nil)
	peers.Publish(t, m, n.topics.StreamSet, `{"state":"ON"}`)
	if got := n.next(t); got.Kind != CommandStream || got.Switch != SwitchOn {
		t.Errorf("command over websocket: %+v", got)
	}
}

// Credentials reach the broker (which checks them) and never a log line: the URL is logged
// without its userinfo, a refused login names the reason only.
func TestCredentialsNotLogged(t *testing.T) {
	const user, password = "cam", "Pa55-w0rd-XYZ"
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	pwfile := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pwfile, user, password).CombinedOutput(); err != nil {
		t.Skipf("mosquitto_passwd: %v: %s", err, out)
	}
	os.Chmod(pwfile, 0o644)
	m := peers.StartMosquitto(t, "password_file "+pwfile)

	good := startTestNode(t, fmt.Sprintf("tcp://%s:%s@%s", user, password, m.Addr()), nil)
	peers.Publish(t, m, good.topics.StreamSet, "1")
	if got := good.next(t); got.Switch != SwitchOn {
		t.Errorf("command: %+v", got)
	}
	good.Close()

	bad := newTestNode(t, "tcp://"+m.Addr(), func(c *Config) { c.Username, c.Password = user, "wrong-"+password })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := bad.Start(ctx); err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("Start with a wrong password: %v", err)
	}
	bad.Close()

	for name, logs := range map[string]string{"good": good.logs.String(), "bad": bad.logs.String()} {
		if strings.Contains(logs, password) {
			t.Errorf("%s session log shows the password:\n%s", name, logs)
		}
		if !strings.Contains(logs, "broker=tcp://"+m.Addr()) {
			t.Errorf("%s session log does not name the broker:\n%s", name, logs)
		}
	}
	if !strings.Contains(bad.logs.String(), "not Authorized") && !strings.Contains(bad.logs.String(), "bad user name or password") {
		t.Errorf("refused login not logged:\n%s", bad.logs)
	}
}
