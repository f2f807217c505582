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

func (o *why) Enabled() bool             { return true }
func (o *why) Drawing()                  {}
func (o *why) Unavailable(msg string)    { o.mu.Lock(); o.msg = msg; o.mu.Unlock() }
func (o *why) Draw(f *media.Frame) error { return nil }
func (o *why) get() string               { o.mu.Lock(); defer o.mu.Unlock(); return o.msg }

func itoa(n int) string { return strconv.Itoa(n) }
