// Package pipeline is camnode's media graph: source -> [overlay, encoder] -> danmaku
// carriers -> one publisher per destination, with the audio track beside the video.
//
// A Pipeline is one run of the stream, from ON to OFF: New, Start, then Stop (cancel, then
// wait for every goroutine it started). What happens to the stream is reported through
// Options.OnStatus; Stats, RequestKeyframe and Snapshot may be called from any goroutine.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/internal/backoff"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"

	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/rtmp"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/file"
	"github.com/camnode/camnode/media/stream"
)

// Overlay draws into raw frames before they are encoded: burned-in danmaku. Each time a
// source opens, the pipeline calls Enabled, then Drawing or Unavailable; Draw then runs on
// the source's goroutine for every frame of a source that draws.
type Overlay interface {
	// Enabled tells whether the source about to open should draw into its frames, and
	// whether a source that can give H.264 or raw pictures should give raw ones for it;
	// without wantRaw it draws only where the pictures are raw anyway, because camnode
	// encodes them (CAMNODE_DANMAKU=auto).
	Enabled() (draw, wantRaw bool)
	// Drawing says that the source just opened runs its frames through Draw.
	Drawing()
	// Unavailable says that the source just opened cannot be drawn into, and why.
	Unavailable(why string)
	Draw(f *media.Frame) error
}

// Options configure a Pipeline.
type Options struct {
	// Source is the CAMNODE_SOURCE URI; Capture the size, rate, bitrate and GOP asked of it.
	Source  string
	Capture source.Options
	// OpenSource, when set, replaces the opening of Source (tests).
	OpenSource func() (media.Source, error)
	// Encoder is the H.264 encoder of raw frames (CAMNODE_ENCODER): "x264", "v4l2m2m",
	// "v4l2m2m:/dev/videoN", or "auto" (or empty): the board's memory-to-memory H.264
	// encoder when it has one, else x264. Encoding holds the preset, tune and profile;
	// size, rate, bitrate and GOP come from the frames and Capture.
	Encoder  string
	Encoding encoder.Options

	// Targets are the RTMP ingest URLs, secrets and all; each gets its own publisher,
	// made from Publish with the URL, Lossless, OnStatus and RequestKeyframe filled in.
	Targets []string
	Publish stream.Options
	// RTMPCAFile, when set, is a PEM file of CAs trusted for rtmps:// besides the system's
	// (CAMNODE_RTMP_CA_FILE), read at every start.
	RTMPCAFile string
	// Local outputs (the player, the RTSP server) get the same stream after the RTMP ones.
	Local []media.Output

	// Audio, when set, runs beside the video from the first keyframe on; its frames go to
	// every destination that takes audio. It failing never stops the video. Silence
	// (audio.SilentSource) is made on the source's goroutine as the pictures come
	// (VideoTrack); any other source runs on a goroutine of its own.
	Audio media.AudioSource

	// Carriers put chat into the stream (sei, cc, amf); Overlay draws it (burn). Either
	// may be nil.
	Carriers *Carriers
	Overlay  Overlay

	// ReconnectMin and ReconnectMax bound the backoff between reopenings of a failed source.
	ReconnectMin, ReconnectMax time.Duration
	// OnStatus receives every change, from the pipeline's goroutines, one call at a time
	// per destination and for the source. It may block (e.g. on a channel send); Stop then
	// waits for it to return.
	OnStatus func(Status)
	Logger   *slog.Logger
}

// Kind says what a Status reports.
type Kind int

const (
	DestinationConnecting   Kind = iota // first attempt of a destination
	DestinationLive                     // the destination publishes
	DestinationReconnecting             // lost it, retrying with backoff (Err)
	DestinationFailed                   // the ingest refused the stream (Err)
	SourceFailed                        // the source stopped or could not open (Err); it is reopened
	SourceRecovered                     // the source delivers again after SourceFailed, or for the first time
	SourceEnded                         // a file played once (file.ErrPlayedOnce) reached its end; nothing follows
	VideoFormat                         // the stream's Width, Height and FPS, first and on every change
	AudioFailed                         // the audio source failed (Err); silence until it is back
	StreamWarning                       // a passthrough stream platforms may not take (Err says why)
	OutputsStarted                      // the first keyframe came: every output runs (the local ones serve it)
)

var kindNames = [...]string{"connecting", "live", "reconnecting", "failed", "source_failed",
	"source_recovered", "source_ended", "video_format", "audio_failed", "stream_warning", "outputs_started"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Status is one change. Destination is the index in Targets for the
// Destination kinds, -1 otherwise. Err holds no secret.
type Status struct {
	Kind          Kind
	Destination   int
	Target        string // the destination's URL, redacted
	Err           error
	Width, Height int
	FPS           float64
}

// Pipeline is one run of the stream.
type Pipeline struct {
	opts    Options
	log     *slog.Logger
	pubs    []*stream.Publisher
	outs    []media.Output // pubs, then opts.Local
	targets []string       // redacted, one per pub

	cancel context.CancelFunc
	wg     sync.WaitGroup

	framesOut atomic.Uint64 // access units the source delivered
	snap      snapshotter
	// silence is the audio track when the video drives it (audio.SilentSource): its frames
	// are made on the source's goroutine as the pictures come, with no goroutine or timer
	// of their own; nil when Options.Audio runs on its own goroutine (a program's AAC).
	silence *audio.VideoTrack

	mu         sync.Mutex
	src        media.Source
	srcDropped uint64 // capture losses of the sources already closed
}

// New makes a pipeline; nothing runs before Start.
func New(opts Options) *Pipeline {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnStatus == nil {
		opts.OnStatus = func(Status) {}
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = 500 * time.Millisecond
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(30*time.Second, opts.ReconnectMin)
	}
	if opts.Publish.Audio == nil {
		opts.Publish.Audio = announcedAudio(opts.Audio)
	}
	if opts.RTMPCAFile != "" && opts.Publish.RTMP.TLSConfig == nil {
		opts.Publish.RTMP.TLSConfig = rtmpTLS(opts.RTMPCAFile, opts.Logger)
	}
	p := &Pipeline{opts: opts, log: opts.Logger}
	lossless := unpaced(opts.Source)
	if a, ok := opts.Audio.(interface {
		VideoTrack() (*audio.VideoTrack, error)
	}); ok {
		// A track that cannot be made (a rate AAC cannot carry) is left to RunAudio,
		// which fails with the reason and reports it.
		p.silence, _ = a.VideoTrack()
	}
	for i, u := range opts.Targets {
		po := opts.Publish
		po.URL = u
		po.Lossless = po.Lossless || lossless
		if po.Lossless && len(opts.Targets)+len(opts.Local) > 1 && po.LosslessGrace == 0 {
			// An unpaced source goes as fast as its destinations take it, but one dead or
			// stalled ingest must not hold back the others: past the grace it drops whole
			// GOPs as for a paced source. A single destination stays lossless (benchmarks).
			po.LosslessGrace = losslessGrace
		}
		target := rtmp.RedactText(u) // as config.RedactURL shows an RTMP URL
		po.OnStatus = func(s stream.Status) {
			k := map[stream.State]Kind{stream.Connecting: DestinationConnecting, stream.Live: DestinationLive,
				stream.Reconnecting: DestinationReconnecting, stream.Failed: DestinationFailed}[s.State]
			opts.OnStatus(Status{Kind: k, Destination: i, Target: target, Err: s.Err})
		}
		po.RequestKeyframe = func() { p.RequestKeyframe() }
		pub := stream.New(po)
		p.pubs = append(p.pubs, pub)
		p.outs = append(p.outs, pub)
		p.targets = append(p.targets, target)
	}
	p.outs = append(p.outs, opts.Local...)
	return p
}

// Targets returns the RTMP destinations' URLs, redacted, in the order of Status.Destination.
func (p *Pipeline) Targets() []string { return p.targets }

// Start runs the source; the publishers and the audio start with its first keyframe.
func (p *Pipeline) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.runSource(ctx)
	}()
}

// Stop ends every goroutine of the pipeline and waits for them.
func (p *Pipeline) Stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.snap.fail(errStopped)
}

var errStopped = errors.New("pipeline: stopped")

// RequestKeyframe asks the running source for an IDR picture now.
func (p *Pipeline) RequestKeyframe() error {
	p.mu.Lock()
	src := p.src
	p.mu.Unlock()
	if kr, ok := src.(media.KeyframeRequester); ok {
		return kr.RequestKeyframe()
	}
	if src == nil {
		return errors.New("the source is not open")
	}
	return ErrNoKeyframeControl
}

// ErrNoKeyframeControl: the source cannot make a keyframe on demand (a file, a program).
var ErrNoKeyframeControl = errors.New("the source cannot make a keyframe on demand")

// DestinationStats are one RTMP destination's counters.
type DestinationStats struct {
	Target string // redacted
	media.OutputStats
}

// Stats are the pipeline's counters since Start.
type Stats struct {
	// Frames is the number of access units the source delivered: the stream's frames,
	// whatever each output did with them.
	Frames uint64
	// Total sums the RTMP destinations' counters; its FramesDropped includes the frames
	// the camera lost in capture (SourceDropped). LiveSince is the earliest of the live ones.
	Total         media.OutputStats
	SourceDropped uint64
	Destinations  []DestinationStats
	// Local are the local outputs' counters, in the order of Options.Local.
	Local []media.OutputStats
}

// Stats returns the counters. Safe from any goroutine.
func (p *Pipeline) Stats() Stats {
	s := Stats{Frames: p.framesOut.Load()}
	p.mu.Lock()
	s.SourceDropped = p.srcDropped + captureDropped(p.src)
	p.mu.Unlock()
	for i, pub := range p.pubs {
		ds := DestinationStats{Target: p.targets[i], OutputStats: pub.Stats()}
		s.Destinations = append(s.Destinations, ds)
		s.Total = s.Total.Add(ds.OutputStats)
	}
	for _, o := range p.opts.Local {
		s.Local = append(s.Local, o.Stats())
	}
	s.Total.FramesDropped += s.SourceDropped
	return s
}

func (p *Pipeline) status(s Status) {
	if s.Kind < DestinationConnecting || s.Kind > DestinationFailed {
		s.Destination = -1
	}
	p.opts.OnStatus(s)
}

// runSource runs the source until ctx ends, reopening it with backoff when it fails. Time
// stays continuous across reopenings: each run's clock is shifted to follow the last frame.
func (p *Pipeline) runSource(ctx context.Context) {
	fps := p.opts.Capture.FPS
	if fps <= 0 {
		fps = 30
	}
	frame := time.Duration(float64(time.Second) / fps)
	var offset, last time.Duration
	delivered, started := false, false
	retry := p.newRetry()
	var format Status
	var params media.ParameterSetTracker
	var keyframe parameterSetsUnit
	warn := newPassthroughCheckAt(p.opts.Capture.Bitrate)
	var rate rateMeter
	warnedTurn := false
	for {
		o, err := p.openSource()
		if err == nil {
			p.mu.Lock()
			p.srcDropped += captureDropped(p.src)
			p.src = o.src
			p.mu.Unlock()
			p.snap.setRaw(o.raw)
			first, healthy := true, false
			began := time.Now()
			err = o.src.Run(ctx, func(au *media.AccessUnit) error {
				if first {
					first = false
					if delivered {
						offset = last + frame - au.Time
					}
				}
				au.Time += offset
				if delivered && au.Time <= last {
					au.Time = last + time.Millisecond // a source clock must never go back
				}
				last, delivered = au.Time, true
				if !healthy {
					healthy = true
					p.status(Status{Kind: SourceRecovered})
				}
				p.framesOut.Add(1)
				ps, err := params.Next(au)
				if err != nil {
					return err
				}
				if ps == nil {
					return nil // nothing can decode a picture before the first SPS and PPS
				}
				if au.Keyframe {
					// Every keyframe carries the parameter sets it is decoded with, whatever
					// the source does: a reader that joins, a publisher that reconnects and a
					// snapshot start there.
					au = withParameterSets(au, ps, &keyframe)
					if f := videoFormat(ps, p.opts.Capture.FPS); f.Width != format.Width || f.Height != format.Height || f.FPS != format.FPS {
						format = f
						p.status(f)
					}
					if !started {
						started = true
						if !o.raw {
							// Camnode does not encode this stream: its rate is measured
							// (rateMeter), and until then onMetaData leaves it out rather
							// than announce CAMNODE_BITRATE, which is not the stream's.
							p.setVideoDataRate(0)
						}
						p.startOutputs(ctx)
					}
				}
				if !o.raw {
					if !warnedTurn {
						// Once per start: an H.264 camera whose controls cannot turn its
						// picture as asked streams it unturned.
						warnedTurn = true
						if u, ok := o.src.(interface{ Unapplied() picture.Orientation }); ok && !u.Unapplied().IsIdentity() {
							p.status(Status{Kind: StreamWarning, Err: fmt.Errorf("the camera's controls cannot do %q of CAMNODE_ROTATE/CAMNODE_FLIP, and camnode passes its H.264 through unturned: the stream shows the picture without it (use a raw format to turn it here)", u.Unapplied())})
						}
					}
					for _, w := range warn.check(au) {
						p.status(Status{Kind: StreamWarning, Err: errors.New(w)})
					}
					if kbps, ok := rate.add(au); ok {
						p.log.Info("measured the video data rate of the passthrough stream", "kbps", kbps)
						p.setVideoDataRate(kbps)
					}
					p.snap.offerAccessUnit(au)
				}
				// The silence up to this picture goes first: the picture then finds the
				// audio of its span queued and goes out at once, with it, in one write.
				if started && p.silence != nil {
					p.silence.Advance(au.Time, func(f *media.AudioFrame) error {
						p.writeAudio(ctx, f)
						return nil
					})
				}
				// Chat goes into the unit (SEI) and beside it (onTextData, after the unit:
				// a publisher starts with a keyframe and drops data before it).
				out, msgs := p.opts.Carriers.Frame(au)
				for _, o := range p.outs {
					if err := o.WriteVideo(ctx, out, ps); err != nil {
						return err
					}
				}
				for _, m := range msgs {
					for _, o := range p.outs {
						o.WriteChat(ctx, out.Time, m)
					}
				}
				// An output may keep what goes with the next picture's write (RTSP's
				// waiting audio); a picture that carries chat has it all go at once:
				// chat latency is what a viewer sees of it.
				if out != au || len(msgs) > 0 {
					p.flush()
				}
				return nil
			})
			ranFor(retry, time.Since(began))
			// No next picture comes soon: the last one must not wait for it.
			p.flush()
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, file.ErrPlayedOnce) {
			p.drain(ctx)
			p.status(Status{Kind: SourceEnded, Err: err})
			return
		}
		if err == nil {
			err = errors.New("the source ended")
		}
		p.status(Status{Kind: SourceFailed, Err: err})
		if !retry.Wait(ctx) {
			return
		}
	}
}

// flush has every output send what it keeps for the next picture's write.
func (p *Pipeline) flush() {
	for _, o := range p.outs {
		o.Flush()
	}
}

// setVideoDataRate gives every output that announces onMetaData (the publishers, the
// local player) the video data rate to announce; 0 leaves it out.
func (p *Pipeline) setVideoDataRate(kbps float64) {
	for _, o := range p.outs {
		if r, ok := o.(interface{ SetVideoDataRate(float64) }); ok {
			r.SetVideoDataRate(kbps)
		}
	}
}

// startOutputs runs every output at once, and the audio, at the first keyframe: an ingest
// never holds a publish open for a source that cannot start.
func (p *Pipeline) startOutputs(ctx context.Context) {
	for _, o := range p.outs {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := o.Run(ctx); err != nil {
				p.log.Warn("output stopped", "err", err)
			}
		}()
	}
	if p.opts.Audio != nil && p.silence == nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.runAudio(ctx)
		}()
	}
	p.status(Status{Kind: OutputsStarted})
}

// drain waits, after a source that played once, until the live publishers have sent every
// picture (or none is live any more, or a generous bound passes). Audio past the last
// picture may stay queued: it waits for video that will not come.
func (p *Pipeline) drain(ctx context.Context) {
	limit := p.opts.Publish.SendBuffer + p.opts.Publish.RTMP.WriteTimeout + 10*time.Second
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		pending := false
		for _, pub := range p.pubs {
			if st := pub.Stats(); st.Live && st.FramesSent+st.FramesDropped < st.FramesIn {
				pending = true
			}
		}
		if !pending {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// runAudio runs the audio source until ctx ends, restarting it with backoff when it fails.
func (p *Pipeline) runAudio(ctx context.Context) {
	retry := p.newRetry()
	for {
		began := time.Now()
		err := p.opts.Audio.RunAudio(ctx, func(f *media.AudioFrame) error {
			p.writeAudio(ctx, f)
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		ranFor(retry, time.Since(began))
		if err == nil {
			err = errors.New("the audio source ended")
		}
		p.status(Status{Kind: AudioFailed, Err: err})
		if !retry.Wait(ctx) {
			return
		}
	}
}

// retry is the wait before a failed source runs again: ReconnectMin at first, doubling
// up to ReconnectMax, and ReconnectMin again after a run of more than 10 s. Exact: a
// source is this node's own, nothing to spread over a fleet.
func (p *Pipeline) newRetry() *backoff.Backoff {
	return &backoff.Backoff{Min: p.opts.ReconnectMin, Max: p.opts.ReconnectMax, Exact: true}
}

// ranFor resets b after a run of more than 10 s.
func ranFor(b *backoff.Backoff, d time.Duration) {
	if d > 10*time.Second {
		b.Reset()
	}
}

// writeAudio gives an audio frame to every output.
func (p *Pipeline) writeAudio(ctx context.Context, f *media.AudioFrame) {
	for _, o := range p.outs {
		if err := o.WriteAudio(ctx, f); err != nil {
			p.log.Debug("audio frame not taken", "err", err)
		}
	}
}

// videoFormat is the size and frame rate of the stream's SPS; the frame rate is the
// stream's own when its VUI states one, else fallback.
func videoFormat(ps *h264.ParameterSets, fallback float64) Status {
	fps := ps.Info.FrameRate()
	if fps <= 0 || fps > 1000 {
		fps = fallback
	}
	return Status{Kind: VideoFormat, Width: ps.Info.Width, Height: ps.Info.Height, FPS: fps}
}

// parameterSetsUnit is the unit withParameterSets makes, reused from keyframe to keyframe.
type parameterSetsUnit struct {
	au    media.AccessUnit
	nalus [][]byte
}

// withParameterSets returns keyframe au with the SPS and PPS of ps in front of its first
// slice (after an access unit delimiter) when it lacks either; au itself when it has both.
// The unit returned lives in buf until the next call.
func withParameterSets(au *media.AccessUnit, ps *h264.ParameterSets, buf *parameterSetsUnit) *media.AccessUnit {
	hasSPS, hasPPS := false, false
	for _, n := range au.NALUs {
		switch h264.NALType(n) {
		case h264.TypeSPS:
			hasSPS = true
		case h264.TypePPS:
			hasPPS = true
		}
	}
	if hasSPS && hasPPS {
		return au
	}
	nalus := buf.nalus[:0]
	rest := au.NALUs
	if len(rest) > 0 && h264.NALType(rest[0]) == h264.TypeAUD {
		nalus, rest = append(nalus, rest[0]), rest[1:]
	}
	if !hasSPS {
		nalus = append(nalus, ps.SPS...)
	}
	if !hasPPS {
		nalus = append(nalus, ps.PPS...)
	}
	nalus = append(nalus, rest...)
	buf.nalus = nalus
	buf.au = *au
	buf.au.NALUs = nalus
	return &buf.au
}

// losslessGrace is how long an unpaced stream with several destinations waits for one
// whose writer sends nothing before that one drops instead: long enough for a healthy
// ingest to connect on a loaded machine, short enough that a dead one costs the others
// one short pause.
const losslessGrace = 5 * time.Second

// unpaced reports a file source that sends as fast as it can (?pace=0): the publishers
// must then hold it back instead of dropping what the network cannot take yet.
func unpaced(uri string) bool {
	u, err := url.Parse(uri)
	return err == nil && u.Scheme == "file" && u.Query().Get("pace") == "0"
}
