package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFailAtStartNotAtON: a source that can never work is a bad setting at start: exit 2 and
// a line naming the variable and what is wrong, before anything connects anywhere.
func TestFailAtStartNotAtON(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"exec program not on PATH", map[string]string{"CAMNODE_SOURCE": "exec:rpicam-vid -t 0 -n --codec h264 --inline -o -"},
			[]string{`camnode: bad setting CAMNODE_SOURCE: exec: program "rpicam-vid" not found on PATH`, "rpicam-apps"}},
		{"file that does not exist", map[string]string{"CAMNODE_SOURCE": "file:///nonexistent/clip.h264?loop=0"},
			[]string{"camnode: bad setting CAMNODE_SOURCE: cannot read /nonexistent/clip.h264: no such file or directory"}},
		{"audio program not on PATH", map[string]string{"CAMNODE_SOURCE": "testsrc", "CAMNODE_AUDIO": "exec:no-such-mic --aac"},
			[]string{`camnode: bad setting CAMNODE_AUDIO: exec: program "no-such-mic" not found on PATH`}},
		{"hardware encoder not there", map[string]string{"CAMNODE_SOURCE": "exec:ffmpeg -f lavfi -i testsrc2 -f rawvideo -",
			"CAMNODE_SOURCE_FORMAT": "yuv420", "CAMNODE_ENCODER": "v4l2m2m:/dev/video99"},
			[]string{"camnode: bad setting CAMNODE_ENCODER: CAMNODE_SOURCE_FORMAT=yuv420 needs an encoder, and /dev/video99 is not there: no such file or directory"}},
		{"autostart without an ingest", map[string]string{"CAMNODE_SOURCE": "testsrc", "CAMNODE_AUTOSTART": "yes"},
			[]string{"camnode: bad setting CAMNODE_RTMP_URL: CAMNODE_AUTOSTART is on but no ingest and no local output is set"}},
		{"fps not a number", map[string]string{"CAMNODE_FPS": "abc"},
			[]string{`camnode: bad setting CAMNODE_FPS: cannot parse "abc": not a number: use 1 to 240`}},
		{"broker without scheme", map[string]string{"CAMNODE_MQTT_URL": "homeassistant.local:1883"},
			[]string{`camnode: bad setting CAMNODE_MQTT_URL: "homeassistant.local:1883" has no scheme: use tcp://homeassistant.local:1883`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["CAMNODE_NODE_ID"] = "preflight"
			p := startCamnode(t, tc.env)
			if code := p.wait(t, 60*time.Second); code != 2 {
				t.Fatalf("exit %d, want 2:\n%s", code, p.Log())
			}
			for _, w := range tc.want {
				if !strings.Contains(p.Log(), w) {
					t.Errorf("output lacks %q:\n%s", w, p.Log())
				}
			}
		})
	}
}

// TestUnpluggedCameraOnlyWarns: a camera that is not there now may come back: camnode runs,
// says so, and stops cleanly on SIGTERM.
func TestUnpluggedCameraOnlyWarns(t *testing.T) {
	p := startCamnode(t, map[string]string{"CAMNODE_NODE_ID": "unplugged", "CAMNODE_SOURCE": "v4l2:///dev/video93",
		"CAMNODE_MQTT_URL": "tcp://127.0.0.1:1", "CAMNODE_AUTOSTART": "off"})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.Log(), "camera /dev/video93 is not there now (unplugged?)") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the camera:\n%s", p.Log())
		}
		select {
		case <-p.done:
			t.Fatalf("camnode ended:\n%s", p.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !strings.Contains(p.Log(), "level=WARN") {
		t.Errorf("the camera line is not a warning:\n%s", p.Log())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, p.Log())
	}
}

func TestDemoHelpExitsZero(t *testing.T) {
	p := startCamnode(t, nil, "demo", "--help")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("camnode demo --help: exit %d, want 0:\n%s", code, p.Log())
	}
	for _, w := range []string{"-mqtt", "-rtmp", "-dir", "-for"} {
		if !strings.Contains(p.Log(), w) {
			t.Errorf("demo --help lacks %s:\n%s", w, p.Log())
		}
	}
}
