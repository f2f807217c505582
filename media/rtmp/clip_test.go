package rtmp

import (
	"bytes"
	"os"
	"testing"

	"github.com/camnode/camnode/media/flv"
)

// testClip is testdata/clip.h264 (320x240, 30 fps, 60 frames, constrained baseline, an IDR
// every 30 frames, no AUDs) split into frames for publishing.
type testClip struct {
	decoderConfig []byte   // AVCDecoderConfigurationRecord from the clip's SPS and PPS
	frames        [][]byte // FLV video tag bodies (AVCC), one per frame
	keyframes     []bool
}

const (
	clipWidth  = 320
	clipHeight = 240
	clipFrames = 60
)

func loadClip(t testing.TB) *testClip {
	t.Helper()
	data, err := os.ReadFile("testdata/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	var sps, pps []byte
	var pending [][]byte // SEI and other NAL units that belong to the next picture
	clip := &testClip{}
	for _, nal := range splitAnnexB(data) {
		switch nal[0] & 0x1f {
		case 7:
			sps = nal
		case 8:
			pps = nal
		case 1, 5: // one slice per picture in this clip
			key := nal[0]&0x1f == 5
			clip.frames = append(clip.frames, flv.AppendVideoTag(nil, key, 0, append(pending, nal)))
			clip.keyframes = append(clip.keyframes, key)
			pending = nil
		default:
			pending = append(pending, nal)
		}
	}
	if sps == nil || pps == nil || len(clip.frames) != clipFrames {
		t.Fatalf("clip: sps %d bytes, pps %d bytes, %d frames; want %d frames", len(sps), len(pps), len(clip.frames), clipFrames)
	}
	// AVCDecoderConfigurationRecord: version 1, profile, compatibility, level, 0xFF (4-byte
	// lengths), 0xE1 (one SPS), len, SPS, 1 (one PPS), len, PPS.
	rec := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1, byte(len(sps) >> 8), byte(len(sps))}
	rec = append(rec, sps...)
	rec = append(rec, 1, byte(len(pps)>>8), byte(len(pps)))
	clip.decoderConfig = append(rec, pps...)
	return clip
}

// splitAnnexB splits a byte stream on 00 00 01 start codes (a 4-byte start code leaves a
// zero that is trimmed).
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+3 <= len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nalus = append(nalus, bytes.TrimRight(b[start:i], "\x00"))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nalus = append(nalus, b[start:])
	}
	return nalus
}

// frameTime is the timestamp in ms of frame i at 30 fps counted from base.
func frameTime(base uint32, i int) uint32 { return base + uint32(i*1000/30) }

// publish sends metadata, the sequence header and n frames (looping the clip, which starts
// with an IDR) starting at timestamp base.
func (clip *testClip) publish(t testing.TB, c *Conn, base uint32, n int) {
	t.Helper()
	meta := flv.AppendMetadata(nil, flv.Metadata{Width: clipWidth, Height: clipHeight, FrameRate: 30, VideoDataRateKbps: 100, Encoder: "camnode-test"})
	if err := c.WriteData(base, meta); err != nil {
		t.Fatalf("write metadata: %v", err)
	}
	if err := c.WriteVideo(base, flv.AppendSequenceHeader(nil, clip.decoderConfig)); err != nil {
		t.Fatalf("write sequence header: %v", err)
	}
	for i := range n {
		if err := c.WriteVideo(frameTime(base, i), clip.frames[i%len(clip.frames)]); err != nil {
			t.Fatalf("write frame %d at %d ms: %v", i, frameTime(base, i), err)
		}
	}
}
