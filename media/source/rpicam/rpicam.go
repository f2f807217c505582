// Package rpicam is the Raspberry Pi camera source: rpicam-vid (libcamera-vid on older
// Raspberry Pi OS) run with the node's settings, its H.264 passed through or its YUV420
// pictures encoded here.
package rpicam

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/media/encoder/v4l2m2m"
	"github.com/camnode/camnode/media/picture"
	"github.com/camnode/camnode/media/source/exec"
	"github.com/camnode/camnode/media/source/kind"
)

// Kind is this source for package source.
var Kind = kind.Kind{Scheme: "rpicam", Form: "rpicam[:N]", Parse: parse}

// Programs are the names of Raspberry Pi's camera app, newest first: Raspberry Pi OS
// bookworm calls it rpicam-vid, bullseye libcamera-vid.
var Programs = []string{"rpicam-vid", "libcamera-vid"}

// ErrNotInstalled is the error of Program when neither is on PATH.
var ErrNotInstalled = errors.New("rpicam-vid (or libcamera-vid) not found on PATH: on Raspberry Pi OS sudo apt install rpicam-apps (rpicam-apps-lite on Pi OS Lite)")

// Program returns the path of the camera app on PATH.
func Program() (string, error) {
	for _, p := range Programs {
		if path, err := osexec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", ErrNotInstalled
}

// Codec is what rpicam-vid is asked to write.
type Codec string

const (
	// H264 is the Pi's hardware encoder's H.264, passed through untouched.
	H264 Codec = "h264"
	// YUV420 is raw I420 pictures (luma rows padded to 64 bytes) that camnode turns,
	// draws into and encodes.
	YUV420 Codec = "yuv420"
)

// spec is rpicam[:N][?codec=h264|yuv420]: camera N (0 by default) of libcamera's list.
type spec struct {
	camera int
	codec  Codec // empty: chosen at Open
}

func parse(uri, rest string) (kind.Spec, error) {
	rest, query, _ := strings.Cut(rest, "?")
	s := spec{}
	if rest != "" {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || n > 15 {
			return nil, fmt.Errorf("rpicam:%s: want rpicam or rpicam:N, N the camera's number in rpicam-vid --list-cameras (0 to 15)", rest)
		}
		s.camera = n
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("rpicam: query: %w", err)
	}
	for k, v := range q {
		switch k {
		case "codec":
			switch c := Codec(v[len(v)-1]); c {
			case H264, YUV420:
				s.codec = c
			default:
				return nil, fmt.Errorf("rpicam: codec=%s: want h264 or yuv420", c)
			}
		default:
			return nil, fmt.Errorf("rpicam: unknown parameter %q (want codec)", k)
		}
	}
	return s, nil
}

func (s spec) Describe() string {
	if s.camera == 0 {
		return "rpicam"
	}
	return "rpicam:" + strconv.Itoa(s.camera)
}

func (s spec) Check(kind.Options) (string, error) {
	if _, err := Program(); err != nil {
		return "", err
	}
	return "", nil
}

// HardwareH264 tells whether the board has the H.264 encoder rpicam-vid uses for --codec
// h264: the Pi 4 and earlier (VideoCore IV/VI) have it as a V4L2 memory-to-memory device
// (/dev/video11, bcm2835-codec); the Pi 5 has none, and rpicam-vid would fall back to
// libx264 through libav, out of camnode's hands. A var so that tests can choose.
var HardwareH264 = func() bool {
	_, ok := v4l2m2m.FindH264()
	return ok
}

// Codec is what Open asks of rpicam-vid for o: raw pictures where camnode draws into them
// (burn-in), must turn them (90° and 270°, which rpicam-vid cannot) or where the board has
// no hardware encoder, provided camnode can encode; else H.264 untouched.
func (s spec) Codec(o kind.Options) Codec {
	if s.codec != "" {
		return s.codec
	}
	if o.CanEncode && (o.WantRaw || transposes(o.Orientation) || !HardwareH264()) {
		return YUV420
	}
	return H264
}

func transposes(o picture.Orientation) bool { return o.Rotate == 90 || o.Rotate == 270 }

func (s spec) Open(o kind.Options) (kind.Opened, error) {
	prog, err := Program()
	if err != nil {
		return kind.Opened{}, err
	}
	codec := s.Codec(o)
	eo := exec.Options{Logger: o.Logger, Width: o.Width, Height: o.Height, FPS: o.FPS, Warn: o.Warn,
		ErrorLines: 3, Hint: hint}
	what := "source: Pi camera, H.264 passed through"
	asked := o
	if codec == YUV420 {
		eo.Format, eo.Stride = "yuv420", exec.RPiCamStride(o.Width)
		what = "source: Pi camera, YUV420 pictures encoded here"
		if transposes(o.Orientation) {
			// rpicam-vid turns by 0 or 180 only: the whole turn is done here.
			eo.Orientation, asked.Orientation = o.Orientation, picture.Orientation{}
		}
	}
	args := Args(s.camera, codec, asked)
	src, err := exec.NewArgv(append([]string{prog}, args...), eo)
	if err != nil {
		return kind.Opened{}, err
	}
	attrs := []any{"program", src.Name(), "camera", s.camera, "codec", string(codec)}
	if codec == YUV420 {
		return kind.Opened{Frames: src, What: what, Attrs: attrs}, nil
	}
	return kind.Opened{H264: &h264Source{Source: src, unapplied: unturned(o.Orientation)}, RawToo: true, What: what, Attrs: attrs}, nil
}

// unturned is what of o rpicam-vid cannot do: a quarter turn.
func unturned(o picture.Orientation) picture.Orientation {
	if transposes(o) {
		return o
	}
	return picture.Orientation{}
}

// h264Source is rpicam-vid's H.264, which says what of the orientation asked it left undone.
type h264Source struct {
	*exec.Source
	unapplied picture.Orientation
}

// Unapplied is the orientation the stream does not show (see the pipeline's warning).
func (s *h264Source) Unapplied() picture.Orientation { return s.unapplied }

// Args are rpicam-vid's arguments for camera, codec and the node's settings: no preview,
// no end, to stdout; the size and rate; for H.264 inline headers on every IDR (a viewer
// joining, an ingest reconnecting), the GOP as --intra, the bitrate, profile and level;
// the orientation by --rotation 180, --hflip and --vflip.
func Args(camera int, codec Codec, o kind.Options) []string {
	a := []string{"-n", "-t", "0", "-o", "-", "--camera", strconv.Itoa(camera),
		"--width", strconv.Itoa(o.Width), "--height", strconv.Itoa(o.Height),
		"--framerate", strconv.FormatFloat(o.FPS, 'f', -1, 64), "--codec", string(codec)}
	if codec == H264 {
		a = append(a, "--inline", "--flush")
		if o.GOP > 0 {
			a = append(a, "--intra", strconv.Itoa(o.GOP))
		}
		if o.Bitrate > 0 {
			a = append(a, "--bitrate", strconv.Itoa(o.Bitrate))
		}
		if p := profile(o.Profile); p != "" {
			a = append(a, "--profile", p)
		}
		a = append(a, "--level", level(o.Width, o.Height, o.FPS))
	}
	if o.Orientation.Rotate == 180 {
		a = append(a, "--rotation", "180")
	}
	if o.Orientation.FlipH {
		a = append(a, "--hflip")
	}
	if o.Orientation.FlipV {
		a = append(a, "--vflip")
	}
	return a
}

// profile is the H.264 profile rpicam-vid takes: baseline, main or high.
func profile(p string) string {
	switch p {
	case "baseline", "main", "high":
		return p
	}
	return ""
}

// level is the lowest H.264 level of the Pi's encoder (4, 4.1, 4.2) that holds the size
// and rate: 4.1 takes 1080p30, 4.2 1080p60 (macroblocks per second 245,760 and 522,240).
func level(w, h int, fps float64) string {
	mbps := float64((w+15)/16*((h+15)/16)) * fps
	switch {
	case mbps <= 245760:
		return "4.1"
	default:
		return "4.2"
	}
}

// hint adds what to do to rpicam-vid's own words for the failures people meet.
func hint(lastLines string) string {
	switch {
	case strings.Contains(lastLines, "no cameras available"):
		return "check the camera's ribbon cable and camera_auto_detect=1 in /boot/firmware/config.txt, then rpicam-hello --list-cameras"
	case strings.Contains(lastLines, "selected camera is not available"):
		return "CAMNODE_SOURCE names a camera number rpicam-vid --list-cameras does not list"
	case strings.Contains(lastLines, "Device or resource busy"), strings.Contains(lastLines, "failed to acquire camera"):
		return "another program holds the camera (stop it: sudo fuser -v /dev/media*)"
	}
	return ""
}

// Camera is one camera of rpicam-vid --list-cameras.
type Camera struct {
	Index  int      `json:"index"`
	Model  string   `json:"model"`  // imx708
	Sensor string   `json:"sensor"` // 4608x2592 10-bit RGGB
	ID     string   `json:"id"`     // /base/soc/i2c0mux/i2c@1/imx708@1a
	Modes  []string `json:"modes,omitempty"`
}

func (c Camera) String() string {
	return fmt.Sprintf("%d : %s [%s] (%s)", c.Index, c.Model, c.Sensor, c.ID)
}

var cameraLine = regexp.MustCompile(`^(\d+) : (\S+) \[([^\]]*)\] \((.*)\)$`)

// ParseCameraList reads the output of rpicam-vid --list-cameras: "Available cameras", a
// rule, then "N : model [size bits CFA] (id)" and indented "Modes:" lines for each;
// "No cameras available!" when there is none.
func ParseCameraList(out string) []Camera {
	var cams []Camera
	for _, line := range strings.Split(out, "\n") {
		t := strings.TrimSpace(line)
		if m := cameraLine.FindStringSubmatch(t); m != nil {
			n, _ := strconv.Atoi(m[1])
			cams = append(cams, Camera{Index: n, Model: m[2], Sensor: m[3], ID: m[4]})
			continue
		}
		if len(cams) > 0 && t != "" && (line[0] == ' ' || line[0] == '\t') {
			mode := strings.TrimSpace(strings.TrimPrefix(t, "Modes:"))
			last := &cams[len(cams)-1]
			last.Modes = append(last.Modes, mode)
		}
	}
	return cams
}

// ListCameras runs the camera app's --list-cameras (at most 10 s: libcamera probes every
// sensor) and returns its cameras; none is not an error.
func ListCameras(ctx context.Context) ([]Camera, error) {
	prog, err := Program()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, prog, "--list-cameras")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		var ee *osexec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			msg = lastLines(string(ee.Stderr), 3)
		}
		return nil, fmt.Errorf("%s --list-cameras: %s", filepath.Base(prog), msg)
	}
	return ParseCameraList(string(out)), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
