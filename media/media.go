// Package media holds the types every video stage shares: the access unit a source yields
// and the small interface every source implements.
package media

import (
	"context"
	"time"
)

// AccessUnit is one coded picture: the NAL units of one frame, without start codes, in
// decoding order, with the capture time of the frame.
//
// An AccessUnit and the bytes it points into belong to the source and are valid only for
// the duration of the deliver call; a consumer that keeps them copies them.
type AccessUnit struct {
	NALUs [][]byte
	// Time is the capture (decode) time on the source's monotonic clock, counted from the
	// start of the source. It never goes backwards.
	Time time.Duration
	// CompositionOffset is PTS-DTS; zero for streams without B-frames.
	CompositionOffset time.Duration
	// Keyframe is true when the unit holds an IDR slice.
	Keyframe bool
}

// Source yields access units until its context ends or it fails.
type Source interface {
	// Run calls deliver for every access unit, in order, from a single goroutine. It
	// returns nil when ctx ends, or the error that stopped the source; an error from
	// deliver stops the source and is returned.
	Run(ctx context.Context, deliver func(*AccessUnit) error) error
}

// KeyframeRequester is implemented by sources that can produce an IDR frame on demand.
type KeyframeRequester interface {
	RequestKeyframe() error
}
