package exec

import (
	"errors"
	"fmt"
	osexec "os/exec"
	"path/filepath"
	"strings"

	"github.com/camnode/camnode/media/source/kind"
)

// Kind is this source for package source.
var Kind = kind.Kind{Scheme: "exec", Form: "exec:<command>", Parse: parse}

// spec is exec:<command line>: a program writing H.264, or raw pictures of the format
// kind.Options.Format names.
type spec struct {
	line string
	argv []string
}

func parse(_, rest string) (kind.Spec, error) {
	if strings.TrimSpace(rest) == "" || strings.HasPrefix(rest, "?") { // exec without its colon
		return nil, errors.New("exec: needs a command, e.g. exec:ffmpeg -f v4l2 -i /dev/video0 -c:v libx264 -f h264 -")
	}
	argv, err := Argv(rest)
	if err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	return &spec{line: rest, argv: argv}, nil
}

func (s *spec) Describe() string { return "exec:" + filepath.Base(s.argv[0]) }

func (s *spec) Check(kind.Options) (string, error) {
	if msg := CheckProgram(s.argv); msg != "" {
		return "", errors.New(msg)
	}
	return "", nil
}

// CheckProgram says what is wrong with the program of argv: not on PATH. Only the
// program's name is shown: arguments may hold secrets.
func CheckProgram(argv []string) string {
	if _, err := osexec.LookPath(argv[0]); err != nil {
		hint := ""
		if isRPiCam(argv[0]) || strings.HasPrefix(filepath.Base(argv[0]), "libcamera-") {
			hint = " (on Raspberry Pi OS: sudo apt install rpicam-apps, or rpicam-apps-lite on Pi OS Lite; in a container it must be in the image, with /dev/video* and /dev/media* passed in; or use CAMNODE_SOURCE=rpicam)"
		}
		return fmt.Sprintf("exec: program %q not found on PATH%s", argv[0], hint)
	}
	return ""
}

func (s *spec) Open(o kind.Options) (kind.Opened, error) {
	src, err := New(s.line, Options{Logger: o.Logger, Format: o.Format, Width: o.Width, Height: o.Height,
		FPS: o.FPS, Orientation: o.Orientation, Warn: o.Warn})
	if err != nil {
		return kind.Opened{}, err
	}
	if src.Raw() {
		return kind.Opened{Frames: src, What: "source: raw pictures from a program, encoding them",
			Attrs: []any{"program", src.Name(), "format", o.Format}}, nil
	}
	return kind.Opened{H264: src, What: "source: H.264 from a program", Attrs: []any{"program", src.Name()}}, nil
}
