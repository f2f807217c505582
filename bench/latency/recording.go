//go:build linux

package latency

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Arrival is the moment the first keyframe of a recording was complete on disk.
type Arrival struct {
	File string // the recording's path
	At   time.Time
}

// RecordingWatch watches the directory where nginx-rtmp records (record all) and reports,
// for each new .flv file, when the ingest has written its first keyframe whole. nginx-rtmp
// writes every frame to the recording as it arrives, unbuffered, so this is the time the
// keyframe reached the ingest, measured on the ingest's side and with nothing between
// publisher and ingest (a TCP relay in between would answer nginx's segments in the
// publisher's place and so change the very timing it measures).
type RecordingWatch struct {
	dir      string
	inotify  *os.File
	arrivals chan Arrival
	done     chan struct{}

	mu  sync.Mutex
	err error // why the watch ended early
}

// WatchRecordings starts watching dir, which must exist.
func WatchRecordings(dir string) (*RecordingWatch, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("recording watch: inotify: %w", err)
	}
	// Non-blocking: os.NewFile makes it pollable, so Close ends a pending Read.
	f := os.NewFile(uintptr(fd), "inotify")
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MODIFY); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording watch: watch %s: %w", dir, err)
	}
	w := &RecordingWatch{dir: dir, inotify: f, arrivals: make(chan Arrival, 64), done: make(chan struct{})}
	go w.run()
	return w, nil
}

// Arrivals delivers one Arrival per new recording once its first keyframe is on disk. Up
// to 64 wait unread; the watch drops any beyond that.
func (w *RecordingWatch) Arrivals() <-chan Arrival { return w.arrivals }

// Err says why the watch stopped before Close, if it did.
func (w *RecordingWatch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close stops the watch and waits for its goroutine.
func (w *RecordingWatch) Close() {
	w.inotify.Close()
	<-w.done
}

func (w *RecordingWatch) run() {
	defer close(w.done)
	files := map[string]*flvScan{}
	defer func() {
		for _, s := range files {
			s.close()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := w.inotify.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				w.mu.Lock()
				w.err = fmt.Errorf("recording watch: read inotify: %w", err)
				w.mu.Unlock()
			}
			return
		}
		now := time.Now()
		// Events: struct inotify_event { int wd; uint32 mask, cookie, len; char name[len]; }
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)])
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			name = strings.TrimRight(name, "\x00")
			if !strings.HasSuffix(name, ".flv") {
				continue
			}
			s := files[name]
			if s == nil {
				s = &flvScan{path: filepath.Join(w.dir, name)}
				files[name] = s
			}
			if s.found || s.failed {
				continue
			}
			found, err := s.advance()
			if err != nil {
				s.failed = true // not a recording this watch understands: ignore it
				s.close()
				continue
			}
			if found {
				s.close()
				select {
				case w.arrivals <- Arrival{File: s.path, At: now}:
				default:
				}
			}
		}
	}
}

// flvScan follows an FLV file as it grows, reading only tag headers, up to the first
// complete video tag with a keyframe.
//
//	header:  "FLV" version(1) flags(1) header size(4 BE), then previous tag size 0 (4)
//	tag:     type(1: 9 video) data size(3 BE) timestamp(3) timestamp ext(1) stream id(3)
//	         data: frame type(4 bits: 1 key) codec(4 bits: 7 AVC) AVC packet type(1: 1 NALUs) ...
//	         previous tag size(4)
type flvScan struct {
	path   string
	f      *os.File
	next   int64 // offset of the next tag header; 0 until the file header is read
	found  bool
	failed bool
}

func (s *flvScan) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

// advance reads what the file holds now; it reports true once the first keyframe tag is
// complete.
func (s *flvScan) advance() (bool, error) {
	if s.f == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return false, err
		}
		s.f = f
	}
	st, err := s.f.Stat()
	if err != nil {
		return false, err
	}
	size := st.Size()
	var b [11]byte
	if s.next == 0 {
		if size < 9+4 {
			return false, nil
		}
		if _, err := s.f.ReadAt(b[:9], 0); err != nil {
			return false, err
		}
		if string(b[:3]) != "FLV" {
			return false, fmt.Errorf("%s is not FLV", s.path)
		}
		s.next = int64(binary.BigEndian.Uint32(b[5:9])) + 4
	}
	for s.next+11 <= size {
		if _, err := s.f.ReadAt(b[:11], s.next); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		dataSize := int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
		end := s.next + 11 + dataSize
		if end > size {
			return false, nil // this tag is still being written
		}
		if b[0] == 9 && dataSize >= 2 {
			var head [2]byte
			if _, err := s.f.ReadAt(head[:], s.next+11); err != nil {
				return false, err
			}
			if head[0] == 0x17 && head[1] == 1 {
				s.found = true
				return true, nil
			}
		}
		s.next = end + 4
	}
	return false, nil
}
