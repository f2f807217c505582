package rtmp

import (
	"io"
	"net"

	"github.com/camnode/camnode/internal/rawio"
)

// socketWriter is what the publisher's messages are written to: nc itself, or on a plain
// TCP socket a rawio.Writer, which calls write(2) without the runtime's system-call
// bookkeeping (see package rawio: through it, the write once a picture after idling
// cost more CPU than the write itself, bench/push 17 % of camnode's CPU). The socket is
// non-blocking: when its send buffer is full the writer waits for room on the runtime's
// poller, within the write deadline, exactly as net.Conn.Write does.
func socketWriter(nc net.Conn) io.Writer {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc // TLS, or a test's conn
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return rawio.NewWriter(rc)
}
