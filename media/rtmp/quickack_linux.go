package rtmp

import (
	"crypto/tls"
	"net"
	"syscall"
)

// quickAck returns a function that puts the TCP socket under nc into quick-ACK mode, or nil
// when nc has no TCP socket. Linux leaves quick-ACK mode again by itself after a while, so
// the caller re-arms it before every read it waits on.
//
// Why: nginx-rtmp writes its answers as several small messages (Window Acknowledgement
// Size, Set Peer Bandwidth, Set Chunk Size, _result) without TCP_NODELAY, so Nagle holds
// each one back until the previous is acknowledged, and Linux delays that ACK by up to
// 40 ms. Every step of the publish sequence then cost one delayed ACK.
func quickAck(nc net.Conn) func() {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() {
		// Best effort: a failure only costs the delay this avoids.
		raw.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
