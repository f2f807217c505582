package node

import (
	"bytes"
	"context"
	"image/jpeg"
	"time"
)

// snapshotInfo is the retained JSON beside the picture (mqtt.Topics.SnapshotInfo): what
// the last snapshot is, or why there is none. Home Assistant shows it as the image
// entity's attributes.
type snapshotInfo struct {
	TS     string `json:"ts"`               // RFC 3339 UTC, when it was taken or failed
	Width  int    `json:"width,omitempty"`  // of the picture
	Height int    `json:"height,omitempty"` //
	Bytes  int    `json:"bytes,omitempty"`  // of the JPEG
	Error  string `json:"error,omitempty"`  // why there is no picture
}

// runSnapshots is the one goroutine that makes the node's snapshots: every
// CAMNODE_SNAPSHOT_INTERVAL while the stream is live, and on <base>/snapshot/set. The
// pipeline makes the JPEG of the next picture (pipeline.Pipeline.SnapshotJPEG) on this
// goroutine, off the frame path; it is published retained with its snapshotInfo.
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

// takeSnapshot makes one snapshot and publishes it, or publishes why there is none. asked
// says a user asked: an H.264 source is then asked for a keyframe at once.
func (n *Node) takeSnapshot(ctx context.Context, asked bool) {
	b, err := n.snapshotJPEG(ctx, asked)
	if ctx.Err() != nil {
		return // the node stops: no half-made snapshot
	}
	info := snapshotInfo{TS: stamp(time.Now())}
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
