// Package figures holds what the benchmarks under bench/ share: stopping on a signal, their inputs from bench/run.sh, percentiles and the report file.
package figures

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Interruptible returns a context that ends on SIGINT or SIGTERM, so that bench/run.sh can
// stop a run and the peers' cleanups still run (a killed test binary leaves nginx's worker
// behind).
func Interruptible(b *testing.B) context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	b.Cleanup(stop)
	return ctx
}

// MustEnv returns the environment variable name, which bench/run.sh sets.
func MustEnv(b *testing.B, name string) string {
	v := os.Getenv(name)
	if v == "" {
		b.Fatalf("%s is not set: run bench/run.sh, which builds camnode and makes the clip", name)
	}
	return v
}

// Report prints a block of figures and appends it to the file BENCH_REPORT names, where
// bench/run.sh collects the summary.
func Report(b *testing.B, block string) {
	fmt.Print(block)
	if path := os.Getenv("BENCH_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(block + "\n"); err != nil {
			b.Fatal(err)
		}
	}
}

// Percentile is the nearest-rank percentile p (0-100) of ds, which it leaves unsorted.
func Percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
