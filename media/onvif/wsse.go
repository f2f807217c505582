package onvif

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"
)

// MaxClockSkew is how far a UsernameToken's Created may be from the node's clock. Home
// Assistant reads GetSystemDateAndTime (which needs no token) and warns at 5 s of skew;
// five minutes is what WS-Security implementations commonly allow.
const MaxClockSkew = 5 * time.Minute

// maxNonces bounds the replay cache: at most this many digest nonces are remembered for
// MaxClockSkew each (a token older than that is refused by its Created anyway).
const maxNonces = 4096

// The reasons a token is refused; logged, never sent (the client sees NotAuthorized).
var (
	errNoToken      = errors.New("no UsernameToken")
	errUser         = errors.New("unknown user")
	errPasswordType = errors.New("unsupported password type")
	errPassword     = errors.New("wrong password")
	errCreated      = errors.New("Created missing or malformed")
	errSkew         = errors.New("Created too far from the node's clock")
	errNonce        = errors.New("Nonce missing or malformed")
	errReplay       = errors.New("Nonce already used")
)

// checkToken verifies a WS-Security UsernameToken against the configured credentials:
// PasswordText compares the password; PasswordDigest recomputes
// Base64(SHA1(nonce + created + password)), needs a Created within MaxClockSkew and a
// nonce not seen before.
func (s *Service) checkToken(t *usernameToken) error {
	if t == nil {
		return errNoToken
	}
	if !credentialsEqual(strings.TrimSpace(t.Username), s.opts.Username) {
		return errUser
	}
	switch typ := strings.TrimSpace(t.Password.Type); typ {
	case passwordText:
		if !credentialsEqual(t.Password.Value, s.opts.Password) {
			return errPassword
		}
		return nil
	case passwordDigest, "":
		// An absent Type means PasswordText in the profile, but clients that omit it send
		// digests in practice; a digest never equals the password, so trying both is safe.
		if typ == "" && credentialsEqual(t.Password.Value, s.opts.Password) {
			return nil
		}
	default:
		return errPasswordType
	}
	created := strings.TrimSpace(t.Created)
	at, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return errCreated
	}
	now := s.opts.Now()
	if d := now.Sub(at); d > MaxClockSkew || d < -MaxClockSkew {
		return errSkew
	}
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t.Nonce))
	if err != nil || len(nonce) == 0 {
		return errNonce
	}
	want := passwordDigestOf(nonce, created, s.opts.Password)
	if !credentialsEqual(strings.TrimSpace(t.Password.Value), want) {
		return errPassword
	}
	// Only a token that proved the password is remembered, so guessing cannot fill the cache.
	if !s.nonces.add(string(nonce), now) {
		return errReplay
	}
	return nil
}

// passwordDigestOf is Base64(SHA1(nonce + created + password)), the WS-Security
// UsernameToken Profile 1.0 digest (section 3.1), nonce as raw bytes.
func passwordDigestOf(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// nonceCache remembers nonces for MaxClockSkew, at most max of them: when full, the oldest
// goes first (a replay of it would still need its Created to be within the window).
type nonceCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	order []string // insertion order, a ring of len max once full
	next  int
}

func newNonceCache(max int) *nonceCache {
	return &nonceCache{max: max, seen: make(map[string]time.Time)}
}

// add records nonce at now; false when it was seen within MaxClockSkew.
func (c *nonceCache) add(nonce string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.seen[nonce]; ok {
		if d := now.Sub(at); d <= MaxClockSkew && d >= -MaxClockSkew {
			return false
		}
		c.seen[nonce] = now // expired: fresh again, in its old slot
		return true
	}
	// Each nonce in seen has exactly one slot in order.
	if len(c.order) < c.max {
		c.order = append(c.order, nonce)
	} else {
		delete(c.seen, c.order[c.next])
		c.order[c.next] = nonce
		c.next = (c.next + 1) % c.max
	}
	c.seen[nonce] = now
	return true
}

func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
