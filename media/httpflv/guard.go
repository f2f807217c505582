package httpflv

import (
	"net"
	"net/http"
	"strings"
)

// guard is what every request passes first: the headers every response carries, and,
// without a token, the Host check against DNS rebinding.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if s.opts.Token == "" && !s.knownHost(r.Host) {
			s.refused.note("http: request for another host name refused", "remote", r.RemoteAddr, "host", loggedPath(r.Host), "path", loggedPath(r.URL.Path))
			http.Error(w, "camnode: unknown host name: open the player by its IP address or localhost", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// knownHost reports whether a request's Host names this server in a way a web page cannot
// borrow: an IP literal, localhost, or the name it listens on. Without a token the
// loopback listener trusts whoever reaches it; a page from attacker.example whose name
// was made to resolve to 127.0.0.1 (DNS rebinding) reaches it too, through the browser,
// but names its own host. An empty Host (HTTP/1.0) comes from no browser.
func (s *Server) knownHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	switch {
	case host == "", net.ParseIP(host) != nil, strings.EqualFold(host, "localhost"):
		return true
	}
	return s.boundName != "" && strings.EqualFold(host, s.boundName)
}
