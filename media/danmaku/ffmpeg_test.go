package danmaku

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camnode/camnode/chat"
	"github.com/camnode/camnode/internal/peers"
	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/danmaku/sei"
	"github.com/camnode/camnode/media/flv"
	"github.com/camnode/camnode/media/h264"
)

// What ffmpeg's own tools read from a stream the carriers filled: the SEI JSON through
// the trace_headers bitstream filter, the captions through its CEA-608 decoder, the
// onTextData messages through its FLV demuxer as a subtitle stream; and the picture still
// decodes frame for frame.
func TestFFmpegReadsEveryCarrier(t *testing.T) {
	peers.Require(t, "ffmpeg", "ffprobe")
	const frames = 150 // 5 s at 30 fps
	aus := clipUnits(t, frames)
	c := NewCarriers(CarrierOptions{SEI: true, CC: true, AMF: true, CaptionErase: time.Second})
	at := map[int][]chat.Message{
		3:  {{Text: "弹幕来了 你好", User: "张三", Color: 0xff0000, Mode: chat.ModeTop}},
		4:  {{Text: "😀🎉 nice", User: "emoji_fan", Color: chat.DefaultColor}, {Text: "same frame", Color: chat.DefaultColor}},
		10: {{Text: "Hello from camnode, see you", User: "bob", Color: chat.DefaultColor}},
		90: {{Text: "Crème brûlée ♪♪ ÄÖÜ", User: "zoë", Color: chat.DefaultColor}},
	}
	var want []chat.Message
	file := flv.AppendFileHeader(nil, true, false)
	for i, nalus := range aus {
		au := &media.AccessUnit{NALUs: nalus, Time: time.Duration(i) * time.Second / 30, Keyframe: h264.IsKeyframe(nalus)}
		if i == 0 {
			file = flv.AppendTag(file, flv.TagVideo, 0, flv.AppendSequenceHeader(nil, decoderConfig(t, nalus)))
		}
		for _, m := range at[i] {
			mustPush(t, c, m)
			want = append(want, m)
		}
		out, data := c.Frame(au)
		ts := uint32(au.Time / time.Millisecond)
		file = flv.AppendTag(file, flv.TagVideo, ts, flv.AppendVideoTag(nil, out.Keyframe, 0, out.NALUs))
		for _, d := range data {
			file = flv.AppendTag(file, flv.TagScript, ts, AppendTextData(nil, d))
		}
	}
	path := filepath.Join(t.TempDir(), "chat.flv")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}

	v := peers.ProbeVideo(t, path)
	if v.Frames != frames || v.DecodeErrors != "" || len(v.Packets) != frames {
		t.Fatalf("decoded %d frames of %d (%d packets), errors %q", v.Frames, frames, len(v.Packets), v.DecodeErrors)
	}

	var wantJSON, wantText []string
	for _, m := range want {
		wantJSON = append(wantJSON, string(m.AppendJSON(nil)))
		wantText = append(wantText, m.Text)
	}
	if got := peers.SEIPayloads(t, path, sei.CamnodeUUID[:]); strings.Join(got, "\n") != strings.Join(wantJSON, "\n") {
		t.Fatalf("SEI chat read by trace_headers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantJSON, "\n"))
	}
	if got := peers.TextData(t, path); strings.Join(got, "\n") != strings.Join(wantText, "\n") {
		t.Fatalf("onTextData read by ffmpeg:\n%q\nwant:\n%q", got, wantText)
	}
	captions := strings.Join(peers.Captions(t, path), "\n")
	for _, line := range []string{"??: ???? ??", "emoji_fan: ?? nice", "same frame", "bob: Hello from camnode, see you", "zoë: Crème brûlée ♪♪ ÄÖÜ"} {
		if !strings.Contains(captions, line) {
			t.Errorf("captions lack %q:\n%s", line, captions)
		}
	}
}

// clipUnits makes a 320x240 baseline clip with ffmpeg and returns its access units.
func clipUnits(t *testing.T, frames int) [][][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.h264")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-frames:v", strconv.Itoa(frames), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
		"-pix_fmt", "yuv420p", "-g", "30", "-f", "h264", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	var sp h264.Splitter
	emit := func(nalus [][]byte) error {
		cp := make([][]byte, len(nalus))
		for i, n := range nalus {
			cp[i] = bytes.Clone(n)
		}
		aus = append(aus, cp)
		return nil
	}
	if err := sp.Push(raw, emit); err != nil {
		t.Fatal(err)
	}
	if err := sp.Flush(emit); err != nil {
		t.Fatal(err)
	}
	if len(aus) != frames {
		t.Fatalf("%d access units in a clip of %d frames", len(aus), frames)
	}
	return aus
}

func decoderConfig(t *testing.T, nalus [][]byte) []byte {
	var sps, pps [][]byte
	for _, n := range nalus {
		switch h264.NALType(n) {
		case h264.TypeSPS:
			sps = append(sps, n)
		case h264.TypePPS:
			pps = append(pps, n)
		}
	}
	rec, err := h264.AppendDecoderConfig(nil, sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Every character of the 608 sets (basic, special, both extended sets) comes out of
// ffmpeg's CEA-608 decoder as itself: the encoder's tables match what decoders show.
func TestFFmpegShowsEvery608Character(t *testing.T) {
	peers.Require(t, "ffmpeg")
	sets := []string{"áéíóúç÷Ññ█’", "®°½¿™¢£♪àèâêîôû", "ÁÉÓÚÜü´¡*‘-©℠·“”", "ÀÂÇÈÊËëÎÏïÔÙùÛ«»", "ÃãÍÌìÒòÕõ{}\\^_|~", "ÄäÖöß¥¤¦ÅåØø┌┐└┘"}
	aus := clipUnits(t, 300)
	c := NewCarriers(CarrierOptions{CC: true, CaptionErase: time.Second})
	file := flv.AppendFileHeader(nil, true, false)
	for i, nalus := range aus {
		au := &media.AccessUnit{NALUs: nalus, Time: time.Duration(i) * time.Second / 30, Keyframe: h264.IsKeyframe(nalus)}
		if i == 0 {
			file = flv.AppendTag(file, flv.TagVideo, 0, flv.AppendSequenceHeader(nil, decoderConfig(t, nalus)))
		}
		if i < len(sets) {
			mustPush(t, c, chat.Message{Text: sets[i], Color: chat.DefaultColor})
		}
		out, _ := c.Frame(au)
		file = flv.AppendTag(file, flv.TagVideo, uint32(au.Time/time.Millisecond), flv.AppendVideoTag(nil, out.Keyframe, 0, out.NALUs))
	}
	path := filepath.Join(t.TempDir(), "glyphs.flv")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	captions := "\n" + strings.Join(peers.Captions(t, path), "\n") + "\n"
	for _, set := range sets {
		if !strings.Contains(captions, "\n"+set+"\n") {
			t.Errorf("ffmpeg does not show %q; captions:%s", set, captions)
		}
	}
}
