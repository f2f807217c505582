package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/source/testsrc"
)

// TestCountAnnexB: the ffmpeg side's counter finds every picture of a stream of two
// slices a picture (as x264's sliced threads write on two cores) and x264's settings.
func TestCountAnnexB(t *testing.T) {
	enc, err := x264.New(encoder.Options{Width: 320, Height: 240, FPS: 30, Preset: "veryfast"})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	p, _ := testsrc.NewPattern(320, 240, 30)
	f := p.NewFrame()
	var stream []byte
	for i := range 7 {
		p.Draw(f, int64(i), time.Unix(0, 0))
		enc.Encode(f, false, func(au *media.AccessUnit) error {
			stream = h264.AppendAnnexB(stream, au.NALUs)
			return nil
		})
	}
	pictures, size, settings := countAnnexB(bytes.NewReader(stream))
	if pictures != 7 || size != int64(len(stream)) {
		t.Errorf("counted %d pictures in %d bytes, want 7 in %d", pictures, size, len(stream))
	}
	if !strings.HasPrefix(settings, "cabac=1 ref=1") || !strings.Contains(settings, " subme=2 ") || strings.ContainsAny(settings, "\x00\x80") {
		t.Errorf("settings %q", settings)
	}
	if d := settingsDiff(settings, settings); d != "" {
		t.Errorf("a string differs from itself: %s", d)
	}
	other := strings.Replace(settings, "subme=2", "subme=7", 1) + " extra=1"
	if d := settingsDiff(settings, other); d != `subme=2 -> 7, extra=(none) -> 1` {
		t.Errorf("diff %q", d)
	}
}
