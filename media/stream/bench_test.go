package stream

import (
	"context"
	"testing"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/source"
)

// collectAUs takes n access units from the test source, copied.
func collectAUs(b *testing.B, n int) []media.AccessUnit {
	b.Helper()
	src, err := source.Open("testsrc?pace=0", source.Options{FPS: 30})
	if err != nil {
		src, err = source.Open("testsrc", source.Options{FPS: 30})
		if err != nil {
			b.Fatal(err)
		}
	}
	return takeUnits(src, n)
}

// takeUnits runs src until it has given n access units, and returns copies of them.
func takeUnits(src media.Source, n int) []media.AccessUnit {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out []media.AccessUnit
	src.Run(ctx, func(au *media.AccessUnit) error {
		c := media.AccessUnit{Time: au.Time, Keyframe: au.Keyframe}
		for _, n := range au.NALUs {
			c.NALUs = append(c.NALUs, append([]byte(nil), n...))
		}
		out = append(out, c)
		if len(out) == n {
			cancel()
		}
		return nil
	})
	return out
}

// BenchmarkFramePath is the per-frame work from the source's hand-off to the writer's
// hand-off: SPS/PPS tracking, FLV/AVCC tag building into a pooled buffer, the queue in
// and out. (media/rtmp's BenchmarkWriteVideo covers the chunk writer after it.)
func BenchmarkFramePath(b *testing.B) {
	aus := collectAUs(b, 60)
	p := New(Options{FrameRate: 30})
	ctx := context.Background()
	var bytes int64
	var params media.ParameterSetTracker
	ps, err := params.Next(&aus[0])
	if err != nil || ps == nil {
		b.Fatalf("the first unit has no parameter sets: %v", err)
	}
	for _, au := range aus {
		for _, n := range au.NALUs {
			bytes += int64(len(n))
		}
	}
	b.SetBytes(bytes / int64(len(aus)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		au := aus[i%len(aus)]
		au.Time = time.Duration(i) * time.Second / 30
		if err := p.WriteVideo(ctx, &au, ps); err != nil {
			b.Fatal(err)
		}
		t, _ := p.queue.pop(ctx)
		p.queue.recycle(t.body)
	}
}
