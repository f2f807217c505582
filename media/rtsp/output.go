package rtsp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// output is the Server's side of the live stream: the stream that runs now, its
// description, and the readers, each fed on its own.
//
// gortsplib's ServerStream writes every packet to every reader at once, so a reader that
// joins mid-GOP would start with pictures it cannot decode. The ServerStream here only
// describes the stream and sets readers up; the packets go to each reader's session
// (ServerSession.WritePacketRTP, whose bounded queue is the reader's), and a reader gets
// nothing until a keyframe: its first picture is one, and its audio starts with it.
type output struct {
	srv     *Server
	started chan struct{} // closed once gortsplib's server runs: streams can be made

	mu      sync.Mutex
	cur     *stream // nil between streams
	readers map[*gortsplib.ServerSession]*reader
	closed  bool
	stats   media.OutputStats
}

// stream is one run of the live stream (one Output.Run) and its RTSP description, made
// once the parameter sets are known and the audio track has shown up (or AudioWait of
// video has passed without it).
type stream struct {
	ps      *h264.ParameterSets
	audio   *media.AudioConfig // the described track's, once known
	first   time.Duration      // time of the first video unit
	hasTime bool
	epoch   time.Time // wall time of stream time 0, for the RTCP sender reports

	// Set by describe.
	server     *gortsplib.ServerStream
	ready      chan struct{} // closed when described or ended
	video      *description.Media
	h264Format *format.H264
	venc       *rtph264.Encoder
	videoSSRC  uint32
	aac        *description.Media
	aenc       *rtpmpeg4audio.Encoder
	audioSSRC  uint32

	waiting []unit // audio frames waiting for the next picture
}

// reader is one player's session.
type reader struct {
	session *gortsplib.ServerSession
	conn    *unitConn // its connection, when the packets go over it (TCP)
	remote  string    // the player's address, for the log
	stream  *stream   // the stream it was set up for
	playing bool
	// The tracks it set up.
	hasVideo, hasAudio bool
	// video: the reader has had its first keyframe, at time from; audio: its first frame.
	video, audio bool
	from         time.Duration
	cut          bool
}

func (o *output) init(s *Server) {
	o.srv = s
	o.started = make(chan struct{})
	o.readers = map[*gortsplib.ServerSession]*reader{}
}

// Run marks the stream live until ctx ends, then ends it for its readers: their sessions
// are closed, and a player that asks next gets the next stream's description.
func (o *output) Run(ctx context.Context) error {
	o.mu.Lock()
	o.stats.Live, o.stats.LiveSince = true, time.Now()
	o.current()
	o.mu.Unlock()
	<-ctx.Done()
	o.mu.Lock()
	o.endStream()
	o.stats.Live, o.stats.LiveSince = false, time.Time{}
	o.mu.Unlock()
	return nil
}

// current returns the stream that runs now, made if there is none. o.mu is held.
func (o *output) current() *stream {
	if o.cur == nil && !o.closed {
		o.cur = &stream{ready: make(chan struct{})}
	}
	return o.cur
}

// endStream ends the stream that runs now: its description goes, its readers' sessions
// are closed (gortsplib closes their connections). o.mu is held.
func (o *output) endStream() {
	st := o.cur
	if st == nil {
		return
	}
	o.cur = nil
	if st.server != nil {
		st.server.Close()
	} else {
		close(st.ready)
	}
}

// close ends the stream for good: Serve is returning.
func (o *output) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.endStream()
	o.closed = true
}

// described returns the description of the stream that runs now, waiting up to wait for
// one that is starting; nil when there is none.
func (o *output) described(wait time.Duration) *gortsplib.ServerStream {
	o.mu.Lock()
	st := o.cur
	o.mu.Unlock()
	if st == nil {
		return nil
	}
	select {
	case <-st.ready:
	case <-time.After(wait):
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur != st {
		return nil
	}
	return st.server
}

// serving tells whether gortsplib's server runs, so that streams can be made.
func (o *output) serving() bool {
	select {
	case <-o.started:
		return true
	default:
		return false
	}
}

// describe makes the stream's description and its gortsplib stream. o.mu is held.
func (o *output) describe(st *stream) error {
	st.h264Format = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: st.ps.SPS[0], PPS: st.ps.PPS[0]}
	st.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{st.h264Format}}
	desc := &description.Session{Title: "camnode", Medias: []*description.Media{st.video}}
	var aacFormat *format.MPEG4Audio
	if st.audio != nil {
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(st.audio.ASC); err != nil {
			return fmt.Errorf("the audio track's AudioSpecificConfig %x: %w", st.audio.ASC, err)
		}
		aacFormat = &format.MPEG4Audio{PayloadTyp: 97, ProfileLevelID: 1, Config: &asc,
			SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
		st.aac = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{aacFormat}}
		desc.Medias = append(desc.Medias, st.aac)
	}
	var err error
	if st.venc, err = st.h264Format.CreateEncoder(); err != nil {
		return err
	}
	if aacFormat != nil {
		if st.aenc, err = aacFormat.CreateEncoder(); err != nil {
			return err
		}
	}
	server := &gortsplib.ServerStream{Server: o.srv.rtsp, Desc: desc}
	if err := server.Initialize(); err != nil {
		return err
	}
	// Every session of the stream sends with the stream's SSRCs: the sender reports
	// written here name them.
	stats := server.Stats()
	st.videoSSRC = stats.Medias[st.video].Formats[st.h264Format].LocalSSRC
	if st.aac != nil {
		st.audioSSRC = stats.Medias[st.aac].Formats[aacFormat].LocalSSRC
	}
	st.server = server
	close(st.ready)
	o.srv.log.Info("rtsp: serving the stream", "url", o.srv.URL(), "width", st.ps.Info.Width, "height", st.ps.Info.Height,
		"audio", st.audio != nil)
	return nil
}

// WriteVideo sends the unit to every reader that plays (from its first keyframe on), with
// the audio that waits for it. It never waits for a reader: one whose queue is full is
// dropped.
func (o *output) WriteVideo(ctx context.Context, au *media.AccessUnit, ps *h264.ParameterSets) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats.FramesIn++
	if ctx.Err() != nil {
		return nil
	}
	st := o.current()
	if st == nil {
		return nil
	}
	if !st.hasTime {
		st.hasTime, st.first, st.epoch = true, au.Time, time.Now().Add(-au.Time)
	}
	if ps != st.ps && ps != nil {
		st.ps = ps
		if st.server != nil {
			// Readers get the new set in the stream; players that ask next, in the SDP.
			st.h264Format.SafeSetParams(ps.SPS[0], ps.PPS[0])
		}
	}
	if st.server == nil {
		if st.ps == nil || (st.audio == nil && au.Time-st.first < o.srv.opts.AudioWait) || !o.serving() {
			return nil
		}
		if err := o.describe(st); err != nil {
			o.srv.log.Warn("rtsp: cannot describe the stream", "err", err)
			return nil
		}
	}
	if len(o.readers) == 0 {
		o.stats.AudioFramesDropped += uint64(len(st.waiting))
		st.waiting = st.waiting[:0]
		return nil
	}
	nalus := make([][]byte, 0, len(au.NALUs))
	for _, n := range au.NALUs {
		if h264.NALType(n) != h264.TypeAUD { // RTP's marker bit ends the unit
			nalus = append(nalus, n)
		}
	}
	pkts, err := st.venc.Encode(nalus)
	if err != nil {
		o.sendAudio(st)
		return fmt.Errorf("rtsp: packetize a video unit: %w", err)
	}
	ts := uint32(durationTicks(au.Time+au.CompositionOffset, 90000))
	for _, p := range pkts {
		p.Timestamp = ts
	}
	o.dispatch(st, &unit{pkts: pkts, ts: ts, at: st.epoch.Add(au.Time + au.CompositionOffset), time: au.Time, keyframe: au.Keyframe})
	return nil
}

// WriteAudio packetizes the frame, which waits for the next picture and goes out with it
// (one write to a TCP reader, not two). A track that shows up after the stream was
// described without it, or that changes, makes a new description: the stream's readers
// are closed, and players that ask next get it.
func (o *output) WriteAudio(ctx context.Context, f *media.AudioFrame) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats.AudioFramesIn++
	if ctx.Err() != nil || f.Config == nil {
		o.stats.AudioFramesDropped++
		return nil
	}
	st := o.current()
	if st == nil {
		o.stats.AudioFramesDropped++
		return nil
	}
	if st.audio == nil || !bytes.Equal(st.audio.ASC, f.Config.ASC) {
		cfg := &media.AudioConfig{SampleRate: f.Config.SampleRate, Channels: f.Config.Channels, ASC: bytes.Clone(f.Config.ASC)}
		if st.server != nil {
			o.srv.log.Info("rtsp: the audio track appeared or changed: the stream is described again, its readers start over")
			o.endStream()
			next := o.current()
			next.ps, next.hasTime, next.first, next.epoch = st.ps, st.hasTime, st.first, st.epoch
			st = next
		}
		st.audio = cfg
	}
	if st.server == nil || st.aac == nil || len(o.readers) == 0 {
		o.stats.AudioFramesDropped++
		return nil
	}
	pkts, err := st.aenc.Encode([][]byte{f.Data})
	if err != nil {
		o.stats.AudioFramesDropped++
		return fmt.Errorf("rtsp: packetize an audio frame: %w", err)
	}
	ts := uint32(durationTicks(f.Time, st.audio.SampleRate))
	for _, p := range pkts {
		p.Timestamp = ts
	}
	st.waiting = append(st.waiting, unit{pkts: pkts, ts: ts, at: st.epoch.Add(f.Time), time: f.Time})
	if len(st.waiting) >= maxWaiting {
		o.sendAudio(st) // no picture came for a while
	}
	return nil
}

// maxWaiting bounds the audio frames that wait for a picture: about 170 ms of AAC at
// 48 kHz, should the pictures stop while the sound goes on.
const maxWaiting = 8

// unit is one access unit or audio frame as RTP packets, with its RTP time and wall time.
type unit struct {
	pkts     []*rtp.Packet
	ts       uint32
	at       time.Time
	time     time.Duration
	keyframe bool
}

// Flush sends the audio that waits for a picture: none comes soon.
func (o *output) Flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cur != nil {
		o.sendAudio(o.cur)
	}
}

// sendAudio sends the audio that waits, without a picture. o.mu is held.
func (o *output) sendAudio(st *stream) {
	if len(st.waiting) > 0 {
		o.dispatch(st, nil)
	}
}

// dispatch sends the audio that waits and the video unit v (nil for none) to every reader
// of st that plays, each reader's packets in one burst: a TCP reader's connection writes
// them at once when the last is written (unitConn). o.mu is held.
func (o *output) dispatch(st *stream, v *unit) {
	audio := st.waiting
	st.waiting = st.waiting[:0]
	var audioSent uint64 // a bit per frame sent to some reader
	for _, r := range o.readers {
		if r.stream != st || !r.playing {
			continue
		}
		video, startVideo := false, false
		if v != nil && r.hasVideo {
			if !r.video && v.keyframe {
				r.video, r.from, startVideo = true, v.time, true
			}
			video = r.video
			if !video {
				o.stats.FramesDropped++
			}
		}
		// The audio from the reader's first picture on (all of it for one without video).
		var frames []*unit
		var sent uint64
		if r.hasAudio && (!r.hasVideo || r.video) {
			for i := range audio {
				if !r.hasVideo || audio[i].time >= r.from {
					frames = append(frames, &audio[i])
					sent |= 1 << i
				}
			}
		}
		if !video && len(frames) == 0 {
			continue
		}
		// The last packet of the burst ends the connection's write.
		if r.conn != nil {
			last := v
			if !video {
				last = frames[len(frames)-1]
			}
			r.conn.endWith(last.pkts[len(last.pkts)-1])
		}
		// A track's sender report first: the player maps the track's clock to the
		// others' from its first packet, so that the A/V offset holds from the start.
		if startVideo {
			r.session.WritePacketRTCP(st.video, senderReport(st.videoSSRC, v.ts, v.at))
		}
		if len(frames) > 0 && !r.audio {
			r.audio = true
			r.session.WritePacketRTCP(st.aac, senderReport(st.audioSSRC, frames[0].ts, frames[0].at))
		}
		ok := true
		for _, a := range frames {
			if ok = o.send(r, st.aac, a); !ok {
				break
			}
		}
		if ok {
			audioSent |= sent
		}
		if video {
			if ok && o.send(r, st.video, v) {
				o.stats.FramesSent++
				if v.keyframe {
					o.stats.Keyframes++
				}
			} else {
				o.stats.FramesDropped++
			}
		}
	}
	for i := range audio {
		if audioSent&(1<<i) != 0 {
			o.stats.AudioFramesSent++
		} else {
			o.stats.AudioFramesDropped++
		}
	}
}

// send queues the packets of one unit for a reader, and drops the reader when its queue
// is full. o.mu is held.
func (o *output) send(r *reader, m *description.Media, u *unit) bool {
	for _, p := range u.pkts {
		if err := r.session.WritePacketRTPWithNTP(m, p, u.at); err != nil {
			o.cut(r, err)
			return false
		}
		o.stats.BytesSent += uint64(p.MarshalSize())
	}
	return true
}

// cut drops a reader whose queue is full. o.mu is held. A session that is ending for
// another reason (a TEARDOWN, its connection closed) refuses packets too: leave tells
// them apart and counts only the first kind.
func (o *output) cut(r *reader, err error) {
	if r.cut {
		return
	}
	r.cut, r.playing = true, false
	r.session.Close()
}

func senderReport(ssrc, ts uint32, at time.Time) *rtcp.SenderReport {
	return &rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp.Encode(at), RTPTime: ts}
}

// durationTicks is d in ticks of a rate Hz clock, exact however long the stream runs.
func durationTicks(d time.Duration, rate int) int64 {
	s, ns := int64(d/time.Second), int64(d%time.Second)
	return s*int64(rate) + ns*int64(rate)/int64(time.Second)
}

type joinStatus int

const (
	joined joinStatus = iota
	joinNoStream
	joinFull
)

// join takes a session that sets up a track: a new reader of the stream that runs now,
// if there is room.
func (o *output) join(s *gortsplib.ServerSession, remote string) (*gortsplib.ServerStream, joinStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := o.cur
	if st == nil || st.server == nil {
		return nil, joinNoStream
	}
	if r, ok := o.readers[s]; ok { // its next track
		if r.stream != st {
			return nil, joinNoStream
		}
		return st.server, joined
	}
	if len(o.readers) >= o.srv.opts.MaxReaders {
		return nil, joinFull
	}
	o.readers[s] = &reader{session: s, remote: remote, stream: st}
	o.stats.Joined++
	return st.server, joined
}

// play starts a reader, which asked on c; it gets the stream from the next keyframe.
func (o *output) play(s *gortsplib.ServerSession, c *gortsplib.ServerConn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.readers[s]
	if !ok || r.stream != o.cur || r.cut {
		return false
	}
	r.playing, r.video, r.audio = true, false, false
	r.conn = nil
	if t := s.Transport(); t != nil && t.Protocol == gortsplib.ProtocolTCP {
		r.conn, _ = c.NetConn().(*unitConn)
	}
	r.hasVideo, r.hasAudio = false, false
	for _, m := range s.Medias() {
		r.hasVideo = r.hasVideo || m == r.stream.video
		r.hasAudio = r.hasAudio || (m == r.stream.aac && m != nil)
	}
	return true
}

func (o *output) pause(s *gortsplib.ServerSession) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.readers[s]; ok {
		r.playing = false
	}
}

// leave forgets a session that ended. One that cut closed (its queue was full), or whose
// writes timed out (a TCP reader that stopped reading), fell behind: it counts in Cut.
func (o *output) leave(s *gortsplib.ServerSession, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.readers[s]
	if !ok {
		return
	}
	delete(o.readers, s)
	var closedHere liberrors.ErrServerTerminated
	if (r.cut && errors.As(err, &closedHere)) || errors.Is(err, os.ErrDeadlineExceeded) {
		o.stats.Cut++
		o.srv.log.Warn("rtsp: reader dropped: it fell behind the stream", "remote", r.remote, "err", err)
		return
	}
	o.srv.log.Debug("rtsp: reader left", "remote", r.remote, "err", err)
}

// WriteChat does nothing: RTSP carries chat in the SEI inside the units.
func (o *output) WriteChat(context.Context, time.Duration, *chat.Message) {}

// Stats returns the output's counters. Video frames and bytes count per reader: a unit
// sent to three readers counts three times; a reader's frames before its first keyframe
// count as dropped.
func (o *output) Stats() media.OutputStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.stats
	for _, r := range o.readers {
		if r.playing {
			s.Readers++
		}
	}
	return s
}
