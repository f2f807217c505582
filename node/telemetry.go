package node

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/camnode/camnode/media/stream"
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

	// ChatBurnDropped counts the messages burn-in had no room for on screen; only with burn.
	ChatBurnDropped *uint64 `json:"chat_burn_dropped,omitempty"`
}

// telemetryState remembers the previous sample, for rates over the interval.
type telemetryState struct {
	at         time.Time
	framesSent uint64
	bytesSent  uint64
	// done holds the totals of pipelines already stopped.
	done stream.Stats
}

// totals adds the running pipeline's counters to those of the stopped ones.
func (n *Node) totals() (stream.Stats, time.Time) {
	s := n.tel.done
	var liveSince time.Time
	if n.pipe != nil {
		cur := n.pipe.pub.Stats()
		cur.FramesDropped += n.pipe.sourceDropped()
		s = addStats(s, cur)
		liveSince = cur.LiveSince
	}
	return s, liveSince
}

func addStats(a, b stream.Stats) stream.Stats {
	a.FramesSent += b.FramesSent
	a.FramesDropped += b.FramesDropped
	a.BytesSent += b.BytesSent
	a.Keyframes += b.Keyframes
	a.Reconnects += b.Reconnects
	a.GOPsDropped += b.GOPsDropped
	return a
}

func (n *Node) publishTelemetry() {
	tel := &n.tel
	now := time.Now()
	s, liveSince := n.totals()
	t := telemetry{
		FramesSent: s.FramesSent, FramesDropped: s.FramesDropped, BytesSent: s.BytesSent,
		Keyframes: s.Keyframes, Reconnects: s.Reconnects,
		UptimeS:  round(now.Sub(n.start).Seconds(), 1),
		CPUTempC: cpuTemp(),
		RSSBytes: rss(),
	}
	t.ChatReceived, t.ChatShown, t.ChatDropped = n.chat.counts()
	t.ChatBurnDropped = n.chat.burn.dropped()
	if !liveSince.IsZero() {
		t.StreamUptimeS = round(now.Sub(liveSince).Seconds(), 1)
	}
	if !tel.at.IsZero() {
		dt := now.Sub(tel.at).Seconds()
		if s.FramesSent >= tel.framesSent && dt > 0 {
			t.FPS = round(float64(s.FramesSent-tel.framesSent)/dt, 2)
			t.BitrateKbps = round(float64(s.BytesSent-tel.bytesSent)*8/1000/dt, 1)
		}
	}
	tel.at, tel.framesSent, tel.bytesSent = now, s.FramesSent, s.BytesSent
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
