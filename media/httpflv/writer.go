package httpflv

import (
	"time"

	"github.com/camnode/camnode/media/flv"
)

// flvWriter turns one browser's packets into the bytes of its FLV file:
//
//	FLV header | onMetaData | AVC sequence header | [AAC sequence header] | tags...
//
// with timestamps counted from the browser's first keyframe. The headers go out again
// whenever a packet needs another configuration than the last one sent. buf holds the
// bytes made and not yet written; it is reused, so writing allocates nothing once it has
// grown to a picture.
type flvWriter struct {
	hasAudio bool // what the file header says: audio came before the browser joined
	buf      []byte
	started  bool
	base     time.Duration
	video    *videoConfig
	audio    *audioConfig
	scratch  []byte
}

// setDataFrame is the first AMF0 string of flv.AppendMetadata's body: an RTMP ingest
// strips it, and in a file the script tag starts with "onMetaData".
var setDataFrame = len(flv.AppendAMFString(nil, "@setDataFrame"))

// append adds the bytes of p to w.buf. The first packet the stream gives a browser is a
// keyframe (stream.offer sees to it).
func (w *flvWriter) append(p *packet) {
	if !w.started {
		if p.kind != flv.TagVideo {
			return
		}
		w.started, w.base = true, p.at
		w.buf = flv.AppendFileHeader(w.buf, true, w.hasAudio)
	}
	at := p.at - w.base
	if at < 0 {
		// Audio or data from before this browser's first picture: nothing to show it with.
		if p.kind != flv.TagVideo {
			return
		}
		at = 0
	}
	ts := uint32(at / time.Millisecond)
	switch p.kind {
	case flv.TagVideo:
		if p.video != w.video {
			if w.video == nil || !sameVideo(w.video.meta, p.video.meta) {
				w.scratch = flv.AppendMetadata(w.scratch[:0], p.video.meta)
				w.buf = flv.AppendTag(w.buf, flv.TagScript, ts, w.scratch[setDataFrame:])
			}
			if w.video == nil || w.video.ParameterSets != p.video.ParameterSets {
				w.scratch = flv.AppendSequenceHeader(w.scratch[:0], p.video.Record)
				w.buf = flv.AppendTag(w.buf, flv.TagVideo, ts, w.scratch)
			}
			w.video = p.video
		}
	case flv.TagAudio:
		if p.audio != w.audio {
			w.scratch = flv.AppendAudioSequenceHeader(w.scratch[:0], p.audio.asc)
			w.buf = flv.AppendTag(w.buf, flv.TagAudio, ts, w.scratch)
			w.audio = p.audio
		}
	}
	w.buf = flv.AppendTag(w.buf, p.kind, ts, p.body)
}

// sameVideo reports whether two onMetaData say the same of the picture (size, rate, codec):
// a new data rate alone is no reason to send onMetaData in the middle of a stream, which
// ffmpeg's FLV reader takes for a packet of its data track.
func sameVideo(a, b flv.Metadata) bool {
	a.VideoDataRateKbps = b.VideoDataRateKbps
	return a == b
}
