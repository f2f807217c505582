// Package figures holds what the benchmarks under bench/ share: stopping on a signal, their inputs from bench/run.sh, percentiles and the report file.
package figures

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
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

// CPUTime is the CPU time (user + system) of process pid so far, from /proc.
func CPUTime(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// LoadAverage is the machine's load average over 1, 5 and 15 minutes, for a report.
func LoadAverage() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// PublishChat sends n chat messages to topic through one `mosquitto_pub -l` on the broker at
// 127.0.0.1:port, as a chat bot does: message i is line(i, id) with id unique to this call
// (prefix-i), and gap() passes between two. It returns the prefix and when each id was sent.
func PublishChat(ctx context.Context, b *testing.B, port int, topic string, n int, line func(i int, id string) string, gap func() time.Duration) (string, map[string]time.Time) {
	pub := exec.CommandContext(ctx, "mosquitto_pub", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-q", "1", "-t", topic, "-l")
	in, err := pub.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var pubLog bytes.Buffer
	pub.Stdout, pub.Stderr = &pubLog, &pubLog
	if err := pub.Start(); err != nil {
		b.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // connected
	sent := make(map[string]time.Time, n)
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		text := line(i, id) + "\n"
		sent[id] = time.Now()
		if _, err := io.WriteString(in, text); err != nil {
			b.Fatalf("mosquitto_pub: %v\n%s", err, pubLog.String())
		}
		time.Sleep(gap())
	}
	in.Close()
	if err := pub.Wait(); err != nil {
		b.Fatalf("mosquitto_pub: %v\n%s", err, pubLog.String())
	}
	return prefix, sent
}
