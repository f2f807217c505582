package rtmp

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/camnode/camnode/internal/peers"
)

// BenchmarkDialNginx measures Dial (TCP, handshake, connect, createStream, publish) against
// a real nginx-rtmp, with TCP_QUICKACK re-armed before each read (the default on Linux) and
// with the kernel's delayed ACKs, which nginx's small unflushed answers wait on.
func BenchmarkDialNginx(b *testing.B) {
	ng := peers.StartNginx(b)
	for _, quick := range []bool{true, false} {
		name := "quickack"
		if !quick {
			name = "delayed-ack"
		}
		b.Run(name, func(b *testing.B) {
			defer func(v bool) { quickAckDuringDial = v }(quickAckDuringDial)
			quickAckDuringDial = quick
			var total time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				c, err := Dial(context.Background(), ng.URL(fmt.Sprintf("bench%d-%d", time.Now().UnixNano()%1e6, i)), Options{Timeout: 5 * time.Second})
				total += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/float64(i)/1000, "ms/dial")
		})
	}
}
