package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media/pipeline"
	"github.com/camnode/camnode/mqtt"
)

// Version is camnode's version as Home Assistant shows it (device sw_version and origin);
// main sets it from its build-time version before New.
var Version = "dev"

// Where Linux on a board with a device tree (every Raspberry Pi) names the board, e.g.
// "Raspberry Pi 4 Model B Rev 1.4\x00".
var boardModelFiles = []string{"/sys/firmware/devicetree/base/model", "/proc/device-tree/model"}

// thermalZone is the file cpuTemp reads; a board that has it gets a CPU temperature sensor.
const thermalZone = "/sys/class/thermal/thermal_zone0/temp"

// deviceInfo is what Home Assistant shows about this node.
func (n *Node) deviceInfo() mqtt.DeviceInfo {
	_, err := os.Stat(thermalZone)
	return mqtt.DeviceInfo{
		HWVersion:      boardModel(),
		SWVersion:      Version,
		CPUTemperature: err == nil,
		ChatMaxRunes:   n.cfg.ChatMaxRunes,
		EventTypes:     Events,
		Targets:        n.targetNames,
	}
}

// boardModel is the board's name from the device tree (the device's hardware version; the
// model stays "camnode"), or "" where there is none, as on a PC.
func boardModel() string {
	for _, f := range boardModelFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := string(bytes.TrimSpace(bytes.TrimRight(b, "\x00"))); m != "" {
			return m
		}
	}
	return ""
}

// onConnect runs on the MQTT session's goroutine after every (re)connect, once "online" is
// queued: a broker that restarted without persistence has lost every retained message, so
// discovery (or its removal) and the retained state go out again.
func (n *Node) onConnect() {
	n.publishDiscovery()
	n.republish()
}

// publishDiscovery publishes the Home Assistant discovery message. With discovery turned
// off it removes, once per run, what an earlier run left retained on the broker (a node
// switched to CAMNODE_HA_DISCOVERY=false leaves no dead device behind), and only the topics
// really there: no empty messages at every reconnect for Home Assistant to log about.
func (n *Node) publishDiscovery() {
	if n.cfg.HADiscovery {
		for _, m := range mqtt.DiscoveryMessages(n.discoveryTopics, n.device) {
			n.session.Publish(m.Topic, true, m.Payload)
		}
		return
	}
	if n.discoveryTopics.DiscoveryPrefix == "" || !n.cleanupStarted.CompareAndSwap(false, true) {
		return
	}
	started := n.jobs.start(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, discoveryProbeTimeout)
		defer cancel()
		found, err := mqtt.RetainedDiscovery(ctx, BrokerConfig(n.cfg, n.discoveryTopics))
		if err != nil {
			n.log.Warn("looking for old Home Assistant discovery failed; next connect tries again", "err", n.clean(err))
			n.cleanupStarted.Store(false)
			return
		}
		for _, topic := range found {
			n.session.Publish(topic, true, nil)
		}
		if len(found) > 0 {
			n.log.Info("Home Assistant discovery is off: removed what an earlier run published", "topics", len(found))
		} else {
			n.log.Info("Home Assistant discovery is off: nothing of an earlier run to remove")
		}
	})
	if !started {
		n.cleanupStarted.Store(false)
	}
}

// discoveryProbeTimeout bounds the look for an earlier run's retained discovery.
const discoveryProbeTimeout = 30 * time.Second

// onHAOnline answers Home Assistant's birth message: after a random 1-5 s (so a fleet does
// not answer all at once) discovery and the retained state go out again. Births that arrive
// while an answer is pending share it.
func (n *Node) onHAOnline() {
	if !n.cfg.HADiscovery || !n.rediscovering.CompareAndSwap(false, true) {
		return
	}
	delay := mqtt.RediscoveryDelay()
	n.log.Debug("home assistant online, discovery follows", "delay", delay)
	started := n.jobs.start(func(ctx context.Context) {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		n.rediscovering.Store(false)
		n.publishDiscovery()
		n.republish()
	})
	if !started {
		n.rediscovering.Store(false)
	}
}

// publishSnapshot is what runSnapshots (node/snapshot.go) publishes through: the JPEG retained on
// <base>/snapshot (Home Assistant's image entity) and its snapshotInfo retained on
// <base>/snapshot/info (the entity's attributes). A failed snapshot leaves the last picture
// in place and says why in the info.
func (n *Node) publishSnapshot(jpeg []byte, info snapshotInfo) {
	info.Error = config.Scrub(info.Error, n.secrets)
	if jpeg != nil {
		n.session.Publish(n.topics.Snapshot, true, jpeg)
	}
	b, _ := json.Marshal(info)
	n.session.Publish(n.topics.SnapshotInfo, true, b)
}

// configurationURL is the local player's page as Home Assistant links it from the device
// (its "Visit" link), when the player listens where Home Assistant's users can reach it:
// "" on loopback. An address of every interface (0.0.0.0, ::) is shown with this machine's
// first non-loopback address. The token is never part of it: the user adds ?token=.
func configurationURL(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || ta.IP.IsLoopback() {
		return ""
	}
	ip := ta.IP
	if ip.IsUnspecified() {
		ip = pipeline.HostAddress()
		if ip == nil {
			return ""
		}
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port)) + "/"
}
