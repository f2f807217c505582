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
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/pipeline"
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

// The states of one destination in <base>/state's targets.
const (
	targetIdle         = "idle"
	targetConnecting   = "connecting"
	targetLive         = "live"
	targetReconnecting = "reconnecting"
	targetFailed       = "failed"
)

// status is the retained <base>/state payload.
type status struct {
	State     State          `json:"state"`
	Since     string         `json:"since"`
	Started   string         `json:"started"`              // when the node started
	LiveSince string         `json:"live_since,omitempty"` // when the stream last went live
	Source    string         `json:"source"`
	Target    string         `json:"target"` // every destination, redacted, separated by spaces
	Targets   []targetStatus `json:"targets"`
	Width     int            `json:"width,omitempty"`
	Height    int            `json:"height,omitempty"`
	FPS       float64        `json:"fps,omitempty"`      // the stream's
	Audio     string         `json:"audio"`              // silent, none or exec:<program>
	RTSPURL   string         `json:"rtsp_url,omitempty"` // where RTSP players find the stream, never with credentials
	Error     string         `json:"error,omitempty"`
	// ChatSources are the readers of CAMNODE_CHAT_FROM (node/chatfrom.go).
	ChatSources []chatSourceStatus `json:"chat_sources,omitempty"`
	// Problem: the stream is wanted and no destination has been live for 60 s (problem.go).
	Problem bool `json:"problem,omitempty"`
}

// targetStatus is one destination in the state payload.
type targetStatus struct {
	Target string `json:"target"` // redacted
	State  string `json:"state"`
	Error  string `json:"error,omitempty"`
	Since  string `json:"since"`
}

// session is what the node needs of its MQTT session (*mqtt.Session).
type session interface {
	Start(ctx context.Context) error
	Commands() <-chan mqtt.Command
	Publish(topic string, retained bool, payload []byte)
	PublishIfRoom(topic string, payload []byte) bool
	PublishEvent(name, reason string)
	PublishTargetEvent(name, target, reason string)
	Close()
}

// Node runs one camera. Make it with New, then Run it.
type Node struct {
	cfg     *config.Config
	log     *slog.Logger
	topics  mqtt.Topics
	session session
	start   time.Time
	secrets []string
	// targets are the ingest URLs of CAMNODE_RTMP_URL; targetNames the same, redacted.
	targets     []string
	targetNames []string
	// local are the local outputs (the player of CAMNODE_HTTP, …) for the node's life;
	// extra more outputs of every stream (AddOutput); audio the audio track (SetAudio).
	local *pipeline.Local
	extra []media.Output
	audio media.AudioSource
	// snapshotAsked carries <base>/snapshot/set to runSnapshots.
	snapshotAsked chan struct{}
	// paced holds keyframe/set and snapshot/set to one each per second (pace.go).
	paced commandPace
	// noLive times a wanted stream without a live destination, for status.Problem.
	noLive noLiveWatch
	// jobs are the one-off goroutines Run owns (background.go).
	jobs background
	// running is the pipeline of the stream, for snapshots from any goroutine.
	running atomic.Pointer[mediaPipeline]
	// newPipeline makes the media pipeline of each start (pipeline.New; tests swap it).
	newPipeline func(opts pipelineOptions) mediaPipeline

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
	pipe     *run
	liveOnce bool // stream_started was sent for this ON
	// previewing: a stream without RTMP destinations has started its local outputs.
	previewing bool
	srcErr     string // the source's failure, until it delivers again
	tel        telemetryState
	chat       *chatIntake

	chatSources []*chatSource // CAMNODE_CHAT_FROM (node/chatfrom.go)

	// mu guards what the MQTT session's goroutine reads when it republishes after a reconnect.
	mu            sync.Mutex
	status        status
	danmaku       bool
	lastPublished []byte // the state payload last published
	desiredFlag   bool   // desired, for the session's goroutine
}

// New makes a node from its configuration. It does not connect yet. A TLS file the MQTT
// session cannot use is a *config.Error naming its variable.
func New(cfg *config.Config, log *slog.Logger) (*Node, error) {
	n := newNode(cfg, log)
	mc := BrokerConfig(cfg, n.topics)
	mc.ClientID = "camnode-" + cfg.NodeID
	mc.KeepAlive = cfg.MQTTKeepAlive
	// One cap for every reconnect: the broker's like the ingest's.
	mc.MaxReconnectInterval = cfg.ReconnectMax
	mc.Logger = log
	mc.OnConnect = func() {
		// What the stream really is goes first: a node killed while live left ON retained.
		n.publishStreamState()
		n.onConnect()
	}
	mc.OnBusy = n.onBusy
	mc.OnRejected = n.onRejected
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
	if err := n.setAudioTrack(); err != nil {
		return nil, err
	}
	if err := n.listenLocal(); err != nil {
		return nil, err
	}
	return n, nil
}

// listenLocal binds the local outputs (CAMNODE_HTTP). One that cannot work with the
// settings is a *config.Error naming the variable.
func (n *Node) listenLocal() error {
	cfg := n.cfg
	audioRate := cfg.AudioRate
	if cfg.Audio == "none" {
		audioRate = 0
	}
	l, err := pipeline.ListenLocal(pipeline.LocalOptions{HTTP: cfg.HTTP, HTTPToken: cfg.HTTPToken,
		ChatBurntIn: func() bool { return cfg.Danmaku.May(config.CarrierSEI) && n.chat.burn.burntIn() },
		RTSP:        cfg.RTSP, RTSPUsername: cfg.RTSPUsername, RTSPPassword: cfg.RTSPPassword,
		ONVIF: cfg.ONVIF, NodeID: cfg.NodeID, Version: Version,
		Width: cfg.Width, Height: cfg.Height, FrameRate: cfg.FPS, BitrateKbps: float64(cfg.Bitrate) / 1000,
		GOP: cfg.GOP.Frames(cfg.FPS), Profile: cfg.X264Profile, AudioRate: audioRate,
		Snapshot: func(ctx context.Context) ([]byte, error) { return n.snapshotJPEG(ctx, false) },
		Logger:   n.log})
	var se *pipeline.SettingError
	if errors.As(err, &se) {
		return &config.Error{Var: se.Var, Msg: n.clean(se.Err)}
	}
	if err != nil {
		return err
	}
	n.local = l
	n.status.RTSPURL = l.RTSPURL()
	if a := l.PlayerAddr(); a != nil {
		n.device.ConfigurationURL = configurationURL(a)
	}
	return nil
}

// setAudioTrack makes the audio track of CAMNODE_AUDIO; a program's failures (silence
// stands in) are audio_failed events. A command line that cannot be split is a
// *config.Error naming CAMNODE_AUDIO.
func (n *Node) setAudioTrack() error {
	cfg := n.cfg
	a, err := pipeline.OpenAudio(pipeline.AudioOptions{Setting: cfg.Audio, Rate: cfg.AudioRate,
		RestartMin: cfg.ReconnectMin, RestartMax: cfg.ReconnectMax, Logger: n.log,
		OnFailed: func(err error) { n.event(EventAudioFailed, n.clean(err)+"; silence until it is back") },
		OnBack:   func() { n.log.Info("audio back", "audio", pipeline.DescribeAudio(cfg.Audio)) },
	})
	var se *pipeline.SettingError
	if errors.As(err, &se) {
		return &config.Error{Var: se.Var, Msg: n.clean(se.Err)}
	}
	n.audio = a
	return err
}

// PlayerURL is the local player page's address (never with its token), "" without
// CAMNODE_HTTP.
func (n *Node) PlayerURL() string { return n.local.PlayerURL() }

// newNode is New without the MQTT session.
func newNode(cfg *config.Config, log *slog.Logger) *Node {
	n := &Node{
		cfg:             cfg,
		log:             log,
		topics:          mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, cfg.HADiscoveryPrefix),
		discoveryTopics: mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, cfg.HADiscoveryPrefix),
		start:           time.Now(),
		targets:         strings.Fields(cfg.RTMPURL),
		notes:           make(chan note, 64),
		snapshotAsked:   make(chan struct{}, 1),
		danmaku:         true,
		newPipeline:     newMediaPipeline,
	}
	if !cfg.HADiscovery {
		// Without discovery Home Assistant's birth messages are none of the node's business.
		n.topics = mqtt.NewTopics(cfg.MQTTTopicPrefix, cfg.NodeID, "")
	}
	n.secrets = cfg.Secrets() // every destination's key and query
	for _, u := range n.targets {
		n.targetNames = append(n.targetNames, config.RedactURL(u))
	}
	n.device = n.deviceInfo()
	n.chat = newChatIntake(cfg, n.event)
	now := stamp(time.Now())
	n.status = status{State: StateIdle, Since: now, Started: now, Source: describeSource(cfg.Source), Audio: pipeline.DescribeAudio(cfg.Audio),
		Target: strings.Join(n.targetNames, " "), Targets: make([]targetStatus, len(n.targets))}
	for i, t := range n.targetNames {
		n.status.Targets[i] = targetStatus{Target: t, State: targetIdle, Since: now}
	}
	n.setupChatSources()
	return n
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
// Every goroutine it starts has ended when it returns.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	n.jobs.open(ctx)
	defer n.jobs.close() // before wg.Wait: the jobs publish through the session
	sessionCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSession()
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := n.session.Start(sessionCtx)
		if err != nil && sessionCtx.Err() == nil && !errors.Is(err, mqtt.ErrClosed) {
			n.log.Error("mqtt", "err", err)
		}
	}()
	n.log.Info("node running", "node_id", n.cfg.NodeID, "base_topic", n.topics.Base,
		"source", describeSource(n.cfg.Source), "target", n.status.Target, "autostart", n.cfg.Autostart)

	// The local outputs outlive every stream: they are stopped after the last one, below.
	localCtx, stopLocal := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLocal()
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.local.Serve(localCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.runSnapshots(ctx)
	}()
	chatCtx, stopChat := context.WithCancel(ctx)
	defer stopChat()
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.chat.run(chatCtx)
	}()
	n.runChatSources(chatCtx, &wg)
	if n.cfg.Autostart {
		n.setDesired(ctx, true, "autostart")
	}
	telemetry := time.NewTicker(n.cfg.TelemetryInterval)
	defer telemetry.Stop()
	commands := n.session.Commands()
	for {
		select {
		case <-ctx.Done():
			stopChat()
			n.shutdown()
			stopSession()
			return nil
		case cmd, ok := <-commands:
			if !ok {
				commands = nil
				continue
			}
			n.handle(ctx, cmd)
		case nt := <-n.notes:
			n.onNote(ctx, nt)
		case <-telemetry.C:
			n.publishTelemetry()
		case <-n.noLive.C():
			n.update()
		}
	}
}

func (n *Node) handle(ctx context.Context, cmd mqtt.Command) {
	n.log.Debug("command", "kind", cmd.Kind.String(), "switch", cmd.Switch.String(), "fleet", cmd.Fleet)
	switch cmd.Kind {
	case mqtt.CommandStream:
		on := cmd.Switch == mqtt.SwitchOn || cmd.Switch == mqtt.SwitchToggle && !n.desired
		if on && len(n.targets) == 0 && !n.local.Any() {
			n.event(EventCommandRejected, "stream/set ON: no ingest and no local output configured (set CAMNODE_RTMP_URL, or CAMNODE_HTTP or CAMNODE_RTSP for a preview)")
			n.publishStreamState()
			return
		}
		n.setDesired(ctx, on, "command")
	case mqtt.CommandKeyframe:
		if n.pipe == nil {
			n.event(EventCommandRejected, "keyframe/set: the stream is off")
			return
		}
		carried := n.admit(&n.paced.keyframe, "keyframe/set")
		if carried == nil {
			return
		}
		if err := n.pipe.p.RequestKeyframe(); err != nil {
			n.event(EventCommandRejected, "keyframe/set: "+err.Error())
			return
		}
		carried()
		n.event(EventKeyframe, "requested by command")
	case mqtt.CommandSnapshot:
		if n.pipe == nil {
			n.event(EventCommandRejected, "snapshot/set: the stream is off")
			return
		}
		if carried := n.admit(&n.paced.snapshot, "snapshot/set"); carried != nil {
			carried()
			n.askSnapshot()
		}
	case mqtt.CommandRestart:
		if !n.desired {
			n.event(EventCommandRejected, "restart/set: the stream is off")
			return
		}
		n.stopPipeline()
		n.event(EventRestart, "requested by command")
		n.startPipeline(ctx)
		n.update()
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
	n.setDesiredFlag(on)
	if on {
		n.liveOnce = false
		n.startPipeline(ctx)
		n.update()
		return
	}
	n.stopPipeline()
	n.update()
	n.event(EventStreamStopped, why)
}

func (n *Node) shutdown() {
	wasOn := n.desired
	n.desired = false // what was asked stays retained for the next start to see
	n.stopPipeline()
	n.update()
	if wasOn {
		n.event(EventStreamStopped, "shutdown")
	}
	n.chat.close()
	n.session.Close()
	n.log.Info("node stopped")
}

// update works out the node's state from the desired state, the source and the
// destinations, and publishes state and stream/state when anything changed. The stream is
// live while at least one destination is.
func (n *Node) update() {
	st, msg := n.aggregate()
	n.mu.Lock()
	changed := n.status.State != st
	now := time.Now()
	if changed {
		n.status.State = st
		n.status.Since = stamp(now)
		if st == StateLive {
			n.status.LiveSince = stamp(now)
		}
	}
	if st != StateLive {
		n.status.LiveSince = ""
	}
	n.status.Error = msg
	n.status.Problem = n.noLive.check(st, now)
	n.mu.Unlock()
	if changed {
		n.log.Info("state", "state", string(st), "err", msg)
	}
	if n.publishState() && changed {
		n.publishStreamState()
	}
}

// aggregate is the state and its error, from what is known of the source and destinations.
func (n *Node) aggregate() (State, string) {
	if !n.desired || n.pipe == nil {
		return StateIdle, ""
	}
	if n.srcErr != "" {
		return StateError, n.srcErr
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	live, failed, down := 0, 0, 0
	firstErr := ""
	for _, t := range n.status.Targets {
		switch t.State {
		case targetLive:
			live++
		case targetFailed:
			failed++
		case targetReconnecting:
			down++
		}
		if firstErr == "" && t.Error != "" {
			firstErr = t.Error
		}
	}
	switch {
	case live > 0:
		return StateLive, ""
	case len(n.status.Targets) == 0 && n.previewing:
		return StateLive, "" // a preview: the local outputs serve the stream
	case failed > 0 && failed == len(n.status.Targets):
		return StateError, firstErr
	case failed+down > 0:
		return StateReconnecting, firstErr
	}
	return StateStarting, ""
}

func (n *Node) currentState() State {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status.State
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

// eventFor is an event about one destination, target its redacted URL.
func (n *Node) eventFor(name, target, reason string) {
	reason = config.Scrub(reason, n.secrets)
	n.log.Info("event", "event", name, "target", target, "reason", reason)
	n.session.PublishTargetEvent(name, target, reason)
}

// republish sends every retained state topic again: after a broker reconnect and when Home
// Assistant comes online. It runs on the MQTT session's goroutine or a timer's.
func (n *Node) republish() {
	n.mu.Lock()
	n.lastPublished = nil
	n.mu.Unlock()
	n.publishState()
	n.publishStreamState()
	n.publishDesired()
	n.publishDanmakuState()
}

// publishState publishes the state payload unless it is the one last published, and says
// whether it did.
func (n *Node) publishState() bool {
	n.mu.Lock()
	b, _ := json.Marshal(n.status)
	same := string(b) == string(n.lastPublished)
	n.lastPublished = b
	n.mu.Unlock()
	if same {
		return false
	}
	n.session.Publish(n.topics.State, true, b)
	return true
}

// setDesiredFlag records and publishes what was asked.
func (n *Node) setDesiredFlag(on bool) {
	n.desired = on
	n.mu.Lock()
	n.desiredFlag = on
	n.mu.Unlock()
	n.publishDesired()
}

func (n *Node) publishStreamState() {
	n.session.Publish(n.topics.StreamState, true, []byte(onOff(n.currentState() == StateLive)))
}

// publishDesired publishes stream/desired: what was asked (from Run's goroutine, or the
// session's on a reconnect, which reads it under mu).
func (n *Node) publishDesired() {
	n.mu.Lock()
	v := onOff(n.desiredFlag)
	n.mu.Unlock()
	n.session.Publish(n.topics.StreamDesired, true, []byte(v))
}

func (n *Node) publishDanmakuState() {
	n.mu.Lock()
	v := onOff(n.danmaku)
	n.mu.Unlock()
	n.session.Publish(n.topics.DanmakuState, true, []byte(v))
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// describeSource is the source setting as state payloads show it (source.Describe): exec
// commands may carry credentials on their command line, so only the program's name is shown.
func describeSource(s string) string { return pipeline.DescribeSource(s) }
