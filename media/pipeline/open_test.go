package pipeline

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/source"
)

// A raw exec: source goes through the overlay and x264 with the settings' profile, turned
// by the orientation: 64x48 pictures rotated by 90 come out as a 48x64 baseline stream.
func TestRawExecSourceIsTurnedDrawnAndEncoded(t *testing.T) {
	if err := x264.Available(); err != nil {
		t.Skip(err)
	}
	const w, h, n = 64, 48, 10
	ov := &marker{}
	p := New(Options{
		// head writes n pictures of zeros, then ends: the source then fails and is reopened.
		Source: "exec:head -c " + itoa(w*h*3/2*n) + " /dev/zero",
		Capture: source.Options{Width: w, Height: h, FPS: 15, Bitrate: 200_000, GOP: 15, Format: "yuv420",
			Orientation: picture.Orientation{Rotate: 90}},
		Encoder:  "auto",
		Encoding: encoder.Options{Preset: "ultrafast", Profile: "baseline"},
		Overlay:  ov,
	})
	o, err := p.openSource()
	if err != nil {
		t.Fatal(err)
	}
	if !o.raw || !ov.drawing.Load() {
		t.Fatalf("raw %v, drawing %v: want both", o.raw, ov.drawing.Load())
	}
	var sps []h264.SPS
	units := 0
	err = o.src.Run(context.Background(), func(au *media.AccessUnit) error {
		units++
		for _, nalu := range au.NALUs {
			if h264.NALType(nalu) == h264.TypeSPS {
				s, err := h264.ParseSPS(nalu)
				if err != nil {
					return err
				}
				sps = append(sps, s)
			}
		}
		return nil
	})
	t.Logf("the source ended: %v", err)
	if units != n {
		t.Errorf("%d access units from %d pictures", units, n)
	}
	if len(sps) == 0 {
		t.Fatal("no SPS")
	}
	if s := sps[0]; s.Width != h || s.Height != w || s.ProfileIDC != 66 {
		t.Errorf("SPS %dx%d profile %d, want %dx%d profile 66 (baseline)", s.Width, s.Height, s.ProfileIDC, h, w)
	}
}

// Without an encoder the pipeline can use, a raw exec: source does not open, and the
// overlay is told why.
func TestRawExecSourceWithoutEncoder(t *testing.T) {
	ov := &why{}
	p := New(Options{
		Source:  "exec:head -c 4608 /dev/zero",
		Capture: source.Options{Width: 64, Height: 48, FPS: 15, Format: "yuv420"},
		Encoder: "v4l2m2m:/dev/null",
		Overlay: ov,
	})
	_, err := p.openSource()
	if err == nil || !strings.Contains(err.Error(), "yuv420 pictures (CAMNODE_SOURCE_FORMAT), which need an encoder: H.264 encoder /dev/null:") {
		t.Fatalf("error %v", err)
	}
	if got := ov.get(); !strings.Contains(got, "/dev/null") {
		t.Fatalf("overlay told %q", got)
	}
}

// An H.264 camera that cannot turn its picture as asked: one stream_warning per start,
// however often the source reopens.
func TestUnappliedOrientationWarnsOnce(t *testing.T) {
	units := clipUnits(t)[:3]
	var st statuses
	p := New(Options{
		Capture:  sourceFPS(30),
		OnStatus: st.add,
		OpenSource: func() (media.Source, error) {
			return &unturned{scripted{units: units, end: errors.New("unplugged")}}, nil
		},
	})
	p.Start(context.Background())
	waitFor(t, "two runs of the source", func() bool { return len(st.of(SourceFailed)) >= 2 })
	p.Stop()
	var turn []string
	for _, s := range st.of(StreamWarning) {
		if strings.Contains(s.Err.Error(), "CAMNODE_ROTATE") {
			turn = append(turn, s.Err.Error())
		}
	}
	if len(turn) != 1 || !strings.Contains(turn[0], `"rotate 90"`) {
		t.Fatalf("orientation warnings %q, want one naming rotate 90", turn)
	}
}

type unturned struct{ scripted }

func (*unturned) Unapplied() picture.Orientation { return picture.Orientation{Rotate: 90} }

// why is an overlay that records why it cannot draw.
type why struct {
	mu  sync.Mutex
	msg string
}

func (o *why) Enabled() (bool, bool)     { return true, true }
func (o *why) Drawing()                  {}
func (o *why) Unavailable(msg string)    { o.mu.Lock(); o.msg = msg; o.mu.Unlock() }
func (o *why) Draw(f *media.Frame) error { return nil }
func (o *why) get() string               { o.mu.Lock(); defer o.mu.Unlock(); return o.msg }

func itoa(n int) string { return strconv.Itoa(n) }

// fakeEncoder counts what it coded; fail makes every Encode fail.
type fakeEncoder struct {
	fail  error
	coded *int
}

func (e fakeEncoder) Encode(f *media.Frame, key bool, emit func(*media.AccessUnit) error) error {
	if e.fail != nil {
		return e.fail
	}
	*e.coded++
	return emit(&media.AccessUnit{Keyframe: key})
}
func (fakeEncoder) Close() error { return nil }

// CAMNODE_ENCODER=auto: a hardware encoder that fails to open, or to code its first
// pictures, gives way to x264 with one warning; one that worked a while does not.
func TestHardwareEncoderFallsBack(t *testing.T) {
	frame := &media.Frame{Format: media.PixelI420, Width: 64, Height: 48}
	for _, tc := range []struct {
		name      string
		openErr   error
		codeErr   error
		wantSoft  int
		wantWarns int
	}{
		{"does not open", errors.New("VIDIOC_S_FMT: invalid argument"), nil, 1, 1},
		{"fails its first picture", nil, errors.New("VIDIOC_QBUF: no buffer"), 1, 1},
	} {
		soft := 0
		var warns []string
		e := &fittedEncoder{
			open: func(encoder.Options, media.PixelFormat) (encoder.Encoder, error) {
				if tc.openErr != nil {
					return nil, tc.openErr
				}
				return fakeEncoder{fail: tc.codeErr}, nil
			},
			fallback: &rawEncoder{name: "x264", open: func(encoder.Options, media.PixelFormat) (encoder.Encoder, error) {
				return fakeEncoder{coded: &soft}, nil
			}},
			failedName: "v4l2m2m:/dev/video11",
			warn:       func(s string) { warns = append(warns, s) },
		}
		if err := e.Encode(frame, false, func(*media.AccessUnit) error { return nil }); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if soft != tc.wantSoft || len(warns) != tc.wantWarns || !strings.Contains(warns[0], "v4l2m2m:/dev/video11 failed") || !strings.Contains(warns[0], "x264") {
			t.Fatalf("%s: %d pictures by x264, warnings %q", tc.name, soft, warns)
		}
	}
	// A hardware encoder that coded its first pictures and fails later is an error, not a switch.
	hw := 0
	fail := false
	e := &fittedEncoder{
		open: func(encoder.Options, media.PixelFormat) (encoder.Encoder, error) {
			if fail {
				return fakeEncoder{fail: errors.New("gone")}, nil
			}
			return fakeEncoder{coded: &hw}, nil
		},
		fallback: &rawEncoder{name: "x264", open: func(encoder.Options, media.PixelFormat) (encoder.Encoder, error) {
			t.Fatal("fell back after the hardware encoder worked")
			return nil, nil
		}},
	}
	for range fallbackFrames {
		if err := e.Encode(frame, false, func(*media.AccessUnit) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	e.enc, fail = nil, true
	if err := e.Encode(frame, false, func(*media.AccessUnit) error { return nil }); err == nil {
		t.Fatal("no error from a failing encoder")
	}
}

func TestCheckEncoder(t *testing.T) {
	if _, err := CheckEncoder("v4l2m2m:/dev/null", encoder.Options{Width: 64, Height: 48}); err == nil {
		t.Error("/dev/null taken as an encoder")
	}
	if x264.Available() != nil {
		return
	}
	name, err := CheckEncoder("x264", encoder.Options{Width: 64, Height: 48, FPS: 30, Preset: "ultrafast"})
	if err != nil || !strings.HasPrefix(name, "x264") {
		t.Fatalf("CheckEncoder(x264) = %q, %v", name, err)
	}
}
