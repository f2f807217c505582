package httpflv

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/h264"
)

// Server is an output of the live stream (media/pipeline's).
var _ media.Output = (*Server)(nil)

// videoConfig is one SPS/PPS set, immutable once made; packets point at the one they need.
type videoConfig struct {
	*h264.ParameterSets
	meta flv.Metadata
}

// audioConfig is one AAC configuration, immutable once made.
type audioConfig struct {
	asc []byte // AudioSpecificConfig
}

// packet is one tag for every browser: made once, shared read-only by their queues.
type packet struct {
	kind     byte          // flv.TagVideo, flv.TagAudio, flv.TagScript
	at       time.Duration // on the capture clock of media.AccessUnit.Time
	keyframe bool
	body     []byte
	video    *videoConfig // for video packets
	audio    *audioConfig // for audio packets
}

// client is one browser. Its fields are guarded by stream.mu, but for out while busy.
//
// While its socket takes what comes, offer writes each picture to it at once, from the
// producer's goroutine and without blocking (writeNow): one write per picture, and no
// goroutine to wake. When the socket would block, c becomes busy: its own goroutine
// (serveFLV) writes what is left and what queues meanwhile, with a deadline, and hands
// the socket back once it has caught up. What waits for it is bounded by ClientQueue.
type client struct {
	queue   []*packet
	bytes   int  // queued, or taken or left by writeNow and not yet written
	started bool // its first keyframe is queued
	remote  string
	ended   bool            // the stream ended: send what is queued, then stop
	dropped bool            // fell ClientQueue behind: stop now
	conn    net.Conn        // once streaming: a drop cuts a write that blocks short
	raw     syscall.RawConn // conn's socket, for writeNow; nil: every write is the goroutine's
	// writeOnce writes out.buf to raw's descriptor once, and says how much in wrote.
	writeOnce func(fd uintptr) bool
	wrote     int
	// busy says that c's goroutine owns the connection and out: it is writing, or has
	// bytes or packets to write. Until it has written the response's header, it is busy.
	busy bool
	out  flvWriter // the bytes of c's file not yet written (audio held for the picture)
	// heldSince is the capture time of the first audio packet held in out.buf.
	heldSince time.Duration
	wake      chan struct{}
}

// stream is the producer side of a Server: the pipeline's destination methods.
type stream struct {
	opts Options
	log  *slog.Logger

	// producer side: the video goroutine
	nalus    [][]byte
	body     []byte       // of the last video tag, reused
	nClients atomic.Int32 // len(clients), for the writers' lock-free fast path
	lastAU   atomic.Int64 // when the last access unit came, monotonic ns since epoch

	mu       sync.Mutex
	video    *videoConfig
	audio    *audioConfig
	live     bool // a keyframe came since the last End (see isLive)
	clients  []*client
	dropped  uint64
	joined   uint64
	framesIn uint64 // access units given to WriteVideo
	sent     uint64 // bytes written to browsers
	audioSet bool   // audio came since the last End: the FLV header says so
	// dataRate is onMetaData's videodatarate once SetVideoDataRate was called (nil:
	// opts.BitrateKbps, the encoder's target).
	dataRate *float64
}

func (s *stream) init(opts Options, log *slog.Logger) { s.opts, s.log = opts, log }

// epoch is the origin of stream.lastAU, for monotonic times in an atomic.
var epoch = time.Now()

// StallTimeout is how long the stream counts as live without an access unit: a pipeline
// that stopped without End (or a source that stalled) shows as not live after it.
const StallTimeout = 5 * time.Second

// isLive reports a stream that had a keyframe since the last End and sends pictures. The
// caller holds mu.
func (s *stream) isLive() bool {
	return s.live && time.Since(epoch)-time.Duration(s.lastAU.Load()) < StallTimeout
}

// status is what GET /status shows.
func (s *stream) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Live: s.isLive(), Clients: len(s.clients), ChatBurntIn: s.opts.ChatBurntIn != nil && s.opts.ChatBurntIn()}
	if s.video != nil {
		st.Width, st.Height = s.video.meta.Width, s.video.meta.Height
	}
	return st
}

// Stats returns the output's counters: Readers are the browsers served now, Joined those
// served since the server started, Cut those dropped for falling ClientQueue behind.
func (s *stream) Stats() media.OutputStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := media.OutputStats{Live: s.isLive(), Readers: len(s.clients), Joined: s.joined, Cut: s.dropped,
		FramesIn: s.framesIn, BytesSent: s.sent}
	for _, c := range s.clients {
		st.QueuedBytes += c.bytes
	}
	return st
}

// WriteVideo sends one access unit to every browser, exactly as it is (SEI included, AUDs
// left out as the RTMP publisher leaves them out). It copies what it needs and never
// blocks on a browser. Call it from one goroutine (the source's).
func (s *stream) WriteVideo(ctx context.Context, au *media.AccessUnit, ps *h264.ParameterSets) error {
	cfg := s.trackConfig(ps)
	s.lastAU.Store(int64(time.Since(epoch)))
	s.mu.Lock()
	s.framesIn++
	s.live = s.live || au.Keyframe
	s.mu.Unlock()
	if s.nClients.Load() == 0 {
		return nil
	}
	s.nalus = s.nalus[:0]
	for _, n := range au.NALUs {
		if len(n) > 0 && h264.NALType(n) != h264.TypeAUD {
			s.nalus = append(s.nalus, n)
		}
	}
	// The body is made in a buffer of this goroutine's, and copied only if a browser
	// queues it: one that keeps up has it written at once (writeNow).
	s.body = flv.AppendVideoTag(s.body[:0], au.Keyframe, int32(au.CompositionOffset/time.Millisecond), s.nalus)
	s.offer(packet{kind: flv.TagVideo, at: au.Time, keyframe: au.Keyframe, body: s.body, video: cfg})
	return nil
}

// WriteAudio sends one AAC frame to every browser that has its first keyframe. Safe from a
// goroutine other than WriteVideo's; it never blocks on a browser.
func (s *stream) WriteAudio(ctx context.Context, f *media.AudioFrame) error {
	if f.Config == nil || len(f.Config.ASC) == 0 {
		return errors.New("httpflv: audio frame without its AudioSpecificConfig")
	}
	s.mu.Lock()
	if s.audio == nil || !bytes.Equal(s.audio.asc, f.Config.ASC) {
		s.audio = &audioConfig{asc: bytes.Clone(f.Config.ASC)}
	}
	s.audioSet = true
	cfg := s.audio
	s.mu.Unlock()
	if s.nClients.Load() == 0 {
		return nil
	}
	s.offer(packet{kind: flv.TagAudio, at: f.Time, body: flv.AppendAudioTag(nil, f.Data), audio: cfg})
	return nil
}

// WriteChat sends a chat message as onTextData at time at of the capture clock.
func (s *stream) WriteChat(ctx context.Context, at time.Duration, m *chat.Message) {
	if s.nClients.Load() == 0 {
		return
	}
	s.offer(packet{kind: flv.TagScript, at: at, body: danmaku.AppendTextData(nil, m)})
}

// Flush does nothing: every tag goes to the browsers as it comes.
func (s *stream) Flush() {}

// Run is one stream: when ctx ends, the stream ends for every browser (end).
func (s *stream) Run(ctx context.Context) error {
	<-ctx.Done()
	s.end()
	return nil
}

// end says the stream stopped: each browser gets what is queued for it, then the end of
// its response; the page then shows that the stream is not live and waits for the next.
// The next stream may have other parameters: they are learnt afresh.
func (s *stream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live, s.video, s.audio, s.audioSet = false, nil, nil, false
	for _, c := range s.clients {
		c.ended = true
		c.signal()
	}
}

// trackConfig returns the decoder configuration of ps, made anew when the stream's
// parameter sets change.
func (s *stream) trackConfig(next *h264.ParameterSets) *videoConfig {
	s.mu.Lock()
	cur := s.video
	s.mu.Unlock()
	if cur != nil && cur.ParameterSets == next {
		return cur
	}
	rate := s.opts.FrameRate
	if r := next.Info.FrameRate(); r > 0 {
		rate = r
	}
	cfg := &videoConfig{ParameterSets: next, meta: flv.Metadata{Width: next.Info.Width, Height: next.Info.Height,
		FrameRate: rate, VideoDataRateKbps: s.opts.BitrateKbps, Encoder: "camnode"}}
	s.mu.Lock()
	if s.dataRate != nil {
		cfg.meta.VideoDataRateKbps = *s.dataRate
	}
	s.video = cfg
	s.mu.Unlock()
	return cfg
}

// SetVideoDataRate sets onMetaData's videodatarate in kbit/s, as stream.Publisher's does:
// 0 leaves it out (a stream camnode passes through, not measured yet). Browsers that join
// later read it at their start; those watching get no new onMetaData for it (see the
// writer: ffmpeg's FLV reader shows one in mid-stream as a subtitle cue).
func (s *stream) SetVideoDataRate(kbps float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataRate = &kbps
	if s.video != nil && s.video.meta.VideoDataRateKbps != kbps {
		cfg := *s.video
		cfg.meta.VideoDataRateKbps = kbps
		s.video = &cfg
	}
}

// offer writes p to every browser that keeps up (writeNow) and queues it for the others;
// one that falls ClientQueue behind is dropped, so a stalled browser costs at most
// ClientQueue bytes and never holds the caller back. p.body may be the caller's buffer:
// the first browser that queues p makes the copy that every queue shares.
func (s *stream) offer(p packet) {
	var shared *packet
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		if c.ended || c.dropped {
			continue
		}
		if !c.started {
			// A browser starts at a keyframe; audio and data before it have no picture.
			if p.kind != flv.TagVideo || !p.keyframe {
				continue
			}
			c.started = true
		}
		if !c.busy && c.raw != nil {
			s.writeNow(c, &p)
			continue
		}
		if c.bytes+len(p.body) > s.opts.ClientQueue {
			s.log.Warn("http: player dropped: it fell behind the stream", "remote", c.remote, "queued_bytes", c.bytes, "bound", s.opts.ClientQueue)
			c.dropped, c.queue, c.bytes = true, nil, 0
			s.dropped++
			c.cut()
			c.signal()
			continue
		}
		if shared == nil {
			shared = new(packet)
			*shared = p
			shared.body = bytes.Clone(p.body)
		}
		c.queue = append(c.queue, shared)
		c.bytes += len(p.body)
		c.signal()
	}
}

// audioHold bounds how long offer holds audio for the next picture, so that a picture and
// the sound before it go out in one write; a stream whose pictures stopped still sounds.
const audioHold = 100 * time.Millisecond

// writeNow writes p (with the audio held before it) to c's socket without blocking, or
// holds p if it is audio and a picture is due. What the socket does not take now is left
// in c.out for c's goroutine, which it wakes. The caller holds mu; c is not busy.
func (s *stream) writeNow(c *client, p *packet) {
	held := len(c.out.buf) > 0
	c.out.append(p)
	if p.kind == flv.TagAudio && len(c.out.buf) > 0 {
		if !held {
			c.heldSince = p.at
		}
		if p.at-c.heldSince < audioHold {
			return
		}
	}
	if len(c.out.buf) == 0 {
		return
	}
	c.wrote = 0
	c.raw.Write(c.writeOnce)
	n := c.wrote
	s.sent += uint64(n)
	c.out.buf = c.out.buf[:copy(c.out.buf, c.out.buf[n:])]
	if len(c.out.buf) > 0 {
		// The socket is full (or failed, which the goroutine's write then reports).
		c.busy = true
		c.bytes += len(c.out.buf)
		c.signal()
	}
}

// sendBuffer is the kernel's send buffer of a browser's connection. Linux starts it at
// 16 KiB and grows it only as the congestion window grows, so at first two pictures of a
// 720p camera fill it until the browser's delayed ACK, and writeNow hands over half the
// pictures to the browser's goroutine. Set, it also stops growing to megabytes in front of
// a browser that stopped reading, so that ClientQueue is what bounds it; 256 KiB covers a
// LAN's or a Wi-Fi's bandwidth-delay product at camera bitrates.
const sendBuffer = 256 << 10

// rawConn sets sendBuffer on a connection the listener accepted and returns its socket,
// for writeNow; nil if it has none.
func rawConn(conn net.Conn) syscall.RawConn {
	if lc, ok := conn.(*limitConn); ok {
		conn = lc.Conn
	}
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	tc.SetWriteBuffer(sendBuffer)
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// cut makes a write to the browser that blocks now, or comes later, fail at once.
func (c *client) cut() {
	if c.conn != nil {
		c.conn.SetWriteDeadline(time.Unix(1, 0))
	}
}

// streaming notes the connection of c, for cut.
func (s *stream) streaming(c *client, conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.conn, c.raw = conn, rawConn(conn)
	// Made once, as a closure passed on costs an allocation.
	c.writeOnce = func(fd uintptr) bool {
		// One attempt: the socket is non-blocking, so a full one takes part or nothing.
		// A raw system call, as it cannot block: the runtime's bookkeeping of a call that
		// may (entersyscall) wakes its monitor thread from its sleep for each, which on
		// an otherwise idle node cost more than the write itself.
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.out.buf[0])), uintptr(len(c.out.buf)))
		if errno == 0 {
			c.wrote = int(n)
		}
		return true
	}
	if c.dropped {
		c.cut()
	}
}

// extend sets the deadline of the next write to c, unless c was dropped (cut).
func (s *stream) extend(c *client, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.dropped {
		return errDropped
	}
	return c.conn.SetWriteDeadline(time.Now().Add(d))
}

// cutAll makes every write to a browser fail, for Run's shutdown.
func (s *stream) cutAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.dropped = true
		c.cut()
	}
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

var (
	errNotLive     = errors.New("the stream is not live")
	errTooMany     = errors.New("too many players at once")
	errDropped     = errors.New("the player fell behind the stream")
	errStreamEnded = errors.New("the stream ended")
)

// join registers a browser; it gets tags from the next keyframe on.
func (s *stream) join(remote string) (*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isLive() {
		return nil, errNotLive
	}
	if len(s.clients) >= s.opts.MaxClients {
		return nil, errTooMany
	}
	c := &client{wake: make(chan struct{}, 1), out: flvWriter{hasAudio: s.audioSet}, remote: remote, busy: true}
	s.clients = append(s.clients, c)
	s.nClients.Store(int32(len(s.clients)))
	s.joined++
	return c, nil
}

func (s *stream) leave(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients = slices.DeleteFunc(s.clients, func(x *client) bool { return x == c })
	s.nClients.Store(int32(len(s.clients)))
	c.queue = nil
}

// take returns what c's goroutine is to write: the packets queued, to add to c.out, and
// the bytes they and what c.out holds count against c's bound; or why c must stop:
// dropped at once, ended once all is written. With nothing to write, c is no longer busy
// (offer writes to it again) and work is false.
func (s *stream) take(c *client) (batch []*packet, n int, work bool, end error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case c.dropped:
		return nil, 0, false, errDropped
	case len(c.queue) == 0 && len(c.out.buf) == 0:
		if c.ended {
			return nil, 0, false, errStreamEnded
		}
		c.busy = false
		return nil, 0, false, nil
	}
	c.busy = true
	batch, c.queue = c.queue, nil
	return batch, c.bytes, true, nil
}

// written releases the n bytes take counted, of which sent were written.
func (s *stream) written(c *client, n, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent += uint64(sent)
	if !c.dropped {
		c.bytes -= n
	}
}
