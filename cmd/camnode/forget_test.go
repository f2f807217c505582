package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/mqtt"
)

// retainedOn returns the retained messages a fresh subscriber gets for the filters.
func retainedOn(t *testing.T, b *peers.Mosquitto, filters ...string) map[string]string {
	t.Helper()
	sub := peers.Subscribe(t, b, filters...)
	time.Sleep(500 * time.Millisecond) // retained messages arrive right after SUBACK
	got := map[string]string{}
	for _, m := range sub.Messages() {
		if m.Retained {
			got[m.Topic] = m.Payload
		}
	}
	return got
}

// forgetEnv gives runForget, which reads the environment in this process, a node's
// settings and nothing else: PEERS_REQUIRED and the like are unknown settings to it.
func forgetEnv(t *testing.T, url string) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CAMNODE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("CAMNODE_NODE_ID", "garden")
	t.Setenv("CAMNODE_MQTT_URL", url)
}

// camnode forget clears what Home Assistant discovered, old per-entity topics included,
// and leaves the node's state alone unless asked to purge it.
func TestForgetClearsDiscovery(t *testing.T) {
	b := peers.StartMosquitto(t)
	topics := mqtt.NewTopics("camnode", "garden", "homeassistant")
	for _, m := range mqtt.DiscoveryMessages(topics, mqtt.DeviceInfo{SWVersion: "test"}) {
		peers.Publish(t, b, m.Topic, string(m.Payload), "-r")
	}
	legacy := "homeassistant/sensor/camnode_garden/bitrate/config"
	peers.Publish(t, b, legacy, `{"state_topic":"camnode/garden/telemetry"}`, "-r")
	peers.Publish(t, b, topics.StreamState, "OFF", "-r")
	other := mqtt.DiscoveryTopic(mqtt.NewTopics("camnode", "shed", "homeassistant"))
	peers.Publish(t, b, other, `{"keep":"me"}`, "-r")

	before := retainedOn(t, b, "homeassistant/#", "camnode/#")
	if before[mqtt.DiscoveryTopic(topics)] == "" || before[legacy] == "" {
		t.Fatalf("setup: retained before forget: %v", before)
	}

	forgetEnv(t, b.URL())
	var out, errb bytes.Buffer
	if code := runForget(nil, &out, &errb); code != 0 {
		t.Fatalf("forget exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "homeassistant/device/camnode_garden/config") {
		t.Fatalf("forget says: %q", out.String())
	}
	after := retainedOn(t, b, "homeassistant/#", "camnode/#")
	for topic := range after {
		if strings.Contains(topic, "camnode_garden") {
			t.Errorf("still retained after forget: %s", topic)
		}
	}
	if after[other] == "" || after[topics.StreamState] != "OFF" {
		t.Fatalf("forget removed what it should keep: %v", after)
	}

	out.Reset()
	if code := runForget([]string{"-purge"}, &out, &errb); code != 0 {
		t.Fatalf("forget -purge exit %d: %s", code, errb.String())
	}
	if after := retainedOn(t, b, "camnode/#"); len(after) != 0 {
		t.Fatalf("retained after forget -purge: %v", after)
	}

	// Another node by name, from anywhere.
	if code := runForget([]string{"-node", "shed"}, &out, &errb); code != 0 {
		t.Fatalf("forget -node shed exit %d: %s", code, errb.String())
	}
	if after := retainedOn(t, b, "homeassistant/#"); after[other] != "" {
		t.Fatalf("forget -node shed left %s", other)
	}
}

// The failures a user meets: wrong password, no broker, a bad node name. Exit codes as
// documented, and the password never printed.
func TestForgetErrors(t *testing.T) {
	peers.Require(t, "mosquitto_passwd")
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, "camnode", "right-pass").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	b := peers.StartMosquitto(t, "password_file "+pw)

	forgetEnv(t, b.URL())
	t.Setenv("CAMNODE_MQTT_USERNAME", "camnode")
	t.Setenv("CAMNODE_MQTT_PASSWORD", "wr0ng-s3cret")
	var out, errb bytes.Buffer
	if code := runForget(nil, &out, &errb); code != 1 {
		t.Fatalf("wrong password: exit %d, want 1; %s", code, errb.String())
	}
	if msg := errb.String(); !strings.Contains(msg, "connect tcp://"+b.Addr()) || !strings.Contains(strings.ToLower(msg), "not authorized") || strings.Contains(msg, "wr0ng-s3cret") {
		t.Fatalf("wrong password message: %q", msg)
	}
	t.Logf("wrong password: %s", strings.TrimSpace(errb.String()))

	t.Setenv("CAMNODE_MQTT_PASSWORD", "right-pass")
	errb.Reset()
	if code := runForget(nil, &out, &errb); code != 0 {
		t.Fatalf("right password: exit %d: %s", code, errb.String())
	}

	t.Setenv("CAMNODE_MQTT_URL", "tcp://127.0.0.1:"+strconv.Itoa(peers.FreePort(t)))
	errb.Reset()
	if code := runForget([]string{"-timeout", "3s"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "camnode forget: mqtt: connect tcp://127.0.0.1:") {
		t.Fatalf("no broker: exit %d: %q", code, errb.String())
	}
	t.Logf("no broker: %s", strings.TrimSpace(errb.String()))

	errb.Reset()
	if code := runForget([]string{"-node", "Bad/Name"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "CAMNODE_NODE_ID") {
		t.Fatalf("bad -node: exit %d: %q", code, errb.String())
	}
	errb.Reset()
	if code := runForget([]string{"extra"}, &out, &errb); code != 2 {
		t.Fatalf("stray argument: exit %d", code)
	}
}

// A node the broker holds no discovery of: nothing cleared, and it says so.
func TestForgetUnknownNode(t *testing.T) {
	b := peers.StartMosquitto(t)
	forgetEnv(t, b.URL())
	var out, errb bytes.Buffer
	if code := runForget([]string{"-node", "gardne"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "holds no discovery of node gardne") || strings.Contains(out.String(), "cleared") {
		t.Fatalf("forget of a node that never existed says: %q", out.String())
	}
}
