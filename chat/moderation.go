package chat

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rate is a limit of N messages per Per, with bursts of up to N. N <= 0 means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) limited() bool { return r.N > 0 && r.Per > 0 }

func (r Rate) String() string {
	if !r.limited() {
		return "unlimited"
	}
	per := r.Per.String()
	if r.Per == time.Second {
		per = "s"
	} else if r.Per == time.Minute {
		per = "min"
	}
	return fmt.Sprintf("%d/%s", r.N, per)
}

// ModerationOptions configure a Moderator. The zero value moderates nothing but dedupe.
type ModerationOptions struct {
	// Blocklist holds words (any case) that get a message rejected when its text or user
	// name contains them. A word of ASCII letters and digits only matches whole words
	// ("ass" does not block "class"); any other word, e.g. Chinese, matches anywhere.
	Blocklist []string
	// Rate limits the whole node, UserRate each user (by source and user name; messages
	// without a user share one allowance).
	Rate, UserRate Rate
	// DedupeIDs is how many recent message ids are remembered; default 4096.
	DedupeIDs int
	// MaxUsers bounds the per-user state; default 10000. Beyond it the allowances of users
	// who have been quiet long enough to have a full allowance are forgotten first.
	MaxUsers int
}

// Moderator decides which parsed messages may go on: blocklist, duplicate ids, rate
// limits. Its memory is bounded whatever arrives. It is not safe for concurrent use.
type Moderator struct {
	opts    ModerationOptions
	words   []blockedWord
	global  bucket
	users   map[string]*bucket
	ids     map[string]struct{}
	idRing  []string
	idNext  int
	lastGC  time.Time
	userKey []byte
}

type blockedWord struct {
	word      string // its skeleton
	wholeWord bool
}

// bucket is a token bucket: capacity N, refilled at N per Per.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) take(r Rate, now time.Time) bool {
	if b.at.IsZero() {
		b.tokens, b.at = float64(r.N), now
	}
	if dt := now.Sub(b.at); dt > 0 {
		b.tokens = min(float64(r.N), b.tokens+dt.Seconds()*float64(r.N)/r.Per.Seconds())
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) full(r Rate, now time.Time) bool {
	return b.tokens+now.Sub(b.at).Seconds()*float64(r.N)/r.Per.Seconds() >= float64(r.N)
}

// NewModerator makes a Moderator. Empty blocklist entries are ignored.
func NewModerator(opts ModerationOptions) *Moderator {
	if opts.DedupeIDs <= 0 {
		opts.DedupeIDs = 4096
	}
	if opts.MaxUsers <= 0 {
		opts.MaxUsers = 10000
	}
	m := &Moderator{opts: opts, users: map[string]*bucket{}, ids: map[string]struct{}{},
		idRing: make([]string, opts.DedupeIDs)}
	for _, w := range opts.Blocklist {
		w = skeleton(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		m.words = append(m.words, blockedWord{word: w, wholeWord: asciiWord(w)})
	}
	return m
}

func asciiWord(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Admit checks a message against the blocklist, the ids seen before and the rate limits
// (in that order, so a rejected message costs no allowance unless a limit rejects it).
// An admitted message's id is remembered; Forget takes it back when the message could
// not be queued after all. The error is a *Rejection.
func (m *Moderator) Admit(msg *Message, now time.Time) error {
	if m.blocked(msg.Text) || m.blocked(msg.User) {
		return Reject(CauseBlocked, "blocked word%s", msg.From())
	}
	key := ""
	if msg.ID != "" {
		key = msg.Source + "\x00" + msg.ID
		if _, seen := m.ids[key]; seen {
			return Reject(CauseDuplicate, "duplicate id %s%s", quote(msg.ID), msg.From())
		}
	}
	if m.opts.UserRate.limited() {
		m.userKey = append(append(append(m.userKey[:0], msg.Source...), 0), msg.User...)
		b := m.users[string(m.userKey)]
		if b == nil {
			m.gcUsers(now)
			b = &bucket{}
			m.users[string(m.userKey)] = b
		}
		if !b.take(m.opts.UserRate, now) {
			return Reject(CauseUserRate, "user rate limit (%s)%s", m.opts.UserRate, msg.From())
		}
	}
	if m.opts.Rate.limited() && !m.global.take(m.opts.Rate, now) {
		return Reject(CauseRate, "rate limit (%s)", m.opts.Rate)
	}
	if key != "" {
		m.remember(key)
	}
	return nil
}

// Forget drops the id of an admitted message, so that a resend is not a duplicate.
func (m *Moderator) Forget(msg *Message) {
	if msg.ID != "" {
		delete(m.ids, msg.Source+"\x00"+msg.ID)
	}
}

func (m *Moderator) remember(key string) {
	if old := m.idRing[m.idNext]; old != "" {
		delete(m.ids, old)
	}
	m.idRing[m.idNext] = key
	m.idNext = (m.idNext + 1) % len(m.idRing)
	m.ids[key] = struct{}{}
}

// gcUsers keeps the per-user map under MaxUsers: a user whose allowance is full again is
// indistinguishable from a new one and goes first; if that is not enough (a flood of
// distinct names), the map starts over and the global limit alone holds the flood.
func (m *Moderator) gcUsers(now time.Time) {
	if len(m.users) < m.opts.MaxUsers {
		return
	}
	for k, b := range m.users {
		if b.full(m.opts.UserRate, now) {
			delete(m.users, k)
		}
	}
	if len(m.users) >= m.opts.MaxUsers {
		clear(m.users)
	}
}

// blocked reports whether s contains a blocked word, both compared by their skeletons.
func (m *Moderator) blocked(s string) bool {
	if len(m.words) == 0 || s == "" {
		return false
	}
	s = skeleton(s)
	for _, w := range m.words {
		for from := 0; ; {
			i := strings.Index(s[from:], w.word)
			if i < 0 {
				break
			}
			i += from
			end := i + len(w.word)
			if !w.wholeWord || boundary(s, i, end) {
				return true
			}
			from = i + 1
		}
	}
	return false
}

// boundary reports whether s[i:end] is a whole word: no letter or digit touches it.
func boundary(s string, i, end int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return false
		}
	}
	if end < len(s) {
		r, _ := utf8.DecodeRuneInString(s[end:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

func (msg *Message) From() string {
	if msg.User == "" {
		return ""
	}
	return " from " + quote(msg.User)
}
