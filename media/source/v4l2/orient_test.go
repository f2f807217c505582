package v4l2

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/picture"
)

func TestApplyOrientation(t *testing.T) {
	rotate := Control{ID: cidRotate, Name: "Rotate", typ: ctrlTypeInteger, Min: 0, Max: 270, Step: 90}
	hflip := Control{ID: cidHFlip, Name: "Horizontal Flip", typ: ctrlTypeBoolean, Max: 1, Step: 1}
	vflip := Control{ID: cidVFlip, Name: "Vertical Flip", typ: ctrlTypeBoolean, Max: 1, Step: 1}
	for _, c := range []struct {
		name     string
		controls []Control
		o        picture.Orientation
		rest     picture.Orientation
		settings []string
	}{
		{"nothing asked touches nothing", []Control{rotate, hflip, vflip}, picture.Orientation{}, picture.Orientation{}, nil},
		{"rotate control", []Control{rotate, hflip, vflip}, picture.Orientation{Rotate: 90, FlipH: true}, picture.Orientation{},
			[]string{"rotate 90", "horizontal_flip 1", "vertical_flip 0"}},
		{"180 as both flips", []Control{hflip, vflip}, picture.Orientation{Rotate: 180}, picture.Orientation{},
			[]string{"horizontal_flip 1", "vertical_flip 1"}},
		{"180 and h as v", []Control{hflip, vflip}, picture.Orientation{Rotate: 180, FlipH: true}, picture.Orientation{},
			[]string{"horizontal_flip 0", "vertical_flip 1"}},
		{"only hflip: 180 left to software", []Control{hflip}, picture.Orientation{Rotate: 180, FlipV: true},
			picture.Orientation{Rotate: 180, FlipV: true}, []string{"horizontal_flip 0"}},
		{"no controls", nil, picture.Orientation{Rotate: 270, FlipV: true}, picture.Orientation{Rotate: 270, FlipV: true}, nil},
		{"quarter turn without rotate", []Control{hflip, vflip}, picture.Orientation{Rotate: 90},
			picture.Orientation{Rotate: 90}, []string{"horizontal_flip 0", "vertical_flip 0"}},
	} {
		cam := newFake("YU12")
		for _, ctl := range c.controls {
			cam.addControl(ctl, 0)
		}
		rest, settings, err := applyOrientation(cam, c.o)
		if err != nil || rest != c.rest || !slices.Equal(settings, c.settings) {
			t.Errorf("%s: rest %v, settings %q, %v; want %v, %q", c.name, rest, settings, err, c.rest, c.settings)
		}
	}
}

// TestFrameSourceTurnsInSoftware: a camera without flip or rotate controls delivers its
// raw frames turned by 180 in software.
func TestFrameSourceTurnsInSoftware(t *testing.T) {
	cam := webcam()
	// 4x2 YUYV: Y0 Cb Y1 Cr per pixel pair, rows of 8 bytes.
	good := []byte{10, 100, 20, 200, 30, 110, 40, 210, 50, 102, 60, 202, 70, 112, 80, 212}
	cam.grant = func(fourcc uint32, w, h int) Format {
		return Format{FourCC: fourccString(fourcc), Width: 4, Height: 2, BytesPerLine: 8, SizeImage: 16}
	}
	cam.script = frames(3, 2*time.Second, 66*time.Millisecond, good, good)
	cam.install(t)
	src, err := OpenFrames("/dev/video0", Options{Format: "yuyv", Orientation: picture.Orientation{Rotate: 180}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got media.Frame
	err = src.RunFrames(ctx, func(f *media.Frame) error {
		got = *f
		for i := range got.Planes {
			got.Planes[i] = slices.Clone(got.Planes[i])
		}
		cancel()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [3][]byte{{80, 70, 60, 50, 40, 30, 20, 10}, {111, 101}, {211, 201}}
	if !reflect.DeepEqual(got.Planes, want) || got.Width != 4 || got.Height != 2 {
		t.Errorf("turned frame %+v, want planes %v", got, want)
	}
}

// TestH264SourceOrientation: an H.264 camera turns its picture with its flip controls;
// one without them streams unturned and says what it left undone.
func TestH264SourceOrientation(t *testing.T) {
	for _, c := range []struct {
		flips     bool
		unapplied picture.Orientation
	}{{true, picture.Orientation{}}, {false, picture.Orientation{Rotate: 180}}} {
		cam := newFake("H264")
		if c.flips {
			cam.addControl(Control{ID: cidHFlip, Name: "Horizontal Flip", typ: ctrlTypeBoolean, Max: 1, Step: 1}, 0)
			cam.addControl(Control{ID: cidVFlip, Name: "Vertical Flip", typ: ctrlTypeBoolean, Max: 1, Step: 1}, 0)
		}
		cam.script = frames(0, time.Second, 33*time.Millisecond, annexB(nalSPS, nalPPS, nalIDR))
		cam.install(t)
		src, err := Open("/dev/video0", Options{Orientation: picture.Orientation{Rotate: 180}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := src.Run(ctx, func(*media.AccessUnit) error { cancel(); return nil }); err != nil {
			t.Fatal(err)
		}
		if got := src.Unapplied(); got != c.unapplied {
			t.Errorf("flip controls %v: Unapplied = %v, want %v", c.flips, got, c.unapplied)
		}
		wantSets := []string(nil)
		if c.flips {
			wantSets = []string{fmt.Sprintf("%#x=1", cidHFlip), fmt.Sprintf("%#x=1", cidVFlip)}
		}
		if sets := cam.setsSoFar(); !slices.Equal(sets, wantSets) {
			t.Errorf("flip controls %v: set %v, want %v", c.flips, sets, wantSets)
		}
	}
}
