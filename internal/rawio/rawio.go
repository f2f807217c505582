// Package rawio reads and writes non-blocking descriptors (pipes, TCP sockets) with raw
// read(2) and write(2) calls, waiting for readiness in the runtime's poller through
// syscall.RawConn, as os.File and net.Conn do, deadlines included.
//
// Why: an ordinary system call (or cgo call) goes through the runtime's bookkeeping.
// When the process was idle before it, the runtime's monitor thread wakes, finds the
// caller "in a system call for too long" (its clock is stale after sleeping), hands the
// caller's processor to another thread, and then polls every 20 us while the goroutine
// stays busy. A stream does exactly that: a picture read in a few pieces after an idle
// wait, a socket write once a picture. Through the bookkeeping that cost more CPU than
// the copies themselves: bench/push 17 % of camnode's CPU for the socket writes,
// bench/rawburn about 8 % for the picture reads. A raw call keeps its processor while it
// runs; on a non-blocking descriptor it takes no longer than the copy.
//
// A Reader or Writer is used by one goroutine at a time.
package rawio

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Reader reads a non-blocking descriptor with read(2).
type Reader struct {
	rc      syscall.RawConn
	attempt func(fd uintptr) bool // r.read, bound once: a method value made per Read would allocate
	p       []byte
	n       int
	errno   syscall.Errno
}

// NewReader reads through rc (from an os.File's or net.Conn's SyscallConn).
func NewReader(rc syscall.RawConn) *Reader {
	r := &Reader{rc: rc}
	r.attempt = r.read
	return r
}

// Read reads what is there, at most len(p) bytes, waiting in the poller while nothing
// is: (n > 0, nil), (0, io.EOF) at the end, or the poller's error (a deadline's, a
// closed descriptor's) or the system call's, as os.SyscallError.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p, r.n, r.errno = p, 0, 0
	err := r.rc.Read(r.attempt)
	n, errno := r.n, r.errno
	r.p = nil
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is one attempt: false (wait for data) while the descriptor has none.
func (r *Reader) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.p[0])), uintptr(len(r.p)))
		switch e {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			r.errno = e
			return true
		}
	}
}

// Writer writes a non-blocking descriptor with write(2).
type Writer struct {
	rc      syscall.RawConn
	attempt func(fd uintptr) bool // w.write, bound once
	p       []byte                // what is left to write
	n       int
	err     error
}

// NewWriter writes through rc (from an os.File's or net.Conn's SyscallConn).
func NewWriter(rc syscall.RawConn) *Writer {
	w := &Writer{rc: rc}
	w.attempt = w.write
	return w
}

// Write writes all of p, waiting in the poller for room whenever the descriptor takes
// no more, within its write deadline, as net.Conn.Write does.
func (w *Writer) Write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.attempt)
	n, werr := w.n, w.err
	w.p = nil
	if werr != nil {
		return n, werr
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// write is one attempt: it writes what the descriptor takes and reports false (wait for
// room) when it takes no more.
func (w *Writer) write(fd uintptr) bool {
	for len(w.p) > 0 {
		k, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.p[0])), uintptr(len(w.p)))
		switch e {
		case 0:
			w.n += int(k)
			w.p = w.p[k:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			w.err = os.NewSyscallError("write", e)
			return true
		}
	}
	return true
}
