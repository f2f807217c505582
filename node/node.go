// Package node is a camnode node: it keeps the stream in the state the users asked for over
// MQTT, and reports what the stream really is, its events and its telemetry.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/mqtt"
)

// State is what the stream is, as published in <base>/state.
type State string

// The states of DESIGN.md.
const (
	StateIdle         State = "idle"
	StateStarting     State = "starting"
	StateLive         State = "live"
	StateReconnecting State = "reconnecting"
	StateError        State = "error"
)

// Event names published on <base>/event.
const (
	EventStreamStarted    = "stream_started"
	EventStreamStopped    = "stream_stopped"
	EventRTMPConnected    = "rtmp_connected"
	EventRTMPDisconnected = "rtmp_disconnected"
	EventRTMPRejected     = "rtmp_rejected"
	EventSourceFailed     = "source_failed"
	EventCommandRejected  = "command_rejected"
	EventKeyframe         = "keyframe_requested"
	EventRestart          = "pipeline_restarted"
)

// status is the retained <base>/state payload.
type status struct {
	State  State   `json:"state"`
	Since  string  `json:"since"`
	Source string  `json:"source"`
	Target string  `json:"target"`
	Width  int     `json:"width,omitempty"`
	Height int     `json:"height,omitempty"`
	FPS    float64 `json:"fps,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Node runs one camera. Make it with New, then Run it.
type Node struct {
	cfg     *config.Config
	log     *slog.Logger
	topics  mqtt.Topics
	session *mqtt.Session
	start   time.Time
	secrets []string

	// Home Assistant: discoveryTopics has the discovery prefix even with discovery off, to
	// remove what an earlier run published; rediscovering is set while an answer to Home
	// Assistant's birth message waits for its delay.
	discoveryTopics mqtt.Topics
	device          mqtt.DeviceInfo
	rediscovering   atomic.Bool
	cleanupStarted  atomic.Bool // discovery off: the one removal of an earlier run's discovery (node/discovery.go)

	// notes carries what the pipeline's goroutines report to Run's goroutine, which alone
	// changes the state.
	notes chan note

	// Run's goroutine only
	desired  bool
	pipe     *pipeline
	liveOnce bool // stream_started was sent for this ON
	tel      telemetryState
	chat     *chatIntake

	// mu guards what the MQTT session's goroutine reads when it republishes after a reconnect.
	mu      sync.Mutex
	status  status
	danmaku bool
}

// New makes a node from its configuration. It does not connect yet. A TLS file the MQTT
// session cannot use is a *config.Error naming its variable.
func New(cfg *config.Config, log *slog.Logger) (*Node, error) {
	n := &Node{
		cfg:             cfg,
		log:             log,
		topics:          mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, cfg.HADiscoveryPrefix),
		discoveryTopics: mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, cfg.HADiscoveryPrefix),
		start:           time.Now(),
		secrets:         cfg.Secrets(),
		notes:           make(chan note, 64),
		danmaku:         true,
	}
	if !cfg.HADiscovery {
		// Without discovery Home Assistant's birth messages are none of the node's business.
		n.topics = mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, "")
	}
	n.device = n.deviceInfo()
	n.chat = newChatIntake(cfg, n.event)
	n.status = status{State: StateIdle, Since: stamp(time.Now()), Source: describeSource(cfg.Source), Target: config.RedactURL(cfg.RTMPURL)}
	if cfg.RTMPURL == "" {
		n.status.Target = ""
	}
	mc := BrokerConfig(cfg, n.topics)
	mc.ClientID = "camnode-" + cfg.NodeID
	mc.KeepAlive = cfg.MQTTKeepAlive
	// One cap for every reconnect: the broker's like the ingest's.
	mc.MaxReconnectInterval = cfg.ReconnectMax
	mc.Logger = log
	mc.OnConnect = n.onConnect
	mc.OnBusy = n.onBusy
	s, err := mqtt.New(mc)
	var fe *mqtt.FileError
	if errors.As(err, &fe) {
		v := map[string]string{mqtt.FileCA: "MQTT_CA_FILE", mqtt.FileCert: "MQTT_CERT_FILE", mqtt.FileKey: "MQTT_KEY_FILE"}[fe.File]
		return nil, &config.Error{Var: config.Prefix + "_" + v, Msg: fe.Error()}
	}
	if err != nil {
		return nil, err
	}
	n.session = s
	return n, nil
}

// BrokerConfig is the MQTT configuration the settings give: the broker, its credentials and
// TLS files, and the topics. The node's session adds its own parts; camnode forget connects
// with it as it is.
func BrokerConfig(cfg *config.Config, topics mqtt.Topics) mqtt.Config {
	return mqtt.Config{
		URL:      cfg.MQTTURL,
		Username: cfg.MQTTUsername,
		Password: cfg.MQTTPassword,
		CAFile:   cfg.MQTTCAFile,
		CertFile: cfg.MQTTCertFile,
		KeyFile:  cfg.MQTTKeyFile,
		Topics:   topics,
	}
}

// Topics returns the node's MQTT topics.
func (n *Node) Topics() mqtt.Topics { return n.topics }

// Run runs the node until ctx ends, then stops the stream, says offline and returns nil.
func (n *Node) Run(ctx context.Context) error {
	sessionCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSession()
	go func() {
		if err := n.session.Start(sessionCtx); err != nil && sessionCtx.Err() == nil {
			n.log.Error("mqtt", "err", err)
		}
	}()
	n.log.Info("node running", "node_id", n.cfg.NodeID, "base_topic", n.topics.Base,
		"source", describeSource(n.cfg.Source), "target", n.status.Target, "autostart", n.cfg.Autostart)

	go n.chat.run(ctx)
	if n.cfg.Autostart {
		n.setDesired(ctx, true, "autostart")
	}
	telemetry := time.NewTicker(n.cfg.TelemetryInterval)
	defer telemetry.Stop()
	for {
		select {
		case <-ctx.Done():
			n.shutdown()
			return nil
		case cmd := <-n.session.Commands():
			n.handle(ctx, cmd)
		case nt := <-n.notes:
			n.onNote(ctx, nt)
		case <-telemetry.C:
			n.publishTelemetry()
		}
	}
}

func (n *Node) handle(ctx context.Context, cmd mqtt.Command) {
	n.log.Debug("command", "kind", cmd.Kind.String(), "switch", cmd.Switch.String(), "fleet", cmd.Fleet)
	switch cmd.Kind {
	case mqtt.CommandStream:
		on := cmd.Switch == mqtt.SwitchOn || cmd.Switch == mqtt.SwitchToggle && !n.desired
		if on && n.cfg.RTMPURL == "" {
			n.event(EventCommandRejected, "stream/set ON: no ingest configured (set CAMNODE_RTMP_URL)")
			n.publishStreamState()
			return
		}
		n.setDesired(ctx, on, "command")
	case mqtt.CommandKeyframe:
		if n.pipe == nil {
			n.event(EventCommandRejected, "keyframe/set: the stream is off")
			return
		}
		if err := n.pipe.requestKeyframe(); err != nil {
			n.event(EventCommandRejected, "keyframe/set: "+err.Error())
			return
		}
		n.event(EventKeyframe, "requested by command")
	case mqtt.CommandRestart:
		if !n.desired {
			n.event(EventCommandRejected, "restart/set: the stream is off")
			return
		}
		n.stopPipeline()
		n.event(EventRestart, "requested by command")
		n.startPipeline(ctx)
	case mqtt.CommandDanmaku:
		n.mu.Lock()
		switch cmd.Switch {
		case mqtt.SwitchOn:
			n.danmaku = true
		case mqtt.SwitchOff:
			n.danmaku = false
		case mqtt.SwitchToggle:
			n.danmaku = !n.danmaku
		}
		n.mu.Unlock()
		n.publishDanmakuState()
		n.onDanmakuSwitch()
	case mqtt.CommandChat:
		n.onChat(cmd)
	case mqtt.CommandHAOnline:
		n.onHAOnline()
	}
}

// setDesired is the heart of the node: desired ON starts the pipeline, OFF stops it.
func (n *Node) setDesired(ctx context.Context, on bool, why string) {
	if on == n.desired {
		n.publishStreamState() // answer the switch even when nothing changes
		return
	}
	n.desired = on
	if on {
		n.liveOnce = false
		n.setState(StateStarting, nil)
		n.startPipeline(ctx)
		return
	}
	n.stopPipeline()
	n.setState(StateIdle, nil)
	n.event(EventStreamStopped, why)
}

// onNote moves the state machine on a report from the pipeline.
func (n *Node) onNote(ctx context.Context, nt note) {
	if n.pipe == nil || nt.pipe != n.pipe {
		return // from a pipeline already stopped
	}
	switch nt.kind {
	case noteLive:
		wasReconnecting := n.currentState() == StateReconnecting
		n.setState(StateLive, nil)
		if !n.liveOnce {
			n.liveOnce = true
			n.event(EventStreamStarted, "live on "+n.status.Target)
		} else if wasReconnecting {
			n.event(EventRTMPConnected, "live again on "+n.status.Target)
		}
	case noteDisconnected:
		// Once per outage, whether the stream was live or never got there (an ingest that
		// times out): the retries that follow only update the state's error.
		if n.currentState() != StateReconnecting {
			n.event(EventRTMPDisconnected, n.clean(nt.err))
		}
		n.setState(StateReconnecting, nt.err)
	case noteRejected:
		n.event(EventRTMPRejected, n.clean(nt.err))
		n.setState(StateError, nt.err)
	case noteSourceFailed:
		n.event(EventSourceFailed, n.clean(nt.err))
		n.setState(StateError, nt.err)
	case noteSourceRecovered:
		if n.currentState() == StateError {
			// The ingest connection may have stayed up while the source was down: then
			// the stream is live again with the source's next frame, and no Live status
			// will come from the publisher to say so. A refusal by the ingest stands.
			switch st := n.pipe.pub.Stats(); {
			case st.Live:
				n.setState(StateLive, nil)
			case !st.Refused:
				n.setState(StateStarting, nil)
			}
		}
	case noteSize:
		n.mu.Lock()
		n.status.Width, n.status.Height, n.status.FPS = nt.width, nt.height, nt.fps
		n.mu.Unlock()
		n.publishState()
	}
}

func (n *Node) shutdown() {
	wasOn := n.desired
	n.desired = false
	n.stopPipeline()
	n.setState(StateIdle, nil)
	if wasOn {
		n.event(EventStreamStopped, "shutdown")
	}
	n.session.Close()
	n.log.Info("node stopped")
}

func (n *Node) currentState() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status.State
}

// setState changes the state and publishes state and stream/state.
func (n *Node) setState(s State, err error) {
	n.mu.Lock()
	changed := n.status.State != s
	if changed {
		n.status.State = s
		n.status.Since = stamp(time.Now())
	}
	msg := ""
	if err != nil {
		msg = n.clean(err)
	}
	changed = changed || n.status.Error != msg
	n.status.Error = msg
	n.mu.Unlock()
	if changed {
		n.log.Info("state", "state", string(s), "err", msg)
		n.publishState()
		n.publishStreamState()
	}
}

// clean turns an error into text that holds no secret, whatever produced it.
func (n *Node) clean(err error) string {
	if err == nil {
		return ""
	}
	return config.Scrub(err.Error(), n.secrets)
}

func (n *Node) event(name, reason string) {
	reason = config.Scrub(reason, n.secrets)
	n.log.Info("event", "event", name, "reason", reason)
	n.session.PublishEvent(name, reason)
}

// republish sends every retained state topic again: after a broker reconnect and when Home
// Assistant comes online. It runs on the MQTT session's goroutine or a timer's.
func (n *Node) republish() {
	n.publishState()
	n.publishStreamState()
	n.publishDanmakuState()
}

func (n *Node) publishState() {
	n.mu.Lock()
	b, _ := json.Marshal(n.status)
	n.mu.Unlock()
	n.session.Publish(n.topics.State, true, b)
}

func (n *Node) publishStreamState() {
	v := "OFF"
	if n.currentState() == StateLive {
		v = "ON"
	}
	n.session.Publish(n.topics.StreamState, true, []byte(v))
}

func (n *Node) publishDanmakuState() {
	n.mu.Lock()
	v := "OFF"
	if n.danmaku {
		v = "ON"
	}
	n.mu.Unlock()
	n.session.Publish(n.topics.DanmakuState, true, []byte(v))
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// describeSource is the source setting as state payloads show it: exec commands may carry
// credentials on their command line, so only the program's name is shown.
func describeSource(s string) string {
	if rest, ok := strings.CutPrefix(s, "exec:"); ok {
		f := strings.Fields(rest)
		if len(f) == 0 {
			return "exec:"
		}
		return "exec:" + f[0]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

var errNoKeyframeControl = errors.New("the source cannot make a keyframe on demand")
