//go:build !linux

package rtmp

import "net"

// quickAck is Linux only (TCP_QUICKACK); elsewhere the delayed-ACK cost stays.
func quickAck(net.Conn) func() { return nil }
