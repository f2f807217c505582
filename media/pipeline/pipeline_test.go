package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/file"
	"github.com/camnode/camnode/media/source/testsrc"
	"github.com/camnode/camnode/media/source/v4l2"
	"github.com/camnode/camnode/media/stream"
)

// clipUnits are the access units of the embedded test clip (1280x720, 30 fps, IDR every 30).
func clipUnits(t *testing.T) []media.AccessUnit {
	t.Helper()
	var out []media.AccessUnit
	var sp h264.Splitter
	emit := func(nalus [][]byte) error {
		c := make([][]byte, len(nalus))
		for i, n := range nalus {
			c[i] = append([]byte(nil), n...)
		}
		out = append(out, media.AccessUnit{NALUs: c, Time: time.Duration(len(out)) * time.Second / 30, Keyframe: h264.IsKeyframe(c)})
		return nil
	}
	if err := sp.Push(testsrc.Clip(), emit); err != nil {
		t.Fatal(err)
	}
	if err := sp.Flush(emit); err != nil {
		t.Fatal(err)
	}
	return out
}

// scripted is a source that plays units, then fails with end (or waits for ctx when nil).
type scripted struct {
	units []media.AccessUnit
	end   error
	keys  atomic.Int32
}

func (s *scripted) RequestKeyframe() error { s.keys.Add(1); return nil }

func (s *scripted) Run(ctx context.Context, deliver func(*media.AccessUnit) error) error {
	for i := range s.units {
		au := s.units[i]
		if err := deliver(&au); err != nil {
			return err
		}
	}
	if s.end != nil {
		return s.end
	}
	<-ctx.Done()
	return nil
}

// recorder is an output that keeps the times and keyframe flags it was given.
type recorder struct {
	media.NopOutput
	mu    sync.Mutex
	times []time.Duration
	keys  []bool
	data  int
	audio int
	block chan struct{} // when set, WriteVideo waits on it (a stalled destination)
}

func (r *recorder) WriteVideo(ctx context.Context, au *media.AccessUnit, _ *h264.ParameterSets) error {
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	r.times = append(r.times, au.Time)
	r.keys = append(r.keys, au.Keyframe)
	r.mu.Unlock()
	return nil
}

func (r *recorder) WriteChat(context.Context, time.Duration, *chat.Message) {
	r.mu.Lock()
	r.data++
	r.mu.Unlock()
}

func (r *recorder) WriteAudio(context.Context, *media.AudioFrame) error {
	r.mu.Lock()
	r.audio++
	r.mu.Unlock()
	return nil
}

func (r *recorder) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.times) }

// statuses collects what a pipeline reports.
type statuses struct {
	mu  sync.Mutex
	got []Status
}

func (s *statuses) add(st Status) { s.mu.Lock(); s.got = append(s.got, st); s.mu.Unlock() }

func (s *statuses) of(k Kind) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.got {
		if st.Kind == k {
			out = append(out, st)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// A source that fails is reopened, its clock shifted to follow the last frame: every
// destination sees times that only go forward, one frame apart across the reopening.
func TestReopenKeepsTimeContinuous(t *testing.T) {
	units := clipUnits(t)
	opens := 0
	var st statuses
	a, b := &recorder{}, &recorder{}
	p := New(Options{
		Capture: sourceFPS(30),
		Local:   []media.Output{a, b},
		OpenSource: func() (media.Source, error) {
			opens++
			return &scripted{units: units, end: errors.New("camera unplugged")}, nil
		},
		OnStatus: st.add, ReconnectMin: time.Millisecond, ReconnectMax: time.Millisecond,
	})
	p.Start(context.Background())
	waitFor(t, "three passes", func() bool { return a.count() >= 3*len(units) && b.count() >= 3*len(units) })
	p.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	frame := time.Second / 30
	for i := 1; i < 3*len(units); i++ {
		if d := a.times[i] - a.times[i-1]; d < frame-time.Microsecond || d > frame+time.Microsecond {
			t.Fatalf("unit %d: %v after the one before, want %v", i, d, frame)
		}
	}
	if got := len(st.of(SourceFailed)); got < 2 {
		t.Fatalf("%d source_failed, want one for each end", got)
	}
	if f := st.of(VideoFormat); len(f) != 1 || f[0].Width != 1280 || f[0].Height != 720 || f[0].FPS != 30 {
		t.Fatalf("video formats %+v: want one, 1280x720 at the clip's 30 fps", f)
	}
}

type sourceOptions = source.Options

func sourceFPS(fps float64) (o sourceOptions) { o.FPS = fps; return o }

// A destination that stalls does not stop the stream reaching the others only when it
// drops by itself; the pipeline's part is that every destination gets every unit in order
// and that a source that plays once ends the pipeline with SourceEnded.
func TestPlayOnceEnds(t *testing.T) {
	units := clipUnits(t)
	var st statuses
	r := &recorder{}
	p := New(Options{
		Capture: sourceFPS(30),
		Local:   []media.Output{r},
		OpenSource: func() (media.Source, error) {
			return &scripted{units: units, end: fmt.Errorf("file source: x.h264: %w", file.ErrPlayedOnce)}, nil
		},
		OnStatus: st.add,
	})
	p.Start(context.Background())
	waitFor(t, "the end", func() bool { return len(st.of(SourceEnded)) == 1 })
	p.Stop()
	if r.count() != len(units) || len(st.of(SourceFailed)) != 0 {
		t.Fatalf("%d units of %d, %d failures", r.count(), len(units), len(st.of(SourceFailed)))
	}
	if s := p.Stats(); s.Frames != uint64(len(units)) {
		t.Fatalf("stats: %d frames, want %d", s.Frames, len(units))
	}
}

// A source that never delivers a keyframe never opens a publish: the ingest sees no
// connection at all. One that does connects at its first keyframe.
func TestPublishOnlyAfterTheFirstKeyframe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	url := "rtmp://" + ln.Addr().String() + "/live/key"
	units := clipUnits(t)
	var noKey []media.AccessUnit
	for _, u := range units {
		if !u.Keyframe {
			noKey = append(noKey, u)
		}
	}
	var st statuses
	p := New(Options{
		Capture: sourceFPS(30), Targets: []string{url}, OnStatus: st.add,
		OpenSource: func() (media.Source, error) { return &scripted{units: noKey}, nil },
	})
	p.Start(context.Background())
	waitFor(t, "the frames", func() bool { return p.Stats().Frames == uint64(len(noKey)) })
	time.Sleep(200 * time.Millisecond) // a publisher that wrongly started would have dialed by now
	p.Stop()
	if n := conns.Load(); n != 0 || len(st.of(DestinationConnecting)) != 0 {
		t.Fatalf("%d connections, %d connecting statuses from a source without keyframes", n, len(st.of(DestinationConnecting)))
	}
	p = New(Options{
		Capture: sourceFPS(30), Targets: []string{url}, OnStatus: st.add,
		Publish:    stream.Options{ReconnectMin: time.Hour},
		OpenSource: func() (media.Source, error) { return &scripted{units: units}, nil },
	})
	p.Start(context.Background())
	waitFor(t, "a connection", func() bool { return conns.Load() > 0 })
	p.Stop()
	if got := p.Targets(); len(got) != 1 || got[0] != "rtmp://"+ln.Addr().String()+"/live/****" {
		t.Fatalf("targets %q", got)
	}
}

// Snapshot copies the next keyframe of an H.264 source, SPS and PPS included, and asks
// the source for one; a snapshot waiting when the pipeline stops gets an error.
func TestSnapshotOfAnH264Source(t *testing.T) {
	units := clipUnits(t)
	src := &scripted{units: append(append([]media.AccessUnit(nil), units[1:]...), units...)}
	gate := make(chan struct{})
	r := &recorder{block: gate}
	p := New(Options{Capture: sourceFPS(30), Local: []media.Output{r}, OpenSource: func() (media.Source, error) { return src, nil }})
	p.Start(context.Background())
	waitFor(t, "the source", func() bool { return p.Stats().Frames > 0 }) // open: it can be asked for a keyframe
	got := make(chan *Picture, 1)
	go func() {
		pic, err := p.Snapshot(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- pic
	}()
	waitFor(t, "the request", func() bool { return p.snap.wanted.Load() })
	close(gate)
	pic := <-got
	if pic == nil || pic.AU == nil || !pic.AU.Keyframe || pic.Frame != nil {
		t.Fatalf("snapshot %+v", pic)
	}
	var sps, pps bool
	for _, n := range pic.AU.NALUs {
		sps = sps || h264.NALType(n) == h264.TypeSPS
		pps = pps || h264.NALType(n) == h264.TypePPS
	}
	if !sps || !pps || src.keys.Load() == 0 {
		t.Fatalf("SPS %v, PPS %v, keyframe requests %d", sps, pps, src.keys.Load())
	}
	waitFor(t, "the end of the clip", func() bool { return p.Stats().Frames == uint64(len(src.units)) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Snapshot(ctx); err == nil { // the clip has no keyframe left to give
		t.Fatal("a snapshot without a keyframe to give")
	}
	p.Stop()
}

// Snapshot of a raw source is the frame as drawn, overlay included.
func TestSnapshotOfARawSourceIsDrawn(t *testing.T) {
	if err := x264.Available(); err != nil {
		t.Skip(err)
	}
	ov := &marker{}
	p := New(Options{Source: "testsrc", Capture: sourceOptions{Width: 160, Height: 96, FPS: 15, Bitrate: 200_000, GOP: 15}, Overlay: ov})
	p.Start(context.Background())
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pic, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Frame == nil || pic.Frame.Width != 160 || pic.Frame.Height != 96 || pic.Frame.Planes[0][0] != 0xAB {
		t.Fatalf("snapshot %+v", pic.Frame)
	}
	if !ov.drawing.Load() {
		t.Fatal("the overlay was not told that it draws")
	}
}

// marker is an Overlay that writes 0xAB into the first pixel.
type marker struct{ drawing atomic.Bool }

func (m *marker) Enabled() (bool, bool)  { return true, true }
func (m *marker) Drawing()               { m.drawing.Store(true) }
func (m *marker) Unavailable(why string) {}
func (m *marker) Draw(f *media.Frame) error {
	f.Planes[0][0] = 0xAB
	return nil
}

// An audio source that fails is reported and restarted; the video goes on meanwhile.
func TestAudioFailureNeverStopsVideo(t *testing.T) {
	units := clipUnits(t)
	var st statuses
	r := &recorder{}
	p := New(Options{
		Capture: sourceFPS(30), Local: []media.Output{r}, OnStatus: st.add,
		OpenSource:   func() (media.Source, error) { return &scripted{units: units}, nil },
		Audio:        failingAudio{},
		ReconnectMin: time.Millisecond, ReconnectMax: 2 * time.Millisecond,
	})
	p.Start(context.Background())
	waitFor(t, "audio failures", func() bool { return len(st.of(AudioFailed)) >= 3 })
	waitFor(t, "the video", func() bool { return r.count() == len(units) })
	p.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.audio == 0 {
		t.Fatal("no audio frame reached the destination")
	}
}

type failingAudio struct{}

func (failingAudio) RunAudio(ctx context.Context, deliver func(*media.AudioFrame) error) error {
	deliver(&media.AudioFrame{Data: []byte{1}})
	return errors.New("microphone unplugged")
}

// A raw camera grants the size it has, not always the one asked for: the encoder opens
// at the frames' size, and every frame goes through the overlay first.
func TestEncodeRawFitsTheFrames(t *testing.T) {
	if !x264.Built {
		_, err := x264.New(encoder.Options{})
		if !errors.Is(err, encoder.ErrNotBuilt) {
			t.Fatalf("x264.New without x264: %v", err)
		}
		return
	}
	frames, err := testsrc.NewFrameSource(testsrc.Options{Width: 320, Height: 180, FPS: 15, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	drawn := 0
	openX264 := func(o encoder.Options, _ media.PixelFormat) (encoder.Encoder, error) { return x264.New(o) }
	src := encodeRaw(frames, encoder.Options{FPS: 15, Bitrate: 500_000, GOP: 15}, openX264, func(*media.Frame) error {
		drawn++
		return nil
	})
	errEnough := errors.New("enough")
	units := 0
	var w, h int
	err = src.Run(context.Background(), func(au *media.AccessUnit) error {
		if units == 0 {
			if !au.Keyframe {
				t.Error("first access unit is not a keyframe")
			}
			var params media.ParameterSetTracker
			ps, err := params.Next(au)
			if err != nil || ps == nil {
				t.Fatalf("no SPS and PPS in the first unit: %v", err)
			}
			w, h = ps.Info.Width, ps.Info.Height
		}
		units++
		if units == 20 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("run: %v", err)
	}
	if w != 320 || h != 180 || drawn != 20 {
		t.Fatalf("SPS says %dx%d, overlay drew %d of 20 frames", w, h, drawn)
	}
}

// lossyCamera stands for a camera source that lost frames in capture.
type lossyCamera struct{ dropped uint64 }

func (c *lossyCamera) Stats() v4l2.Stats { return v4l2.Stats{Dropped: c.dropped} }
func (c *lossyCamera) RunFrames(context.Context, func(*media.Frame) error) error {
	return nil
}

// A camera's capture losses reach the drops whether its H.264 streams as it is or its
// raw frames are encoded here, and those of sources already closed are kept.
func TestCaptureLossesAreCounted(t *testing.T) {
	cam := &lossyCamera{dropped: 3}
	if got := captureDropped(cam); got != 3 {
		t.Fatalf("camera: %d dropped, want 3", got)
	}
	if got := captureDropped(&encoder.Source{Frames: cam}); got != 3 {
		t.Fatalf("camera through the encoder: %d dropped, want 3", got)
	}
	if got := captureDropped(nil); got != 0 {
		t.Fatalf("no source: %d dropped", got)
	}
	p := &Pipeline{srcDropped: 4, src: &encoder.Source{Frames: cam}}
	if s := p.Stats(); s.SourceDropped != 7 || s.Total.FramesDropped != 7 {
		t.Fatalf("pipeline: %+v, want 4 closed + 3 current", s)
	}
}

// A keyframe without its SPS and PPS (a camera that sends them once) reaches every output
// with the stream's, after its delimiter and before its slice; one that has them is given
// as it is, and a keyframe before any parameter set goes nowhere.
func TestKeyframesCarryTheirParameterSets(t *testing.T) {
	var sps, pps []byte
	for _, n := range clipUnits(t)[0].NALUs {
		switch h264.NALType(n) {
		case h264.TypeSPS:
			sps = n
		case h264.TypePPS:
			pps = n
		}
	}
	aud, idr, slice := []byte{0x09, 0xf0}, []byte{0x65, 0x88}, []byte{0x41, 0x9a}
	units := []media.AccessUnit{
		{NALUs: [][]byte{aud, idr}, Keyframe: true}, // before any SPS: nothing decodes it
		{NALUs: [][]byte{aud, sps, pps, idr}, Keyframe: true},
		{NALUs: [][]byte{aud, slice}},
		{NALUs: [][]byte{aud, idr}, Keyframe: true},
		{NALUs: [][]byte{idr}, Keyframe: true},
	}
	r := &nalRecorder{}
	p := New(Options{Capture: sourceFPS(30), Local: []media.Output{r}, OpenSource: func() (media.Source, error) {
		return &scripted{units: units}, nil
	}})
	p.Start(context.Background())
	waitFor(t, "four units", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.units) >= 4 })
	p.Stop()
	want := [][]byte{
		{9, 7, 8, 5}, // as the source made it
		{9, 1},
		{9, 7, 8, 5}, // the stream's SPS and PPS after the delimiter
		{7, 8, 5},
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.units) != 4 {
		t.Fatalf("%d units reached the output, want 4", len(r.units))
	}
	for i, u := range r.units {
		if !bytes.Equal(u, want[i]) {
			t.Errorf("unit %d: NAL types %v, want %v", i, u, want[i])
		}
	}
}

// nalRecorder keeps the NAL unit types of every access unit it is given.
type nalRecorder struct {
	media.NopOutput
	mu    sync.Mutex
	units [][]byte
}

func (r *nalRecorder) WriteVideo(_ context.Context, au *media.AccessUnit, _ *h264.ParameterSets) error {
	var types []byte
	for _, n := range au.NALUs {
		types = append(types, byte(h264.NALType(n)))
	}
	r.mu.Lock()
	r.units = append(r.units, types)
	r.mu.Unlock()
	return nil
}
