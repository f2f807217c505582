package testsrc

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
)

func TestClipIs720p30(t *testing.T) {
	errEnough := errors.New("enough")
	var spsSeen int
	var keys []int
	n := 0
	err := New(Options{Unpaced: true}).Run(context.Background(), func(au *media.AccessUnit) error {
		if want := time.Duration(n) * time.Second / FPS; au.Time != want {
			t.Errorf("frame %d at %v, want %v", n, au.Time, want)
		}
		if au.Keyframe {
			keys = append(keys, n)
		}
		for _, nalu := range au.NALUs {
			if h264.NALType(nalu) != h264.TypeSPS {
				continue
			}
			spsSeen++
			sps, err := h264.ParseSPS(nalu)
			if err != nil {
				t.Fatal(err)
			}
			if sps.Width != Width || sps.Height != Height || sps.FrameRate() != FPS || sps.ProfileIDC != 66 {
				t.Errorf("SPS: %dx%d %v fps profile %d, want %dx%d %d fps baseline",
					sps.Width, sps.Height, sps.FrameRate(), sps.ProfileIDC, Width, Height, FPS)
			}
		}
		if n++; n == 2*Frames {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	if want := []int{0, 30, 60, 90}; !slices.Equal(keys, want) {
		t.Errorf("keyframes at %v, want %v", keys, want)
	}
	if spsSeen != len(keys) {
		t.Errorf("SPS seen %d times, want one per keyframe (%d)", spsSeen, len(keys))
	}
	if l := len(Clip()); l < 50_000 || l > 150_000 {
		t.Errorf("embedded clip is %d bytes", l)
	}
}
