package source_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
	. "github.com/camnode/camnode/media/source"
	"github.com/camnode/camnode/media/source/testsrc"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.h264")
	if err := os.WriteFile(clip, testsrc.Clip(), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, clip)

	// Sources that end by themselves: how many frames until the end, and how it ends.
	for _, tc := range []struct {
		uri    string
		frames int
	}{
		{"file://" + clip + "?pace=0&loop=0", testsrc.Frames},
		{"FILE://localhost" + clip + "?loop=false&pace=false", testsrc.Frames},
		{"file:" + rel + "?pace=0&loop=0", testsrc.Frames},
		{"exec:cat " + clip, testsrc.Frames},
	} {
		src, err := Open(tc.uri, Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", tc.uri, err)
			continue
		}
		n := 0
		err = src.Run(context.Background(), func(au *media.AccessUnit) error { n++; return nil })
		if !errors.Is(err, io.EOF) || n != tc.frames {
			t.Errorf("%s: %d frames then %v, want %d frames then io.EOF", tc.uri, n, err, tc.frames)
		}
	}

	// testsrc and a looping file run until the context ends.
	for _, uri := range []string{"testsrc", "file://" + clip} {
		src, err := Open(uri, Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var sps h264.SPS
		err = src.Run(ctx, func(au *media.AccessUnit) error {
			sps, err = h264.ParseSPS(au.NALUs[0])
			cancel()
			return err
		})
		if err != nil || sps.Width != 1280 || sps.Height != 720 {
			t.Errorf("%s: first access unit SPS %dx%d, Run %v", uri, sps.Width, sps.Height, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ uri, want string }{
		{"v4l2:///dev/video99", "/dev/video99"},
		{"v4l2:///dev/null", "/dev/null"},
		{"v4l2://camera/video0", `names host "camera"`},
		{"v4l2:///dev/video0?size=1280x720", `unknown parameter "size"`},
		{"rtsp://user:secret@cam/stream", `unknown source "rtsp:"`},
		{"/dev/video0", "no scheme"},
		{"file:///no/such/clip.h264", "/no/such/clip.h264"},
		{"file://clip.h264", `names host "clip.h264"`},
		{"file:///x.h264?pace=maybe", `pace="maybe"`},
		{"file:///x.h264?speed=2", `unknown parameter "speed"`},
		{"exec:ffmpeg -i 'rtsp://user:secret@cam", "unclosed '"},
		{"exec:", "needs a command"}, {"exec:   ", "needs a command"}, {"rpicam:x", "rpicam:x: want rpicam or rpicam:N"}, {"rpicam?codec=mjpeg", "want h264 or yuv420"}, {"auto:1", "auto takes no parameters"},
		{"testsrc:pattern=bars", "testsrc takes no parameters"},
	} {
		src, err := Open(tc.uri, Options{})
		if err == nil {
			t.Errorf("Open(%q) = %v, want an error", tc.uri, src)
			continue
		}
		if src != nil {
			t.Errorf("Open(%q) returned a non-nil source with its error", tc.uri)
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error %q, want it to contain %q and no secret", tc.uri, err, tc.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for uri, want := range map[string]string{
		"testsrc":                       "testsrc",
		"file:///data/clip.h264?pace=0": "file:/data/clip.h264",
		"file:clip.h264":                "file:clip.h264",
		`exec:/usr/bin/ffmpeg -i "rtsp://u:secret@cam/1" -f h264 -`: "exec:ffmpeg",
		`exec:sh -c "curl -H 'Authorization: secret' x"`:            "exec:sh",
		"exec:'unclosed secret":                                     "exec:",
		"v4l2:///dev/video2?size=1280x720":                          "v4l2:",
		"v4l2:///dev/video2":                                        "v4l2:/dev/video2",
		"rtsp://u:secret@cam":                                       "rtsp:",
		"":                                                          "unknown",
		"rpicam":                                                    "rpicam",
		"rpicam:1?codec=yuv420":                                     "rpicam:1",
		"auto":                                                      "auto",
	} {
		if got := Describe(uri); got != want {
			t.Errorf("Describe(%q) = %q, want %q", uri, got, want)
		}
	}
}
