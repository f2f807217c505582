package v4l2

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestProbeDescribesCamera(t *testing.T) {
	cam := piCamera()
	cam.sizes[fccYUYV] = []FrameSize{{Width: 640, Height: 480}, {Width: 1280, Height: 720}}
	cam.rates["YUYV 640x480"] = []float64{30, 15}
	cam.rates["YUYV 1280x720"] = []float64{10}
	cam.fmts = append(cam.fmts, FormatInfo{FourCC: "RGB3", Description: "24-bit RGB 8-8-8", code: mustFourCC("RGB3")})
	cam.install(t)
	d, err := Probe("/dev/video0")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Usable || d.Mode != "h264" || d.Driver != "fake" || d.Card != "Fake Cam" || d.Bus != "usb-1" || len(d.Formats) != 4 || len(d.Controls) != 6 {
		t.Fatalf("Probe = %+v", d)
	}
	var text strings.Builder
	if err := d.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{
		"/dev/video0: Fake Cam\n",
		"  driver:   fake v6.1.0, bus usb-1\n",
		"  caps:     video capture, streaming\n",
		"  camnode:  usable, H.264 straight from the camera\n",
		"    H264  H264 format (H.264 passthrough)\n",
		"      32x32-1920x1080 step 2x2",
		"    YUYV  YUYV format (raw)\n",
		"      640x480     30, 15 fps\n",
		"      1280x720    10 fps\n",
		"    MJPG  MJPG format (raw, decoded by camnode)\n",
		"    also offered, not used by camnode: RGB3\n",
		"  encoder controls:\n",
		"    H264 Profile                 menu     Baseline     [Baseline, Constrained Baseline, Main, High]\n",
		"    Video Bitrate                int      10000000     25000..25000000 step 25000, default 10000000\n",
		"    Repeat Sequence Header       bool     off",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("probe text lacks %q:\n%s", want, out)
		}
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back DeviceInfo
	if err := json.Unmarshal(js, &back); err != nil || back.Path != d.Path || len(back.Formats) != 4 || back.Formats[1].Sizes[0].FPS[0] != 30 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
	for _, key := range []string{`"fourcc":"YUYV"`, `"driver":"fake"`, `"usable":true`, `"mode":"h264"`, `"name":"H264 Profile"`, `"class":"codec"`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("JSON lacks %s: %s", key, js)
		}
	}
}

func TestProbeNotACamera(t *testing.T) {
	cam := newFake()
	cam.caps.card, cam.caps.caps = "bcm2835-codec-decode", capVideoM2MMPlane|capStreaming
	cam.install(t)
	d, err := Probe("/dev/video0")
	if err != nil {
		t.Fatal(err)
	}
	if d.Usable || !strings.Contains(d.Reason, "memory-to-memory codec") {
		t.Errorf("Probe = %+v, want not usable as a codec", d)
	}
	var text strings.Builder
	d.WriteText(&text)
	if !strings.Contains(text.String(), "camnode:  not usable: v4l2: /dev/video0 (bcm2835-codec-decode) is a memory-to-memory codec") {
		t.Errorf("probe text:\n%s", text.String())
	}
	cam.caps.caps = capVideoCapture | capStreaming
	cam.fmts = []FormatInfo{{FourCC: "BA81", code: mustFourCC("BA81")}}
	if d, err = Probe("/dev/video0"); err != nil || d.Usable || !strings.Contains(d.Reason, "no format camnode can use") {
		t.Errorf("a Bayer-only sensor: %+v, %v", d, err)
	}
}
