package exec

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestGrowPipe: a pipe for 720p I420 pictures gets a buffer of 1 MiB (the unprivileged
// maximum by default) or more, where it had 64 KiB.
func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	size := func() int {
		rc, _ := r.SyscallConn()
		var n int
		rc.Control(func(fd uintptr) { n, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := size()
	growPipe(r, 1280*720*3/2)
	if after := size(); after < 1<<20 || after <= before {
		t.Errorf("pipe buffer %d bytes, then %d: want at least 1 MiB", before, after)
	}
	// The pipe still works and stays non-blocking (deadlines need the netpoller).
	if err := r.SetReadDeadline(time.Now()); err != nil {
		t.Errorf("read deadline after growPipe: %v", err)
	}
}
