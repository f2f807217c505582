package node

import (
	"bytes"
	"context"
	"image/jpeg"
	"time"

	"github.com/camnode/camnode/media/snapshot"
)

// snapshotWait bounds the wait for a picture: the next keyframe of a passthrough stream may
// be 10 s away, and ffmpeg on a loaded Pi takes a while.
const snapshotWait = 30 * time.Second

// runSnapshots is the one goroutine that makes the node's snapshots: every
// CAMNODE_SNAPSHOT_INTERVAL while the stream is live, and on <base>/snapshot/set. The
// pipeline hands it a copy of the next picture (pipeline.Pipeline.NextPicture); the JPEG
// is made here, off the frame path, and published retained with its snapshot.Info.
func (n *Node) runSnapshots(ctx context.Context) {
	var tick <-chan time.Time
	if n.cfg.SnapshotInterval > 0 {
		t := time.NewTicker(n.cfg.SnapshotInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if n.currentState() == StateLive {
				n.takeSnapshot(ctx, false)
			}
		case <-n.snapshotAsked:
			n.takeSnapshot(ctx, true)
		}
	}
}

// askSnapshot asks runSnapshots for a snapshot now (the Home Assistant button); asks that
// come while one is pending share it.
func (n *Node) askSnapshot() {
	select {
	case n.snapshotAsked <- struct{}{}:
	default:
	}
}

// takeSnapshot makes one snapshot and publishes it, or publishes why there is none. A
// raw source gives the frame as drawn (burn-in included), encoded with image/jpeg; an
// H.264-only source gives a keyframe, decoded with ffmpeg where it is installed. asked
// says a user asked: an H.264 source is then asked for a keyframe at once.
func (n *Node) takeSnapshot(ctx context.Context, asked bool) {
	wait, cancel := context.WithTimeout(ctx, snapshotWait)
	defer cancel()
	var b []byte
	pic, err := n.nextPicture(wait, asked)
	if err == nil {
		if pic.Frame != nil {
			b, err = snapshot.FromFrame(pic.Frame, 0)
		} else {
			b, err = n.decoder.FromKeyframe(wait, pic.AU.NALUs)
		}
	}
	if ctx.Err() != nil {
		return // the node stops: no half-made snapshot
	}
	info := snapshot.Info{TS: stamp(time.Now())}
	if err != nil {
		info.Error = err.Error()
		n.log.Info("no snapshot", "err", n.clean(err))
		n.publishSnapshot(nil, info)
		return
	}
	if c, err := jpeg.DecodeConfig(bytes.NewReader(b)); err == nil {
		info.Width, info.Height = c.Width, c.Height
	}
	info.Bytes = len(b)
	n.log.Debug("snapshot", "width", info.Width, "height", info.Height, "bytes", info.Bytes)
	n.publishSnapshot(b, info)
}
