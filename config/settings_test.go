package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// loadWith runs Load with NODE_ID=garden and these settings; an empty value is set empty.
func loadWith(t *testing.T, kv ...string) (*Config, error) {
	t.Helper()
	clearEnv(t)
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
	return Load()
}

// TestMessagesSayWhatIsAccepted: what a user reads for each bad value names the variable and
// what it takes, as issue 14 lists them.
func TestMessagesSayWhatIsAccepted(t *testing.T) {
	cases := []struct{ env, val, want string }{
		{"CAMNODE_FPS", "abc", `CAMNODE_FPS: cannot parse "abc": not a number: use 1 to 240`},
		{"CAMNODE_WIDTH", "wide", `CAMNODE_WIDTH: cannot parse "wide": not a number: use an even number from 16 to 7680`},
		{"CAMNODE_AUTOSTART", "maybe", `CAMNODE_AUTOSTART: cannot parse "maybe": use true or false (also yes/no, on/off, 1/0)`},
		{"CAMNODE_MQTT_URL", "127.0.0.1:1883", `CAMNODE_MQTT_URL: "127.0.0.1:1883" has no scheme: use tcp://127.0.0.1:1883`},
		{"CAMNODE_MQTT_URL", "homeassistant.local:1883", `CAMNODE_MQTT_URL: "homeassistant.local:1883" has no scheme: use tcp://homeassistant.local:1883`},
		{"CAMNODE_SOURCE_FORMAT", "rgb", `CAMNODE_SOURCE_FORMAT: "rgb": use h264, yuv420, nv12, yuyv or mjpeg`},
		{"CAMNODE_SOURCE_FORMAT", "yuv420", `CAMNODE_SOURCE_FORMAT: yuv420 is for an exec: source`},
		{"CAMNODE_AUDIO", "loud", `CAMNODE_AUDIO: "loud": use silent, none or exec:<command>`},
		{"CAMNODE_AUDIO", "exec: ", `CAMNODE_AUDIO: exec: needs a command`},
		{"CAMNODE_AUDIO_RATE", "22050", `CAMNODE_AUDIO_RATE: 22050: use 48000 or 44100`},
		{"CAMNODE_ENCODER", "nvenc", `CAMNODE_ENCODER: "nvenc": use auto, x264, v4l2m2m or v4l2m2m:/dev/videoN`},
		{"CAMNODE_ENCODER", "v4l2m2m:video11", `v4l2m2m:/dev/video11`},
		{"CAMNODE_X264_PRESET", "turbo", `CAMNODE_X264_PRESET: "turbo": use ultrafast,`},
		{"CAMNODE_X264_PROFILE", "high10", `CAMNODE_X264_PROFILE: "high10": use baseline, main or high`},
		{"CAMNODE_ROTATE", "45", `CAMNODE_ROTATE: 45: use 0, 90, 180 or 270`},
		{"CAMNODE_ROTATE", "left", `CAMNODE_ROTATE: cannot parse "left": not a number: use 0, 90, 180 or 270`},
		{"CAMNODE_FLIP", "x", `CAMNODE_FLIP: "x": use h, v or hv`},
		{"CAMNODE_SNAPSHOT_INTERVAL", "10ms", `CAMNODE_SNAPSHOT_INTERVAL: 10ms: use 1s to 24h, or 0 for off`},
		{"CAMNODE_HTTP", "8080", `CAMNODE_HTTP: "8080": use host:port`},
		{"CAMNODE_HTTP", ":8080", `CAMNODE_HTTP_TOKEN: token required: :8080 listens beyond loopback`},
		{"CAMNODE_HTTP", "0.0.0.0:8080", `CAMNODE_HTTP_TOKEN: token required`},
		{"CAMNODE_HTTP_TOKEN", "12345678", `CAMNODE_HTTP_TOKEN: token is set but CAMNODE_HTTP is empty`},
		{"CAMNODE_RTSP", "8554", `CAMNODE_RTSP: "8554": use host:port`},
		{"CAMNODE_RTSP", ":8554", `CAMNODE_RTSP_USERNAME: credentials required: :8554 listens beyond loopback`},
		{"CAMNODE_RTSP_PASSWORD", "12345678", `CAMNODE_RTSP: credentials are set but CAMNODE_RTSP is empty`},
		{"CAMNODE_ONVIF", "true", `CAMNODE_ONVIF: true needs CAMNODE_RTSP`},
		{"CAMNODE_DANMAKU_SIZE", "0.9", `CAMNODE_DANMAKU_SIZE: 0.9: use 0.01 to 0.5`},
		{"CAMNODE_DANMAKU_SIZE", "big", `CAMNODE_DANMAKU_SIZE: cannot parse "big": not a number: use 0.01 to 0.5`},
		{"CAMNODE_DANMAKU_FONT", "/nonexistent/a.ttf", `CAMNODE_DANMAKU_FONT: cannot read /nonexistent/a.ttf`},
		{"CAMNODE_RTMP_URL", "rtmp://h/live/k rtmp://h/onlyapp", `CAMNODE_RTMP_URL: URL 2, rtmp://h/****: stream key missing: rtmp://h/ names "onlyapp" and no key after it`},
		{"CAMNODE_RTMP_URL", "rtmp://h/live-bvc/", `CAMNODE_RTMP_URL: rtmp://h/****: stream key missing: rtmp://h/ names "live-bvc"`},
		{"CAMNODE_RTMP_URL", "rtmp://a.rtmp.youtube.com/live2 abcd-efgh-ijkl-mnop", `CAMNODE_RTMP_URL: rtmp://a.rtmp.youtube.com/… is followed by a word without rtmp:// (19 characters): a server URL and its stream key pasted with a space between?`},
		{"CAMNODE_RTMP_URL", "rtmp://live-push.bilivideo.com/live-bvc/ ?streamname=live_1_2&key=k3y", `CAMNODE_RTMP_URL: rtmp://live-push.bilivideo.com/… is followed by a word without rtmp://`},
		{"CAMNODE_AUTOSTART", "yes", `CAMNODE_RTMP_URL: CAMNODE_AUTOSTART is on but no ingest and no local output is set`},
		{"CAMNODE_MQTT_CA_FILE", "settings_test.go", `CAMNODE_MQTT_CA_FILE: TLS files are for a TLS broker, and CAMNODE_MQTT_URL is tcp://: use ssl://, mqtts:// or wss://`},
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			_, err := loadWith(t, tc.env, tc.val)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %q\nwant %q", err, tc.want)
			}
		})
	}
}

func TestHTTPTokenWhenBeyondLoopback(t *testing.T) {
	for _, kv := range [][]string{
		{"CAMNODE_HTTP", "127.0.0.1:8080"},
		{"CAMNODE_HTTP", "localhost:8080"},
		{"CAMNODE_HTTP", "[::1]:8080"},
		{"CAMNODE_HTTP", ":8080", "CAMNODE_HTTP_TOKEN", "long-enough"},
	} {
		if c, err := loadWith(t, kv...); err != nil {
			t.Errorf("%q: %v", kv, err)
		} else if c.HTTP != kv[1] {
			t.Errorf("%q: HTTP = %q", kv, c.HTTP)
		}
	}
	_, err := loadWith(t, "CAMNODE_HTTP", ":8080", "CAMNODE_HTTP_TOKEN", "short")
	if err == nil || !strings.Contains(err.Error(), "CAMNODE_HTTP_TOKEN: token of fewer than 8 characters") || strings.Contains(err.Error(), "short") {
		t.Errorf("short token: %v", err)
	}
}

func TestRTSPCredentials(t *testing.T) {
	for _, kv := range [][]string{
		{"CAMNODE_RTSP", "127.0.0.1:8554"},
		{"CAMNODE_RTSP", ":8554", "CAMNODE_RTSP_USERNAME", "cam", "CAMNODE_RTSP_PASSWORD", "long-enough"},
		{"CAMNODE_RTSP", "127.0.0.1:8554", "CAMNODE_HTTP", "127.0.0.1:8080", "CAMNODE_ONVIF", "true"},
	} {
		t.Run(strings.Join(kv, " "), func(t *testing.T) {
			if _, err := loadWith(t, kv...); err != nil {
				t.Errorf("%q: %v", kv, err)
			}
		})
	}
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"CAMNODE_RTSP", ":8554", "CAMNODE_RTSP_USERNAME", "cam", "CAMNODE_RTSP_PASSWORD", "short"}, "CAMNODE_RTSP_PASSWORD: password of fewer than 8 characters"},
		{[]string{"CAMNODE_RTSP", ":8554", "CAMNODE_RTSP_USERNAME", "cam"}, "CAMNODE_RTSP_PASSWORD: a user name is set without a password"},
		{[]string{"CAMNODE_RTSP", ":8554", "CAMNODE_RTSP_PASSWORD", "long-enough"}, "CAMNODE_RTSP_USERNAME: a password is set without a user name"},
		{[]string{"CAMNODE_RTSP", ":8554", "CAMNODE_RTSP_USERNAME", "a:b", "CAMNODE_RTSP_PASSWORD", "long-enough"}, "CAMNODE_RTSP_USERNAME: the user name may not hold"},
	} {
		t.Run(strings.Join(tc.kv, " "), func(t *testing.T) {
			_, err := loadWith(t, tc.kv...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "long-enough") || strings.Contains(err.Error(), "short") {
				t.Errorf("%q: %v, want %q", tc.kv, err, tc.want)
			}
		})
	}
	c, err := loadWith(t, "CAMNODE_RTSP", ":8554", "CAMNODE_RTSP_USERNAME", "cam", "CAMNODE_RTSP_PASSWORD", "pw-s3cr3t-42")
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Redacted(); r.RTSPPassword != "****" || !slices.Contains(c.Secrets(), "pw-s3cr3t-42") {
		t.Errorf("the RTSP password is not a secret: %q, %q", r.RTSPPassword, c.Secrets())
	}
}

// TestEmptyMeansDefault: CAMNODE_FPS= in an env file is the default, for every setting.
func TestEmptyMeansDefault(t *testing.T) {
	var kv []string
	for _, v := range []string{"FPS", "WIDTH", "AUTOSTART", "HA_DISCOVERY", "GOP", "BITRATE", "MQTT_URL", "DANMAKU", "CHAT_RATE",
		"SOURCE_FORMAT", "AUDIO", "AUDIO_RATE", "ENCODER", "X264_PRESET", "X264_PROFILE", "ROTATE", "FLIP", "SNAPSHOT_INTERVAL", "HTTP", "DANMAKU_SIZE", "LOG_LEVEL"} {
		kv = append(kv, "CAMNODE_"+v, "")
	}
	kv = append(kv, "CAMNODE_RTMP_URL", " ")
	c, err := loadWith(t, kv...)
	if err != nil {
		t.Fatal(err)
	}
	if c.FPS != 30 || c.Width != 1280 || c.Autostart || !c.HADiscovery || c.GOP.Frames(c.FPS) != 60 || c.Bitrate != 2_500_000 ||
		c.MQTTURL != "tcp://127.0.0.1:1883" || !c.Danmaku.Auto() || c.LogLevel != "info" {
		t.Errorf("empty values did not give the defaults: %+v", c)
	}
	checkNewDefaults(t, c)
	if len(c.Targets()) != 0 {
		t.Errorf("Targets of a blank RTMP_URL: %v", c.Targets())
	}
}

func checkNewDefaults(t *testing.T, c *Config) {
	t.Helper()
	if c.SourceFormat != "h264" || c.Audio != "silent" || c.AudioRate != 48000 || c.Encoder != "auto" || c.X264Preset != "veryfast" ||
		c.X264Profile != "high" || c.Rotate != 0 || c.Flip != "" || c.SnapshotInterval != 10*time.Second || c.HTTP != "" ||
		c.HTTPToken != "" || c.DanmakuSize != 0.05 || len(c.DanmakuFonts()) != 0 {
		t.Errorf("defaults of the new settings: %+v", c)
	}
}

func TestBooleanForms(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{{"yes", true}, {"No", false}, {"ON", true}, {"off", false}, {"true", true}, {"FALSE", false}, {"1", true}, {"0", false}, {" on ", true}} {
		c, err := loadWith(t, "CAMNODE_AUTOSTART", tc.val, "CAMNODE_HA_DISCOVERY", tc.val, "CAMNODE_RTMP_URL", "rtmp://h/live/k")
		if err != nil {
			t.Errorf("%q: %v", tc.val, err)
			continue
		}
		if c.Autostart != tc.want || c.HADiscovery != tc.want {
			t.Errorf("%q: autostart %v discovery %v, want %v", tc.val, c.Autostart, c.HADiscovery, tc.want)
		}
	}
}

func TestNewSettings(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.ttf"), filepath.Join(dir, "b.otf")
	for _, f := range []string{a, b} {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	c, err := loadWith(t, "CAMNODE_SOURCE", "exec:rpicam-vid -t 0 -n --codec yuv420 -o -", "CAMNODE_SOURCE_FORMAT", "yuv420",
		"CAMNODE_AUDIO", "exec:ffmpeg -f alsa -i hw:1,0 -c:a aac -f adts -", "CAMNODE_AUDIO_RATE", "44100",
		"CAMNODE_ENCODER", "v4l2m2m:/dev/video11", "CAMNODE_X264_PRESET", "ultrafast", "CAMNODE_X264_PROFILE", "baseline",
		"CAMNODE_ROTATE", "180", "CAMNODE_FLIP", "hv", "CAMNODE_SNAPSHOT_INTERVAL", "0", "CAMNODE_HTTP", "0.0.0.0:8080",
		"CAMNODE_HTTP_TOKEN", "s3cret-token", "CAMNODE_DANMAKU_SIZE", "0.08", "CAMNODE_DANMAKU_FONT", a+":"+b,
		"CAMNODE_RTMP_URL", "rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1_2&key=k\n  rtmps://a.rtmps.youtube.com/live2/yt-key")
	if err != nil {
		t.Fatal(err)
	}
	if c.SourceFormat != "yuv420" || c.Audio != "exec:ffmpeg -f alsa -i hw:1,0 -c:a aac -f adts -" || c.AudioRate != 44100 ||
		c.Encoder != "v4l2m2m:/dev/video11" || c.X264Preset != "ultrafast" || c.X264Profile != "baseline" || c.Rotate != 180 ||
		c.Flip != "hv" || c.SnapshotInterval != 0 || c.HTTP != "0.0.0.0:8080" || c.HTTPToken != "s3cret-token" || c.DanmakuSize != 0.08 {
		t.Errorf("settings: %+v", c)
	}
	if got := c.DanmakuFonts(); !slices.Equal(got, []string{a, b}) {
		t.Errorf("DanmakuFonts = %q", got)
	}
	ts := c.Targets()
	if len(ts) != 2 || ts[0].App != "live-bvc" || ts[0].StreamName != "?streamname=live_1_2&key=k" || ts[1].TCURL != "rtmps://a.rtmps.youtube.com/live2" || ts[1].StreamName != "yt-key" {
		t.Fatalf("Targets = %#v", ts)
	}
	if r := c.Redacted(); r.HTTPToken != "****" || strings.Contains(r.RTMPURL, "yt-key") || strings.Contains(r.RTMPURL, "live_1_2") {
		t.Errorf("Redacted: %+v", r)
	}
	var usage strings.Builder
	Usage(&usage)
	for _, v := range []string{"CAMNODE_SOURCE_FORMAT", "CAMNODE_AUDIO ", "CAMNODE_AUDIO_RATE", "CAMNODE_ENCODER", "CAMNODE_X264_PRESET", "CAMNODE_X264_PROFILE",
		"CAMNODE_ROTATE", "CAMNODE_FLIP", "CAMNODE_SNAPSHOT_INTERVAL", "CAMNODE_HTTP ", "CAMNODE_HTTP_TOKEN", "CAMNODE_DANMAKU_SIZE", "veryfast", "48000"} {
		if !strings.Contains(usage.String(), v) {
			t.Errorf("--help lacks %q", v)
		}
	}
}

// TestEnvExampleListsEverySetting keeps deploy/camnode.env.example in step with the struct.
func TestEnvExampleListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../deploy/camnode.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var usage strings.Builder
	Usage(&usage)
	for _, line := range strings.Split(usage.String(), "\n")[1:] {
		name, _, _ := strings.Cut(line, " ")
		if name != "" && !strings.Contains(string(b), name+"=") {
			t.Errorf("deploy/camnode.env.example lacks %s", name)
		}
	}
}
