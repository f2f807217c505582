package peers

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Packet is one video packet of a recording as ffprobe reads it.
type Packet struct {
	PTS, DTS time.Duration
	Keyframe bool
	Size     int
}

// Video is what ffprobe and ffmpeg say about the first video stream of a file.
type Video struct {
	Codec   string
	Profile string
	Width   int
	Height  int
	Packets []Packet
	// Frames is the number of frames ffmpeg decoded, DecodeErrors what it complained about.
	Frames       int
	DecodeErrors string
}

// ProbeVideo reads a recording with ffprobe (stream and packets) and decodes it with ffmpeg.
func ProbeVideo(t testing.TB, path string) Video {
	t.Helper()
	Require(t, "ffprobe", "ffmpeg")
	out, err := run("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=codec_name,profile,width,height,nb_read_frames:packet=pts_time,dts_time,flags,size",
		"-of", "json", path)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	var probe struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Profile      string `json:"profile"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Packets []struct {
			PTS   string `json:"pts_time"`
			DTS   string `json:"dts_time"`
			Flags string `json:"flags"`
			Size  string `json:"size"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("peers: ffprobe json of %s: %v", path, err)
	}
	if len(probe.Streams) == 0 {
		t.Fatalf("peers: %s has no video stream", path)
	}
	s := probe.Streams[0]
	v := Video{Codec: s.CodecName, Profile: s.Profile, Width: s.Width, Height: s.Height}
	v.Frames, _ = strconv.Atoi(s.NbReadFrames)
	for _, p := range probe.Packets {
		size, _ := strconv.Atoi(p.Size)
		v.Packets = append(v.Packets, Packet{
			PTS: seconds(p.PTS), DTS: seconds(p.DTS), Keyframe: strings.Contains(p.Flags, "K"), Size: size,
		})
	}
	_, err = run("ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-map", "0:v", "-f", "null", "-")
	if err != nil {
		v.DecodeErrors = err.Error()
	}
	return v
}

func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return time.Duration(math.Round(f * 1e9))
}

// MonotonicDTS reports the first packet index whose DTS does not increase, or -1.
func (v Video) MonotonicDTS() int {
	for i := 1; i < len(v.Packets); i++ {
		if v.Packets[i].DTS <= v.Packets[i-1].DTS {
			return i
		}
	}
	return -1
}

// LiveMetadata plays a live stream with ffprobe and returns the onMetaData fields the
// server passed on (nginx-rtmp does not store metadata in its recordings, but it sends
// what it parsed from the publisher's @setDataFrame to every player).
func LiveMetadata(t testing.TB, url string) map[string]string {
	t.Helper()
	Require(t, "ffprobe", "timeout")
	out, err := run("timeout", "-k", "5", "20", "ffprobe", "-v", "error", "-rw_timeout", "5000000",
		"-analyzeduration", "500000", "-probesize", "200000",
		"-show_entries", "format_tags", "-of", "json", url)
	if err != nil {
		t.Fatalf("peers: %v", err)
	}
	var probe struct {
		Format struct {
			Tags map[string]string `json:"tags"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatalf("peers: ffprobe json: %v", err)
	}
	return probe.Format.Tags
}
