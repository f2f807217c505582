package h264

import "testing"

// BenchmarkSplitter cuts the 720p clip into access units, pushed in 4 KiB pieces as a pipe
// delivers them; allocs/op 0 means no allocation per frame once the buffers have grown.
func BenchmarkSplitter(b *testing.B) {
	stream := readClip(b, "high_1280x720_30fps_gop10.h264")
	var s Splitter
	frames := 0
	emit := func([][]byte) error { frames++; return nil }
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := stream; len(rest) > 0; {
			n := min(4096, len(rest))
			if err := s.Push(rest[:n], emit); err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := s.Flush(emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
}

func BenchmarkAppendAVCC(b *testing.B) {
	var au [][]byte
	for n := range NALUs(readClip(b, "high_1280x720_30fps_gop10.h264")) {
		au = append(au, n)
		if NALType(n) == TypeIDR {
			break
		}
	}
	size := len(AppendAVCC(nil, au))
	buf := make([]byte, 0, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAVCC(buf[:0], au)
	}
}
