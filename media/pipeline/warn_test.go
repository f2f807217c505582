package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
)

// Keyframes further apart than 4 s and a frame rate that jumps about are each said once;
// the clip's own 1 s GOP at a steady 30 fps says nothing.
func TestPassthroughWarnings(t *testing.T) {
	units := clipUnits(t)
	c := newPassthroughCheck()
	for i := range units {
		if w := c.check(&units[i]); w != nil {
			t.Fatalf("the clip: %q", w)
		}
	}
	c = newPassthroughCheck()
	var got []string
	at := time.Duration(0)
	for i := 0; i < 400; i++ {
		au := units[1] // no keyframe
		if i == 0 {
			au = units[0]
		}
		au.Time = at
		got = append(got, c.check(&au)...)
		if i%2 == 0 {
			at += 5 * time.Millisecond
		} else {
			at += 60 * time.Millisecond
		}
	}
	if len(got) != 2 || !strings.Contains(got[0]+got[1], "no keyframe for more than 4s") || !strings.Contains(got[0]+got[1], "frame rate varies wildly") {
		t.Fatalf("warnings %q", got)
	}
}

func TestProfileWarning(t *testing.T) {
	// SPS of a High 4:4:4 Predictive stream (profile_idc 244), 64x64, made by ffmpeg -c:v libx264 -pix_fmt yuv444p -profile:v high444.
	au := &media.AccessUnit{Keyframe: true, NALUs: [][]byte{{0x67, 0xf4, 0x00, 0x0a, 0x91, 0x9b, 0x28, 0x84, 0xd8, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x03, 0x01, 0x07, 0x89, 0x12, 0xcb}}}
	if w := profileWarning(au); !strings.Contains(w, "4:4:4") {
		t.Fatalf("high 4:4:4: %q", w)
	}
	if w := profileWarning(&clipUnits(t)[0]); w != "" {
		t.Fatalf("baseline clip: %q", w)
	}
}

// A passthrough stream far above CAMNODE_BITRATE is said once; one within it is not. The
// clip runs at about 470 kbit/s.
func TestPassthroughBitrateWarning(t *testing.T) {
	units := clipUnits(t)
	for _, tc := range []struct {
		bitrate int
		warns   int
	}{{2_500_000, 0}, {100_000, 1}} {
		c := newPassthroughCheckAt(tc.bitrate)
		var got []string
		for pass := range 4 { // 8 s of the 2 s clip
			for i := range units {
				au := units[i]
				au.Time += time.Duration(pass) * 2 * time.Second
				got = append(got, c.check(&au)...)
			}
		}
		if len(got) != tc.warns || tc.warns == 1 && !strings.Contains(got[0], "far above CAMNODE_BITRATE=100k") {
			t.Errorf("CAMNODE_BITRATE=%d: warnings %q", tc.bitrate, got)
		}
	}
}
