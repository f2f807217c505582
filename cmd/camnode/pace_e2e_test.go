package main

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// keyframe/set in a burst (60 through one mosquitto_pub -l, as fast as the broker takes
// them) gives at most one keyframe a second; the rest are told in one command_rejected event
// per second, and snapshot/set likewise.
func TestKeyframeAndSnapshotBurstsArePaced(t *testing.T) {
	r := newRig(t, "pace", "")
	r.env["CAMNODE_SOURCE"] = "testsrc"
	r.env["CAMNODE_SNAPSHOT_INTERVAL"] = "0"
	node := r.goLive(t)
	defer node.cmd.Process.Kill()

	from := len(r.sub.Messages())
	burst := func(topic string) {
		cmd := exec.Command("mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(r.broker.Port), "-q", "1", "-t", r.topic(topic), "-l")
		cmd.Stdin = strings.NewReader(strings.Repeat("PRESS\n", 60))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub -l %s: %v: %s", topic, err, out)
		}
	}
	burst("keyframe/set")
	burst("snapshot/set")
	r.await(t, from, "event", func(s string) bool { return strings.Contains(s, "keyframe/set: at most one per 1s") }, "the keyframe burst coalesced")
	r.await(t, from, "event", func(s string) bool { return strings.Contains(s, "snapshot/set: at most one per 1s") }, "the snapshot burst coalesced")

	var keyframes []time.Time
	for _, m := range r.sub.Messages()[from:] {
		var e struct{ Event, TS string }
		if m.Topic != r.topic("event") || json.Unmarshal([]byte(m.Payload), &e) != nil || e.Event != "keyframe_requested" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, e.TS)
		if err != nil {
			t.Fatalf("event ts %q: %v", e.TS, err)
		}
		keyframes = append(keyframes, ts)
	}
	if len(keyframes) == 0 || len(keyframes) > 30 {
		t.Fatalf("%d keyframes requested by a burst of 60", len(keyframes))
	}
	for i := 1; i < len(keyframes); i++ {
		if d := keyframes[i].Sub(keyframes[i-1]); d < time.Second-time.Millisecond {
			t.Errorf("keyframes requested %v apart, want at least 1 s", d)
		}
	}
}
