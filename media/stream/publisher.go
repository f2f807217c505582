// Package stream publishes access units and AAC frames to an RTMP ingest: FLV tags through
// a bounded queue, in timestamp order, to one writer goroutine that owns the connection,
// reconnects with capped backoff, and resends metadata and the sequence headers after every
// reconnect.
package stream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/internal/backoff"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/rtmp"
)

// Options configure a Publisher. The zero value of each duration takes its default.
type Options struct {
	URL          string       // rtmp:// or rtmps:// with the stream key; never logged
	RTMP         rtmp.Options // timeouts, TLS
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// SendBuffer is the most stream time queued for a slow network; beyond it the oldest
	// GOP is dropped whole.
	SendBuffer time.Duration
	// Lossless blocks the producer instead of dropping (unpaced sources: files, benchmarks).
	Lossless bool
	// LosslessGrace, when set, bounds a Lossless producer's wait for a writer that sends
	// nothing (a dead or stalled ingest, or one still connecting): once the writer has sent
	// nothing for that long, the queue drops whole GOPs like a paced source's until it sends
	// again. With several destinations a dead one then holds the others back once, for
	// LosslessGrace, and never again while it is dead. 0: wait as long as it takes.
	LosslessGrace time.Duration
	// FrameRate and BitrateKbps go into onMetaData (the SPS may not say the rate);
	// SetVideoDataRate replaces BitrateKbps with a measured rate (a stream camnode passes
	// through has no target bitrate of camnode's).
	FrameRate   float64
	BitrateKbps float64
	// Audio announces the AAC track before its first frame (silence knows its
	// configuration at once): onMetaData describes it from the first tag, the AAC sequence
	// header follows the AVC one after every (re)connect, and the writer interleaves from
	// the start. Nil: a track that WriteAudio brings is announced when it comes, and a
	// publisher that is never given audio sends video only.
	Audio  *media.AudioConfig
	Logger *slog.Logger
	// OnStatus is called whenever the connection state changes, from the publisher's
	// goroutines but one call at a time, in order. It must not block for long. Live comes
	// once the first keyframe went out and the ingest kept the connection for
	// rtmp.RefusalWindow: some ingests confirm a publish that they refuse right after.
	OnStatus func(Status)
	// RequestKeyframe is called after each (re)connect, so the first tag is a fresh keyframe
	// rather than one a GOP away; nil when the source cannot.
	RequestKeyframe func()
}

// State is the connection state the writer reports.
type State int

const (
	Connecting   State = iota // first attempt
	Live                      // publishing: the first keyframe went out, the ingest kept it
	Reconnecting              // lost the ingest, retrying with backoff
	Failed                    // the ingest refused the stream (key, app, rights): retrying after ReconnectMax
)

func (s State) String() string {
	return [...]string{"connecting", "live", "reconnecting", "failed"}[s]
}

// Status is a change of connection state. Err is already free of secrets.
type Status struct {
	State State
	Err   error
	Retry time.Duration // for Reconnecting/Failed: the wait before the next attempt
}

// decoderConfig is one SPS/PPS set with the metadata it gives, immutable once made; tags
// point at the one they need.
type decoderConfig struct {
	*h264.ParameterSets
	meta flv.Metadata
}

// audioConfig is one AAC configuration, immutable once made; audio tags point at theirs.
type audioConfig struct {
	sampleRate, channels int
	asc                  []byte  // AudioSpecificConfig
	rateKbps             float64 // for onMetaData: from the first frame's size
}

func newAudioConfig(c *media.AudioConfig, frameSize int) *audioConfig {
	return &audioConfig{sampleRate: c.SampleRate, channels: c.Channels, asc: bytes.Clone(c.ASC),
		rateKbps: math.Round(float64(frameSize*8*c.SampleRate)/1024/100) / 10}
}

func (a *audioConfig) same(c *media.AudioConfig) bool {
	return a.sampleRate == c.SampleRate && a.channels == c.Channels && bytes.Equal(a.asc, c.ASC)
}

// Publisher turns access units and AAC frames into FLV tags and sends them. WriteAccessUnit
// is called from the video source's goroutine, WriteAudio from the audio source's; Run owns
// the connection.
type Publisher struct {
	opts  Options
	log   *slog.Logger
	queue *queue

	// producer side, touched only by the source goroutine
	config  *decoderConfig
	base    time.Duration
	started bool
	nalus   [][]byte

	// audio producer side, touched only by the goroutine that calls WriteAudio
	audio *audioConfig
	early []earlyAudio // frames that came before the first keyframe, oldest first

	// shared by the producers and the writer
	videoStart atomic.Int64                // p.base, once started, for the audio producer
	started2   atomic.Bool                 // p.started, for the audio producer
	knownAudio atomic.Pointer[audioConfig] // the newest audio configuration, for metadata
	videoRate  atomic.Pointer[float64]     // SetVideoDataRate's; nil: Options.BitrateKbps
	audioIn    atomic.Uint64
	audioSent  atomic.Uint64

	framesIn  atomic.Uint64
	sent      atomic.Uint64
	keyframes atomic.Uint64
	bytesPrev atomic.Uint64 // bytes of closed connections
	reconns   atomic.Uint64
	refused   atomic.Bool
	wentLive  atomic.Bool // the last session reported Live

	mu        sync.Mutex
	conn      *rtmp.Conn
	liveSince time.Time
}

// New makes a Publisher; nothing happens until Run.
func New(opts Options) *Publisher {
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = 500 * time.Millisecond
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(30*time.Second, opts.ReconnectMin)
	}
	if opts.SendBuffer <= 0 {
		opts.SendBuffer = 4 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OnStatus == nil {
		opts.OnStatus = func(Status) {}
	}
	// Bytes bound: the send buffer at twice the nominal bitrate, at least 8 MiB, so a
	// burst of large keyframes does not count as a slow network.
	maxBytes := max(8<<20, int(opts.BitrateKbps*125*2*opts.SendBuffer.Seconds()))
	p := &Publisher{opts: opts, log: opts.Logger, queue: newQueue(opts.SendBuffer, maxBytes, opts.Lossless)}
	p.queue.grace = opts.LosslessGrace
	if a := opts.Audio; a != nil {
		// An announced track is silence nearly always: onMetaData gives its rate from
		// the size of a silent frame (4 bytes mono, 6 stereo).
		p.knownAudio.Store(newAudioConfig(a, 2+2*a.Channels))
		p.queue.expectAudio()
	}
	return p
}

// SetVideoDataRate sets the videodatarate that onMetaData announces instead of
// Options.BitrateKbps: the measured rate of a stream camnode passes through, in kbit/s, or
// 0 while it is not measured yet (onMetaData then leaves the field out rather than
// announce a target that is not the stream's). Every later (re)connect announces it from
// the start; a live connection gets no updated onMetaData for it: ffmpeg's FLV reader (an
// ffmpeg ingest, ffplay behind a relay) takes an onMetaData in the middle of a stream for a
// packet of its data track and shows it as a subtitle cue ("\x02" was seen). It may be
// called from any goroutine.
func (p *Publisher) SetVideoDataRate(kbps float64) {
	p.videoRate.Store(&kbps)
}

// Flush is part of media.Output; the publisher has nothing to flush: every picture wakes
// the writer as soon as it may go.
func (p *Publisher) Flush() {}

// earlyAudio is a frame that came before the first keyframe: the keyframe's time decides
// whether it belongs to the stream.
type earlyAudio struct {
	time   time.Duration
	data   []byte
	config *audioConfig
}

// maxEarlyAudio bounds the frames kept before the first keyframe (about 1.4 s at 48 kHz).
const maxEarlyAudio = 64

// WriteAudio queues one AAC frame. It copies what it needs and never blocks (except in
// Lossless mode, like WriteAccessUnit); it may be called from another goroutine than
// WriteAccessUnit, but from one goroutine at a time. The stream starts with video: frames
// of a time before the first keyframe are dropped; frames that come before the keyframe
// but belong after it (audio runs a little ahead) wait for it. The frame's Time is on the
// video's clock (media.AudioFrame).
func (p *Publisher) WriteAudio(ctx context.Context, f *media.AudioFrame) error {
	p.audioIn.Add(1)
	if f.Config == nil || len(f.Config.ASC) == 0 {
		return errors.New("stream: audio frame without an AudioSpecificConfig")
	}
	if p.audio == nil || !p.audio.same(f.Config) {
		p.audio = newAudioConfig(f.Config, len(f.Data))
		if k := p.knownAudio.Load(); k == nil || !k.same(f.Config) {
			p.knownAudio.Store(p.audio)
		} else {
			p.audio = k // the announced track: no second sequence header for it
		}
	}
	if !p.started2.Load() {
		if len(p.early) == maxEarlyAudio {
			p.early = p.early[1:]
			p.queue.dropAudio()
		}
		p.early = append(p.early, earlyAudio{f.Time, bytes.Clone(f.Data), p.audio})
		return nil
	}
	for _, e := range p.early {
		p.pushAudio(ctx, e.time, e.data, e.config)
	}
	p.early = nil
	p.pushAudio(ctx, f.Time, f.Data, p.audio)
	return nil
}

// pushAudio queues an audio tag at capture time at, or drops it when it is before the
// stream's start.
func (p *Publisher) pushAudio(ctx context.Context, at time.Duration, data []byte, cfg *audioConfig) {
	t := at - time.Duration(p.videoStart.Load())
	if t < 0 {
		p.queue.dropAudio()
		return
	}
	body := flv.AppendAudioTag(p.queue.audioBuffer(), data)
	p.queue.push(ctx, tag{kind: kindAudio, time: t, body: body, audio: cfg})
}

// WriteVideo queues one access unit, decoded with ps. It copies what it needs and never
// blocks (except in Lossless mode, until there is room or ctx ends). Units before the first
// keyframe are dropped: nothing can decode them.
func (p *Publisher) WriteVideo(ctx context.Context, au *media.AccessUnit, ps *h264.ParameterSets) error {
	p.framesIn.Add(1)
	p.trackConfig(ps)
	if !p.started {
		if !au.Keyframe {
			p.queue.mu.Lock()
			p.queue.dropped++
			p.queue.mu.Unlock()
			return nil
		}
		p.started, p.base = true, au.Time
		p.videoStart.Store(int64(au.Time))
		p.started2.Store(true)
	}
	// AUDs mean nothing in AVCC; SPS/PPS stay in-band too (they also travel in the
	// sequence header), which helps players that join mid-stream without it.
	p.nalus = p.nalus[:0]
	for _, n := range au.NALUs {
		if len(n) > 0 && h264.NALType(n) != h264.TypeAUD {
			p.nalus = append(p.nalus, n)
		}
	}
	body := flv.AppendVideoTag(p.queue.buffer(), au.Keyframe, int32(au.CompositionOffset/time.Millisecond), p.nalus)
	t := au.Time - p.base
	if t < 0 {
		t = 0
	}
	p.queue.push(ctx, tag{kind: kindVideo, keyframe: au.Keyframe, time: t, body: body, config: p.config})
	return nil
}

// WriteChat queues a chat message as an onTextData data message at time at of the capture
// clock (the clock of AccessUnit.Time).
func (p *Publisher) WriteChat(ctx context.Context, at time.Duration, m *chat.Message) {
	if !p.started {
		return
	}
	buf := danmaku.AppendTextData(p.queue.buffer(), m)
	p.queue.push(ctx, tag{kind: kindData, time: max(0, at-p.base), body: buf})
}

// trackConfig makes a new decoderConfig when the stream's parameter sets change.
func (p *Publisher) trackConfig(ps *h264.ParameterSets) {
	if p.config != nil && p.config.ParameterSets == ps {
		return
	}
	rate := p.opts.FrameRate
	if r := ps.Info.FrameRate(); r > 0 {
		rate = r
	}
	cfg := &decoderConfig{ParameterSets: ps, meta: flv.Metadata{Width: ps.Info.Width, Height: ps.Info.Height,
		FrameRate: rate, VideoDataRateKbps: p.opts.BitrateKbps, Encoder: "camnode"}}
	if p.config != nil {
		p.log.Info("new sequence parameters", "width", ps.Info.Width, "height", ps.Info.Height)
	}
	p.config = cfg
}

// Stats returns the counters.
func (p *Publisher) Stats() media.OutputStats {
	dropped, gops, queued, qbytes := p.queue.stats()
	s := media.OutputStats{
		FramesIn: p.framesIn.Load(), FramesSent: p.sent.Load(), FramesDropped: dropped, GOPsDropped: gops,
		Keyframes: p.keyframes.Load(), Reconnects: p.reconns.Load(), Queued: queued, QueuedBytes: qbytes,
		Refused:       p.refused.Load(),
		AudioFramesIn: p.audioIn.Load(), AudioFramesSent: p.audioSent.Load(), AudioFramesDropped: p.queue.audioStats(),
	}
	p.mu.Lock()
	s.BytesSent = p.bytesPrev.Load()
	if p.conn != nil {
		s.BytesSent += p.conn.BytesWritten()
	}
	s.Live, s.LiveSince = !p.liveSince.IsZero(), p.liveSince
	p.mu.Unlock()
	return s
}

// Run connects and sends until ctx ends, reconnecting after every failure. It returns nil
// when ctx ends; it never gives up on its own.
func (p *Publisher) Run(ctx context.Context) error {
	defer p.queue.close()
	// Spread (not Exact): a fleet whose ingest restarts must not come back in lockstep.
	retry := backoff.Backoff{Min: p.opts.ReconnectMin, Max: p.opts.ReconnectMax}
	for attempt := 0; ; attempt++ {
		if attempt == 0 {
			p.opts.OnStatus(Status{State: Connecting})
		}
		began := time.Now()
		err := p.session(ctx, attempt > 0)
		if ctx.Err() != nil {
			return nil
		}
		// A connection that went live, or lasted a while, was healthy: start the backoff
		// over, so that an ingest that restarts sees us back soon. One that keeps failing
		// before that pushes the delay up to ReconnectMax.
		if p.wentLive.Swap(false) || time.Since(began) > 10*time.Second {
			retry.Reset()
		}
		state, wait := Reconnecting, time.Duration(0)
		if rtmp.IsRefused(err) {
			// The ingest refused the stream (wrong key or app, publishing denied, name
			// busy): asking again at once would be a hot loop that changes nothing. Wait
			// the longest delay; the key may be enabled on the server meanwhile.
			state, wait = Failed, retry.Longest()
			p.refused.Store(true)
		} else {
			wait = retry.Next()
		}
		p.log.Warn("ingest connection ended", "err", err, "retry_in", wait.Round(time.Millisecond))
		p.opts.OnStatus(Status{State: state, Err: err, Retry: wait})
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}

// session is one connection: dial, then send tags until an error or ctx ends.
func (p *Publisher) session(ctx context.Context, reconnect bool) error {
	conn, err := rtmp.Dial(ctx, p.opts.URL, p.opts.RTMP)
	if err != nil {
		return err
	}
	p.refused.Store(false)
	dialed := time.Now()
	if reconnect {
		p.reconns.Add(1)
	}
	p.mu.Lock()
	p.conn = conn
	p.mu.Unlock()
	defer func() {
		conn.Close()
		p.mu.Lock()
		p.bytesPrev.Add(conn.BytesWritten())
		p.conn = nil
		p.liveSince = time.Time{}
		p.mu.Unlock()
	}()

	// The first tag of a connection must be a keyframe: drop what is queued before the
	// next one, and ask the source for a fresh one so we need not wait a GOP.
	p.queue.skipToKeyframe()
	if p.opts.RequestKeyframe != nil {
		p.opts.RequestKeyframe()
	}

	// A connection that ends while no tags come (the source failed, or the server refused
	// right after confirming the publish) must end the session too, not wait for a tag.
	var reporting sync.WaitGroup
	defer reporting.Wait() // after stopPop: Run reports what follows only after Live
	popCtx, stopPop := context.WithCancel(ctx)
	defer stopPop()
	go func() {
		select {
		case <-conn.Done():
			stopPop()
		case <-popCtx.Done():
		}
	}()

	var (
		sent      *decoderConfig // the video configuration this connection has
		sentAudio *audioConfig   // the audio configuration this connection has
		sentMeta  flv.Metadata
		scratch   []byte
	)
	writeMeta := func(ts uint32, m flv.Metadata) error {
		if m == sentMeta {
			return nil
		}
		scratch = flv.AppendMetadata(scratch[:0], m)
		sentMeta = m
		return conn.WriteData(ts, scratch)
	}
	writeAudioHeader := func(ts uint32, a *audioConfig) error {
		scratch = flv.AppendAudioSequenceHeader(scratch[:0], a.asc)
		sentAudio = a
		return conn.WriteAudio(ts, scratch)
	}
	reported := false
	for {
		// Send what is ready, then flush once and wait: a picture and the audio of its
		// span reach the ingest in one write.
		t, ok := p.queue.popNow()
		if !ok {
			if err := conn.Flush(); err != nil {
				return readerErr(conn, err)
			}
			t, ok = p.queue.pop(popCtx)
		}
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			if err := conn.Err(); err != nil {
				return err
			}
			return errors.New("stream: the ingest connection ended")
		}
		if err := conn.Err(); err != nil {
			p.queue.recycle(t.body)
			return err
		}
		ts := uint32(t.time / time.Millisecond)
		// After a (re)connect: metadata, the AVC sequence header, the AAC one when the
		// track is known, then media. A new SPS/PPS or AAC configuration later sends its
		// header again (and metadata, when what it says changed).
		if t.kind == kindVideo && t.config != sent {
			audio := sentAudio
			if audio == nil {
				audio = p.knownAudio.Load()
			}
			err := writeMeta(ts, p.metadata(t.config, audio))
			if err == nil {
				scratch = flv.AppendSequenceHeader(scratch[:0], t.config.Record)
				err = conn.WriteVideo(ts, scratch)
			}
			sent = t.config
			if err == nil && sentAudio == nil && audio != nil {
				err = writeAudioHeader(ts, audio)
			}
			if err != nil {
				p.queue.recycle(t.body)
				return readerErr(conn, err)
			}
		}
		if sent == nil { // a data or audio tag before any video: nothing to attach it to yet
			if t.kind == kindAudio {
				p.queue.dropAudio()
			}
			p.queue.recycle(t.body)
			continue
		}
		if t.kind == kindAudio && t.audio != sentAudio {
			err := writeMeta(ts, p.metadata(sent, t.audio))
			if err == nil {
				err = writeAudioHeader(ts, t.audio)
			}
			if err != nil {
				p.queue.recycle(t.body)
				return readerErr(conn, err)
			}
		}
		err = conn.Send(mediaKinds[t.kind], ts, t.body)
		p.queue.recycle(t.body)
		if err != nil {
			return readerErr(conn, err)
		}
		if t.kind == kindAudio {
			p.audioSent.Add(1)
		}
		if t.kind == kindVideo {
			p.sent.Add(1)
			if t.keyframe {
				p.keyframes.Add(1)
			}
			if !reported {
				reported = true
				reporting.Add(1)
				go func() {
					defer reporting.Done()
					p.reportLive(popCtx, conn, dialed)
				}()
			}
		}
	}
}

// metadata is what onMetaData says about the video configuration v and the audio a (nil:
// no audio).
func (p *Publisher) metadata(v *decoderConfig, a *audioConfig) flv.Metadata {
	m := v.meta
	if r := p.videoRate.Load(); r != nil {
		m.VideoDataRateKbps = *r
	}
	if a != nil {
		m.AudioSampleRate, m.AudioChannels, m.AudioDataRateKbps = a.sampleRate, a.channels, a.rateKbps
	}
	return m
}

// reportLive says Live once the connection has lasted rtmp.RefusalWindow since the publish
// was confirmed: nginx-rtmp confirms a publish that its access rules then refuse, and a
// refused stream must not show as live, not even for a moment.
func (p *Publisher) reportLive(ctx context.Context, conn *rtmp.Conn, confirmed time.Time) {
	wait := time.NewTimer(time.Until(confirmed.Add(rtmp.RefusalWindow)))
	defer wait.Stop()
	select {
	case <-wait.C:
	case <-conn.Done():
		return
	case <-ctx.Done():
		return
	}
	if conn.Err() != nil {
		return
	}
	p.mu.Lock()
	p.liveSince = time.Now()
	p.mu.Unlock()
	p.wentLive.Store(true)
	p.opts.OnStatus(Status{State: Live})
}

// readerErr is the error that ends a session whose write failed. A server that closed the
// connection fails the write with a bare "broken pipe" or "connection reset", while the
// connection's reader knows better (closed by the server, a refusal, an onStatus error):
// give the reader a moment to say so.
func readerErr(conn *rtmp.Conn, writeErr error) error {
	wait := time.NewTimer(100 * time.Millisecond)
	defer wait.Stop()
	select {
	case <-conn.Done():
	case <-wait.C:
	}
	if err := conn.Err(); err != nil {
		return err
	}
	return writeErr
}

var _ media.Output = (*Publisher)(nil)
