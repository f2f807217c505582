//go:build linux

package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/bench/internal/figures"
	"github.com/camnode/camnode/internal/peers"
)

// BenchmarkPushAudio streams the clip BENCH_CLIP names into nginx-rtmp in real time with a
// silent AAC track beside it, as the platforms want it: once with `ffmpeg -re` copying the
// video and encoding anullsrc to AAC, once with camnode's pipeline and its silent track
// (the avpush program BENCH_AVPUSH names). It reports the CPU time and peak RSS of
// each process and camnode's share of ffmpeg's. Both recordings must hold every frame of
// the clip and an AAC track, or the figures mean nothing.
func BenchmarkPushAudio(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin, clip := figures.MustEnv(b, "BENCH_AVPUSH"), probeClip(b, figures.MustEnv(b, "BENCH_CLIP"))
	ingest := peers.StartNginx(b)

	// BENCH_AVPUSH_BEFORE, when set, names another build of avpush (e.g. from the previous
	// commit) measured in the same run, for a before/after figure.
	before := os.Getenv("BENCH_AVPUSH_BEFORE")
	var ff, cn, bf usage
	for i := 0; b.Loop(); i++ {
		u := pushFFmpegAudio(ctx, b, ingest, clip, fmt.Sprintf("ffmpeg-aac-%d", i))
		ff.user, ff.sys, ff.maxRSS = ff.user+u.user, ff.sys+u.sys, max(ff.maxRSS, u.maxRSS)
		u = pushAVPush(ctx, b, bin, clip, target{ingest, fmt.Sprintf("camnode-aac-%d", i)})
		cn.user, cn.sys, cn.maxRSS = cn.user+u.user, cn.sys+u.sys, max(cn.maxRSS, u.maxRSS)
		if before != "" {
			u = pushAVPush(ctx, b, before, clip, target{ingest, fmt.Sprintf("before-aac-%d", i)})
			bf.user, bf.sys, bf.maxRSS = bf.user+u.user, bf.sys+u.sys, max(bf.maxRSS, u.maxRSS)
		}
	}
	n := time.Duration(b.N)
	ff.user, ff.sys, cn.user, cn.sys, bf.user, bf.sys = ff.user/n, ff.sys/n, cn.user/n, cn.sys/n, bf.user/n, bf.sys/n

	beforeRows := ""
	if before != "" {
		beforeRows = usageRow(28, "before: "+filepath.Base(before), bf) +
			fmt.Sprintf("  before/ffmpeg                CPU %.2fx, RSS %.2fx\n", bf.cpu().Seconds()/ff.cpu().Seconds(), float64(bf.maxRSS)/float64(ff.maxRSS))
	}
	figures.Report(b, fmt.Sprintf("Push in real time with silent AAC audio: %s (%dx%d, %d frames) into nginx-rtmp; %d run(s), every frame and an aac track recorded\n",
		clip.path, clip.width, clip.height, clip.frames, b.N)+
		compare(b, 28, "ffmpeg -re -c:v copy + AAC", ff, "camnode pipeline + silence", cn)+
		beforeRows)
}

// BenchmarkPushTwoDestinations streams the clip in real time with silent AAC (avpush) to one
// nginx-rtmp, then to two at once, as a streamer who simulcasts: the CPU of two
// destinations against one (target <= 1.3x). Every recording must hold every frame.
func BenchmarkPushTwoDestinations(b *testing.B) {
	ctx := figures.Interruptible(b)
	bin, clip := figures.MustEnv(b, "BENCH_AVPUSH"), probeClip(b, figures.MustEnv(b, "BENCH_CLIP"))
	first, second := peers.StartNginx(b), peers.StartNginx(b)
	var one, two usage
	for i := 0; b.Loop(); i++ {
		u := pushAVPush(ctx, b, bin, clip, target{first, fmt.Sprintf("one-%d", i)})
		one.user, one.sys, one.maxRSS = one.user+u.user, one.sys+u.sys, max(one.maxRSS, u.maxRSS)
		u = pushAVPush(ctx, b, bin, clip, target{first, fmt.Sprintf("two-a-%d", i)}, target{second, fmt.Sprintf("two-b-%d", i)})
		two.user, two.sys, two.maxRSS = two.user+u.user, two.sys+u.sys, max(two.maxRSS, u.maxRSS)
	}
	n := time.Duration(b.N)
	one.user, one.sys, two.user, two.sys = one.user/n, one.sys/n, two.user/n, two.sys/n
	ratio := two.cpu().Seconds() / one.cpu().Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ratio, "cpu-ratio")
	verdict := "meets <= 1.30x"
	if ratio > 1.3 {
		verdict = "MISSES <= 1.30x"
	}
	figures.Report(b, fmt.Sprintf("Two destinations against one (avpush, real time, silent AAC): %s (%dx%d, %d frames), each recording complete; %d run(s)\n",
		clip.path, clip.width, clip.height, clip.frames, b.N)+
		fmt.Sprintf("  one nginx-rtmp   CPU %7.3f s, max RSS %6.1f MB\n", one.cpu().Seconds(), float64(one.maxRSS)/1e6)+
		fmt.Sprintf("  two nginx-rtmp   CPU %7.3f s, max RSS %6.1f MB\n", two.cpu().Seconds(), float64(two.maxRSS)/1e6)+
		fmt.Sprintf("  two/one          CPU %.2fx (%s), RSS %.2fx\n", ratio, verdict, float64(two.maxRSS)/float64(one.maxRSS)))
}

// target is one destination of a push: an ingest and the stream name on it.
type target struct {
	ingest *peers.Nginx
	stream string
}

// pushFFmpegAudio runs the reference: ffmpeg reading the raw clip in real time (-re, at the
// clip's 30 fps), copying the video and encoding silence from anullsrc to AAC-LC, mono
// 48 kHz, as a streamer adds a silent track for YouTube.
func pushFFmpegAudio(ctx context.Context, b *testing.B, ingest *peers.Nginx, clip clipInfo, stream string) usage {
	b.Helper()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error",
		"-re", "-framerate", "30", "-f", "h264", "-i", clip.path,
		"-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono",
		"-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", "-f", "flv", ingest.URL(stream))
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		b.Fatalf("ffmpeg push to %s: %v\n%s", ingest.URL(stream), err, stderr.String())
	}
	checkRecordingAAC(b, ingest, clip, stream)
	return rusage(cmd.ProcessState)
}

// pushAVPush runs camnode's pipeline with silence (bench/push/avpush) to the targets until
// it played the clip once and sent every frame to each.
func pushAVPush(ctx context.Context, b *testing.B, bin string, clip clipInfo, targets ...target) usage {
	b.Helper()
	var out bytes.Buffer
	args := []string{clip.path}
	for _, t := range targets {
		args = append(args, t.ingest.URL(t.stream))
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", bin, err, out.String())
	}
	for _, t := range targets {
		checkRecordingAAC(b, t.ingest, clip, t.stream)
	}
	return rusage(cmd.ProcessState)
}

// checkRecordingAAC checks a recording as checkRecording does and that it has an AAC track.
func checkRecordingAAC(b *testing.B, ingest *peers.Nginx, clip clipInfo, stream string) {
	b.Helper()
	checkRecording(b, ingest, clip, stream)
	rec := ingest.Recordings(stream)[0]
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-count_packets",
		"-show_entries", "stream=codec_name,sample_rate,nb_read_packets", "-of", "json", rec).Output()
	if err != nil {
		b.Fatalf("ffprobe %s: %v", rec, err)
	}
	var p struct {
		Streams []struct {
			Codec   string `json:"codec_name"`
			Rate    string `json:"sample_rate"`
			Packets string `json:"nb_read_packets"`
		}
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 1 || p.Streams[0].Codec != "aac" {
		b.Fatalf("recording of %s: no aac track (%s)", stream, out)
	}
	// The audio lasts as long as the video, within a second.
	packets, _ := strconv.Atoi(p.Streams[0].Packets)
	rate, _ := strconv.Atoi(p.Streams[0].Rate)
	if rate == 0 || abs(float64(packets*1024)/float64(rate)-float64(clip.frames)/30) > 1 {
		b.Fatalf("recording of %s: %d AAC frames at %d Hz for %d video frames", stream, packets, rate, clip.frames)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
