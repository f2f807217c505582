//go:build nox264 || !cgo

package testsrc

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/encoder"
)

// TestFallbackClip: without an encoder, the test source plays the embedded clip whatever
// size was asked, and says it cannot make keyframes.
func TestFallbackClip(t *testing.T) {
	src := New(Options{Width: 640, Height: 480, FPS: 25, Unpaced: true})
	if src.Live() {
		t.Fatal("Live() without x264")
	}
	if err := src.RequestKeyframe(); err == nil {
		t.Error("RequestKeyframe succeeded without an encoder")
	}
	if keys := checkSPS(t, take(t, src, Frames, nil), Width, Height, FPS); len(keys) != 2 {
		t.Errorf("keyframes %v", keys)
	}
}

// TestFallbackOverlay: burn-in needs the encoder; without it Run says so.
func TestFallbackOverlay(t *testing.T) {
	src := New(Options{Overlay: func(*media.Frame) error { return nil }})
	err := src.Run(context.Background(), func(*media.AccessUnit) error { return nil })
	if !errors.Is(err, encoder.ErrNotBuilt) || !strings.Contains(err.Error(), "burn-in") {
		t.Fatalf("Run = %v, want an error saying burn-in needs the encoder", err)
	}
}
