package rtmp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/camnode/camnode/internal/redact"
)

// URL is a parsed publish URL, the one form of it that configuration, redaction and Dial
// all use:
//
//	scheme://host[:port]/app[/instance...]/[streamkey][?query][#fragment]
//
// What the publisher sends, as OBS (server URL + stream key) and ffmpeg send it:
//
//	connect  app   = the path up to the last '/'          "live-bvc", "live2", "app/inst"
//	connect  tcUrl = scheme://host[:port as written]/app  "rtmp://live-push.bilivideo.com/live-bvc"
//	publish  name  = the last path element, then ?query  "?streamname=live_1_2&key=k" (Bilibili)
//	                                                      "room?wsSecret=s&wsTime=t"  (Douyu)
//
// The query belongs to the stream name, where platforms check their tokens; it may follow an
// empty last element (Bilibili hands out .../live-bvc/?streamname=...&key=...). A fragment is
// never sent. Nothing is percent-decoded: the key goes out byte for byte as written.
//
// The stream key, the query values and the fragment are secret: String, GoString and
// LogValue give the redacted form, so a URL printed or logged by accident does not leak them.
type URL struct {
	Scheme     string // "rtmp" or "rtmps"
	Host       string // host name or IP, without brackets
	Port       int    // from the URL, else 1935 (rtmp) or 443 (rtmps)
	App        string // connect's app: "app" or "app/instance", everything between host and stream key
	StreamName string // publish's name: the stream key, with "?query" when the URL has one
	TCURL      string // connect's tcUrl: scheme://host[:port]/app
}

// Key is the stream key: StreamName without its query. It may be empty when a query follows
// (Bilibili).
func (u URL) Key() string {
	k, _, _ := strings.Cut(u.StreamName, "?")
	return k
}

// Query is the query of the stream name without the '?', or "".
func (u URL) Query() string {
	_, q, _ := strings.Cut(u.StreamName, "?")
	return q
}

// Redacted is the URL with every secret part replaced by ****: the stream key, and each
// query value (names that read as parameter names stay, so a user can tell which URL it is):
//
//	rtmp://host:1935/live/****
//	rtmp://live-push.bilivideo.com:1935/live-bvc/?streamname=****&key=****
func (u URL) Redacted() string {
	s := u.Scheme + "://" + u.Addr() + "/" + u.App + "/"
	if u.Key() != "" {
		s += "****"
	}
	if q := u.Query(); q != "" {
		s += "?" + redact.Query(q)
	}
	return s
}

// Secrets are the secret strings of u, longest first, for filters that scrub free text:
// the stream name with its query, the key, the query and each query value.
func (u URL) Secrets() []string {
	out := []string{u.StreamName, u.Key()}
	if q := u.Query(); q != "" {
		out = append(out, q)
		for _, kv := range strings.Split(q, "&") {
			_, v, ok := strings.Cut(kv, "=")
			if !ok {
				v = kv
			}
			out = append(out, v)
		}
	}
	var uniq []string
	for _, s := range out {
		if s != "" && !contains(uniq, s) {
			uniq = append(uniq, s)
		}
	}
	return uniq
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isParamName(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' && i > 0) {
			return false
		}
	}
	return true
}

// isHostName accepts DNS names and IPv4 addresses: ASCII letters, digits, '-', '.', '_', and
// any non-ASCII letter of an internationalised name.
func isHostName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r >= 0x80) {
			return false
		}
	}
	return true
}

// Platform is the live platform an ingest URL belongs to, as far as its viewers see chat
// in the stream: none shows SEI or onTextData; some show CEA-608 captions (cc); all show
// what is burnt into the picture.
type Platform struct {
	Name     string // "YouTube"; "" for an ingest camnode does not know (a server of one's own)
	Captions bool   // shows the captions carried in the H.264 (CAMNODE_DANMAKU's cc)
}

// platforms are the ingest hosts of the platforms camnode knows, by domain.
var platforms = []struct {
	domain string
	p      Platform
}{
	{"youtube.com", Platform{"YouTube", true}},
	{"twitch.tv", Platform{"Twitch", true}},
	{"contribute.live-video.net", Platform{"Twitch", true}},
	{"bilivideo.com", Platform{"Bilibili", false}},
	{"douyu.com", Platform{"Douyu", false}},
	{"douyucdn.cn", Platform{"Douyu", false}},
}

// Platform names the platform of the URL's host; the zero Platform for any other.
func (u URL) Platform() Platform {
	host := strings.ToLower(strings.TrimSuffix(u.Host, "."))
	for _, e := range platforms {
		if host == e.domain || strings.HasSuffix(host, "."+e.domain) {
			return e.p
		}
	}
	return Platform{}
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

// ParseURL parses a publish URL (see URL for the forms and what is sent). Surrounding
// whitespace is ignored; whitespace, control characters or invalid UTF-8 inside are errors,
// and so is user info (user:password@): no platform hands it out and RTMP has no place for it.
//
// The string is split by hand rather than with net/url: url.Parse puts the whole input, key
// included, into its errors, and percent-decoding the key would change what is sent.
// Errors never contain the stream key, the query or the fragment.
func ParseURL(raw string) (URL, error) {
	fail := func(format string, args ...any) (URL, error) {
		return URL{}, fmt.Errorf("rtmp: %w: "+format, append([]any{ErrURL}, args...)...)
	}
	raw = strings.TrimSpace(raw)
	if !utf8.ValidString(raw) {
		return fail("not valid UTF-8")
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f || r == ' ' || r == 0x85 || r == 0xa0 || (r >= 0x2000 && r <= 0x200a) || r == 0x3000 {
			return fail("contains a space or control character (one URL per destination, separated by whitespace)")
		}
		if strings.ContainsRune("\"'`<>", r) {
			// Where a URL ends in free text (RedactText): no platform hands these out.
			return fail("contains a quote or angle bracket")
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return fail("no scheme, want rtmp://host/app/key or rtmps://host/app/key")
	}
	u := URL{Scheme: strings.ToLower(scheme)}
	switch u.Scheme {
	case "rtmp":
		u.Port = 1935
	case "rtmps":
		u.Port = 443
	default:
		// Shown only when it looks like a scheme: a mangled URL may have the key there.
		if !isParamName(scheme) {
			return fail("no rtmp:// or rtmps:// scheme")
		}
		return fail("scheme %q, want rtmp:// or rtmps://", scheme)
	}
	// A '#' is part of the key (or the query): platforms hand out no fragments, and keys
	// with a '#' in them exist; cutting there sent a shortened key the ingest refused.
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if strings.Contains(authority, "@") {
		return fail("user info (user:password@) is not supported; the key belongs in the path")
	}
	host := authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && i > strings.LastIndexByte(authority, ']') {
		host = authority[:i]
		p, err := strconv.Atoi(authority[i+1:])
		if err != nil || p < 1 || p > 65535 || authority[i+1] == '+' {
			// Not echoed: in a mangled URL the "port" may be part of the key.
			return fail("port is not a number in 1..65535")
		}
		u.Port = p
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") && len(host) > 2 {
		host = host[1 : len(host)-1]
		if net.ParseIP(host) == nil {
			return fail("%s://%s: not an IPv6 address in brackets", u.Scheme, authority)
		}
	} else if !isHostName(host) {
		return fail("%s://%s: bad host name", u.Scheme, authority)
	}
	if host == "" {
		return fail("no host")
	}
	u.Host = host
	if query == "" {
		path = strings.TrimRight(path, "/")
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 && path != "" && query == "" {
		// One path element: the app of a server URL whose key was left out (YouTube's
		// rtmp://a.rtmp.youtube.com/live2, Twitch's …/app). Shown when it looks like an app
		// name; a long or mixed-case one may be a key given without its app.
		app := "an app"
		if looksLikeApp(path) {
			app = strconv.Quote(path)
		}
		return fail("stream key missing: %s://%s/ names %s and no key after it: write %s://%s/app/streamkey, the key the platform shows beside the server URL",
			u.Scheme, authority, app, u.Scheme, authority)
	}
	if i <= 0 || (i == len(path)-1 && query == "") {
		return fail("%s://%s: want /app/streamkey after the host", u.Scheme, authority)
	}
	u.App, u.StreamName = path[:i], path[i+1:]
	if strings.HasPrefix(u.App, "/") || strings.Contains(u.App, "//") {
		return fail("%s://%s: empty element in the app path", u.Scheme, authority)
	}
	if query != "" {
		u.StreamName += "?" + query
	}
	u.TCURL = u.Scheme + "://" + authority + "/" + u.App
	return u, nil
}

// looksLikeApp tells whether a path element looks like an RTMP application name (live,
// live2, app, live-bvc) rather than a stream key: short, lower case, letters, digits, '-'
// and '_'.
func looksLikeApp(s string) bool {
	if len(s) == 0 || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// RedactText redacts, by structure, every rtmp:// and rtmps:// URL in free text: one that
// parses becomes its Redacted form, one that does not keeps only its scheme and host. Text
// around the URLs is left as it is, so "stream_started" or "127.0.0.1" survive whatever the
// key is. A URL ends at whitespace, a quote or '<', '>'; trailing punctuation (".,;:)]}")
// stays outside it.
func RedactText(s string) string {
	var b strings.Builder
	for {
		i := indexScheme(s)
		if i < 0 {
			if b.Len() == 0 {
				return s
			}
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexAny(s, " \t\r\n\v\f\"'`<>")
		if end < 0 {
			end = len(s)
		}
		for end > 0 && strings.IndexByte(".,;:)]}", s[end-1]) >= 0 {
			end--
		}
		b.WriteString(redactOne(s[:end]))
		s = s[end:]
	}
}

// indexScheme finds the next "rtmp://" or "rtmps://", any case.
func indexScheme(s string) int {
	for i := 0; i+7 <= len(s); i++ {
		if s[i] != 'r' && s[i] != 'R' {
			continue
		}
		rest := strings.ToLower(s[i:min(len(s), i+8)])
		if strings.HasPrefix(rest, "rtmp://") || strings.HasPrefix(rest, "rtmps://") {
			return i
		}
	}
	return -1
}

// redactOne redacts one URL: its Redacted form when it parses, else scheme://host/****
// with any user info hidden too.
func redactOne(raw string) string {
	if u, err := ParseURL(raw); err == nil {
		return u.Redacted()
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	authority, _, _ = strings.Cut(authority, "#")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = "****@" + authority[i+1:]
	}
	out := strings.ToLower(scheme) + "://" + authority
	if len(rest) > len(authority) || strings.HasPrefix(authority, "****@") {
		out += "/****"
	}
	return out
}
