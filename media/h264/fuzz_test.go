package h264

import (
	"bytes"
	"testing"
)

func FuzzSplitter(f *testing.F) {
	for _, c := range clips[:3] {
		b := readClip(f, c.file)
		f.Add(b[:min(len(b), 2000)], uint8(7))
	}
	f.Add([]byte{0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x41, 0x40, 0, 0, 1, 0x41, 0x88, 0, 0}, uint8(1))
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0x09, 0, 0, 0, 0, 0, 1, 0x21, 0x80}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		// What the splitter emits is the sequence of NAL units NextNALU finds, cut into
		// access units, minus a tail that holds no slice; the chunking changes nothing.
		var all [][]byte
		for n := range NALUs(stream) {
			all = append(all, n)
		}
		for _, size := range []int{int(chunk) + 1, len(stream) + 1} {
			var s Splitter
			var got [][]byte
			emit := func(nalus [][]byte) error {
				if len(nalus) == 0 {
					t.Fatal("empty access unit")
				}
				vcl := false
				for _, n := range nalus {
					vcl = vcl || IsVCL(NALType(n))
					got = append(got, bytes.Clone(n))
				}
				if !vcl {
					t.Fatalf("access unit without a slice: %x", nalus)
				}
				return nil
			}
			for rest := stream; len(rest) > 0; {
				n := min(size, len(rest))
				if err := s.Push(rest[:n], emit); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := s.Flush(emit); err != nil {
				t.Fatal(err)
			}
			if len(got) > len(all) {
				t.Fatalf("emitted %d NAL units, the stream holds %d", len(got), len(all))
			}
			for i, n := range got {
				if !bytes.Equal(n, all[i]) {
					t.Fatalf("NAL unit %d is %x, want %x", i, n, all[i])
				}
			}
			for _, n := range all[len(got):] {
				if IsVCL(NALType(n)) {
					t.Fatalf("slice %x was not emitted", n)
				}
			}
		}
	})
}

func FuzzParseSPS(f *testing.F) {
	for _, c := range clips {
		for n := range NALUs(readClip(f, c.file)) {
			if NALType(n) == TypeSPS {
				f.Add(n)
				break
			}
		}
	}
	f.Add([]byte{0x67, 100, 0, 31, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, nalu []byte) {
		s, err := ParseSPS(nalu)
		if err != nil {
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > s.CodedWidth || s.Height > s.CodedHeight {
			t.Fatalf("size %dx%d of coded %dx%d", s.Width, s.Height, s.CodedWidth, s.CodedHeight)
		}
		if fr := s.FrameRate(); fr < 0 || fr != fr {
			t.Fatalf("frame rate %v", fr)
		}
		cfg, err := AppendDecoderConfig(nil, [][]byte{nalu}, [][]byte{{0x68, 0xce}})
		if err != nil {
			if len(nalu) <= 0xffff {
				t.Fatalf("SPS parses but makes no decoder config: %v", err)
			}
			return
		}
		c, err := ParseDecoderConfig(cfg)
		if err != nil || !bytes.Equal(c.SPS[0], nalu) {
			t.Fatalf("decoder config %x does not parse back: %v", cfg, err)
		}
	})
}

func FuzzEmulationPrevention(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0})
	f.Add([]byte{0x65, 0x88, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rbsp []byte) {
		escaped := AppendEmulationPrevention(nil, rbsp)
		for i := 0; i+2 < len(escaped); i++ {
			if escaped[i] == 0 && escaped[i+1] == 0 && escaped[i+2] <= 2 {
				t.Fatalf("escaped %x holds 00 00 %02x at %d", escaped, escaped[i+2], i)
			}
		}
		if n := len(escaped); n >= 2 && escaped[n-1] == 0 && escaped[n-2] == 0 {
			t.Fatalf("escaped %x ends in 00 00", escaped)
		}
		back := RemoveEmulationPrevention(nil, escaped)
		if !bytes.Equal(back, rbsp) {
			t.Fatalf("round trip %x -> %x -> %x", rbsp, escaped, back)
		}
		inPlace := RemoveEmulationPrevention(escaped[:0], escaped)
		if !bytes.Equal(inPlace, rbsp) {
			t.Fatalf("in-place unescape gave %x, want %x", inPlace, rbsp)
		}
	})
}
