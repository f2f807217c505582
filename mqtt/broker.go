package mqtt

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/camnode/camnode/internal/cafile"
)

// broker is a parsed broker URL: what paho dials, and what may be shown.
type broker struct {
	dial     *url.URL // without userinfo
	redacted string   // for logs and errors: no userinfo, query shown as ****
	tls      bool
	username string // from the URL's userinfo, if any
	password string
}

// parseBrokerURL accepts tcp:// (or mqtt://), ssl:// (or mqtts://, tls://), ws:// and
// wss:// URLs and fills in the usual port when none is given. Errors never repeat the URL,
// which may carry a password.
func parseBrokerURL(raw string) (broker, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, and its inner error may quote part of a password
		// ("invalid URL escape", "invalid port"): say less when there may be one.
		if strings.Contains(raw, "@") {
			return broker{}, errors.New("mqtt: broker URL is not a valid URL (percent-encode special characters in user and password)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return broker{}, fmt.Errorf("mqtt: broker URL is not a valid URL: %v", err)
	}
	var b broker
	var port string
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		u.Scheme, port = "tcp", "1883"
	case "ssl", "mqtts", "tls":
		u.Scheme, port, b.tls = "ssl", "8883", true
	case "ws":
		u.Scheme, port = "ws", "80"
	case "wss":
		u.Scheme, port, b.tls = "wss", "443", true
	default:
		return broker{}, fmt.Errorf("mqtt: broker URL scheme %q not supported (want tcp://, ssl://, mqtts://, ws:// or wss://)", u.Scheme)
	}
	if u.Hostname() == "" {
		return broker{}, fmt.Errorf("mqtt: broker URL %s://… has no host", u.Scheme)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if u.User != nil {
		b.username = u.User.Username()
		b.password, _ = u.User.Password()
		u.User = nil
	}
	b.dial = u
	shown := *u
	if shown.RawQuery != "" || shown.ForceQuery {
		shown.RawQuery, shown.ForceQuery = "****", false
	}
	shown.Fragment, shown.RawFragment = "", ""
	b.redacted = shown.String()
	return b, nil
}

// TLS files a FileError can be about.
const (
	FileCA   = "CA"
	FileCert = "certificate"
	FileKey  = "key"
)

// FileError is a TLS file of Config that cannot be used: which one (FileCA, FileCert or
// FileKey), so a caller can name its own setting, and why.
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// tlsConfig trusts the system roots plus caFile, and presents the client certificate pair
// when both files are given. Errors are *FileError.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := cafile.Pool(caFile)
		switch {
		case errors.Is(err, cafile.ErrNoCertificate):
			return nil, &FileError{FileCA, fmt.Errorf("mqtt: CA file %w", err)} // "mqtt: CA file /x.pem: no PEM certificate found"
		case err != nil:
			return nil, &FileError{FileCA, fmt.Errorf("mqtt: CA file: %w", err)}
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, &FileError{FileCert, fmt.Errorf("mqtt: client certificate %s with key %s: %w", certFile, keyFile, err)}
		}
		cfg.Certificates = []tls.Certificate{pair}
	case certFile != "":
		return nil, &FileError{FileKey, fmt.Errorf("mqtt: client certificate %s given without a key file", certFile)}
	case keyFile != "":
		return nil, &FileError{FileCert, fmt.Errorf("mqtt: client key %s given without a certificate file", keyFile)}
	}
	return cfg, nil
}
