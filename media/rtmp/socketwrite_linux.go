package rtmp

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socketWriter is what the publisher's messages are written to: nc itself, or on a plain
// TCP socket a writer that calls write(2) without the runtime's system-call bookkeeping.
//
// Why: the socket is non-blocking, so write(2) returns at once (EAGAIN when the kernel's
// send buffer is full: the writer then waits for room on the runtime's poller, within the
// write deadline, exactly as net.Conn.Write does). Made through the bookkeeping instead,
// the write of a process that was idle wakes the runtime's monitor thread, which finds the
// writer "in a system call for too long" (its clock is stale after sleeping) and hands the
// writer's processor to another thread. A stream writes once per picture after idling in
// between: that cost more CPU than the write itself (bench/push, 17 % of camnode's CPU).
func socketWriter(nc net.Conn) io.Writer {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc // TLS, or a test's conn
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	w := &rawSocketWriter{rc: rc}
	w.attempt = w.write // bound once: a method value made per Write would allocate
	return w
}

// rawSocketWriter writes with write(2) through syscall.RawConn. It is used by one
// goroutine at a time (the Conn's mutex).
type rawSocketWriter struct {
	rc      syscall.RawConn
	attempt func(fd uintptr) bool
	p       []byte // what is left to write
	n       int
	err     error
}

func (w *rawSocketWriter) Write(p []byte) (int, error) {
	w.p, w.n, w.err = p, 0, nil
	err := w.rc.Write(w.attempt) // deadline and poller wait as for net.Conn.Write
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

// write is one attempt: it writes what the socket takes and reports false (wait for room)
// when it takes no more.
func (w *rawSocketWriter) write(fd uintptr) bool {
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
