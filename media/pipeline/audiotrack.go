package pipeline

import (
	"log/slog"
	"strings"
	"time"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/audio"
	"github.com/camnode/camnode/media/source"
)

// AudioOptions are what CAMNODE_AUDIO asks for: "silent" (AAC silence at Rate, so that
// every platform takes the stream), "none", or "exec:<command>" writing ADTS AAC.
type AudioOptions struct {
	Setting string
	Rate    int
	// RestartMin and RestartMax bound the backoff between restarts of a program.
	RestartMin, RestartMax time.Duration
	// OnFailed hears of every failure of a program (silence stands in until it is back);
	// OnBack of its recovery. Either may be nil.
	OnFailed func(err error)
	OnBack   func()
	Logger   *slog.Logger
}

// OpenAudio makes the audio track of every stream, nil for "none". A command line that
// cannot be split is a *SettingError naming CAMNODE_AUDIO.
func OpenAudio(o AudioOptions) (media.AudioSource, error) {
	switch {
	case o.Setting == "none":
		return nil, nil
	case strings.HasPrefix(o.Setting, "exec:"):
		a, err := audio.Exec(strings.TrimPrefix(o.Setting, "exec:"))
		if err != nil {
			return nil, &SettingError{Var: "CAMNODE_AUDIO", Err: err}
		}
		a.Logger = o.Logger
		a.RestartMin, a.RestartMax = o.RestartMin, o.RestartMax
		a.OnStatus = func(s audio.Status) {
			switch {
			case s.Failed && o.OnFailed != nil:
				o.OnFailed(s.Err)
			case !s.Failed && o.OnBack != nil:
				o.OnBack()
			}
		}
		return a, nil
	default:
		return audio.Silent(o.Rate, 1), nil
	}
}

// DescribeAudio is CAMNODE_AUDIO as the state shows it: an exec command by its program's
// name only (its arguments may hold credentials).
func DescribeAudio(setting string) string {
	rest, ok := strings.CutPrefix(setting, "exec:")
	if !ok {
		return setting
	}
	if a, err := audio.Exec(rest); err == nil {
		return "exec:" + a.Name()
	}
	return "exec:"
}

// announcedAudio is the configuration of an audio track that knows it before its first
// frame (silence, a program of declared format): the publishers announce it from the
// start. nil for any other.
func announcedAudio(a media.AudioSource) *media.AudioConfig {
	c, ok := a.(interface {
		Config() (*media.AudioConfig, error)
	})
	if !ok {
		return nil
	}
	ac, err := c.Config()
	if err != nil {
		return nil
	}
	return ac
}

// DescribeSource is CAMNODE_SOURCE as the state shows it: its kind and what it names, never
// a program's arguments (see source.Describe).
func DescribeSource(uri string) string { return source.Describe(uri) }
