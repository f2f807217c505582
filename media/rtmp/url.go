package rtmp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// URL is a parsed publish URL: scheme://host[:port]/app[/instance]/streamkey[?query].
//
// The stream key and the query are secret: String, GoString and LogValue give the redacted
// form, so a URL printed or logged by accident does not leak them.
type URL struct {
	Scheme     string // "rtmp" or "rtmps"
	Host       string // host name or IP, without brackets
	Port       int    // from the URL, else 1935 (rtmp) or 443 (rtmps)
	App        string // "app" or "app/instance": everything between host and stream key
	StreamName string // stream key, with "?query" when the URL has one
	TCURL      string // scheme://host[:port]/app, as the connect command's tcUrl
}

// Redacted is the URL with the stream key and query replaced by ****:
// rtmp://host:port/app/****.
func (u URL) Redacted() string {
	return u.Scheme + "://" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) + "/" + u.App + "/****"
}

// Addr is host:port to dial.
func (u URL) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

// String is Redacted.
func (u URL) String() string { return u.Redacted() }

// GoString is Redacted, so %#v does not print the stream key either.
func (u URL) GoString() string { return strconv.Quote(u.Redacted()) }

// LogValue is Redacted.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.Redacted()) }

// ErrURL is wrapped by every error ParseURL returns.
var ErrURL = errors.New("invalid RTMP URL")

// ParseURL parses rtmp://host[:port]/app[/inst]/streamkey[?query] and the rtmps form. The
// last path element is the stream key; the query, if any, belongs to the stream name as
// servers expect it in the publish command.
//
// The string is split by hand rather than with net/url: url.Parse puts the whole input, key
// included, into its errors, and percent-decoding the key would change what is sent.
// Errors never contain the stream key or query.
func ParseURL(raw string) (URL, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(raw), "://")
	if !ok {
		return URL{}, fmt.Errorf("rtmp: %w: no scheme, want rtmp://host/app/key or rtmps://...", ErrURL)
	}
	u := URL{Scheme: strings.ToLower(scheme)}
	switch u.Scheme {
	case "rtmp":
		u.Port = 1935
	case "rtmps":
		u.Port = 443
	default:
		// The scheme is safe to show; it cannot hold the key.
		return URL{}, fmt.Errorf("rtmp: %w: scheme %q, want rtmp or rtmps", ErrURL, scheme)
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if strings.Contains(authority, "@") {
		return URL{}, fmt.Errorf("rtmp: %w: user info (user:password@) is not supported", ErrURL)
	}
	host := authority
	if i := strings.LastIndexByte(authority, ':'); i > strings.LastIndexByte(authority, ']') {
		host = authority[:i]
		p, err := strconv.Atoi(authority[i+1:])
		if err != nil || p < 1 || p > 65535 {
			// Not echoed: in a mangled URL the "port" may be part of the key.
			return URL{}, fmt.Errorf("rtmp: %w: port is not a number in 1..65535", ErrURL)
		}
		u.Port = p
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return URL{}, fmt.Errorf("rtmp: %w: no host", ErrURL)
	}
	u.Host = host
	path = strings.Trim(path, "/")
	i := strings.LastIndexByte(path, '/')
	if i <= 0 || i == len(path)-1 {
		return URL{}, fmt.Errorf("rtmp: %w: %s://%s: want /app/streamkey after the host", ErrURL, u.Scheme, authority)
	}
	u.App, u.StreamName = path[:i], path[i+1:]
	if hasQuery {
		u.StreamName += "?" + query
	}
	u.TCURL = u.Scheme + "://" + authority + "/" + u.App
	return u, nil
}
