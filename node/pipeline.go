package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/camnode/camnode/config"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/pipeline"
)

// mediaPipeline is what the node needs of a media pipeline (*pipeline.Pipeline).
type mediaPipeline interface {
	Start(ctx context.Context)
	Stop()
	Stats() pipeline.Stats
	RequestKeyframe() error
	SnapshotJPEG(ctx context.Context, askKeyframe bool) ([]byte, error)
}

// pipelineOptions are the options of one pipeline.
type pipelineOptions = pipeline.Options

func newMediaPipeline(opts pipelineOptions) mediaPipeline { return pipeline.New(opts) }

// run is one pipeline, from stream ON to OFF (or restart).
type run struct {
	p        mediaPipeline
	carriers *pipeline.Carriers
	stopped  chan struct{} // closed when the node stops the pipeline: its reports are void
	started  time.Time
}

// note is a report from a pipeline to the node's goroutine.
type note struct {
	run *run
	pipeline.Status
}

func (n *Node) startPipeline(ctx context.Context) {
	r := &run{carriers: n.newCarriers(), stopped: make(chan struct{}), started: time.Now()}
	var overlay pipeline.Overlay
	if n.chat.burn != nil {
		overlay = n.chat.burn
	}
	opts := n.settings().Options(n.log)
	opts.Local = n.outputs()
	opts.Audio = n.audio
	opts.Carriers = r.carriers
	opts.Overlay = overlay
	opts.OnStatus = func(s pipeline.Status) {
		select {
		case n.notes <- note{run: r, Status: s}:
		case <-r.stopped:
		}
	}
	r.p = n.newPipeline(opts)
	n.srcErr = ""
	n.previewing = false
	now := stamp(time.Now())
	n.mu.Lock()
	for i := range n.status.Targets {
		n.status.Targets[i] = targetStatus{Target: n.targetNames[i], State: targetConnecting, Since: now}
	}
	n.mu.Unlock()
	n.tel.restart(r.started)
	r.p.Start(ctx)
	n.pipe = r
	n.running.Store(&r.p)
}

func (n *Node) stopPipeline() {
	r := n.pipe
	if r == nil {
		return
	}
	close(r.stopped)
	n.running.Store(nil)
	r.p.Stop()
	n.tel.done(r.p.Stats())
	n.chat.pipelineStopped(r.carriers)
	n.pipe = nil
	n.srcErr = ""
	now := stamp(time.Now())
	n.mu.Lock()
	for i := range n.status.Targets {
		n.status.Targets[i] = targetStatus{Target: n.targetNames[i], State: targetIdle, Since: now}
	}
	n.mu.Unlock()
}

// onNote moves the state machine on a report from the pipeline.
func (n *Node) onNote(ctx context.Context, nt note) {
	if n.pipe == nil || nt.run != n.pipe {
		return // from a pipeline already stopped
	}
	s := nt.Status
	target := ""
	if s.Destination >= 0 && s.Destination < len(n.targetNames) {
		target = n.targetNames[s.Destination]
	}
	switch s.Kind {
	case pipeline.DestinationConnecting:
		n.setTarget(s.Destination, targetConnecting, nil)
	case pipeline.DestinationLive:
		was := n.targetState(s.Destination)
		n.setTarget(s.Destination, targetLive, nil)
		switch {
		case !n.liveOnce:
			n.liveOnce = true
			n.eventFor(EventStreamStarted, target, "live on "+target)
		case was == targetReconnecting || was == targetFailed:
			n.eventFor(EventRTMPConnected, target, "live again on "+target)
		default:
			n.eventFor(EventRTMPConnected, target, "live on "+target)
		}
	case pipeline.DestinationReconnecting:
		// Once per outage, whether the destination was live or never got there (an ingest
		// that times out): the retries that follow only update its error.
		if n.targetState(s.Destination) != targetReconnecting {
			n.eventFor(EventRTMPDisconnected, target, n.clean(s.Err))
		}
		n.setTarget(s.Destination, targetReconnecting, s.Err)
	case pipeline.DestinationFailed:
		n.eventFor(EventRTMPRejected, target, n.clean(s.Err))
		n.setTarget(s.Destination, targetFailed, s.Err)
	case pipeline.SourceFailed:
		n.event(EventSourceFailed, n.clean(s.Err))
		n.srcErr = n.clean(s.Err)
	case pipeline.SourceRecovered:
		n.srcErr = ""
	case pipeline.SourceEnded:
		// A file that plays once: the stream is over, and stays off until asked again.
		n.stopPipeline()
		n.setDesiredFlag(false)
		n.update()
		n.event(EventStreamEnded, endReason(s.Err))
		return
	case pipeline.VideoFormat:
		n.mu.Lock()
		n.status.Width, n.status.Height, n.status.FPS = s.Width, s.Height, s.FPS
		n.mu.Unlock()
		if n.currentState() == StateStarting {
			return // published with the next state
		}
	case pipeline.OutputsStarted:
		n.warnUnseenChat()
		if len(n.targets) > 0 {
			return
		}
		n.previewing = true
		if !n.liveOnce {
			n.liveOnce = true
			n.event(EventStreamStarted, "live on the local outputs only (no CAMNODE_RTMP_URL): "+n.local.Describe())
		}
	case pipeline.AudioFailed:
		n.event(EventAudioFailed, n.clean(s.Err)+"; silence until it is back")
		return
	case pipeline.StreamWarning:
		n.log.Warn("stream warning", "warning", n.clean(s.Err))
		n.event(EventStreamWarning, n.clean(s.Err))
		return
	}
	n.update()
}

// endReason says how a source that played once ended.
func endReason(err error) string {
	if err == nil {
		return "the source ended"
	}
	return err.Error()
}

func (n *Node) targetState(i int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i < 0 || i >= len(n.status.Targets) {
		return ""
	}
	return n.status.Targets[i].State
}

// setTarget records destination i's state; its since changes only with the state.
func (n *Node) setTarget(i int, state string, err error) {
	msg := n.clean(err)
	n.mu.Lock()
	defer n.mu.Unlock()
	if i < 0 || i >= len(n.status.Targets) {
		return
	}
	t := &n.status.Targets[i]
	if t.State != state {
		t.State, t.Since = state, stamp(time.Now())
	}
	t.Error = msg
}

// AddOutput makes o one more output of every stream from now on (tests). Call it before
// Run.
func (n *Node) AddOutput(o media.Output) { n.extra = append(n.extra, o) }

// settings are what the node's settings say of every stream.
func (n *Node) settings() pipeline.Settings {
	cfg := n.cfg
	return pipeline.Settings{
		Source: cfg.Source, SourceFormat: cfg.SourceFormat,
		Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Bitrate: int(cfg.Bitrate), GOP: cfg.GOP.Frames(cfg.FPS),
		Rotate: cfg.Rotate, Flip: cfg.Flip,
		Encoder: cfg.Encoder, X264Preset: cfg.X264Preset, X264Profile: cfg.X264Profile,
		Targets: n.targets, RTMPTimeout: cfg.RTMPTimeout, RTMPCAFile: cfg.RTMPCAFile,
		ReconnectMin: cfg.ReconnectMin, ReconnectMax: cfg.ReconnectMax, SendBuffer: cfg.SendBuffer,
	}
}

// outputs are the local outputs of every stream, then AddOutput's.
func (n *Node) outputs() []media.Output {
	return append(slices.Clone(n.local.Outputs()), n.extra...)
}

// SetAudio makes a the audio track of every stream from now on. Call it before Run.
func (n *Node) SetAudio(a media.AudioSource) { n.audio = a }

// errStreamOff: a snapshot needs a running stream.
var errStreamOff = errors.New("the stream is off")

// snapshotJPEG is the next picture of the running stream as a JPEG (see
// pipeline.Pipeline.SnapshotJPEG). Safe from any goroutine; an error while the stream is
// off.
func (n *Node) snapshotJPEG(ctx context.Context, askKeyframe bool) ([]byte, error) {
	p := n.running.Load()
	if p == nil {
		return nil, errStreamOff
	}
	return (*p).SnapshotJPEG(ctx, askKeyframe)
}

// warnUnseenChat publishes a stream_warning for each destination on a platform whose
// viewers see none of the ways this stream carries chat, while chat is shown: platforms
// show no SEI and no onTextData, some show captions, all show what is burnt in.
func (n *Node) warnUnseenChat() {
	if !n.chat.shownNow() {
		return
	}
	cs := n.cfg.Danmaku.Resolve(n.chat.burn.burntIn())
	if len(cs) == 0 || cs.Has(config.CarrierBurn) {
		return
	}
	for i, u := range n.cfg.Targets() {
		p := u.Platform()
		if p.Name == "" || p.Captions && cs.Has(config.CarrierCC) || i >= len(n.targetNames) {
			continue
		}
		fix := "only chat burnt into the picture reaches them, and this stream's H.264 goes through undrawn: CAMNODE_DANMAKU=auto or burn with a source camnode encodes (a raw camera, CAMNODE_SOURCE_FORMAT, rpicam on a Pi 5)"
		if p.Captions {
			fix = "add cc to CAMNODE_DANMAKU (captions), or use auto"
		}
		n.eventFor(EventStreamWarning, n.targetNames[i], fmt.Sprintf("%s shows none of this stream's chat carriers (%s): its viewers see no chat; %s",
			p.Name, joinCarriers(cs), fix))
	}
}
