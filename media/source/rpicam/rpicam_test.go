package rpicam

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/source/kind"
)

var (
	standInOnce sync.Once
	standInDir  string
	standInErr  error
)

// standIn builds internal/tools/rpicamvid as rpicam-vid into a directory put first on
// PATH, and returns the file it appends the arguments of each run to.
func standIn(t *testing.T) string {
	t.Helper()
	standInOnce.Do(func() {
		standInDir, standInErr = os.MkdirTemp("", "rpicam-standin")
		if standInErr == nil {
			peers.BuildTool(t, "../../../internal/tools/rpicamvid", filepath.Join(standInDir, "rpicam-vid"))
		}
	})
	if standInErr != nil {
		t.Fatalf("the rpicam-vid stand-in: %v", standInErr)
	}
	t.Setenv("PATH", standInDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	args := filepath.Join(t.TempDir(), "args")
	t.Setenv("RPICAM_STANDIN_ARGS", args)
	return args
}

func TestMain(m *testing.M) {
	code := m.Run()
	if standInDir != "" {
		os.RemoveAll(standInDir)
	}
	os.Exit(code)
}

// specOf parses an rpicam URI as package source does: what follows the scheme's colon,
// or the query of the bare word.
func specOf(uri string) (kind.Spec, error) {
	rest := strings.TrimPrefix(uri, "rpicam")
	return parse(uri, strings.TrimPrefix(rest, ":"))
}

func runArgs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// The arguments follow the node's settings, and the stand-in, which refuses every option
// the real rpicam-vid lacks, takes them.
func TestArgs(t *testing.T) {
	o := kind.Options{Width: 1280, Height: 720, FPS: 30, Bitrate: 2_500_000, GOP: 60, Profile: "high",
		Orientation: picture.Orientation{Rotate: 180, FlipH: true}}
	got := strings.Join(Args(1, H264, o), " ")
	want := "-n -t 0 -o - --camera 1 --width 1280 --height 720 --framerate 30 --codec h264 --inline --flush --intra 60 --bitrate 2500000 --profile high --level 4.1 --rotation 180 --hflip"
	if got != want {
		t.Errorf("h264 args\n got %s\nwant %s", got, want)
	}
	o.Orientation = picture.Orientation{FlipV: true}
	got = strings.Join(Args(0, YUV420, o), " ")
	want = "-n -t 0 -o - --camera 0 --width 1280 --height 720 --framerate 30 --codec yuv420 --vflip"
	if got != want {
		t.Errorf("yuv420 args\n got %s\nwant %s", got, want)
	}
	if l := level(1920, 1080, 60); l != "4.2" {
		t.Errorf("level of 1080p60 %s, want 4.2", l)
	}
}

func TestCodec(t *testing.T) {
	defer func(f func() bool) { HardwareH264 = f }(HardwareH264)
	for _, tc := range []struct {
		name                   string
		hw, canEncode, wantRaw bool
		rotate                 int
		uri                    string
		want                   Codec
	}{
		{"Pi 4, H.264 through", true, true, false, 0, "rpicam", H264},
		{"Pi 4, burn-in", true, true, true, 0, "rpicam", YUV420},
		{"Pi 4, burn-in without an encoder here", true, false, true, 0, "rpicam", H264},
		{"Pi 4, a quarter turn", true, true, false, 90, "rpicam", YUV420},
		{"Pi 4, upside down", true, true, false, 180, "rpicam", H264},
		{"Pi 5: no hardware encoder", false, true, false, 0, "rpicam", YUV420},
		{"Pi 5 without an encoder here", false, false, false, 0, "rpicam", H264},
		{"asked for", true, true, true, 0, "rpicam?codec=h264", H264},
	} {
		HardwareH264 = func() bool { return tc.hw }
		sp, err := specOf(tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		got := sp.(spec).Codec(kind.Options{CanEncode: tc.canEncode, WantRaw: tc.wantRaw, Orientation: picture.Orientation{Rotate: tc.rotate}})
		if got != tc.want {
			t.Errorf("%s: codec %s, want %s", tc.name, got, tc.want)
		}
	}
}

// YUV420 from the camera app: rows padded to 64 bytes come out as pictures of the size
// asked for, in the camera's rate.
func TestYUV420(t *testing.T) {
	args := standIn(t)
	sp, err := specOf("rpicam?codec=yuv420")
	if err != nil {
		t.Fatal(err)
	}
	o, err := sp.Open(kind.Options{Width: 100, Height: 60, FPS: 30, CanEncode: true})
	if err != nil {
		t.Fatal(err)
	}
	if o.Frames == nil {
		t.Fatal("no raw frames")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	err = o.Frames.RunFrames(ctx, func(f *media.Frame) error {
		if f.Width != 100 || f.Height != 60 || f.Format != media.PixelI420 {
			t.Errorf("frame %dx%d %v, want 100x60 I420", f.Width, f.Height, f.Format)
		}
		// The stand-in writes 0 into the padding (columns 100 to 127) and 16 or more
		// into the picture: no padding shows.
		for y := range f.Height {
			if slices.Contains(f.Planes[0][y*f.Strides[0]:y*f.Strides[0]+f.Width], 0) {
				t.Fatalf("frame %d row %d shows padding", n, y)
			}
		}
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("%d frames, then %v", n, err)
	}
	if got := runArgs(t, args); len(got) != 1 || !strings.Contains(got[0], "--codec yuv420") {
		t.Fatalf("runs %q", got)
	}
}

var errEnough = errors.New("enough")

// H.264 from the camera app: inline SPS and PPS before every IDR, the GOP asked for.
func TestH264(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PEERS_REQUIRED") == "1" {
			t.Fatal("ffmpeg not installed (scripts/deps.sh all)")
		}
		t.Skip("ffmpeg not installed")
	}
	standIn(t)
	sp, _ := specOf("rpicam?codec=h264")
	o, err := sp.Open(kind.Options{Width: 320, Height: 240, FPS: 30, GOP: 10, Bitrate: 500_000, Profile: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if o.H264 == nil {
		t.Fatal("no H.264 source")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, keys := 0, 0
	err = o.H264.Run(ctx, func(au *media.AccessUnit) error {
		if au.Keyframe {
			keys++
			var sps, pps bool
			for _, nalu := range au.NALUs {
				sps = sps || h264.NALType(nalu) == h264.TypeSPS
				pps = pps || h264.NALType(nalu) == h264.TypePPS
			}
			if !sps || !pps {
				t.Errorf("keyframe %d without inline SPS and PPS", keys)
			}
			if n%10 != 0 {
				t.Errorf("keyframe at unit %d, want every 10th", n)
			}
		}
		if n++; n == 30 {
			return errEnough
		}
		return nil
	})
	if err != errEnough || n != 30 || keys != 3 {
		t.Fatalf("%d units, %d keyframes, then %v", n, keys, err)
	}
}

// Without a camera the source fails with the camera app's own words and what to do.
func TestNoCamera(t *testing.T) {
	standIn(t)
	t.Setenv("RPICAM_STANDIN_NO_CAMERA", "1")
	sp, _ := specOf("rpicam")
	o, err := sp.Open(kind.Options{Width: 64, Height: 48, FPS: 30, CanEncode: true, WantRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	err = o.Frames.RunFrames(context.Background(), func(*media.Frame) error { return nil })
	for _, want := range []string{"rpicam-vid ended: exit status 255", "ERROR: *** no cameras available ***", "ribbon cable"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q in it", err, want)
		}
	}
	cams, err := ListCameras(context.Background())
	if err != nil || len(cams) != 0 {
		t.Fatalf("ListCameras: %v, %v; want none", cams, err)
	}
}

func TestListCameras(t *testing.T) {
	standIn(t)
	cams, err := ListCameras(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cams) != 1 || cams[0].Model != "imx708" || cams[0].Sensor != "4608x2592 10-bit RGGB" ||
		cams[0].ID != "/base/soc/i2c0mux/i2c@1/imx708@1a" || len(cams[0].Modes) != 3 {
		t.Fatalf("cameras %+v", cams)
	}
	if !strings.HasPrefix(cams[0].Modes[0], "'SRGGB10_CSI2P' : 1536x864") {
		t.Errorf("first mode %q", cams[0].Modes[0])
	}
}

// The stand-in refuses what the real one refuses: an unknown option, a quarter turn.
func TestStandInRefuses(t *testing.T) {
	standIn(t)
	for _, args := range [][]string{{"--foo"}, {"--rotation", "90"}, {"--width"}} {
		out, err := exec.Command("rpicam-vid", args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 255 || !strings.Contains(string(out), "ERROR: ***") {
			t.Errorf("rpicam-vid %q: %v, %s", args, err, out)
		}
	}
}
