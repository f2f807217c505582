package auto

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camnode/camnode/internal/peers"
)

func standIn(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	peers.BuildTool(t, "../../../internal/tools/rpicamvid", filepath.Join(dir, "rpicam-vid"))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// With rpicam-vid listing a camera, auto is the Pi camera.
func TestFindPiCamera(t *testing.T) {
	standIn(t)
	uri, err := Find(context.Background())
	if err != nil || uri != "rpicam" {
		t.Fatalf("Find = %q, %v; want rpicam", uri, err)
	}
}

// With neither a Pi camera nor a V4L2 one, the error names both and what to set.
func TestFindNothing(t *testing.T) {
	if devs, _ := filepath.Glob("/dev/video*"); len(devs) > 0 {
		t.Skipf("this machine has V4L2 devices %v", devs)
	}
	standIn(t)
	t.Setenv("RPICAM_STANDIN_NO_CAMERA", "1")
	_, err := Find(context.Background())
	for _, want := range []string{"no Pi camera: rpicam-vid --list-cameras lists none", "no V4L2 camera", "set CAMNODE_SOURCE"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q in it", err, want)
		}
	}
	t.Setenv("PATH", t.TempDir()) // no rpicam-vid at all
	_, err = Find(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rpicam-vid (or libcamera-vid) not found on PATH") || !strings.Contains(err.Error(), "rpicam-apps-lite") {
		t.Errorf("error without rpicam-vid: %v", err)
	}
}
