package node

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/pipeline"
)

// telemetry is the <base>/telemetry payload. Counters are totals since the node started.
type telemetry struct {
	FPS           float64  `json:"fps"`
	BitrateKbps   float64  `json:"bitrate_kbps"`
	FramesSent    uint64   `json:"frames_sent"`
	FramesDropped uint64   `json:"frames_dropped"`
	BytesSent     uint64   `json:"bytes_sent"`
	Keyframes     uint64   `json:"keyframes"`
	Reconnects    uint64   `json:"reconnects"`
	StreamUptimeS float64  `json:"stream_uptime_s"`
	UptimeS       float64  `json:"uptime_s"`
	ChatReceived  uint64   `json:"chat_received"`
	ChatShown     uint64   `json:"chat_shown"`
	ChatDropped   uint64   `json:"chat_dropped"`
	CPUTempC      *float64 `json:"cpu_temp_c,omitempty"` // absent where the board has no sensor
	RSSBytes      uint64   `json:"rss_bytes"`

	// Targets are the ingests, each with its own rate, drops and reconnects.
	Targets []targetTelemetry `json:"targets,omitempty"`

	// ChatSources are the readers of CAMNODE_CHAT_FROM: connected, messages read.
	ChatSources []chatSourceTelemetry `json:"chat_sources,omitempty"`

	// ChatBurnDropped counts the messages burn-in had no room for on screen; only with burn.
	ChatBurnDropped *uint64 `json:"chat_burn_dropped,omitempty"`
}

// targetTelemetry is one destination in the telemetry payload.
type targetTelemetry struct {
	Target        string  `json:"target"` // redacted
	BitrateKbps   float64 `json:"bitrate_kbps"`
	FramesDropped uint64  `json:"frames_dropped"`
	Reconnects    uint64  `json:"reconnects"`
}

// telemetryState remembers the previous sample, for rates over the interval.
type telemetryState struct {
	at         time.Time
	frames     uint64   // of the stream, from the source
	bytesSent  uint64   // all destinations
	targetSent []uint64 // bytes, per destination of the running pipeline
	// finished holds the totals of pipelines already stopped.
	finished       media.OutputStats
	finishedFrames uint64
}

// restart makes the next sample's rates count from a pipeline's start at: the first
// telemetry after ON says what the stream does, not an average with the time it was off.
func (t *telemetryState) restart(at time.Time) {
	t.at = at
	t.frames, t.bytesSent = t.finishedFrames, t.finished.BytesSent
	t.targetSent = nil
}

// done adds the counters of a stopped pipeline to the totals.
func (t *telemetryState) done(s pipeline.Stats) {
	t.finished = t.finished.Add(s.Total)
	t.finished.Live, t.finished.LiveSince = false, time.Time{}
	t.finishedFrames += s.Frames
}

func (n *Node) publishTelemetry() {
	tel := &n.tel
	now := time.Now()
	total, frames := tel.finished, tel.finishedFrames
	var cur pipeline.Stats
	if n.pipe != nil {
		cur = n.pipe.p.Stats()
		total = total.Add(cur.Total)
		frames += cur.Frames
	}
	t := telemetry{
		FramesSent: total.FramesSent, FramesDropped: total.FramesDropped, BytesSent: total.BytesSent,
		Keyframes: total.Keyframes, Reconnects: total.Reconnects,
		UptimeS:  round(now.Sub(n.start).Seconds(), 1),
		CPUTempC: cpuTemp(),
		RSSBytes: rss(),
	}
	t.ChatReceived, t.ChatShown, t.ChatDropped = n.chat.counts()
	t.ChatBurnDropped = n.chat.burn.dropped()
	t.ChatSources = n.chatSourceTelemetry()
	if !cur.Total.LiveSince.IsZero() {
		t.StreamUptimeS = round(now.Sub(cur.Total.LiveSince).Seconds(), 1)
	}
	dt := now.Sub(tel.at).Seconds()
	if !tel.at.IsZero() && dt > 0 {
		if frames >= tel.frames {
			t.FPS = round(float64(frames-tel.frames)/dt, 2)
		}
		if total.BytesSent >= tel.bytesSent {
			t.BitrateKbps = round(float64(total.BytesSent-tel.bytesSent)*8/1000/dt, 1)
		}
	}
	sent := make([]uint64, len(cur.Destinations))
	for i, d := range cur.Destinations {
		if d.Target == "" {
			continue // a local destination: not an ingest
		}
		tt := targetTelemetry{Target: d.Target, FramesDropped: d.FramesDropped, Reconnects: d.Reconnects}
		if i < len(n.targetNames) {
			tt.Target = n.targetNames[i]
		}
		sent[i] = d.BytesSent
		if i < len(tel.targetSent) && dt > 0 && d.BytesSent >= tel.targetSent[i] {
			tt.BitrateKbps = round(float64(d.BytesSent-tel.targetSent[i])*8/1000/dt, 1)
		} else if len(tel.targetSent) == 0 && dt > 0 {
			tt.BitrateKbps = round(float64(d.BytesSent)*8/1000/dt, 1)
		}
		t.Targets = append(t.Targets, tt)
	}
	tel.at, tel.frames, tel.bytesSent, tel.targetSent = now, frames, total.BytesSent, sent
	b, _ := json.Marshal(t)
	n.session.Publish(n.topics.Telemetry, false, b)
}

func round(v float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(v*p) / p
}

// cpuTemp reads the first thermal zone (the SoC on a Raspberry Pi), in °C.
func cpuTemp() *float64 {
	b, err := os.ReadFile("/sys/class/thermal/thermal_zone0/temp")
	if err != nil {
		return nil
	}
	milli, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	c := round(float64(milli)/1000, 1)
	return &c
}

// rss is the resident set size of this process, from /proc/self/statm (in pages).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
