package httpflv_test

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/httpflv"
)

// BenchmarkFanOut writes 10 KiB pictures (a 720p camera's at 2.5 Mb/s) to two browsers
// that read /live.flv, each picture once both have read the one before, as browsers that
// keep up with a camera do: one op is one picture, written to both and read. The picture
// is written from WriteVideo itself: allocs/op is 0 (the readers' share included).
func BenchmarkFanOut(b *testing.B) {
	srv := startServer(b, httpflv.Options{ClientQueue: 64 << 20})
	feed := media.Feed(context.Background(), srv)
	sps, pps := testSPS(b), []byte{0x68, 0xce, 0x3c, 0x80}
	picture := make([]byte, 10<<10)
	picture[0] = 0x41
	key := append([]byte{0x65}, picture[1:]...)
	keyframe := &media.AccessUnit{NALUs: [][]byte{sps, pps, key}, Keyframe: true}
	delta := &media.AccessUnit{NALUs: [][]byte{picture}}
	n := 0
	next := func() *media.AccessUnit {
		au := delta
		if n%60 == 0 {
			au = keyframe
		}
		au.Time = time.Duration(n) * 33 * time.Millisecond
		n++
		return au
	}
	feed(next())
	var read [2]atomic.Int64
	for i := range read {
		resp, err := http.Get("http://" + srv.Addr().String() + "/live.flv")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { resp.Body.Close() })
		go io.Copy(counter{&read[i]}, resp.Body)
	}
	waitFor(b, "both readers", 30*time.Second, func() bool { return srv.Stats().Readers == 2 })
	// Each picture once both have read all that was sent (BytesSent is the two's sum).
	picture1 := func() {
		feed(next())
		sent := int64(srv.Stats().BytesSent)
		deadline := time.Now().Add(time.Minute)
		for read[0].Load()+read[1].Load() < sent {
			if time.Now().After(deadline) {
				b.Fatalf("the readers stopped at %d+%d of %d bytes: %+v", read[0].Load(), read[1].Load(), sent, srv.Stats())
			}
			runtime.Gosched()
		}
	}
	for range 60 { // past the keyframe they start at
		picture1()
	}
	b.ReportAllocs()
	for b.Loop() {
		picture1()
	}
	b.StopTimer()
	if st := srv.Stats(); st.Cut > 0 || st.Readers != 2 {
		b.Fatalf("a reader was dropped: %+v", st)
	}
}

// counter counts the bytes written to it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}
