package onvif

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debianPython is Debian's interpreter, the one python3-zeep installs for (a user's PATH
// may put another python3 first).
const debianPython = "/usr/bin/python3"

// requirePythonModule ends the test when Debian's python3 lacks module: skipped on a
// developer machine, failed in CI (as peers.Require does for programs).
func requirePythonModule(t *testing.T, module string) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import "+module).Run(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("PEERS_REQUIRED") == "1" {
			t.Fatalf("python3 module %q is required but missing (install with: make deps)", module)
		}
		t.Skipf("python3 module %q missing (install with: make deps)", module)
	}
}

// testService is a node as the tests see it: 1280x720 at 30 fps, 2500 kbit/s, GOV 60, High,
// with 48 kHz stereo AAC at 128 kbit/s, and the credentials admin / s3cret.
func testService(t *testing.T) *Service {
	return New(Options{
		Device: Device{
			Manufacturer: "camnode", Model: "camnode", Firmware: "1.2.3", Serial: "node-7",
			HardwareID: "raspberrypi-5", Name: "Kitchen cam", MAC: StableMAC("node-7"),
		},
		Username: "admin", Password: "s3cret",
		Media: func() (Video, *Audio) {
			return Video{Width: 1280, Height: 720, FPS: 30, BitrateKbps: 2500, GOVLength: 60, Profile: "high"},
				&Audio{SampleRate: 48000, Channels: 2, BitrateKbps: 128}
		},
		StreamURI: func(host string) string {
			h, _, err := net.SplitHostPort(host)
			if err != nil {
				h = host
			}
			return "rtsp://" + net.JoinHostPort(h, "8554") + "/live"
		},
		SnapshotURI: func(host string) string { return "http://" + host + "/snapshot.jpg" },
		Logger:      testLogger(t),
	})
}

// fakeJPEG is the smallest thing that starts and ends like a JPEG; what the snapshot
// handler serves is not this package's concern, only that Protect lets the right client in.
var fakeJPEG = []byte{0xff, 0xd8, 0xff, 0xd9}

// startNode serves the services and a protected /snapshot.jpg on 127.0.0.1, a random port.
func startNode(t *testing.T, s *Service) *httptest.Server {
	mux := http.NewServeMux()
	s.Register(mux)
	mux.Handle("GET /snapshot.jpg", s.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(fakeJPEG)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestZeepHomeAssistantCalls makes Home Assistant's calls in its order with a real SOAP
// client: zeep (Debian's python3-zeep), loading ONVIF device and media WSDLs, signing with
// a WS-UsernameToken digest. The WSDLs are camnode's own minimal ones (testdata/wsdl);
// ONVIF_WSDL_DIR runs the same calls with another set, e.g. ONVIF's official files.
func TestZeepHomeAssistantCalls(t *testing.T) {
	requirePythonModule(t, "zeep")
	srv := startNode(t, testService(t))
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	wsdlDir, _ := filepath.Abs("testdata/wsdl")
	if d := os.Getenv("ONVIF_WSDL_DIR"); d != "" {
		wsdlDir = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/ha_calls.py", wsdlDir, host, port, "admin", "s3cret")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ha_calls.py: %v\nstderr:\n%s\nstdout: %s", err, stderr.String(), stdout.String())
	}
	var got struct {
		UTC          []int             `json:"utc"`
		DateTimeType string            `json:"date_time_type"`
		Services     map[string]string `json:"services"`
		Capabilities map[string]any    `json:"capabilities"`
		Info         map[string]string `json:"info"`
		MAC          string            `json:"mac"`
		Snapshotable bool              `json:"snapshot_capable"`
		Profiles     []struct {
			Token, Encoding string
			Width, Height   int
			FPS             int `json:"fps"`
			Bitrate, Gov    int
			H264Profile     string `json:"h264_profile"`
			Audio           *struct {
				Encoding   string
				Bitrate    int
				SampleRate int `json:"sample_rate"`
			} `json:"audio"`
		} `json:"profiles"`
		Unsupported zeepFault `json:"unsupported"`
		StreamURI   string    `json:"stream_uri"`
		SnapshotURI string    `json:"snapshot_uri"`
		Snapshot    struct {
			Status, Bytes int
			ContentType   string `json:"content_type"`
		} `json:"snapshot"`
		SnapshotNoCreds int       `json:"snapshot_without_credentials"`
		WrongPassword   zeepFault `json:"wrong_password"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("ha_calls.py output: %v\n%s", err, stdout.String())
	}
	t.Logf("zeep saw: %s", stdout.String())

	base := "http://" + srv.Listener.Addr().String()
	if len(got.UTC) != 6 || got.UTC[0] < 2024 || got.DateTimeType != "NTP" {
		t.Errorf("GetSystemDateAndTime: utc %v type %q", got.UTC, got.DateTimeType)
	}
	if got.Services[nsTDS] != base+DevicePath || got.Services[nsTRT] != base+MediaPath {
		t.Errorf("GetServices XAddrs = %v, want %s{%s,%s}", got.Services, base, DevicePath, MediaPath)
	}
	if got.Capabilities["device"] != base+DevicePath || got.Capabilities["media"] != base+MediaPath ||
		got.Capabilities["events"] != nil || got.Capabilities["ptz"] != nil {
		t.Errorf("GetCapabilities = %v", got.Capabilities)
	}
	wantInfo := map[string]string{"manufacturer": "camnode", "model": "camnode", "firmware": "1.2.3", "serial": "node-7", "hardware": "raspberrypi-5"}
	for k, v := range wantInfo {
		if got.Info[k] != v {
			t.Errorf("GetDeviceInformation %s = %q, want %q", k, got.Info[k], v)
		}
	}
	if got.MAC != StableMAC("node-7").String() {
		t.Errorf("GetNetworkInterfaces MAC = %q, want %s", got.MAC, StableMAC("node-7"))
	}
	if !got.Snapshotable {
		t.Error("media GetServiceCapabilities: SnapshotUri not true")
	}
	if len(got.Profiles) != 1 {
		t.Fatalf("GetProfiles: %d profiles, want 1", len(got.Profiles))
	}
	p := got.Profiles[0]
	if p.Encoding != "H264" || p.Width != 1280 || p.Height != 720 || p.FPS != 30 || p.Bitrate != 2500 || p.Gov != 60 || p.H264Profile != "High" {
		t.Errorf("GetProfiles video = %+v", p)
	}
	if p.Audio == nil || p.Audio.Encoding != "AAC" || p.Audio.Bitrate != 128 || p.Audio.SampleRate != 48 {
		t.Errorf("GetProfiles audio = %+v, want AAC 128 kbit/s 48 kHz", p.Audio)
	}
	if got.Unsupported.Code != "env:Receiver" || !hasSuffix(got.Unsupported.Subcodes, "}ActionNotSupported") {
		t.Errorf("GetHostname (not offered) = %+v, want env:Receiver/ter:ActionNotSupported", got.Unsupported)
	}
	if want := "rtsp://" + host + ":8554/live"; got.StreamURI != want {
		t.Errorf("GetStreamUri = %q, want %q", got.StreamURI, want)
	}
	if want := base + "/snapshot.jpg"; got.SnapshotURI != want {
		t.Errorf("GetSnapshotUri = %q, want %q", got.SnapshotURI, want)
	}
	if got.Snapshot.Status != 200 || got.Snapshot.ContentType != "image/jpeg" || got.Snapshot.Bytes != len(fakeJPEG) {
		t.Errorf("snapshot with Digest = %+v", got.Snapshot)
	}
	if got.SnapshotNoCreds != 401 {
		t.Errorf("snapshot without credentials: status %d, want 401", got.SnapshotNoCreds)
	}
	if got.WrongPassword.Code != "env:Sender" || !hasSuffix(got.WrongPassword.Subcodes, "}NotAuthorized") {
		t.Errorf("wrong password = %+v, want env:Sender/ter:NotAuthorized", got.WrongPassword)
	}
}

// zeepFault is a SOAP fault as zeep renders it.
type zeepFault struct {
	Message  string   `json:"message"`
	Code     string   `json:"code"`
	Subcodes []string `json:"subcodes"`
}

func hasSuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}
