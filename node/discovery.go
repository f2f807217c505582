package node

import (
	"bytes"
	"os"
	"time"

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
		Model:          boardModel(),
		SWVersion:      Version,
		CPUTemperature: err == nil,
		ChatMaxRunes:   n.cfg.ChatMaxRunes,
	}
}

// boardModel is the board's name from the device tree, or "" (camnode's default model)
// where there is none, as on a PC.
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

// publishDiscovery publishes the Home Assistant discovery message, or with discovery
// turned off the empty retained messages that remove what an earlier run published: a
// node switched to CAMNODE_HA_DISCOVERY=false leaves no dead device behind.
func (n *Node) publishDiscovery() {
	msgs := mqtt.DiscoveryRemoval(n.discoveryTopics)
	if n.cfg.HADiscovery {
		msgs = mqtt.DiscoveryMessages(n.discoveryTopics, n.device)
	}
	for _, m := range msgs {
		n.session.Publish(m.Topic, true, m.Payload)
	}
}

// onHAOnline answers Home Assistant's birth message: after a random 1-5 s (so a fleet does
// not answer all at once) discovery and the retained state go out again. Births that arrive
// while an answer is pending share it.
func (n *Node) onHAOnline() {
	if !n.cfg.HADiscovery || !n.rediscovering.CompareAndSwap(false, true) {
		return
	}
	delay := mqtt.RediscoveryDelay()
	n.log.Debug("home assistant online, discovery follows", "delay", delay)
	time.AfterFunc(delay, func() {
		n.rediscovering.Store(false)
		n.publishDiscovery()
		n.republish()
	})
}
