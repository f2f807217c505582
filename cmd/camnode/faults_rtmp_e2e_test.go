//go:build linux

package main

// RTMP-side faults, each a behaviour of the real binary that a user can watch on MQTT: the
// ingest restarting under a live stream, an ingest that never answers, an ingest that
// refuses the stream key, and a source that dies and comes back.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/bench/latency"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media/rtmp"
)

// faultState is the retained <base>/state payload.
type faultState struct {
	State string `json:"state"`
	Error string `json:"error"`
}

func stateIs(want string) func(string) bool {
	return func(s string) bool {
		var st faultState
		return json.Unmarshal([]byte(s), &st) == nil && st.State == want
	}
}

func parseState(t *testing.T, payload string) faultState {
	t.Helper()
	var st faultState
	if err := json.Unmarshal([]byte(payload), &st); err != nil {
		t.Fatalf("state %q: %v", payload, err)
	}
	return st
}

func eventReason(t *testing.T, payload string) string {
	t.Helper()
	var e struct{ Reason string }
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		t.Fatalf("event %q: %v", payload, err)
	}
	return e.Reason
}

// faultEvents returns the events of that name after message index from.
func faultEvents(r *rig, from int, name string) []peers.Message {
	var out []peers.Message
	for _, m := range r.sub.Messages()[from:] {
		if m.Topic == r.topic("event") && eventIs(name)(m.Payload) {
			out = append(out, m)
		}
	}
	return out
}

// faultFast are the settings that make the fault tests quick: short reconnect delays.
func faultFast(r *rig) {
	r.env["CAMNODE_RECONNECT_MIN"] = "100ms"
	r.env["CAMNODE_RECONNECT_MAX"] = "1s"
	r.env["CAMNODE_RTMP_TIMEOUT"] = "2s"
	r.env["CAMNODE_AUTOSTART"] = "true"
	r.env["CAMNODE_TELEMETRY_INTERVAL"] = "1s"
}

// restartFigures are the times of one restart series, from nginx accepting TCP again.
type restartFigures struct {
	keyframe []time.Duration // to the first keyframe complete in nginx's new recording
	live     []time.Duration // to <base>/state live
}

// ingestRestarts kills nginx under the live stream n times and starts it again, checking
// what a user sees each time, and returns the timings.
func ingestRestarts(t *testing.T, r *rig, n int) restartFigures {
	t.Helper()
	watch, err := latency.WatchRecordings(r.ingest.RecDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(watch.Close)
	arrival := func(what string) latency.Arrival {
		t.Helper()
		select {
		case a := <-watch.Arrivals():
			return a
		case <-time.After(20 * time.Second):
			t.Fatalf("no keyframe reached nginx's recording %s (watch: %v)", what, watch.Err())
		}
		panic("unreachable")
	}

	node := startCamnode(t, r.env)
	r.await(t, 0, "state", stateIs("live"), "state live at start")
	last := arrival("at start")
	var fig restartFigures
	for i := range n {
		// nginx names recordings by the second: each publish needs a second of its own. A
		// close within rtmp.RefusalWindow of the publish would count as a refusal.
		time.Sleep(time.Until(last.At.Add(1100 * time.Millisecond)))
		from := len(r.sub.Messages())
		r.ingest.Kill()
		disc := r.await(t, from, "event", eventIs("rtmp_disconnected"), fmt.Sprintf("rtmp_disconnected after kill %d", i+1))
		if reason := eventReason(t, disc.Payload); !strings.Contains(reason, "closed by server") {
			t.Fatalf("restart %d: rtmp_disconnected reason %q, want the server closing the connection", i+1, reason)
		}
		r.await(t, from, "state", stateIs("reconnecting"), "state reconnecting")
		// The first outage is long enough to show the backoff growing to its cap.
		down := 300 * time.Millisecond
		if i == 0 {
			down = 5 * time.Second
		}
		time.Sleep(down)
		r.ingest.Start(t) // returns once nginx accepts TCP again
		up := time.Now()
		a := arrival(fmt.Sprintf("after restart %d", i+1))
		if a.File == last.File {
			t.Fatalf("restart %d: no new recording, still %s", i+1, a.File)
		}
		last = a
		live := r.await(t, from, "state", stateIs("live"), fmt.Sprintf("state live after restart %d", i+1))
		r.await(t, from, "event", eventIs("rtmp_connected"), "rtmp_connected")
		fig.keyframe = append(fig.keyframe, a.At.Sub(up))
		fig.live = append(fig.live, live.At.Sub(up))
		if i == 0 || i == n-1 {
			// What a player joining now gets: our onMetaData, resent on the new connection.
			if meta := peers.LiveMetadata(t, r.ingest.URL(r.stream)); meta["displayWidth"] == "" || meta["fps"] == "" {
				t.Fatalf("restart %d: onMetaData seen by a player: %v", i+1, meta)
			}
		}
		if n := len(faultEvents(r, from, "rtmp_disconnected")); n != 1 {
			t.Fatalf("restart %d: %d rtmp_disconnected events for one outage", i+1, n)
		}
	}
	time.Sleep(time.Until(last.At.Add(1100 * time.Millisecond)))
	from := len(r.sub.Messages())
	peers.Publish(t, r.broker, r.topic("stream/set"), "OFF")
	r.await(t, from, "state", stateIs("idle"), "state idle after OFF")
	r.ingest.WaitPublishEnded(t, r.stream, 1, 10*time.Second)

	// Every publish made a recording that decodes from its first packet, a keyframe.
	recs := r.ingest.Recordings(r.stream)
	if len(recs) != n+1 {
		t.Fatalf("%d recordings for %d publishes: %v", len(recs), n+1, recs)
	}
	for _, rec := range recs {
		v := peers.ProbeVideo(t, rec)
		if v.Codec != "h264" || v.Width != 320 || v.Height != 240 || v.DecodeErrors != "" {
			t.Fatalf("%s: %s %dx%d, decode errors %q", filepath.Base(rec), v.Codec, v.Width, v.Height, v.DecodeErrors)
		}
		// How many frames a publish holds depends on how fast a loaded machine encodes in
		// the second each one lasts; that it starts with a keyframe and runs in order does not.
		if len(v.Packets) < 2 || !v.Packets[0].Keyframe {
			t.Fatalf("%s: %d packets, first keyframe %v", filepath.Base(rec), len(v.Packets), len(v.Packets) > 0 && v.Packets[0].Keyframe)
		}
		if i := v.MonotonicDTS(); i >= 0 {
			t.Fatalf("%s: DTS not increasing at packet %d of %d", filepath.Base(rec), i, len(v.Packets))
		}
	}
	checkBackoff(t, node.Log(), 100*time.Millisecond, time.Second)
	for _, m := range r.sub.Messages() {
		if strings.Contains(m.Payload, r.key) {
			t.Fatalf("stream key in %s: %s", m.Topic, m.Payload)
		}
	}
	return fig
}

// checkBackoff reads the delays the node logged between its reconnect attempts (retry_in)
// and checks they grow from about min to a cap of about max, with jitter.
func checkBackoff(t *testing.T, log string, min, max time.Duration) {
	t.Helper()
	var waits []time.Duration
	for _, m := range regexp.MustCompile(`ingest connection ended.* retry_in=(\S+)`).FindAllStringSubmatch(log, -1) {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatalf("retry_in %q: %v", m[1], err)
		}
		waits = append(waits, d)
	}
	if len(waits) < 5 {
		t.Fatalf("only %d reconnect delays logged: %v", len(waits), waits)
	}
	// The first outage: min, 2min, 4min ... jittered by +-25%, up to the cap.
	if waits[0] < min*3/4 || waits[0] > min*5/4 || waits[1] < 2*min*3/4 || waits[1] > 2*min*5/4 {
		t.Errorf("first reconnect delays %v, want about %v then %v", waits[:2], min, 2*min)
	}
	capped := 0
	for _, w := range waits {
		if w > max*5/4 {
			t.Errorf("reconnect delay %v above the cap %v (+25%% jitter): %v", w, max, waits)
		}
		if w >= max*3/4 {
			capped++
		}
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(waits)))
	if capped < 3 || len(distinct) < len(waits)/2 {
		t.Errorf("reconnect delays %v: want the cap reached and jittered", waits)
	}
}

// median and maximum of durations.
func medianMax(d []time.Duration) (time.Duration, time.Duration) {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2], s[len(s)-1]
}

// writeFigure puts one labelled line into bench/out/faults-rtmp.txt (git-ignored), keeping
// the lines of other labels, so the lead can quote the latest figures.
func writeFigure(t *testing.T, label, line string) {
	t.Helper()
	path := filepath.Join("..", "..", "bench", "out", "faults-rtmp.txt")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Logf("figures not written: %v", err)
		return
	}
	old, _ := os.ReadFile(path)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, label+":") {
			lines = append(lines, l)
		}
	}
	lines = append(lines, label+": "+line)
	slices.Sort(lines)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Logf("figures not written: %v", err)
	}
}

func reportRestarts(t *testing.T, label, target string, fig restartFigures) {
	t.Helper()
	kMed, kMax := medianMax(fig.keyframe)
	lMed, lMax := medianMax(fig.live)
	line := fmt.Sprintf("%d nginx restarts, ingest accepting TCP -> first keyframe in its recording: median %v max %v (target %s); -> state live: median %v max %v",
		len(fig.keyframe), kMed.Round(time.Millisecond), kMax.Round(time.Millisecond), target, lMed.Round(time.Millisecond), lMax.Round(time.Millisecond))
	t.Log(line)
	writeFigure(t, label, line)
}

// Issue 6: kill nginx-rtmp under a live stream and start it again, 20 times. The test source
// encodes with x264, so the publisher's keyframe request on reconnect gives a keyframe at
// once.
func TestFaultIngestRestartsForcedKeyframes(t *testing.T) {
	r := newRig(t, "restarts", "")
	faultFast(r)
	r.env["CAMNODE_SOURCE"] = "testsrc"
	r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"], r.env["CAMNODE_FPS"] = "320", "240", "30"
	r.env["CAMNODE_BITRATE"], r.env["CAMNODE_GOP"] = "300k", "2s"
	// The figures are reported, not asserted: timings are for the benchmark record.
	reportRestarts(t, "restart-testsrc", "median <= 1s", ingestRestarts(t, r, 20))
}

// The same with a passthrough source (a file of H.264, keyframe every second): the first
// keyframe after a reconnect is the file's next one, at most a GOP away.
func TestFaultIngestRestartsPassthrough(t *testing.T) {
	clip := makeClip(t, "320x240", 90, 30)
	r := newRig(t, "restartsfile", clip)
	faultFast(r)
	r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"] = "320", "240"
	reportRestarts(t, "restart-file", "median <= 1 GOP (1s)", ingestRestarts(t, r, 10))
}

// An ingest that accepts TCP and never answers the handshake, and one that answers the
// handshake and never answers connect: each attempt times out after CAMNODE_RTMP_TIMEOUT,
// the user gets one rtmp_disconnected saying so, and the node keeps trying.
func TestFaultIngestNeverAnswers(t *testing.T) {
	for _, stall := range []peers.Stall{peers.StallHandshake, peers.StallConnect} {
		t.Run(stall.String(), func(t *testing.T) {
			ing := peers.StartStallingIngest(t, stall)
			r := newRig(t, "stall"+stall.String(), makeClip(t, "320x240", 30, 30))
			faultFast(r)
			r.env["CAMNODE_RTMP_URL"] = ing.URL(r.stream)
			r.env["CAMNODE_RTMP_TIMEOUT"] = "300ms"
			r.env["CAMNODE_RECONNECT_MAX"] = "500ms"
			startCamnode(t, r.env)
			disc := r.await(t, 0, "event", eventIs("rtmp_disconnected"), "rtmp_disconnected")
			reason := eventReason(t, disc.Payload)
			if !strings.Contains(reason, stall.String()+": timed out") || strings.Contains(reason, r.key) {
				t.Fatalf("rtmp_disconnected reason %q: want the %s step timed out, without the key", reason, stall)
			}
			st := parseState(t, r.await(t, 0, "state", stateIs("reconnecting"), "state reconnecting").Payload)
			if !strings.Contains(st.Error, "timed out") {
				t.Fatalf("state error %q does not say timed out", st.Error)
			}
			before := ing.Accepted()
			time.Sleep(4 * time.Second)
			// Each attempt: 300ms timeout, then 100ms..500ms (+-25%) wait, so 0.375 s to
			// 0.925 s apart: 4 to 11 attempts in 4 s. A hot loop would make hundreds.
			if n := ing.Accepted() - before; n < 3 || n > 14 {
				t.Fatalf("%d connection attempts in 4 s, want 3..14", n)
			}
			if n := ing.Open(); n > 1 {
				t.Fatalf("%d connections left open: timed-out attempts must be closed", n)
			}
			if n := len(faultEvents(r, 0, "rtmp_disconnected")); n != 1 {
				t.Fatalf("%d rtmp_disconnected events, want one for the outage", n)
			}
			for _, m := range r.sub.OnTopic(r.topic("state")) {
				if stateIs("live")(m.Payload) {
					t.Fatalf("state live from an ingest that never answered: %s", m.Payload)
				}
			}
		})
	}
}

// nginx-rtmp refuses the publish: state error with the reason and an rtmp_rejected event,
// and no hot retry loop.
func TestFaultIngestRefuses(t *testing.T) {
	t.Run("deny publish", func(t *testing.T) {
		r := newRig(t, "denied", makeClip(t, "320x240", 30, 30))
		faultFast(r)
		// The "closed" application says `deny publish all`: nginx confirms the publish
		// and drops the connection at once, without a word.
		r.env["CAMNODE_RTMP_URL"] = strings.Replace(r.ingest.URL(r.stream), "/live/", "/closed/", 1)
		r.env["CAMNODE_RECONNECT_MAX"] = "4s"
		startCamnode(t, r.env)
		rej := r.await(t, 0, "event", eventIs("rtmp_rejected"), "rtmp_rejected")
		if reason := eventReason(t, rej.Payload); !strings.Contains(reason, "stream refused") || strings.Contains(reason, r.key) {
			t.Fatalf("rtmp_rejected reason %q: want the refusal, without the key", reason)
		}
		st := parseState(t, r.await(t, 0, "state", stateIs("error"), "state error").Payload)
		if !strings.Contains(st.Error, "stream refused") || !strings.Contains(st.Error, "/closed/****") {
			t.Fatalf("state error %q: want the refusal and the redacted target", st.Error)
		}
		// The retry waits the cap, 4s +-25%: in 2.5 s nginx sees no second attempt.
		time.Sleep(2500 * time.Millisecond)
		if n := strings.Count(r.ingest.AccessLog(), `PUBLISH "closed"`); n != 1 {
			t.Fatalf("nginx saw %d publish attempts within 2.5 s of a refusal, want 1:\n%s", n, r.ingest.AccessLog())
		}
		for _, m := range r.sub.Messages() {
			if m.Topic == r.topic("state") && stateIs("live")(m.Payload) || eventIs("stream_started")(m.Payload) {
				t.Fatalf("a refused stream showed as live: %s %s", m.Topic, m.Payload)
			}
		}
		if m := r.sub.OnTopic(r.topic("stream/state")); len(m) == 0 || m[len(m)-1].Payload != "OFF" {
			t.Fatalf("stream/state after a refusal: %v", m)
		}
	})

	t.Run("stream name busy", func(t *testing.T) {
		r := newRig(t, "busy", makeClip(t, "320x240", 90, 30))
		faultFast(r)
		r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"] = "320", "240"
		r.env["CAMNODE_RECONNECT_MAX"] = "2s"
		// Someone else publishes on our stream name: nginx answers NetStream.Publish.BadName.
		other, err := rtmp.Dial(context.Background(), r.ingest.URL(r.stream), rtmp.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		startCamnode(t, r.env)
		r.await(t, 0, "event", eventIs("rtmp_rejected"), "rtmp_rejected")
		st := parseState(t, r.await(t, 0, "state", stateIs("error"), "state error").Payload)
		if !strings.Contains(st.Error, "NetStream.Publish.BadName") || !strings.Contains(st.Error, "Already publishing") {
			t.Fatalf("state error %q: want nginx's status code and description", st.Error)
		}
		// The other publisher leaves: at the next slow retry the node goes live.
		from := len(r.sub.Messages())
		other.Close()
		r.await(t, from, "state", stateIs("live"), "state live once the name is free")
		if n := strings.Count(r.ingest.AccessLog(), `PUBLISH "live"`); n > 4 {
			t.Fatalf("nginx saw %d publish sessions end: a retry loop\n%s", n, r.ingest.AccessLog())
		}
	})
}

// The source dies: an exec command that exits, a file that vanishes. The user gets
// source_failed, the node retries with growing delays, and when the command or file is back
// the stream is live again on the same ingest connection.
func TestFaultSourceFails(t *testing.T) {
	clip := makeClip(t, "320x240", 60, 30)
	cases := []struct {
		name string
		// setup returns the CAMNODE_SOURCE and the functions that break and mend it.
		setup func(t *testing.T) (source string, breakIt, mendIt func())
		// failure is what the first source_failed says.
		failure string
	}{
		{"exec command exits", func(t *testing.T) (string, func(), func()) {
			dir := t.TempDir()
			ok := filepath.Join(dir, "plugged")
			script := filepath.Join(dir, "camera.sh")
			// A camera command: while "plugged" exists it plays the 2 s clip in real time
			// and exits at its end (as a crashing encoder would); without it, it fails.
			body := fmt.Sprintf("#!/bin/sh\n[ -e %q ] || { echo 'camera unplugged' >&2; exit 3; }\n"+
				"exec ffmpeg -nostdin -v error -re -i %q -c copy -f h264 -\n", ok, clip)
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(ok, nil, 0o644)
			return "exec:" + script,
				func() { os.Remove(ok) },
				func() { os.WriteFile(ok, nil, 0o644) }
		}, "exit status"},
		{"file vanishes", func(t *testing.T) (string, func(), func()) {
			dir := t.TempDir()
			path := filepath.Join(dir, "clip.h264")
			b, err := os.ReadFile(clip)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, b, 0o644)
			return "file://" + path,
				func() { os.Remove(path) },
				func() {
					// Written aside and renamed: the source never sees half a file.
					os.WriteFile(path+".tmp", b, 0o644)
					os.Rename(path+".tmp", path)
				}
		}, "clip.h264"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "src"+strings.ReplaceAll(tc.name, " ", ""), clip)
			faultFast(r)
			r.env["CAMNODE_WIDTH"], r.env["CAMNODE_HEIGHT"] = "320", "240"
			source, breakIt, mendIt := tc.setup(t)
			r.env["CAMNODE_SOURCE"] = source
			startCamnode(t, r.env)
			r.await(t, 0, "state", stateIs("live"), "state live")

			from := len(r.sub.Messages())
			breakIt()
			// The running command plays to the end of its clip, the file source to the
			// end of its pass: then the source fails.
			first := r.await(t, from, "event", eventIs("source_failed"), "source_failed")
			if reason := eventReason(t, first.Payload); !strings.Contains(reason, tc.failure) {
				t.Fatalf("source_failed reason %q, want it to mention %q", reason, tc.failure)
			}
			st := parseState(t, r.await(t, from, "state", stateIs("error"), "state error").Payload)
			if st.Error == "" {
				t.Fatal("state error without a reason")
			}
			time.Sleep(4 * time.Second)
			fails := faultEvents(r, from, "source_failed")
			// 100ms, 200ms, 400ms, 800ms, then 1s: about 6 in 4 s; a hot loop makes hundreds.
			if len(fails) < 3 || len(fails) > 10 {
				t.Fatalf("%d source_failed events in 4 s, want 3..10 (backoff)", len(fails))
			}
			firstGap, lastGap := fails[1].At.Sub(fails[0].At), fails[len(fails)-1].At.Sub(fails[len(fails)-2].At)
			if lastGap < 2*firstGap {
				t.Fatalf("retries not backing off: gaps %v then %v", firstGap, lastGap)
			}

			from = len(r.sub.Messages())
			mendIt()
			r.await(t, from, "state", stateIs("live"), "state live again")
			// Frames flow to the ingest again.
			tel1 := parseTelemetry(t, r.await(t, from, "telemetry", func(string) bool { return true }, "telemetry").Payload)
			at := len(r.sub.Messages())
			tel2 := parseTelemetry(t, r.await(t, at, "telemetry", func(string) bool { return true }, "telemetry").Payload)
			if tel2.FramesSent <= tel1.FramesSent {
				t.Fatalf("no frames sent after the source came back: %+v then %+v", tel1, tel2)
			}
		})
	}
}
