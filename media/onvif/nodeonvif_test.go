package onvif

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNodeOnvifDevice connects with a second real client, node-onvif (npm), whose init()
// reads the clock, capabilities, device information, profiles, stream and snapshot URIs with
// a WS-UsernameToken digest, then fetches the snapshot with HTTP Digest; and is refused with
// a wrong password.
func TestNodeOnvifDevice(t *testing.T) {
	requireNodeModules(t)
	srv := startNode(t, testService(t))
	xaddr := srv.URL + DevicePath
	run := func(pass string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return exec.CommandContext(ctx, "node", "testdata/node/device.js", xaddr, "admin", pass).Output()
	}
	out, err := run("s3cret")
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node-onvif: %v\n%s", err, stderr)
	}
	t.Logf("node-onvif saw: %s", out)
	var got struct {
		Info struct {
			Manufacturer, Model, FirmwareVersion, SerialNumber, HardwareId string
		} `json:"info"`
		Profile struct {
			Token string `json:"token"`
			Video struct {
				Encoder struct {
					Encoding   string `json:"encoding"`
					Resolution struct{ Width, Height int }
					Framerate  int `json:"framerate"`
					Bitrate    int `json:"bitrate"`
				} `json:"encoder"`
			} `json:"video"`
			Stream struct {
				RTSP string `json:"rtsp"`
			} `json:"stream"`
			Snapshot string `json:"snapshot"`
		} `json:"profile"`
		SnapshotBytes int    `json:"snapshotBytes"`
		SnapshotType  string `json:"snapshotType"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node-onvif output: %v", err)
	}
	if got.Info.Manufacturer != "camnode" || got.Info.SerialNumber != "node-7" || got.Info.FirmwareVersion != "1.2.3" {
		t.Errorf("device information = %+v", got.Info)
	}
	e := got.Profile.Video.Encoder
	if got.Profile.Token != "main" || e.Encoding != "H264" || e.Resolution.Width != 1280 || e.Resolution.Height != 720 || e.Framerate != 30 || e.Bitrate != 2500 {
		t.Errorf("profile = %+v", got.Profile)
	}
	if !strings.HasPrefix(got.Profile.Stream.RTSP, "rtsp://127.0.0.1:8554/live") || got.Profile.Snapshot != srv.URL+"/snapshot.jpg" {
		t.Errorf("URIs: rtsp %q snapshot %q", got.Profile.Stream.RTSP, got.Profile.Snapshot)
	}
	if got.SnapshotBytes != len(fakeJPEG) || got.SnapshotType != "image/jpeg" {
		t.Errorf("snapshot: %d bytes of %q", got.SnapshotBytes, got.SnapshotType)
	}
	if _, err := run("wrong"); err == nil {
		t.Error("node-onvif with a wrong password initialised")
	} else if ee, ok := err.(*exec.ExitError); !ok || !strings.Contains(string(ee.Stderr), "Sender not Authorized") {
		t.Errorf("wrong password: %v, want the NotAuthorized fault", err)
	}
}
