package picture

import (
	"syscall"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
)

// payload is n bytes that vary.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(1 + i%250)
	}
	return b
}

// BenchmarkYUYV720p converts a 1280x720 YUYV webcam frame to I420.
func BenchmarkYUYV720p(b *testing.B) {
	src := payload(1280 * 720 * 2)
	c := NewConverter(YUYV, 1280, 720, 2560)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := c.Convert(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkYUYV720pBefore is the same conversion with the pair-by-pair loop camnode
// had before (packedBefore), for comparison in the same run.
func BenchmarkYUYV720pBefore(b *testing.B) {
	src := payload(1280 * 720 * 2)
	var dst []byte
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		dst = packedBefore(dst, src, 1280, 720, 2560, false)
	}
}

// packedBefore is media/source/v4l2's packedToI420 as it was before this package.
func packedBefore(dst, src []byte, w, h, bpl int, uyvy bool) []byte {
	dst = grow(dst, I420Size(w, h))
	cw, ch := (w+1)/2, (h+1)/2
	yp, up, vp := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
	yo, uo, vo := 0, 1, 3
	if uyvy {
		yo, uo, vo = 1, 0, 2
	}
	for cy := 0; cy < ch; cy++ {
		r0 := src[2*cy*bpl:]
		r1 := r0
		if 2*cy+1 < h {
			r1 = src[(2*cy+1)*bpl:]
		}
		y0 := yp[2*cy*w : 2*cy*w+w]
		var y1 []byte
		if 2*cy+1 < h {
			y1 = yp[(2*cy+1)*w : (2*cy+1)*w+w]
		}
		u, v := up[cy*cw:cy*cw+cw], vp[cy*cw:cy*cw+cw]
		for cx := 0; cx < cw; cx++ {
			o := 4 * cx
			x := 2 * cx
			y0[x] = r0[o+yo]
			if x+1 < w {
				y0[x+1] = r0[o+yo+2]
			}
			if y1 != nil {
				y1[x] = r1[o+yo]
				if x+1 < w {
					y1[x+1] = r1[o+yo+2]
				}
			}
			u[cx] = byte((int(r0[o+uo]) + int(r1[o+uo]) + 1) >> 1)
			v[cx] = byte((int(r0[o+vo]) + int(r1[o+vo]) + 1) >> 1)
		}
	}
	return dst
}

// BenchmarkMJPEG720p decodes a 1280x720 MJPEG frame (4:2:0, no Huffman tables, as UVC
// webcams send them) into I420 with libjpeg-turbo.
func BenchmarkMJPEG720p(b *testing.B) {
	benchMJPEG(b, NewJPEGDecoder())
}

// BenchmarkMJPEG720pStd is the same with image/jpeg (the fallback, and the decoder
// before libjpeg-turbo), for comparison in the same run.
func BenchmarkMJPEG720pStd(b *testing.B) {
	benchMJPEG(b, newStdJPEGDecoder())
}

func benchMJPEG(b *testing.B, d *JPEGDecoder) {
	pic := stripDHT(encodeJPEG(b, gradient(1280, 720)))
	var f media.Frame
	b.SetBytes(int64(len(pic)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if err := d.Decode(pic, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRotate180_720p turns a 1280x720 I420 frame upside down.
func BenchmarkRotate180_720p(b *testing.B) {
	benchTurn(b, Orientation{Rotate: 180})
}

// BenchmarkRotate90_720p turns a 1280x720 I420 frame a quarter clockwise.
func BenchmarkRotate90_720p(b *testing.B) {
	benchTurn(b, Orientation{Rotate: 90})
}

func benchTurn(b *testing.B, o Orientation) {
	buf := payload(I420Size(1280, 720))
	var f media.Frame
	SetI420(&f, buf, 1280, 720)
	var dst []byte
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		var err error
		if _, dst, err = o.Apply(dst, &f); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU starts counting the process's CPU time (user + system); the function it
// returns reports it per iteration as cpu-ms/op. On a machine shared with other work the
// wall time per op includes the time this process waited for a core; the CPU time does not.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
