//go:build !linux || !cgo

package v4l2

import (
	"fmt"
	"time"
)

// Built tells whether this camnode can capture from V4L2 cameras.
const Built = false

func openDevice(path string) (camera, error) {
	return nil, fmt.Errorf("v4l2: open %s: %w", path, ErrNotBuilt)
}

var start = time.Now()

func monotonicNow() time.Duration { return time.Since(start) }
