package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func clearEnv(t *testing.T) {
	t.Helper()
	t.Setenv("CAMNODE_NODE_ID", "garden")
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != "garden" || c.MQTTURL != "tcp://127.0.0.1:1883" || c.Width != 1280 || c.Height != 720 || c.FPS != 30 ||
		c.Bitrate != 2_500_000 || c.GOP.Frames(c.FPS) != 60 || c.Autostart || !c.Danmaku.Auto() || !c.Danmaku.May(CarrierBurn) ||
		c.Danmaku.Has(CarrierCC) || c.MQTTTopicPrefix != "camnode" || c.HADiscoveryPrefix != "homeassistant" || !c.HADiscovery {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := []struct{ env, val, wantVar, wantMsg string }{
		{"CAMNODE_WIDHT", "640", "CAMNODE_WIDHT", "unknown setting"},
		{"CAMNODE_WIDTH", "wide", "CAMNODE_WIDTH", "cannot parse"},
		{"CAMNODE_WIDTH", "641", "CAMNODE_WIDTH", "even"},
		{"CAMNODE_FPS", "0", "CAMNODE_FPS", "1 to 240"},
		{"CAMNODE_BITRATE", "fast", "CAMNODE_BITRATE", "2500k"},
		{"CAMNODE_GOP", "-1s", "CAMNODE_GOP", "duration"},
		{"CAMNODE_AUTOSTART", "maybe", "CAMNODE_AUTOSTART", "cannot parse"},
		{"CAMNODE_DANMAKU", "sei,smoke", "CAMNODE_DANMAKU", "unknown carrier"},
		{"CAMNODE_SOURCE", "http://x", "CAMNODE_SOURCE", "testsrc"},
		{"CAMNODE_MQTT_URL", "http://broker", "CAMNODE_MQTT_URL", "scheme"},
		{"CAMNODE_RTMP_URL", "rtmp://host/onlyapp", "CAMNODE_RTMP_URL", "/app/streamkey"},
		{"CAMNODE_RTMP_URL", "http://host/app/s3cr3t", "CAMNODE_RTMP_URL", "rtmp://"},
		{"CAMNODE_LOG_LEVEL", "loud", "CAMNODE_LOG_LEVEL", "debug"},
		{"CAMNODE_NODE_ID", "Gar den", "CAMNODE_NODE_ID", "a-z"},
		{"CAMNODE_MQTT_CA_FILE", "/nonexistent/ca.pem", "CAMNODE_MQTT_CA_FILE", "cannot read"},
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			_, err := Load()
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Var != tc.wantVar || !strings.Contains(ce.Msg, tc.wantMsg) {
				t.Fatalf("got %q, want var %s and %q", err, tc.wantVar, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl":                   "rtmp://a.rtmp.youtube.com:1935/live2/****",
		"rtmps://live.twitch.tv:443/app/live_123_xyz?x=1":                  "rtmps://live.twitch.tv:443/app/****?x=****",
		"rtmp://127.0.0.1:1935/live/?secret=1":                             "rtmp://127.0.0.1:1935/live/?secret=****",
		"rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1&key=k": "rtmp://live-push.bilivideo.com:1935/live-bvc/?streamname=****&key=****",
		"rtmp://h/live/key#frag":                                           "rtmp://h:1935/live/****",
		"rtmp://user:pw@h/live/key":                                        "rtmp://****@h/****",
		"rtmp://a/live/k1 \n rtmps://b/app/k2":                             "rtmp://a:1935/live/**** rtmps://b:443/app/****",
		"http://h/live/key?t=1#f":                                          "http://h/live/****?t=****#****",
		"ssl://user:pa55@broker:8883":                                      "ssl://user:****@broker:8883",
		"wss://broker/mqtt?token=abc":                                      "wss://broker/mqtt?token=****",
		"tcp://127.0.0.1:1883":                                             "tcp://127.0.0.1:1883",
		"127.0.0.1:1883":                                                   "****",
		"::not-a-url":                                                      "****",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecretsNeverInRedacted(t *testing.T) {
	c := Config{MQTTURL: "tcp://u:pw@h:1", MQTTPassword: "hunter2", HTTPToken: "tok3n-tok3n", RTMPURL: "rtmp://h/app/key123?token=abc rtmp://h2/live-bvc/?streamname=n&key=kk"}
	r := c.Redacted()
	all := r.MQTTURL + r.MQTTPassword + r.RTMPURL + r.HTTPToken
	want := []string{"hunter2", "tok3n-tok3n", "pw", "key123?token=abc", "key123", "token=abc", "abc", "?streamname=n&key=kk", "streamname=n&key=kk", "n", "kk"}
	if got := c.Secrets(); !slices.Equal(got, want) {
		t.Fatalf("secrets: %q\nwant %q", got, want)
	}
	for _, s := range c.Secrets() {
		if len(s) > 1 && strings.Contains(all, s) {
			t.Fatalf("secret %q in %q", s, all)
		}
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	var b strings.Builder
	if err := Usage(&b); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"CAMNODE_NODE_ID", "CAMNODE_MQTT_URL", "CAMNODE_RTMP_URL", "CAMNODE_SOURCE", "CAMNODE_GOP", "CAMNODE_DANMAKU", "2500k", "tcp://127.0.0.1:1883"} {
		if !strings.Contains(b.String(), v) {
			t.Errorf("usage lacks %s:\n%s", v, b.String())
		}
	}
}

func TestSanitizeID(t *testing.T) {
	for in, want := range map[string]string{"Garden-Pi.local": "garden-pi", "cam 1": "cam-1", "x_y": "x_y"} {
		if got := SanitizeID(in); got != want {
			t.Errorf("SanitizeID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrub(t *testing.T) {
	secrets := []string{"x", "stream", "long-secret-1"}
	for in, want := range map[string]string{
		"stream_started context deadline exceeded 127.0.0.1":           "stream_started context deadline exceeded 127.0.0.1",
		"dial rtmp://127.0.0.1/live/x?token=x: refused":                "dial rtmp://127.0.0.1:1935/live/****?token=****: refused",
		"broker tcp://camnode:x@127.0.0.1:1883, again":                 "broker tcp://camnode:****@127.0.0.1:1883, again",
		`player "http://cam.lan:8080/?token=long-secret-1"`:            `player "http://cam.lan:8080/?token=****"`,
		"wss://broker/mqtt?auth=stream#x and tcp://127.0.0.1:1883.":    "wss://broker/mqtt?auth=****#**** and tcp://127.0.0.1:1883.",
		"the key long-secret-1 in free text; the key x in free text":   "the key **** in free text; the key x in free text",
		"rtmp://h/live-bvc/?streamname=stream&key=x (Bilibili's form)": "rtmp://h:1935/live-bvc/?streamname=****&key=**** (Bilibili's form)",
	} {
		if got := Scrub(in, secrets); got != want {
			t.Errorf("Scrub(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// TestDebugLogHidesUserInfoOfAnyScheme: a source program (ffmpeg) that prints the URL it
// reads, password included, shows no password in camnode's log even at debug, whatever the
// scheme.
func TestDebugLogHidesUserInfoOfAnyScheme(t *testing.T) {
	var out strings.Builder
	c := Config{LogLevel: "debug"}
	log := c.NewLogger(&out)
	for _, line := range []string{
		"[rtsp @ 0x5581] method DESCRIBE failed: 401 Unauthorized rtsp://admin:hunter2@192.168.1.20:554/stream1",
		"Input #0, rtsp, from 'rtsps://viewer:hunter2@cam.lan/live':",
		"srt://cam.lan:9000?passphrase=hunter2hunter2 failed",
		"opening rtmpt://u:hunter2@h/app/k",
	} {
		log.Debug("source program", "stderr", line)
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("the debug log shows the password:\n%s", out.String())
	}
	for _, want := range []string{"rtsp://admin:****@192.168.1.20:554/stream1", "rtsps://viewer:****@cam.lan/live", "method DESCRIBE failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the debug log lacks %q:\n%s", want, out.String())
		}
	}
}
