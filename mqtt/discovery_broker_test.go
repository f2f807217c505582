package mqtt

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// RetainedDiscovery finds exactly the retained discovery a real broker holds for the node
// (device topic and the per-entity topics of an older layout), and nothing of other nodes,
// so a node with discovery off removes what is there and otherwise stays quiet.
func TestRetainedDiscoveryOnMosquitto(t *testing.T) {
	peers.Require(t, "mosquitto", "mosquitto_pub")
	m := peers.StartMosquitto(t)
	topics := NewTopics("camnode", "garden", "homeassistant")
	cfg := Config{URL: m.URL(), Topics: topics}
	look := func() []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		found, err := RetainedDiscovery(ctx, cfg)
		if err != nil {
			t.Fatalf("RetainedDiscovery: %v", err)
		}
		return found
	}
	if found := look(); len(found) != 0 {
		t.Fatalf("empty broker: found %v", found)
	}
	legacy := "homeassistant/sensor/camnode_garden/fps/config"
	other := "homeassistant/device/camnode_porch/config"
	peers.Publish(t, m, DiscoveryTopic(topics), `{"device":{}}`, "-r")
	peers.Publish(t, m, legacy, `{"name":"fps"}`, "-r")
	peers.Publish(t, m, other, `{"device":{}}`, "-r")
	want := []string{DiscoveryTopic(topics), legacy}
	slices.Sort(want)
	if found := look(); !slices.Equal(found, want) {
		t.Fatalf("found %v, want %v", found, want)
	}
	for _, topic := range want {
		peers.Publish(t, m, topic, "", "-r")
	}
	if found := look(); len(found) != 0 {
		t.Fatalf("after removal: found %v", found)
	}
}
