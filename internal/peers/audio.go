package peers

import (
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Track is one stream of a recording as ffprobe reads it, with its packets.
type Track struct {
	Type       string // "video" or "audio"
	Codec      string
	SampleRate int // audio
	Channels   int // audio
	Packets    []Packet
}

// ProbeTracks lists the streams of a recording and their packets (no decoding; compact
// output, so that hours of packets stay quick to read).
func ProbeTracks(t testing.TB, path string) []Track {
	t.Helper()
	Require(t, "ffprobe")
	out, err := run("ffprobe", "-v", "error", "-show_entries", "stream=index,codec_type,codec_name,sample_rate,channels",
		"-of", "compact=p=0", path)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	var tracks []Track
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		kv := compactFields(line)
		if kv["index"] == "" {
			continue
		}
		tr := Track{Type: kv["codec_type"], Codec: kv["codec_name"]}
		tr.SampleRate, _ = strconv.Atoi(kv["sample_rate"])
		tr.Channels, _ = strconv.Atoi(kv["channels"])
		tracks = append(tracks, tr)
	}
	out, err = run("ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts_time,dts_time,flags,size",
		"-of", "compact=p=0", path)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		kv := compactFields(line)
		i, err := strconv.Atoi(kv["stream_index"])
		if err != nil || i < 0 || i >= len(tracks) {
			continue
		}
		size, _ := strconv.Atoi(kv["size"])
		tracks[i].Packets = append(tracks[i].Packets, Packet{PTS: seconds(kv["pts_time"]), DTS: seconds(kv["dts_time"]),
			Keyframe: strings.HasPrefix(kv["flags"], "K"), Size: size})
	}
	return tracks
}

// compactFields splits a line of ffprobe's compact output, key=value|key=value.
func compactFields(line string) map[string]string {
	kv := map[string]string{}
	for _, f := range strings.Split(line, "|") {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// AudioLevels is what ffmpeg's astats says about the decoded audio of a recording.
type AudioLevels struct {
	Samples int     // per channel
	PeakDB  float64 // -Inf for digital silence
	RMSDB   float64
}

// DecodeAudio decodes the first audio stream with ffmpeg, failing the test on any decoding
// error (-xerror), and measures it.
func DecodeAudio(t testing.TB, path string) AudioLevels {
	t.Helper()
	Require(t, "ffmpeg")
	out, err := run2("ffmpeg", "-nostdin", "-v", "info", "-xerror", "-i", path, "-map", "0:a:0",
		"-af", "astats=measure_perchannel=none:measure_overall=Number_of_samples+Peak_level+RMS_level", "-f", "null", "-")
	if err != nil {
		t.Fatalf("peers: decoding the audio of %s: %v", path, err)
	}
	var l AudioLevels
	num := func(re string) float64 {
		m := regexp.MustCompile(re + `: (\S+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("peers: no %q in ffmpeg's astats of %s:\n%s", re, path, tail(string(out), 20))
		}
		f, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			t.Fatalf("peers: astats %s = %q", re, m[1])
		}
		return f
	}
	l.Samples = int(num(`Number of samples`))
	l.PeakDB = num(`Peak level dB`)
	l.RMSDB = num(`RMS level dB`)
	return l
}

// AudioPCM decodes dur of the first audio stream from from on, mixed to mono, as 16-bit
// samples at the stream's rate.
func AudioPCM(t testing.TB, path string, from, dur time.Duration) []int16 {
	t.Helper()
	Require(t, "ffmpeg")
	out, err := run("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:a:0",
		"-ss", strconv.FormatFloat(from.Seconds(), 'f', 3, 64), "-t", strconv.FormatFloat(dur.Seconds(), 'f', 3, 64),
		"-ac", "1", "-f", "s16le", "-")
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	pcm := make([]int16, len(out)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	return pcm
}

// Tone measures a mono signal: its frequency from the zero crossings, its RMS level in dB
// of full scale.
func Tone(pcm []int16, rate int) (hz, rmsDB float64) {
	crossings, sum := 0, 0.0
	for i, s := range pcm {
		sum += float64(s) * float64(s)
		if i > 0 && (pcm[i-1] < 0) != (s < 0) {
			crossings++
		}
	}
	if len(pcm) == 0 {
		return 0, math.Inf(-1)
	}
	secs := float64(len(pcm)) / float64(rate)
	return float64(crossings) / 2 / secs, 20 * math.Log10(math.Sqrt(sum/float64(len(pcm)))/32768)
}

// run2 runs a program and returns its standard output and error together (ffmpeg's
// filters report there).
func run2(name string, args ...string) ([]byte, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(string(out), 10))
	}
	return out, nil
}
