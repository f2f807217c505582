package h264

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
)

// The clips in testdata were made with ffmpeg 5.1 / libx264 164 from the lavfi testsrc
// pattern, for example
//
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=25 -frames:v 30 -c:v libx264 \
//	  -profile:v baseline -pix_fmt yuv420p -g 10 -f h264 baseline_320x240_25fps_gop10.h264
//
// and the expected frame counts and keyframe positions are what
// `ffprobe -show_entries packet=flags` reports for them. The .avcc files are the
// AVCDecoderConfigurationRecord ffmpeg writes into the FLV sequence header of the same clip
// (`ffmpeg -i clip.h264 -c copy -f flv`).
var clips = []struct {
	file          string
	frames        int
	keyframes     []int
	width, height int
	fps           float64
	profile       byte
	slicesPerAU   int // 0: not checked
	aud           bool
}{
	{"baseline_320x240_25fps_gop10.h264", 30, []int{0, 10, 20}, 320, 240, 25, 66, 1, false},
	{"high_1280x720_30fps_gop10.h264", 20, []int{0, 10}, 1280, 720, 30, 100, 1, false},
	{"slices4_320x240_gop6.h264", 12, []int{0, 6}, 320, 240, 25, 77, 4, false},
	{"crop_854x480_24fps_gop5.h264", 10, []int{0, 5}, 854, 480, 24, 66, 1, false},
	{"aud_320x240_gop5.h264", 15, []int{0, 5, 10}, 320, 240, 25, 66, 1, true},
	{"high422_64x48_10fps.h264", 3, []int{0}, 64, 48, 10, 122, 0, false},
	{"interlaced_320x240.h264", 4, []int{0}, 320, 240, 25, 100, 0, false},
}

func readClip(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitAll runs a Splitter over stream in chunks of the given size and returns deep copies
// of the access units it emits.
func splitAll(t testing.TB, stream []byte, chunk int) [][][]byte {
	t.Helper()
	var s Splitter
	var aus [][][]byte
	emit := func(nalus [][]byte) error {
		var au [][]byte
		for _, n := range nalus {
			au = append(au, bytes.Clone(n))
		}
		aus = append(aus, au)
		return nil
	}
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		if err := s.Push(stream[:n], emit); err != nil {
			t.Fatalf("Push: %v", err)
		}
		stream = stream[n:]
	}
	if err := s.Flush(emit); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return aus
}

func TestClips(t *testing.T) {
	for _, c := range clips {
		t.Run(c.file, func(t *testing.T) {
			stream := readClip(t, c.file)
			aus := splitAll(t, stream, len(stream))
			if len(aus) != c.frames {
				t.Fatalf("got %d access units, ffprobe counts %d frames", len(aus), c.frames)
			}
			var keys []int
			for i, au := range aus {
				if IsKeyframe(au) {
					keys = append(keys, i)
				}
				vcl := 0
				for _, n := range au {
					if IsVCL(NALType(n)) {
						vcl++
					}
				}
				if c.slicesPerAU > 0 && vcl != c.slicesPerAU {
					t.Errorf("access unit %d holds %d slices, want %d", i, vcl, c.slicesPerAU)
				}
				if c.aud && NALType(au[0]) != TypeAUD {
					t.Errorf("access unit %d begins with NAL type %d, want the delimiter", i, NALType(au[0]))
				}
			}
			if !slices.Equal(keys, c.keyframes) {
				t.Errorf("keyframes at %v, want %v", keys, c.keyframes)
			}
			if NALType(aus[0][0]) != TypeSPS && NALType(aus[0][0]) != TypeAUD {
				t.Errorf("first access unit begins with NAL type %d", NALType(aus[0][0]))
			}

			var sps SPS
			var err error
			for _, n := range aus[0] {
				if NALType(n) == TypeSPS {
					sps, err = ParseSPS(n)
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if sps.Width != c.width || sps.Height != c.height || sps.FrameRate() != c.fps || sps.ProfileIDC != c.profile {
				t.Errorf("SPS says %dx%d %v fps profile %d, want %dx%d %v fps profile %d",
					sps.Width, sps.Height, sps.FrameRate(), sps.ProfileIDC, c.width, c.height, c.fps, c.profile)
			}

			// Any chunking gives the same access units.
			for _, chunk := range []int{1, 2, 3, 5, 188, 4096} {
				if got := splitAll(t, stream, chunk); !equalAUs(got, aus) {
					t.Errorf("pushing %d bytes at a time changes the access units", chunk)
				}
			}
		})
	}
}

func equalAUs(a, b [][][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) })
}

func TestDecoderConfigMatchesFFmpeg(t *testing.T) {
	for _, name := range []string{
		"baseline_320x240_25fps_gop10",
		"high_1280x720_30fps_gop10",
		"high422_64x48_10fps",
		"crop_854x480_24fps_gop5",
	} {
		t.Run(name, func(t *testing.T) {
			want := readClip(t, name+".avcc")
			var sps, pps [][]byte
			for n := range NALUs(readClip(t, name+".h264")) {
				switch NALType(n) {
				case TypeSPS:
					sps = append(sps, n)
				case TypePPS:
					pps = append(pps, n)
				}
				if len(sps) > 0 && len(pps) > 0 {
					break
				}
			}
			got, err := AppendDecoderConfig([]byte{0xaa}, sps, pps)
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != 0xaa || !bytes.Equal(got[1:], want) {
				t.Fatalf("decoder config\n got %x\nwant   %x", got, want)
			}
			c, err := ParseDecoderConfig(got[1:])
			if err != nil {
				t.Fatal(err)
			}
			if c.LengthSize != 4 || !bytes.Equal(c.SPS[0], sps[0]) || !bytes.Equal(c.PPS[0], pps[0]) || c.ProfileIDC != sps[0][1] || c.LevelIDC != sps[0][3] {
				t.Errorf("parsed back %+v", c)
			}
			s, _ := ParseSPS(sps[0])
			if c.HasExtension != hasConfigExtension(s.ProfileIDC) ||
				(c.HasExtension && (uint32(c.ChromaFormat) != s.ChromaFormatIDC || c.BitDepthLuma != s.BitDepthLuma)) {
				t.Errorf("extension %+v does not match SPS %+v", c, s)
			}
		})
	}
}

func TestDecoderConfigErrors(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x0d, 0xd9}
	pps := []byte{0x68, 0xcb, 0x83}
	for _, tc := range []struct {
		name     string
		sps, pps [][]byte
	}{
		{"no SPS", nil, [][]byte{pps}},
		{"no PPS", [][]byte{sps}, nil},
		{"PPS as SPS", [][]byte{pps}, [][]byte{pps}},
		{"short SPS", [][]byte{{0x67, 0x42}}, [][]byte{pps}},
		{"high profile SPS cut", [][]byte{{0x67, 100, 0, 31}}, [][]byte{pps}},
		{"oversize PPS", [][]byte{sps}, [][]byte{append([]byte{0x68}, make([]byte, 70000)...)}},
	} {
		if got, err := AppendDecoderConfig(nil, tc.sps, tc.pps); err == nil {
			t.Errorf("%s: no error, config %x", tc.name, got)
		}
	}
	for _, b := range [][]byte{nil, {1, 66, 0, 13, 0xff, 0xe1, 0}, {2, 66, 0, 13, 0xff, 0xe0, 0}, {1, 66, 0, 13, 0xfe, 0xe0, 0}} {
		if _, err := ParseDecoderConfig(b); err == nil {
			t.Errorf("ParseDecoderConfig(%x): no error", b)
		}
	}
}

func TestNextNALU(t *testing.T) {
	for _, tc := range []struct {
		in   string // hex
		want []string
	}{
		{"", nil},
		{"0000", nil},
		{"000001", nil},
		{"00000001", nil},
		{"000001 65aa", []string{"65aa"}},
		{"00000001 6742 00000001 68ce 000001 65aa00 0000", []string{"6742", "68ce", "65aa"}},
		{"ffee 000001 0911 000001 000001 06ff 00", []string{"0911", "06ff"}},
		{"000001 41 000000 01 41", []string{"41", "41"}},
		{"000001 2100000300 0001 25", []string{"21000003", "25"}},
	} {
		in, _ := hex.DecodeString(removeSpaces(tc.in))
		var got []string
		for n := range NALUs(in) {
			got = append(got, hex.EncodeToString(n))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("NALUs(%s) = %q, want %q", tc.in, got, tc.want)
		}
		// The splitter sees the same NAL units, whatever the access units.
		var s Splitter
		var split []string
		collect := func(nalus [][]byte) error {
			for _, n := range nalus {
				split = append(split, hex.EncodeToString(n))
			}
			return nil
		}
		for _, b := range in {
			s.Push([]byte{b}, collect)
		}
		s.Flush(collect)
		var wantVCL []string // only an access unit with a slice is emitted
		if slices.ContainsFunc(tc.want, func(h string) bool { b, _ := hex.DecodeString(h); return IsVCL(NALType(b)) }) {
			wantVCL = tc.want
		}
		if !slices.Equal(split, wantVCL) {
			t.Errorf("Splitter on %s emitted %q, want %q", tc.in, split, wantVCL)
		}
	}
}

func removeSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }

// TestSplitterBoundaries checks the access unit rules on hand-made NAL headers: 0x65 is an
// IDR slice, 0x41 a non-IDR slice; a slice header byte 0x88 means first_mb_in_slice = 0,
// 0x40 means first_mb_in_slice = 1 (a later slice of the same picture).
func TestSplitterBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want string // access units separated by |, NAL units by space
	}{
		{"parameter sets join the next picture", "09f0 6742 68ce 0605 6588 4188 4188", "09f0 6742 68ce 0605 6588|4188|4188"},
		{"later slices stay", "6588 6540 6540 4188 4140", "6588 6540 6540|4188 4140"},
		{"SEI after slice starts next", "4188 0605 4188", "4188|0605 4188"},
		{"end of sequence stays", "4188 0a 6588", "4188 0a|6588"},
		{"filler stays", "4188 0cff 4188", "4188 0cff|4188"},
		{"prefix NAL starts next", "4188 0e01 4188", "4188|0e01 4188"},
		{"partition B and C stay", "2288 2301 2401 2288", "2288 2301 2401|2288"},
		{"trailing parameter sets dropped", "4188 6742 68ce", "4188"},
		{"nothing before first slice", "6742 68ce", ""},
	} {
		var stream []byte
		for _, f := range bytes.Fields([]byte(tc.in)) {
			b, _ := hex.DecodeString(string(f))
			stream = append(append(stream, 0, 0, 0, 1), b...)
		}
		var got []string
		for _, au := range splitAll(t, stream, 3) {
			var ns []string
			for _, n := range au {
				ns = append(ns, hex.EncodeToString(n))
			}
			got = append(got, string(bytes.Join(toBytes(ns), []byte(" "))))
		}
		if g := string(bytes.Join(toBytes(got), []byte("|"))); g != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, g, tc.want)
		}
	}
}

func toBytes(ss []string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

func TestSplitterOffset(t *testing.T) {
	// AU 1 starts at 0 (4-byte start code: its start code 00 00 01 is at 1), AU 2 at 9.
	stream := []byte{0, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x88, 0, 0, 1, 0x41, 0x88}
	var offsets []int64
	var s Splitter
	emit := func([][]byte) error { offsets = append(offsets, s.Offset()); return nil }
	for i := range stream {
		s.Push(stream[i:i+1], emit)
	}
	s.Flush(emit)
	if want := []int64{1, 6, 11}; !slices.Equal(offsets, want) {
		t.Errorf("offsets %v, want %v", offsets, want)
	}
}

func TestSplitterEmitsAtNextAccessUnitStart(t *testing.T) {
	var s Splitter
	var got []string
	emit := func(nalus [][]byte) error {
		got = append(got, fmt.Sprintf("%x", nalus))
		return nil
	}
	s.Push([]byte{0, 0, 0, 1, 0x65, 0x88, 0x11, 0, 0, 0, 1, 0x41}, emit)
	if len(got) != 0 {
		t.Fatalf("emitted %q before the next NAL unit showed whether the picture ended", got)
	}
	s.Push([]byte{0x40}, emit) // first_mb_in_slice 1: a second slice of the same picture
	if len(got) != 0 {
		t.Fatalf("emitted %q in the middle of a picture", got)
	}
	s.Push([]byte{0x22, 0, 0, 1, 0x41}, emit)
	s.Push([]byte{0x88}, emit) // first_mb_in_slice 0: the next picture
	if want := []string{"[658811 414022]"}; !slices.Equal(got, want) {
		t.Fatalf("emitted %q, want %q as soon as the next picture began", got, want)
	}
}

func TestSplitterLimitAndErrors(t *testing.T) {
	s := Splitter{MaxSize: 100}
	nop := func([][]byte) error { return nil }
	err := s.Push(append([]byte{0, 0, 1, 0x65}, bytes.Repeat([]byte{0xff}, 200)...), nop)
	if err == nil {
		t.Fatal("a 200-byte NAL unit passed a 100-byte limit")
	}
	// After the error the splitter starts over and works.
	stream := []byte{0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x88}
	n := 0
	count := func([][]byte) error { n++; return nil }
	if err := s.Push(stream, count); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(count); err != nil || n != 2 {
		t.Fatalf("after the error: %d access units, err %v; want 2", n, err)
	}

	boom := errors.New("boom")
	var s2 Splitter
	three := append(slices.Clone(stream), 0, 0, 1, 0x41, 0x88)
	if err := s2.Push(three, func([][]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("emit error not returned: %v", err)
	}
	if err := s2.Flush(func([][]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("emit error from Flush not returned: %v", err)
	}
}

func TestAppendAVCC(t *testing.T) {
	got := AppendAVCC([]byte{9}, [][]byte{{0x67, 1}, {0x65, 2, 3}, make([]byte, 256)})
	want := append([]byte{9, 0, 0, 0, 2, 0x67, 1, 0, 0, 0, 3, 0x65, 2, 3, 0, 0, 1, 0}, make([]byte, 256)...)
	if !bytes.Equal(got, want) {
		t.Errorf("AppendAVCC = %x, want %x", got, want)
	}
	if got := AppendAnnexB(nil, [][]byte{{0x67}, {0x68}}); !bytes.Equal(got, []byte{0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x68}) {
		t.Errorf("AppendAnnexB = %x", got)
	}
}

func TestEmulationPrevention(t *testing.T) {
	for _, tc := range []struct{ rbsp, escaped string }{
		{"", ""},
		{"000000", "00000300"},
		{"000001", "00000301"},
		{"00000200", "0000030200"},
		{"000003", "00000303"},
		{"000004", "000004"},
		{"0000", "000003"},
		{"00000000", "0000030000 03"},
		{"aa0000bb", "aa0000bb"},
	} {
		rbsp, _ := hex.DecodeString(tc.rbsp)
		escaped, _ := hex.DecodeString(removeSpaces(tc.escaped))
		if got := AppendEmulationPrevention(nil, rbsp); !bytes.Equal(got, escaped) {
			t.Errorf("escape %s = %x, want %x", tc.rbsp, got, escaped)
		}
		if got := RemoveEmulationPrevention(nil, escaped); !bytes.Equal(got, rbsp) {
			t.Errorf("unescape %x = %x, want %s", escaped, got, tc.rbsp)
		}
	}
}

func TestParseSPSErrors(t *testing.T) {
	for _, in := range []string{
		"", "67", "674200", "6842c00dd9", // too short, not an SPS
		"6742c00d",             // ends before seq_parameter_set_id
		"6764001f80",           // high profile cut inside chroma info
		"6742c00d0000000000",   // Exp-Golomb code longer than 32 bits
		"6742c00da0ffffffffff", // sizes out of range
	} {
		b, _ := hex.DecodeString(in)
		if s, err := ParseSPS(b); err == nil {
			t.Errorf("ParseSPS(%s) = %+v, want an error", in, s)
		}
	}
}

func ExampleSplitter() {
	stream := []byte{
		0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0d, 0xd9, // SPS
		0, 0, 0, 1, 0x68, 0xcb, 0x83, // PPS
		0, 0, 1, 0x65, 0x88, 0x84, // IDR slice
		0, 0, 1, 0x41, 0x9a, 0x02, // next picture
	}
	var s Splitter
	show := func(nalus [][]byte) error {
		fmt.Printf("access unit: %d NAL units, keyframe %v\n", len(nalus), IsKeyframe(nalus))
		return nil
	}
	s.Push(stream, show)
	s.Flush(show)
	// Output:
	// access unit: 3 NAL units, keyframe true
	// access unit: 1 NAL units, keyframe false
}
