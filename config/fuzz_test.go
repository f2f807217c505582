package config

import (
	"strings"
	"testing"

	"github.com/camnode/camnode/internal/redact"
	"github.com/camnode/camnode/media/rtmp"
)

// FuzzRTMPURLSetting holds configuration and the publisher to the same answer: CAMNODE_RTMP_URL
// validates exactly when the publisher's parser takes each of its URLs, Targets are what the
// publisher parses, and the error of a bad one shows neither the path nor the query.
func FuzzRTMPURLSetting(f *testing.F) {
	for _, s := range []string{
		"rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1_2&key=abc",
		"rtmp://sendtc3.douyu.com/live/123abc?wsSecret=x&wsTime=y",
		"rtmps://live-api-s.facebook.com:443/rtmp/FB-1-0-abc rtmp://a.rtmp.youtube.com/live2/k",
		"rtmp://h/live/key#frag", "rtmp://h/live/", "rtmp://u:p@h/live/k", "http://h/live/k", "rtmp://[::1]:1/a/b/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c := Config{NodeID: "garden", MQTTURL: "tcp://127.0.0.1:1883", MQTTTopicPrefix: "camnode", HADiscoveryPrefix: "homeassistant",
			MQTTKeepAlive: 30e9, RTMPURL: raw, RTMPTimeout: 10e9, ReconnectMin: 5e8, ReconnectMax: 30e9, SendBuffer: 4e9,
			Source: "testsrc", SourceFormat: "h264", Audio: "silent", AudioRate: 48000, Encoder: "auto", X264Preset: "veryfast",
			X264Profile: "high", SnapshotInterval: 10e9, Width: 1280, Height: 720, FPS: 30, Bitrate: 2_500_000, GOP: GOP{Count: 60},
			TelemetryInterval: 10e9, ChatMaxRunes: 100, ChatQueue: 64, DanmakuCCRows: 2, DanmakuArea: 0.5, DanmakuOpacity: 1,
			DanmakuSize: 0.05, LogLevel: "info", LogFormat: "text"}
		err := c.Validate()
		fields := strings.Fields(raw)
		var parsed []rtmp.URL
		allParse := true
		for _, field := range fields {
			u, perr := rtmp.ParseURL(field)
			if perr != nil {
				allParse = false
				continue
			}
			parsed = append(parsed, u)
		}
		if (err == nil) != allParse {
			t.Fatalf("RTMP_URL %q: Validate says %v, the publisher's parser says all parse = %v", raw, err, allParse)
		}
		if err != nil {
			for _, field := range fields {
				_, rest, ok := strings.Cut(field, "://")
				_, path, hasPath := strings.Cut(rest, "/")
				if ok && hasPath && len(path) >= MinScrubLen && strings.Contains(err.Error(), path) && !strings.Contains(RedactURL(field), path) {
					t.Fatalf("error %q shows the path %q", err, path)
				}
			}
			return
		}
		got := c.Targets()
		if len(got) != len(parsed) {
			t.Fatalf("Targets: %d, want %d", len(got), len(parsed))
		}
		for i := range got {
			if got[i] != parsed[i] {
				t.Fatalf("Targets[%d] = %+v, publisher parses %+v", i, got[i], parsed[i])
			}
			// The key and the query's values are hidden; parameter names are shown by design.
			hidden := []string{got[i].Key()}
			for _, kv := range strings.Split(got[i].Query(), "&") {
				_, v, _ := strings.Cut(kv, "=")
				hidden = append(hidden, v)
			}
			for _, s := range hidden {
				if len(s) >= MinScrubLen && !strings.Contains(got[i].TCURL, s) && !strings.Contains(redact.Query(got[i].Query()), s) && strings.Contains(RedactURL(raw), s) {
					t.Fatalf("RedactURL(%q) = %q shows %q", raw, RedactURL(raw), s)
				}
			}
		}
	})
}
