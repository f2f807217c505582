package exec

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// readFull fills buf from the pipe f as io.ReadFull does (io.EOF when nothing came,
// io.ErrUnexpectedEOF when the output ended inside buf, a deadline's error as it is),
// waiting for data in the netpoller like f.Read, but reading with raw read(2) calls.
//
// Why: every ordinary system call (and cgo call) wakes the Go runtime's monitor thread
// when it sleeps, and the monitor then polls every 20 us for as long as the goroutine
// stays busy. Raw pictures arrive as several reads each, each after an idle wait, so
// that was 10 wake-ups of the monitor a 720p picture (bench/rawburn: 6,000 in 20 s; 2,500
// with raw reads, about 8% of camnode's CPU less). A raw call keeps its P while it
// runs: f is non-blocking, so a call takes at most the copy of what the pipe holds.
func readFull(f *os.File, buf []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	got := 0
	for got < len(buf) {
		var n uintptr
		var errno syscall.Errno
		err := rc.Read(func(fd uintptr) bool {
			n, _, errno = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[got])), uintptr(len(buf)-got))
			return errno != syscall.EAGAIN
		})
		switch {
		case err != nil:
			if got > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return got, &os.PathError{Op: "read", Path: f.Name(), Err: errno}
		case n == 0:
			if got > 0 {
				return got, io.ErrUnexpectedEOF
			}
			return 0, io.EOF
		}
		got += int(n)
	}
	return got, nil
}
