//go:build nox264 || !cgo

package x264_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/camnode/camnode/media/encoder"
	"github.com/camnode/camnode/media/encoder/x264"
)

func TestNotBuilt(t *testing.T) {
	if x264.Built {
		t.Fatal("Built in a build without x264")
	}
	_, err := x264.New(encoder.Options{Width: 1280, Height: 720})
	if !errors.Is(err, encoder.ErrNotBuilt) || !strings.Contains(err.Error(), "nox264") {
		t.Fatalf("New = %v, want an error wrapping ErrNotBuilt that names the nox264 build", err)
	}
}
