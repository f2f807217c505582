// Package demo holds the embedded peers of `camnode demo`: an MQTT broker and a port helper.
package demo

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Listen binds addr (e.g. "127.0.0.1:1883"); if that port is taken it binds a free port on the
// same host instead and reports fellBack=true so the caller can say so. Any other failure
// (a bad address, a host that is not local, no permission) is returned as it is: a different
// port would not help there.
func Listen(addr string) (ln net.Listener, fellBack bool, err error) {
	ln, err = net.Listen("tcp", addr)
	if err == nil {
		return ln, false, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, false, fmt.Errorf("demo: listen on %s: %w", addr, err)
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return nil, false, fmt.Errorf("demo: listen on %s: %w", addr, err)
	}
	ln, err2 := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, false, fmt.Errorf("demo: %s is taken (%v), and a free port on %q failed too: %w", addr, err, host, err2)
	}
	return ln, true, nil
}
