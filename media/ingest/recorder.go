package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camnode/camnode/media/flv"
)

const (
	// flushEvery bounds what a crash of the ingest can lose from a recording.
	flushEvery = time.Second
	// flushSize bounds the memory a recording holds between flushes.
	flushSize = 256 << 10
	// maxSameSecond bounds the -2, -3... suffixes tried for one stream within one second.
	maxSameSecond = 1000
	// maxNameLen keeps file names well below the usual 255-byte limit.
	maxNameLen = 100
)

// recorder writes one publish session to an FLV file. Tags are collected in memory and
// written on every video keyframe, every flushSize bytes and at least every flushEvery, so a
// crash leaves a readable file up to the last flushed tag.
type recorder struct {
	mu      sync.Mutex
	file    *os.File // nil once finished
	pending []byte
	timer   *time.Timer // runs timedFlush; armed while pending holds tags
	armed   bool
	err     error // the first write error; the recording stops there

	rec                Recording
	hasVideo, hasAudio bool
	sawPicture         bool
}

// createRecorder creates <dir>/<stream>-<unixtime>.flv, or -2, -3... when that exists,
// and writes the file header. The header says audio and video, as nginx-rtmp's does; finish
// corrects it to what the stream carried.
func createRecorder(dir, app, stream string, now time.Time) (*recorder, error) {
	base := fmt.Sprintf("%s-%d", fileName(stream), now.Unix())
	for i := 1; i <= maxSameSecond; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		path := filepath.Join(dir, name+".flv")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ingest: create recording in %s: %w", dir, pathless(err))
		}
		r := &recorder{
			file: f,
			rec:  Recording{Path: path, App: app, Stream: stream, Started: now},
		}
		r.timer = time.AfterFunc(flushEvery, r.timedFlush)
		r.timer.Stop()
		r.pending = flv.AppendFileHeader(r.pending, true, true)
		r.rec.Bytes = int64(len(r.pending))
		return r, nil
	}
	return nil, fmt.Errorf("ingest: create recording in %s: %d files of one stream within a second", dir, maxSameSecond)
}

// fileName makes a stream name safe as a file name: letters, digits, '-', '_' and '.' stay,
// everything else (path separators, spaces, other scripts) becomes '_', and leading dots go,
// so neither ".." nor a hidden file can come out.
func fileName(stream string) string {
	var b strings.Builder
	for _, c := range stream {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= maxNameLen {
			break
		}
	}
	name := strings.TrimLeft(b.String(), ".")
	if name == "" {
		return "stream"
	}
	return name
}

// pathless drops the path from a file system error: the path holds the stream key.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func (r *recorder) writeVideo(timestamp uint32, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	picture, key := videoPicture(body)
	if picture && !r.sawPicture {
		r.sawPicture = true
		r.rec.FirstVideoKeyframe = key
	}
	r.hasVideo = true
	r.rec.VideoTags++
	return r.appendLocked(flv.TagVideo, timestamp, body, picture && key)
}

func (r *recorder) writeAudio(timestamp uint32, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hasAudio = true
	r.rec.AudioTags++
	return r.appendLocked(flv.TagAudio, timestamp, body, false)
}

// writeData records a script tag; body starts with the AMF0 string naming it. For
// onMetaData the size is taken from its width and height.
func (r *recorder) writeData(timestamp uint32, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w, h, ok := metadataSize(body); ok {
		r.rec.Width, r.rec.Height = w, h
	}
	r.rec.DataTags++
	return r.appendLocked(flv.TagScript, timestamp, body, false)
}

func (r *recorder) appendLocked(tagType byte, timestamp uint32, body []byte, flushNow bool) error {
	if r.err != nil {
		return r.err
	}
	if r.file == nil {
		return errors.New("ingest: recording already finished")
	}
	if len(body) > flv.MaxTagBodySize {
		return fmt.Errorf("ingest: tag of %d bytes exceeds FLV's %d", len(body), flv.MaxTagBodySize)
	}
	n := len(r.pending)
	r.pending = flv.AppendTag(r.pending, tagType, timestamp, body)
	r.rec.Bytes += int64(len(r.pending) - n)
	if flushNow || len(r.pending) >= flushSize {
		return r.flushLocked()
	}
	if !r.armed {
		r.armed = true
		r.timer.Reset(flushEvery)
	}
	return nil
}

// timedFlush runs on the timer's goroutine. A firing that raced with a flush finds the timer
// disarmed (or re-armed, and then flushes a little early, which is harmless).
func (r *recorder) timedFlush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armed && r.file != nil && r.err == nil {
		r.flushLocked()
	}
}

func (r *recorder) flushLocked() error {
	r.armed = false
	r.timer.Stop()
	if len(r.pending) == 0 {
		return nil
	}
	if _, err := r.file.Write(r.pending); err != nil {
		r.err = fmt.Errorf("ingest: write recording: %w", pathless(err))
		return r.err
	}
	r.pending = r.pending[:0]
	return nil
}

// finish writes what is pending, corrects the header's audio/video flags and closes the file.
func (r *recorder) finish(now time.Time) (Recording, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec.Ended = now
	if r.file == nil {
		return r.rec, nil
	}
	err := r.flushLocked()
	if err == nil && r.err == nil {
		if _, werr := r.file.WriteAt(flv.AppendFileHeader(nil, r.hasVideo, r.hasAudio), 0); werr != nil {
			err = fmt.Errorf("ingest: rewrite recording header: %w", pathless(werr))
		}
	}
	if cerr := r.file.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("ingest: close recording: %w", pathless(cerr))
	}
	r.file = nil
	r.pending = nil
	return r.rec, errors.Join(r.err, err)
}

func (r *recorder) snapshot() Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec
}

// videoPicture reports whether a video tag body carries a picture (rather than a sequence
// header, end of sequence or command) and whether that picture is a keyframe.
//
// Legacy FLV: byte 0 = frame type (high nibble) | codec id (low nibble); for AVC byte 1 is
// the packet type, 1 = NAL units. Enhanced RTMP sets bit 7 of byte 0: the frame type is then
// bits 4-6 and the low nibble is the packet type, 1 (coded frames) or 3 (coded frames
// without composition time) carrying pictures. Frame type 5 is a command frame.
func videoPicture(body []byte) (picture, key bool) {
	if len(body) == 0 {
		return false, false
	}
	if body[0]&0x80 != 0 {
		frameType, packetType := body[0]>>4&0x07, body[0]&0x0f
		picture := frameType != 5 && (packetType == 1 || packetType == 3)
		return picture, picture && frameType == flv.FrameKey
	}
	tag, err := flv.ParseVideoTag(body)
	if err != nil || tag.FrameType == 5 {
		return false, false
	}
	if tag.CodecID == flv.CodecAVC && tag.PacketType != flv.AVCNALU {
		return false, false
	}
	return true, tag.Keyframe()
}

// metadataSize reads width and height from an onMetaData script tag body:
// string "onMetaData", then an ECMA array or object holding number properties.
func metadataSize(body []byte) (width, height int, ok bool) {
	name, n, err := flv.DecodeAMF(body)
	if err != nil || name != "onMetaData" {
		return 0, 0, false
	}
	v, _, err := flv.DecodeAMF(body[n:])
	if err != nil {
		return 0, 0, false
	}
	m, isMap := v.(flv.AMFMap)
	if !isMap {
		return 0, 0, false
	}
	w, okW := m.Number("width")
	h, okH := m.Number("height")
	if !okW || !okH || w < 0 || h < 0 || w > 1<<16 || h > 1<<16 {
		return 0, 0, false
	}
	return int(w), int(h), true
}
