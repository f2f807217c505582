//go:build cgo && !nox264

package x264_test

import (
	"context"
	"errors"
	"image"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/render"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/source/testsrc"
)

// decodeLuma returns the luma plane of frame n of an Annex-B stream, decoded by ffmpeg.
func decodeLuma(t *testing.T, stream []byte, n, w, h int) []byte {
	t.Helper()
	path := writeTemp(t, "burn.h264", stream)
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-vf", "select=eq(n\\,"+strconv.Itoa(n)+")",
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil || len(out) != w*h {
		t.Fatalf("ffmpeg decode frame %d: %v, %d bytes", n, err, len(out))
	}
	return out
}

// TestBurnInSurvivesEncoding draws a top comment into the pattern, encodes it, and has
// ffmpeg decode the same frame with and without the comment: the pictures differ in the
// comment's box and nowhere else beyond coding noise.
func TestBurnInSurvivesEncoding(t *testing.T) {
	peers.Require(t, "ffmpeg")
	const w, h, n = 640, 360, 20
	run := func(chat bool) ([]byte, image.Rectangle) {
		var r *render.Renderer
		if chat {
			var err error
			if r, err = render.New(render.Options{}); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.Add(render.Comment{Text: "burn-in 弹幕 test", Color: 0xffcc00, Mode: "top"})
		}
		enc, err := x264.New(encoder.Options{Width: w, Height: h, FPS: 30, Bitrate: 3_000_000, GOP: 30})
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		p, _ := testsrc.NewPattern(w, h, 30)
		f := p.NewFrame()
		var stream []byte
		var box image.Rectangle
		for i := range n + 1 {
			f.Time = time.Duration(i) * time.Second / 30
			p.Draw(f, int64(i), wall)
			if r != nil {
				if err := r.Draw(f); err != nil {
					t.Fatal(err)
				}
				if vis := r.Visible(); i == n && len(vis) == 1 {
					box = vis[0].Rect
				}
			}
			enc.Encode(f, false, func(au *media.AccessUnit) error {
				stream = h264.AppendAnnexB(stream, au.NALUs)
				return nil
			})
		}
		return decodeLuma(t, stream, n, w, h), box
	}
	plain, _ := run(false)
	burnt, box := run(true)
	if box.Empty() || box.Min.Y != 0 {
		t.Fatalf("comment box %v, want a top comment", box)
	}
	// Macroblocks touching the box may change through coding; beyond 16 px of it nothing
	// may change by more than noise.
	near := box.Inset(-16)
	var inside, outside int
	for y := range h {
		for x := range w {
			d := int(burnt[y*w+x]) - int(plain[y*w+x])
			if d < 0 {
				d = -d
			}
			switch {
			case image.Pt(x, y).In(box) && d > 40:
				inside++
			case !image.Pt(x, y).In(near) && d > 12:
				outside++
			}
		}
	}
	if inside < box.Dx()*box.Dy()/20 {
		t.Errorf("only %d pixels of the %v box changed visibly after encoding", inside, box)
	}
	if outside > 0 {
		t.Errorf("%d pixels away from the comment changed", outside)
	}
}

// TestEncoderSource: raw frames through an overlay and x264 as a media.Source, with a
// keyframe on request; errors of the overlay and of Open come back.
func TestEncoderSource(t *testing.T) {
	frames, err := testsrc.NewFrameSource(testsrc.Options{Width: 160, Height: 120, FPS: 30, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	overlaid := 0
	src := &encoder.Source{
		Frames:  frames,
		Overlay: func(f *media.Frame) error { overlaid++; return nil },
		Open: func() (encoder.Encoder, error) {
			return x264.New(encoder.Options{Width: 160, Height: 120, FPS: 30, GOP: 100})
		},
	}
	var keys []int
	n := 0
	errEnough := errors.New("enough")
	err = src.Run(context.Background(), func(au *media.AccessUnit) error {
		if au.Keyframe {
			keys = append(keys, n)
		}
		if n == 5 {
			src.RequestKeyframe()
		}
		if n++; n == 10 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) || overlaid != 10 || len(keys) != 2 || keys[0] != 0 || keys[1] != 6 {
		t.Fatalf("Run = %v, %d frames overlaid, keyframes %v: want 10 overlaid, keyframes [0 6]", err, overlaid, keys)
	}

	src.Overlay = func(*media.Frame) error { return os.ErrDeadlineExceeded }
	if err := src.Run(context.Background(), func(*media.AccessUnit) error { return nil }); !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "overlay") {
		t.Errorf("overlay error came back as %v", err)
	}
	src.Open = func() (encoder.Encoder, error) { return nil, os.ErrPermission }
	if err := src.Run(context.Background(), func(*media.AccessUnit) error { return nil }); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Open error came back as %v", err)
	}
}
