//go:build cgo && !nox264

package x264_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
	"github.com/camnode/camnode/media/h264"
	"github.com/camnode/camnode/media/source/testsrc"
)

// x264Options returns the settings string x264 writes into the SEI of its first access
// unit ("x264 - core 164 - H.264/MPEG-4 AVC codec - … options: cabac=1 ref=1 …").
func x264Options(t *testing.T, opts encoder.Options) string {
	t.Helper()
	enc, err := x264.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	p, _ := testsrc.NewPattern(opts.Width, opts.Height, 30)
	f := p.NewFrame()
	p.Draw(f, 0, wall)
	var sei string
	err = enc.Encode(f, false, func(au *media.AccessUnit) error {
		for _, n := range au.NALUs {
			if h264.NALType(n) == h264.TypeSEI && strings.Contains(string(n), "options: ") {
				sei = string(n[strings.Index(string(n), "options: "):])
			}
		}
		return nil
	})
	if err != nil || sei == "" {
		t.Fatalf("encode: %v; no x264 settings SEI in the first access unit", err)
	}
	return sei
}

// TestSettingsApply reads back from the stream what libx264 used: the preset (ultrafast
// turns CABAC and subpel refinement off, veryfast uses subme=2), the profile (baseline:
// no CABAC, no 8x8 transform) and camnode's fixed choices (no B-frames, a fixed GOP,
// CBR: the VBV rate equals the bitrate).
func TestSettingsApply(t *testing.T) {
	base := encoder.Options{Width: 320, Height: 240, FPS: 25, Bitrate: 800_000, GOP: 50}
	for _, c := range []struct {
		preset, profile string
		want            []string
	}{
		{"ultrafast", "", []string{"cabac=0", "subme=0", "me=dia"}},
		{"veryfast", "", []string{"cabac=1", "subme=2", "me=hex", "8x8dct=1"}},
		{"veryfast", "baseline", []string{"cabac=0", "8x8dct=0", "subme=2"}},
		{"medium", "main", []string{"cabac=1", "subme=7", "8x8dct=0"}},
	} {
		opts := base
		opts.Preset, opts.Profile = c.preset, c.profile
		got := x264Options(t, opts)
		for _, w := range append(c.want, "bframes=0", "keyint=50", "scenecut=0", "rc=cbr", "bitrate=800", "vbv_maxrate=800", "vbv_bufsize=800") {
			if !strings.Contains(" "+got+" ", " "+w+" ") {
				t.Errorf("preset %q profile %q: x264 used %q, want %s", c.preset, c.profile, got, w)
			}
		}
	}
}

func TestAvailable(t *testing.T) {
	if err := x264.Available(); err != nil {
		t.Fatalf("libx264 not usable on this machine (scripts/deps.sh installs %s): %v", x264.Package, err)
	}
	if v := x264.Version(); !strings.Contains(v, "164") {
		t.Errorf("Version = %q", v)
	}
}

// TestLibraryMissing runs this test binary again with the library name pointing nowhere,
// as on a machine without libx264: New and Available fail naming the package to install,
// wrapping encoder.ErrNotInstalled.
func TestLibraryMissing(t *testing.T) {
	if os.Getenv("X264_TEST_CHILD") == "1" {
		err := x264.Available()
		_, nerr := x264.New(encoder.Options{Width: 64, Height: 48})
		for _, e := range []error{err, nerr} {
			if !errors.Is(e, encoder.ErrNotInstalled) || !strings.Contains(e.Error(), "apt install libx264-164") {
				t.Errorf("without the library: %v, want ErrNotInstalled naming apt install libx264-164", e)
			}
		}
		if x264.Version() != "" {
			t.Errorf("Version = %q without the library", x264.Version())
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLibraryMissing$", "-test.v")
	cmd.Env = append(os.Environ(), "X264_TEST_CHILD=1", x264.LibraryEnv+"=libx264-hidden-by-test.so.164")
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.ENOEXEC) {
		t.Skipf("this test binary cannot start itself (run under an emulator): %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLibraryMissing") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
