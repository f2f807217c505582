package backoff

import (
	"context"
	"testing"
	"time"
)

func TestDoublesToMaxAndResets(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second, Exact: true}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Fatalf("after Reset: %v", d)
	}
}

func TestSpread(t *testing.T) {
	b := Backoff{Min: time.Second, Max: time.Second}
	for range 1000 {
		if d := b.Next(); d < 750*time.Millisecond || d >= 1250*time.Millisecond {
			t.Fatalf("delay %v outside [0.75 s, 1.25 s)", d)
		}
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := Backoff{Min: time.Hour, Max: time.Hour}
	if b.Wait(ctx) {
		t.Fatal("Wait on an ended context waited")
	}
}

func TestLongestStaysLongUntilReset(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 8 * time.Second, Exact: true}
	b.Next()
	if d := b.Longest(); d != 8*time.Second {
		t.Fatalf("Longest = %v", d)
	}
	if d := b.Next(); d != 8*time.Second {
		t.Fatalf("after Longest, Next = %v", d)
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Fatalf("after Reset, Next = %v", d)
	}
}
