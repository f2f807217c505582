package onvif

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
	"time"
)

// Realm is the HTTP authentication realm of Protect.
const Realm = "camnode"

// DigestNonceLifetime is how long a Digest nonce is accepted; past it the client is
// challenged again with stale=true and retries without asking its user.
const DigestNonceLifetime = 5 * time.Minute

// digestAuth checks HTTP Digest (RFC 7616: MD5 and SHA-256, qop=auth) and Basic against one
// user. Nonces are stateless: a timestamp and its HMAC under a key made at start, so they
// expire without a table and cannot be forged.
type digestAuth struct {
	user, pass string
	now        func() time.Time
	key        [32]byte
}

func newDigestAuth(user, pass string, now func() time.Time) *digestAuth {
	d := &digestAuth{user: user, pass: pass, now: now}
	rand.Read(d.key[:])
	return d
}

// Protect requires the Service's credentials on h, as HTTP Digest (MD5 or SHA-256) or
// Basic: what ONVIF clients send for the snapshot URI. Without credentials configured it
// returns h unchanged.
func (s *Service) Protect(h http.Handler) http.Handler {
	if !s.authEnabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, stale := s.digest.check(r)
		if ok {
			h.ServeHTTP(w, r)
			return
		}
		s.log.Debug("onvif: http auth refused", "path", r.URL.Path, "remote", r.RemoteAddr, "stale", stale)
		s.digest.challenge(w, stale)
	})
}

func (d *digestAuth) newNonce() string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(d.now().UnixNano()))
	m := hmac.New(sha256.New, d.key[:])
	m.Write(b[:8])
	copy(b[8:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// nonceValid: made by us, and how old.
func (d *digestAuth) nonceAge(nonce string) (time.Duration, bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 24 {
		return 0, false
	}
	m := hmac.New(sha256.New, d.key[:])
	m.Write(b[:8])
	if !hmac.Equal(b[8:], m.Sum(nil)[:16]) {
		return 0, false
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	return d.now().Sub(at), true
}

// challenge answers 401 with SHA-256 first (RFC 7616 lists the preferred first), MD5 for
// the clients that know no other, and Basic.
func (d *digestAuth) challenge(w http.ResponseWriter, stale bool) {
	nonce := d.newNonce()
	s := ""
	if stale {
		s = ", stale=true"
	}
	for _, alg := range []string{"SHA-256", "MD5"} {
		w.Header().Add("WWW-Authenticate", `Digest realm="`+Realm+`", qop="auth", algorithm=`+alg+`, nonce="`+nonce+`", opaque="`+Realm+`"`+s)
	}
	w.Header().Add("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	http.Error(w, "401 unauthorized", http.StatusUnauthorized)
}

// check verifies the request's Authorization; stale when a Digest was right but its nonce
// has expired.
func (d *digestAuth) check(r *http.Request) (ok, stale bool) {
	auth := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(auth, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		u, p, ok := r.BasicAuth()
		return ok && credentialsEqual(u, d.user) && credentialsEqual(p, d.pass), false
	case "digest":
		return d.checkDigest(r.Method, r.URL.RequestURI(), parseAuthParams(rest))
	}
	return false, false
}

func (d *digestAuth) checkDigest(method, requestURI string, p map[string]string) (ok, stale bool) {
	var newHash func() hash.Hash
	switch strings.ToUpper(p["algorithm"]) {
	case "", "MD5":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return false, false
	}
	if p["realm"] != Realm || p["qop"] != "auth" || p["nc"] == "" || p["cnonce"] == "" {
		return false, false
	}
	// The uri must be this request's, so a response cannot be replayed on another path.
	if p["uri"] != requestURI {
		return false, false
	}
	age, made := d.nonceAge(p["nonce"])
	if !made {
		return false, false
	}
	if !credentialsEqual(p["username"], d.user) {
		return false, false
	}
	want := digestResponse(newHash, d.user, Realm, d.pass, method, p["uri"], p["nonce"], p["nc"], p["cnonce"])
	if !credentialsEqual(strings.ToLower(p["response"]), want) {
		return false, false
	}
	if age > DigestNonceLifetime || age < -time.Minute {
		return false, true
	}
	return true, false
}

// digestResponse is RFC 7616's response for qop=auth:
// H(H(user:realm:pass):nonce:nc:cnonce:auth:H(method:uri)), hex.
func digestResponse(newHash func() hash.Hash, user, realm, pass, method, uri, nonce, nc, cnonce string) string {
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	return h(h(user+":"+realm+":"+pass) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + h(method+":"+uri))
}

// parseAuthParams reads the auth-param list of an Authorization header (RFC 7235 2.1):
// name=token or name="quoted string" (with \-escapes), comma separated. Names are
// lowercased; a malformed tail ends the list.
func parseAuthParams(s string) map[string]string {
	p := make(map[string]string)
	for len(p) < 32 {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			closed := false
			for ; i < len(s); i++ {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				break
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		p[name] = val
	}
	return p
}
