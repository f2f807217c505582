package main

import (
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/mqtt"
)

// Issue 13, defect 5: with CAMNODE_HA_DISCOVERY=false a node clears an earlier run's
// discovery once, and otherwise publishes nothing under homeassistant/: not at boot when
// nothing is there, not at each reconnect (Home Assistant logged "No device components to
// cleanup" for every empty message).
func TestDiscoveryOffStaysQuiet(t *testing.T) {
	b := peers.StartMosquitto(t)
	topics := mqtt.NewTopics("camnode", "quiet", "homeassistant")
	sub := peers.Subscribe(t, b, "homeassistant/#", "camnode/quiet/#")
	node := startCamnode(t, map[string]string{
		"CAMNODE_NODE_ID": "quiet", "CAMNODE_MQTT_URL": b.URL(), "CAMNODE_SOURCE": "testsrc",
		"CAMNODE_HA_DISCOVERY": "false", "CAMNODE_RECONNECT_MAX": "2s",
	})
	// It looked once (its probe marker) and found nothing to clear. A look that the broker
	// cuts short is tried again at the next connect, rightly: the restarts below come
	// after the look has finished.
	if _, ok := sub.WaitFor(func(m peers.Message) bool { return m.Topic == topics.DiscoveryProbe }, time.Minute); !ok {
		t.Fatal("the node never looked for an earlier run's discovery")
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(node.Log(), "nothing of an earlier run to remove"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the look for an earlier run's discovery never finished")
		}
	}
	awaitEach(t, sub, 0, []string{topics.State}, nonEmpty, "state at boot")

	// Reconnects: the broker is killed and restarted twice. After each, the node's
	// retained state comes again, and it would come after any discovery message, which the
	// node queues first.
	for range 2 {
		b.Kill()
		b.Start(t)
		from := len(sub.Messages())
		awaitEach(t, sub, from, []string{topics.State}, nonEmpty, "state after the broker restarted")
	}
	probes := 0
	for _, m := range sub.Messages() {
		switch {
		case strings.HasPrefix(m.Topic, "homeassistant/"):
			t.Errorf("discovery off, yet %s %q", m.Topic, m.Payload)
		case m.Topic == topics.DiscoveryProbe:
			probes++
		}
	}
	if probes != 1 {
		t.Errorf("looked for old discovery %d times, want once per run", probes)
	}
}
