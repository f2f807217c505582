package flv

import (
	"bytes"
	"errors"
	"testing"
)

func TestAppendSequenceHeader(t *testing.T) {
	rec := []byte{0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x02, 0x67, 0x42, 0x01, 0x00, 0x01, 0x68}
	got := AppendSequenceHeader([]byte{0xaa}, rec)
	want := append([]byte{0xaa, 0x17, 0x00, 0x00, 0x00, 0x00}, rec...)
	if !bytes.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
}

func TestAppendVideoTag(t *testing.T) {
	tests := []struct {
		name     string
		keyframe bool
		cts      int32
		nalus    [][]byte
		want     []byte
	}{
		{"keyframe two NALs", true, 0, [][]byte{{0x06, 0x05}, {0x65, 0x88, 0x84}},
			[]byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x06, 0x05, 0, 0, 0, 3, 0x65, 0x88, 0x84}},
		{"inter with cts 66", false, 66, [][]byte{{0x41, 0x9a}},
			[]byte{0x27, 0x01, 0, 0, 0x42, 0, 0, 0, 2, 0x41, 0x9a}},
		// Negative composition time is 24-bit two's complement.
		{"negative cts", false, -33, [][]byte{{0x01}},
			[]byte{0x27, 0x01, 0xff, 0xff, 0xdf, 0, 0, 0, 1, 0x01}},
		{"cts clamped high", false, 1 << 30, nil, []byte{0x27, 0x01, 0x7f, 0xff, 0xff}},
		{"cts clamped low", true, -1 << 30, nil, []byte{0x17, 0x01, 0x80, 0x00, 0x00}},
		{"empty NAL", true, 0, [][]byte{{}}, []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendVideoTag(nil, tt.keyframe, tt.cts, tt.nalus)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got  % x\nwant % x", got, tt.want)
			}
			if n := VideoTagSize(tt.nalus); n != len(got) {
				t.Errorf("VideoTagSize = %d, body is %d bytes", n, len(got))
			}
			v, err := ParseVideoTag(got)
			if err != nil {
				t.Fatal(err)
			}
			wantCTS := max(min(tt.cts, 1<<23-1), -1<<23)
			if v.Keyframe() != tt.keyframe || v.CodecID != CodecAVC || v.PacketType != AVCNALU || v.CompositionTime != wantCTS {
				t.Errorf("ParseVideoTag = %+v, want keyframe %v cts %d", v, tt.keyframe, wantCTS)
			}
			nalus, err := SplitAVCC(nil, v.Data)
			if err != nil {
				t.Fatal(err)
			}
			if len(nalus) != len(tt.nalus) {
				t.Fatalf("SplitAVCC gave %d NAL units, want %d", len(nalus), len(tt.nalus))
			}
			for i := range nalus {
				if !bytes.Equal(nalus[i], tt.nalus[i]) {
					t.Errorf("NAL %d = % x, want % x", i, nalus[i], tt.nalus[i])
				}
			}
		})
	}
}

func TestAppendVideoTagDoesNotAllocate(t *testing.T) {
	nalus := [][]byte{make([]byte, 20), make([]byte, 50_000), make([]byte, 3000)}
	buf := make([]byte, 0, VideoTagSize(nalus))
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendVideoTag(buf[:0], true, 0, nalus)
	})
	if allocs != 0 {
		t.Errorf("AppendVideoTag into a buffer with room: %v allocations, want 0", allocs)
	}
}

func TestAppendEndOfSequence(t *testing.T) {
	if got := AppendEndOfSequence(nil); !bytes.Equal(got, []byte{0x17, 0x02, 0, 0, 0}) {
		t.Errorf("got % x, want 17 02 00 00 00", got)
	}
}

func TestParseVideoTag(t *testing.T) {
	seq, err := ParseVideoTag(AppendSequenceHeader(nil, []byte{1, 2, 3}))
	if err != nil || !seq.Keyframe() || seq.PacketType != AVCSequenceHeader || !bytes.Equal(seq.Data, []byte{1, 2, 3}) {
		t.Errorf("sequence header: %+v, %v", seq, err)
	}
	// Non-AVC codec (here Sorenson H.263, id 2): only the first byte is header.
	h263, err := ParseVideoTag([]byte{0x22, 9, 9})
	if err != nil || h263.CodecID != 2 || h263.FrameType != FrameInter || !bytes.Equal(h263.Data, []byte{9, 9}) {
		t.Errorf("H.263 tag: %+v, %v", h263, err)
	}
	for _, short := range [][]byte{nil, {0x17}, {0x17, 1, 0, 0}} {
		if _, err := ParseVideoTag(short); !errors.Is(err, ErrShortVideoTag) {
			t.Errorf("ParseVideoTag(% x) error = %v, want ErrShortVideoTag", short, err)
		}
	}
}

func TestSplitAVCCErrors(t *testing.T) {
	for _, in := range [][]byte{{0, 0, 1}, {0, 0, 0, 5, 1, 2}, {0, 0, 0, 1, 9, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := SplitAVCC(nil, in); err == nil {
			t.Errorf("SplitAVCC(% x) succeeded, want an error", in)
		}
	}
}

func BenchmarkAppendVideoTag(b *testing.B) {
	nalus := [][]byte{make([]byte, 30), make([]byte, 100<<10)}
	buf := make([]byte, 0, VideoTagSize(nalus))
	b.SetBytes(int64(VideoTagSize(nalus)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendVideoTag(buf[:0], true, 0, nalus)
	}
}
