package v4l2

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

// Synthetic NAL units: the source only looks at their types.
var (
	nalSPS = []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	nalPPS = []byte{0x68, 0xee, 0x3c, 0x80}
	nalIDR = []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	nalP   = []byte{0x41, 0x9a, 0x02, 0x04}
	nalAUD = []byte{0x09, 0xf0}
	nalSEI = []byte{0x06, 0x05, 0x01, 0xaa, 0x80}
)

// annexB joins NAL units with 4-byte start codes, as encoders write them.
func annexB(nalus ...[]byte) []byte { return h264.AppendAnnexB(nil, nalus) }

func types(au [][]byte) []byte {
	var t []byte
	for _, n := range au {
		t = append(t, h264.NALType(n))
	}
	return t
}

// piCamera is an H.264 camera with the encoder controls of the Pi's bcm2835-v4l2.
func piCamera() *fakeCamera {
	c := newFake("H264", "YUYV", "MJPG")
	c.sizes[fccH264] = []FrameSize{{Width: 32, Height: 32, MaxWidth: 1920, MaxHeight: 1080, StepWidth: 2, StepHeight: 2}}
	c.addControl(Control{ID: cidBitrate, Name: "Video Bitrate", typ: ctrlTypeInteger, Min: 25000, Max: 25000000, Step: 25000, Default: 10000000}, 10000000)
	c.addControl(Control{ID: cidH264IPeriod, Name: "H264 I-Frame Period", typ: ctrlTypeInteger, Min: 0, Max: 2147483647, Step: 1}, 60)
	c.addControl(Control{ID: cidRepeatSeqHeader, Name: "Repeat Sequence Header", typ: ctrlTypeBoolean, Max: 1, Step: 1}, 0)
	c.addControl(Control{ID: cidForceKeyFrame, Name: "Force Key Frame", typ: ctrlTypeButton}, 0)
	levels := Control{ID: cidH264Level, Name: "H264 Level", typ: ctrlTypeMenu, Max: 13}
	for i := 0; i <= 13; i++ {
		levels.Menu = append(levels.Menu, MenuItem{Value: int64(i), Name: h264Levels[i].name})
	}
	c.addControl(levels, 11)
	c.addControl(Control{ID: cidH264Profile, Name: "H264 Profile", typ: ctrlTypeMenu, Max: 4, Menu: []MenuItem{
		{0, "Baseline"}, {1, "Constrained Baseline"}, {2, "Main"}, {4, "High"}}}, 0)
	return c
}

func TestH264SourceDeliversAccessUnits(t *testing.T) {
	cam := piCamera()
	t0 := 500 * time.Second
	ms := time.Millisecond
	cam.script = []step{
		{b: buffer{index: 0, sequence: 10, time: t0, monotonic: true, data: annexB(nalSPS, nalPPS)}}, // the Pi's codec config buffer
		{b: buffer{index: 1, sequence: 11, time: t0 + 33*ms, monotonic: true, data: annexB(nalIDR)}},
		{b: buffer{index: 2, sequence: 12, time: t0 + 66*ms, monotonic: true, data: annexB(nalAUD, nalP)}},
		{b: buffer{index: 3, sequence: 15, time: t0 + 166*ms, monotonic: true, data: annexB(nalP)}}, // 2 frames lost
		{b: buffer{index: 0, sequence: 16, time: t0 + 200*ms, monotonic: true, bad: true, data: annexB(nalP)}},
		{b: buffer{index: 1, sequence: 17, time: t0 + 233*ms, monotonic: true, data: annexB(nalAUD, nalIDR)}},
		{b: buffer{index: 2, sequence: 18, time: t0 + 230*ms, monotonic: true, data: annexB(nalP)}}, // stamp went back
		{b: buffer{index: 3, sequence: 19, time: t0 + 300*ms, monotonic: true, data: annexB(nalSEI)}},
		{b: buffer{index: 0, sequence: 20, time: t0 + 333*ms, monotonic: true, data: append([]byte{0, 0}, annexB(nalP)...)}},
	}
	cam.install(t)
	src, err := Open("/dev/video0", Options{Width: 1280, Height: 720, FPS: 30, Bitrate: 2_500_000, GOP: 60})
	if err != nil {
		t.Fatal(err)
	}
	type unit struct {
		types []byte
		t     time.Duration
		key   bool
	}
	var got []unit
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = src.Run(ctx, func(au *media.AccessUnit) error {
		got = append(got, unit{types(au.NALUs), au.Time, au.Keyframe})
		if len(got) == 6 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	want := []unit{
		{[]byte{7, 8, 5}, 33 * ms, true}, // SPS/PPS of the header buffer put before the IDR
		{[]byte{9, 1}, 66 * ms, false},
		{[]byte{1}, 166 * ms, false},
		{[]byte{9, 5}, 233 * ms, true}, // as it came: the pipeline puts the stream's SPS/PPS before it
		{[]byte{1}, 234 * ms, false},   // never backwards: 1 ms after the last
		{[]byte{1}, 333 * ms, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("access units (NAL types, time, keyframe):\n got %v\nwant %v", got, want)
	}
	st := src.Stats()
	if st != (Stats{Captured: 8, Delivered: 6, Dropped: 3, BufferErrors: 1}) {
		t.Errorf("Stats = %+v, want 8 captured, 6 delivered, 3 dropped (2 lost, 1 bad), 1 buffer error", st)
	}
	wantSets := []string{
		fmt.Sprintf("%#x=%d", cidBitrate, 2500000),
		fmt.Sprintf("%#x=%d", cidRepeatSeqHeader, 1),
		fmt.Sprintf("%#x=%d", cidH264Profile, profileHigh),
		fmt.Sprintf("%#x=%d", cidH264Level, 9), // 1280x720 at 30 fps, 2.5 Mb/s: level 3.1
		fmt.Sprintf("%#x=1", cidForceKeyFrame), // at stream start
		fmt.Sprintf("%#x=1", cidForceKeyFrame), // after the lost frames (the bad buffer right after: rate-limited)
	}
	if sets := cam.setsSoFar(); !reflect.DeepEqual(sets, wantSets) {
		t.Errorf("controls set:\n got %v\nwant %v (the I-frame period was 60 already)", sets, wantSets)
	}
	wantSettings := []string{"bitrate 2500000", "i_frame_period 60", "repeat_sequence_header on", "profile High", "level 3.1", "force_key_frame available"}
	if s := src.Settings(); !reflect.DeepEqual(s, wantSettings) {
		t.Errorf("Settings = %q, want %q", s, wantSettings)
	}
	if f := src.Format(); f.FourCC != "H264" || f.Width != 1280 || f.Height != 720 || f.FPS != 30 {
		t.Errorf("Format = %v, want H264 1280x720 at 30 fps", f)
	}
	if !cam.closed || cam.requeues != 9 {
		t.Errorf("camera closed %v after %d requeues, want closed after 9 (every buffer back to the driver)", cam.closed, cam.requeues)
	}
}

func TestH264SourceSkipsMissingControls(t *testing.T) {
	cam := newFake("H264") // v4l2loopback: no encoder controls at all
	cam.script = frames(0, time.Second, 33*time.Millisecond, annexB(nalSPS, nalPPS, nalIDR))
	cam.install(t)
	src, err := Open("/dev/video0", Options{Bitrate: 2_500_000, GOP: 60})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var keyErr error
	err = src.Run(ctx, func(au *media.AccessUnit) error {
		keyErr = src.RequestKeyframe()
		cancel()
		return nil
	})
	if err != nil {
		t.Fatalf("Run = %v: missing controls must not fail the source", err)
	}
	if len(cam.setsSoFar()) != 0 {
		t.Errorf("set controls %v on a camera without them", cam.setsSoFar())
	}
	if keyErr == nil || !strings.Contains(keyErr.Error(), "/dev/video0 has no force-key-frame control") {
		t.Errorf("RequestKeyframe = %v, want an error saying the camera has no force-key-frame control", keyErr)
	}
	if s := src.Settings(); !reflect.DeepEqual(s, []string{"force_key_frame missing"}) {
		t.Errorf("Settings = %q", s)
	}
}

func TestRequestKeyframeWhileRunning(t *testing.T) {
	cam := piCamera()
	var payloads [][]byte
	for i := 0; i < 200; i++ {
		payloads = append(payloads, annexB(nalP))
	}
	cam.script = frames(0, time.Second, 33*time.Millisecond, payloads...)
	cam.install(t)
	src, err := Open("/dev/video0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.RequestKeyframe(); err == nil || !strings.Contains(err.Error(), "not streaming") {
		t.Errorf("RequestKeyframe before Run = %v, want not streaming", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var asked int
	go func() { // the node's goroutine asks while the capture goroutine dequeues
		defer wg.Done()
		<-started
		for ctx.Err() == nil {
			if src.RequestKeyframe() == nil {
				asked++
			}
		}
	}()
	n := 0
	err = src.Run(ctx, func(*media.AccessUnit) error {
		if n++; n == 1 {
			close(started)
		}
		if n == 200 {
			cancel()
		}
		time.Sleep(100 * time.Microsecond)
		return nil
	})
	cancel()
	wg.Wait()
	if err != nil || asked == 0 {
		t.Fatalf("Run = %v with %d keyframes asked for, want nil and some", err, asked)
	}
	forced := 0
	for _, s := range cam.setsSoFar() {
		if s == fmt.Sprintf("%#x=1", cidForceKeyFrame) {
			forced++
		}
	}
	if forced != asked+1 { // plus the one at stream start
		t.Errorf("force key frame pressed %d times, want %d", forced, asked+1)
	}
}

func TestRunFailures(t *testing.T) {
	lostErr := errors.New("v4l2: /dev/video0: camera disconnected (VIDIOC_DQBUF: ENODEV)")
	for _, tc := range []struct {
		name   string
		script []step
		stall  time.Duration
		want   string
	}{
		{"unplugged", append(frames(0, time.Second, time.Millisecond, annexB(nalIDR)), step{err: lostErr}), 0, "camera disconnected"},
		{"stalled", frames(0, time.Second, time.Millisecond, annexB(nalIDR)), 150 * time.Millisecond, "no frame for"},
		{"panicking driver layer", []step{{panic: "index out of range"}}, 0, "capture failed: index out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := newFake("H264")
			cam.script = tc.script
			cam.install(t)
			src, err := Open("/dev/video0", Options{StallTimeout: tc.stall})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- src.Run(context.Background(), func(*media.AccessUnit) error { return nil }) }()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.want)
			}
			if !cam.closed {
				t.Error("camera left open")
			}
		})
	}
}

func TestRunStopsOnDeliverError(t *testing.T) {
	cam := newFake("H264")
	cam.script = frames(0, time.Second, time.Millisecond, annexB(nalIDR), annexB(nalP))
	cam.install(t)
	src, err := Open("/dev/video0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	full := errors.New("publisher queue full")
	if err := src.Run(context.Background(), func(*media.AccessUnit) error { return full }); !errors.Is(err, full) {
		t.Errorf("Run = %v, want the deliver error", err)
	}
	// An error from deliver because the context ended is a clean stop.
	cam.pos = 0
	ctx, cancel := context.WithCancel(context.Background())
	err = src.Run(ctx, func(*media.AccessUnit) error { cancel(); return ctx.Err() })
	if err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
}

func TestSequenceGaps(t *testing.T) {
	for _, tc := range []struct {
		seq  []uint32
		want uint64
	}{
		{[]uint32{0xfffffffe, 0xffffffff, 0, 1}, 0},      // wrap-around is no gap
		{[]uint32{0xfffffffe, 1}, 2},                     // 0xffffffff and 0 lost across the wrap
		{[]uint32{100, 101, 5, 6}, 0},                    // the driver restarted its count
		{[]uint32{7, 9, 12}, 3},                          // 8, 10 and 11 lost
		{[]uint32{0, 0, 1}, 0},                           // a repeated number is no gap
		{[]uint32{0, 1 << 31, (1 << 31) + 1}, 1<<31 - 1}, // half the number space: still a gap
	} {
		cam := newFake("H264")
		for i, s := range tc.seq {
			cam.script = append(cam.script, step{b: buffer{index: uint32(i % 4), sequence: s, data: annexB(nalP)}})
		}
		cam.install(t)
		src, err := Open("/dev/video0", Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		src.Run(ctx, func(*media.AccessUnit) error {
			if n++; n == len(tc.seq) {
				cancel()
			}
			return nil
		})
		if d := src.Stats().Dropped; d != tc.want {
			t.Errorf("sequence %v: %d dropped, want %d", tc.seq, d, tc.want)
		}
	}
}

func TestCaptureClock(t *testing.T) {
	var c captureClock
	ms := time.Millisecond
	got := []time.Duration{
		c.at(buffer{time: 10 * time.Second, monotonic: true}),
		c.at(buffer{time: 10*time.Second + 40*ms, monotonic: true}),
		c.at(buffer{time: 10*time.Second + 40*ms, monotonic: true}), // same stamp twice
		c.at(buffer{time: 10*time.Second + 120*ms, monotonic: true}),
		c.at(buffer{time: 10*time.Second + 120*ms + ms/2, monotonic: true}), // within a millisecond
	}
	want := []time.Duration{0, 40 * ms, 41 * ms, 120 * ms, 121 * ms}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("times %v, want %v", got, want)
	}
	// A driver without monotonic stamps: arrival time on CLOCK_MONOTONIC.
	var a captureClock
	a.at(buffer{time: 3 * time.Second})
	time.Sleep(20 * time.Millisecond)
	if d := a.at(buffer{time: 3 * time.Second}); d < 15*ms || d > time.Second {
		t.Errorf("arrival-time clock says %v after a 20 ms sleep", d)
	}
}

func TestOpenRawOnlyCamera(t *testing.T) {
	cam := newFake("YUYV", "MJPG", "RGB3")
	cam.install(t)
	src, err := Open("/dev/video0", Options{})
	if src != nil {
		t.Errorf("Open returned a source %v for a camera without H.264", src)
	}
	const want = "camera /dev/video0 offers only raw formats (YUYV, MJPG); camnode needs an H.264 encoder for it"
	if err == nil || err.Error() != want {
		t.Fatalf("Open error %q, want %q", err, want)
	}
	if !errors.Is(err, ErrNeedsEncoder) {
		t.Error("the error does not match ErrNeedsEncoder")
	}
	var raw *RawOnlyError
	if !errors.As(err, &raw) || raw.Frames == nil || raw.Frames.Device() != "/dev/video0" {
		t.Fatalf("error %#v carries no raw source for the device", err)
	}
	if err := NeedsEncoderError(raw.Frames); err.Error() != want || !errors.Is(err, ErrNeedsEncoder) {
		t.Errorf("NeedsEncoderError = %q", err)
	}
	if err := NeedsEncoderError(nil); !errors.Is(err, ErrNeedsEncoder) {
		t.Errorf("NeedsEncoderError(nil) = %v", err)
	}
}

func TestOpenRefusesWhatIsNotACamera(t *testing.T) {
	for _, tc := range []struct {
		caps    uint32
		formats []string
		want    string
	}{
		{capVideoM2M | capStreaming, nil, "is a memory-to-memory codec, not a camera"},
		{capVideoCaptureMPlan | capStreaming, nil, "offers only the multi-planar capture API"},
		{capMetaCapture | capStreaming, nil, "is a metadata node"},
		{capVideoOutput | capStreaming, nil, "v4l2loopback"},
		{capVideoCapture, []string{"H264"}, "has no streaming I/O"},
		{capVideoCapture | capStreaming, []string{"RGB3", "BA81"}, "offers no format camnode can use (RGB3, BA81; camnode takes H264, NV12"},
		{capVideoCapture | capStreaming, nil, "lists no capture formats"},
	} {
		cam := newFake(tc.formats...)
		cam.caps.caps = tc.caps
		cam.install(t)
		if _, err := Open("/dev/video0", Options{}); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/dev/video0") {
			t.Errorf("caps %#x formats %v: Open error %v, want it to name the device and say %q", tc.caps, tc.formats, err, tc.want)
		}
	}
	if _, err := Open("/dev/video7", Options{}); err == nil || !strings.Contains(err.Error(), "/dev/video7") {
		t.Errorf("Open of a missing device: %v", err)
	}
}

// webcam is a UVC webcam as many are: YUYV at full rate only at small sizes, MJPEG at
// full rate everywhere.
func webcam() *fakeCamera {
	c := newFake("YUYV", "MJPG")
	sizes := []FrameSize{{Width: 640, Height: 480}, {Width: 1280, Height: 720}, {Width: 1920, Height: 1080}}
	c.sizes[fccYUYV], c.sizes[fccMJPEG] = sizes, sizes
	c.rates["YUYV 640x480"] = []float64{30, 15}
	c.rates["YUYV 1280x720"] = []float64{10, 5}
	c.rates["YUYV 1920x1080"] = []float64{5}
	c.rates["MJPG 640x480"] = []float64{30}
	c.rates["MJPG 1280x720"] = []float64{30}
	c.rates["MJPG 1920x1080"] = []float64{30}
	return c
}

func TestChooseRaw(t *testing.T) {
	cam := webcam()
	for _, tc := range []struct {
		o    Options
		want string
		w, h int
	}{
		{Options{Width: 1280, Height: 720, FPS: 30}, "MJPG", 1280, 720}, // YUYV only does 10 fps there
		{Options{Width: 1280, Height: 720, FPS: 10}, "YUYV", 1280, 720}, // cheaper to convert
		{Options{Width: 640, Height: 480, FPS: 30}, "YUYV", 640, 480},
		{Options{Width: 800, Height: 600, FPS: 30}, "MJPG", 1280, 720}, // the smallest size that covers 800x600
		{Options{Width: 4000, Height: 3000, FPS: 5}, "YUYV", 1920, 1080},
		{Options{Width: 640, Height: 480, FPS: 30, Format: "MJPG"}, "MJPG", 640, 480},
		{Options{}, "YUYV", 0, 0}, // nothing asked: the driver's size
	} {
		code, w, h, err := chooseRaw(cam, cam.fmts, tc.o)
		if err != nil || fourccString(code) != tc.want || w != tc.w || h != tc.h {
			t.Errorf("%+v: chose %s %dx%d (%v), want %s %dx%d", tc.o, fourccString(code), w, h, err, tc.want, tc.w, tc.h)
		}
	}
}

func TestFrameSourceConvertsAndCounts(t *testing.T) {
	cam := webcam()
	// 4x2 YUYV: Y0 Cb Y1 Cr per pixel pair, rows of 8 bytes.
	good := []byte{10, 100, 20, 200, 30, 110, 40, 210, 50, 102, 60, 202, 70, 112, 80, 212}
	cam.grant = func(fourcc uint32, w, h int) Format {
		return Format{FourCC: fourccString(fourcc), Width: 4, Height: 2, BytesPerLine: 8, SizeImage: 16}
	}
	cam.rate = 15
	cam.script = frames(3, 2*time.Second, 66*time.Millisecond, good, good[:9], good)
	cam.install(t)
	src, err := OpenFrames("/dev/video0", Options{Width: 640, Height: 480, FPS: 30, Format: "yuyv"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []media.Frame
	err = src.RunFrames(ctx, func(f *media.Frame) error {
		c := *f
		for i := range c.Planes {
			c.Planes[i] = append([]byte(nil), c.Planes[i]...)
		}
		got = append(got, c)
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := media.Frame{Format: media.PixelI420, Width: 4, Height: 2,
		Planes:  [3][]byte{{10, 20, 30, 40, 50, 60, 70, 80}, {101, 111}, {201, 211}},
		Strides: [3]int{4, 2, 2}}
	if len(got) != 2 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("frames %+v, want first %+v", got, want)
	}
	if got[1].Time != 132*time.Millisecond {
		t.Errorf("second frame at %v, want 132 ms (the short buffer between was dropped)", got[1].Time)
	}
	if st := src.Stats(); st != (Stats{Captured: 3, Delivered: 2, Dropped: 1}) {
		t.Errorf("Stats = %+v, want the short buffer counted as dropped", st)
	}
	if f := src.Format(); f != (Format{FourCC: "YUYV", Width: 4, Height: 2, FPS: 15, BytesPerLine: 8, SizeImage: 16}) {
		t.Errorf("Format = %+v, want what the driver granted, not what was asked", f)
	}
	if _, err := OpenFrames("/dev/video0", Options{Format: "NV12"}); err == nil || !strings.Contains(err.Error(), "does not offer raw format NV12 (it offers YUYV, MJPG") {
		t.Errorf("OpenFrames NV12 on a YUYV/MJPG camera: %v", err)
	}
}

func TestPickSize(t *testing.T) {
	discrete := []FrameSize{{Width: 320, Height: 240}, {Width: 1280, Height: 720}, {Width: 640, Height: 480}}
	ranged := []FrameSize{{Width: 32, Height: 32, MaxWidth: 2592, MaxHeight: 1944, StepWidth: 16, StepHeight: 16}}
	for _, tc := range []struct {
		sizes      []FrameSize
		w, h       int
		wantW, wan int
	}{
		{discrete, 640, 480, 640, 480},
		{discrete, 800, 600, 1280, 720},
		{discrete, 1920, 1080, 1280, 720},
		{discrete, 0, 0, 0, 0},
		{nil, 1280, 720, 1280, 720},
		{ranged, 1280, 720, 1280, 720},
		{ranged, 1366, 768, 1360, 768},
		{ranged, 4000, 4000, 2592, 1936},
	} {
		if w, h := pickSize(tc.sizes, tc.w, tc.h); w != tc.wantW || h != tc.wan {
			t.Errorf("pickSize(%v, %dx%d) = %dx%d, want %dx%d", tc.sizes, tc.w, tc.h, w, h, tc.wantW, tc.wan)
		}
	}
}

func TestPickLevel(t *testing.T) {
	all := Control{}
	for i := range h264Levels {
		all.Menu = append(all.Menu, MenuItem{Value: int64(i), Name: h264Levels[i].name})
	}
	upTo4 := Control{Menu: all.Menu[:12]}
	for _, tc := range []struct {
		c       Control
		f       Format
		bitrate int64
		want    string
	}{
		{all, Format{Width: 1280, Height: 720, FPS: 30}, 2_500_000, "3.1"},
		{all, Format{Width: 1920, Height: 1080, FPS: 30}, 4_000_000, "4"},
		{all, Format{Width: 1920, Height: 1080, FPS: 30}, 25_000_000, "4.1"},
		{all, Format{Width: 640, Height: 480, FPS: 30}, 1_000_000, "3"},
		{all, Format{Width: 1920, Height: 1080, FPS: 60}, 8_000_000, "4.2"},
		{upTo4, Format{Width: 1920, Height: 1080, FPS: 60}, 8_000_000, "4"}, // the most the camera offers
	} {
		v, ok := pickLevel(tc.c, tc.f, tc.bitrate)
		if !ok || h264Levels[v].name != tc.want {
			t.Errorf("%v at %d b/s: level %v (%v), want %s", tc.f, tc.bitrate, v, ok, tc.want)
		}
	}
	if _, ok := pickLevel(Control{}, Format{Width: 640, Height: 480}, 0); ok {
		t.Error("pickLevel chose a level from an empty menu")
	}
}

func TestFourCC(t *testing.T) {
	for _, s := range []string{"YUYV", "H264", "MJPG", "Y16", "NV12"} {
		c, ok := fourccCode(s)
		if !ok || fourccString(c) != s {
			t.Errorf("%q -> %#x -> %q", s, c, fourccString(c))
		}
	}
	if c, _ := fourccCode("YUYV"); c != 0x56595559 {
		t.Errorf("YUYV = %#x, want V4L2_PIX_FMT_YUYV 0x56595559", c)
	}
	if s := fourccString(0x56595559 | 1<<31); s != "YUY?" {
		t.Errorf("big-endian flagged code prints %q", s)
	}
	if _, ok := fourccCode("H2645"); ok {
		t.Error("five letters accepted")
	}
}

func TestDevicePath(t *testing.T) {
	for uri, want := range map[string]string{
		"v4l2:///dev/video0": "/dev/video0",
		" v4l2:/dev/video2 ": "/dev/video2",
		"v4l2:///dev/v4l/by-id/usb-Logitech_C920-video-index0": "/dev/v4l/by-id/usb-Logitech_C920-video-index0",
		"v4l2://dev/video0":    `names host "dev"`,
		"v4l2:video0":          "names no device",
		"v4l2://":              "names no device",
		"v4l2:///dev/video0?x": `unknown parameter "x"`,
		"file:///dev/video0":   "is not v4l2",
	} {
		got, err := DevicePath(uri)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("DevicePath(%q) = %q, want %q", uri, got, want)
		}
	}
}

func TestInterval(t *testing.T) {
	for fps, want := range map[float64][2]uint32{30: {1, 30}, 25: {1, 25}, 29.97: {1001, 30000}, 59.94: {1001, 60000}, 12.5: {1000, 12500}} {
		if n, d := interval(fps); n != want[0] || d != want[1] {
			t.Errorf("interval(%v) = %d/%d, want %d/%d", fps, n, d, want[0], want[1])
		}
		if r := rate(interval(fps)); math.Abs(r-fps) > 1e-3 {
			t.Errorf("rate(interval(%v)) = %v", fps, r)
		}
	}
}

// v4l2loopback hands a new reader a stale buffer first: sequence 0, filled to its last
// byte with the slot's old contents. It is skipped, and the jump to the writer's count
// after it is no loss.
func TestH264SourceSkipsStaleBuffer(t *testing.T) {
	cam := newFake("H264")
	stale := append(annexB(nalIDR), make([]byte, 64)...)
	cam.script = append([]step{{b: buffer{index: 3, sequence: 0, data: stale, full: true}}},
		frames(98, time.Second, 33*time.Millisecond, annexB(nalSPS, nalPPS, nalIDR), annexB(nalP))...)
	cam.install(t)
	src, err := Open("/dev/video0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got [][]byte
	src.Run(ctx, func(au *media.AccessUnit) error {
		if got = append(got, types(au.NALUs)); len(got) == 2 {
			cancel()
		}
		return nil
	})
	if !reflect.DeepEqual(got, [][]byte{{7, 8, 5}, {1}}) {
		t.Errorf("units %v, want the stale buffer skipped", got)
	}
	if st := src.Stats(); st != (Stats{Captured: 2, Delivered: 2}) {
		t.Errorf("Stats = %+v, want no loss counted", st)
	}
}
