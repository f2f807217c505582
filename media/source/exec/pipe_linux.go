package exec

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe asks for a pipe buffer of at least size bytes (the kernel rounds it up to a
// power of two pages, and caps it at /proc/sys/fs/pipe-max-size, 1 MiB by default, for
// processes without CAP_SYS_RESOURCE). The default buffer of 64 KiB cuts a 720p picture
// (1.4 MB) into 22 reads, each a wake-up of the reader and of the writer; with 1 MiB it
// is two. Failing is harmless: the pipe keeps the buffer it has.
func growPipe(f *os.File, size int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		for want := size; want >= 64<<10; want /= 2 {
			if _, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, want); err == nil {
				return
			}
		}
	})
}
