// Package source is the one reader of CAMNODE_SOURCE: each kind of source (auto, rpicam,
// v4l2, file, exec, testsrc) is a package of its own exporting a kind.Kind, listed here,
// and Parse finds the kind a URI's scheme names and has it parse the rest.
package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/camnode/camnode/media"
	"github.com/camnode/camnode/media/source/auto"
	"github.com/camnode/camnode/media/source/exec"
	"github.com/camnode/camnode/media/source/file"
	"github.com/camnode/camnode/media/source/kind"
	"github.com/camnode/camnode/media/source/rpicam"
	"github.com/camnode/camnode/media/source/testsrc"
	"github.com/camnode/camnode/media/source/v4l2"
)

// Options are the capture settings a source takes (kind.Options).
type Options = kind.Options

// Spec is a source a URI names, parsed but not opened (kind.Spec).
type Spec = kind.Spec

// kinds are the kinds of source, each a package of its own: one line each.
var kinds = []kind.Kind{
	auto.Kind,
	rpicam.Kind,
	v4l2.Kind,
	file.Kind,
	exec.Kind,
	testsrc.Kind,
}

// Forms lists how each kind is written, for messages.
func Forms() string {
	var out []string
	for _, k := range kinds {
		out = append(out, k.Form)
	}
	return strings.Join(out, ", ")
}

// Parse returns the source uri names. Its error never quotes an exec command line.
func Parse(uri string) (Spec, error) {
	scheme, rest := splitScheme(uri)
	if scheme == "" {
		return nil, fmt.Errorf("source %q has no scheme: use %s", clip(uri), Forms())
	}
	i := slices.IndexFunc(kinds, func(k kind.Kind) bool { return k.Scheme == scheme })
	if i < 0 {
		return nil, fmt.Errorf("unknown source %q: use %s", scheme+":", Forms())
	}
	return kinds[i].Parse(strings.TrimSpace(uri), rest)
}

// clip shortens what an unparsable URI shows of itself.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Open opens the source uri names for a caller that takes H.264 only (no encoder of its
// own): a source that gives raw pictures only is an error.
func Open(uri string, opts Options) (media.Source, error) {
	spec, err := Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	opts.CanEncode, opts.WantRaw = false, false
	o, err := spec.Open(opts)
	if err != nil {
		return nil, err
	}
	if o.H264 == nil {
		return nil, fmt.Errorf("source: %s gives raw pictures, which need an encoder", spec.Describe())
	}
	return o.H264, nil
}

// Describe returns the short form of uri that is safe to publish (Spec.Describe), or
// of what can be told of it when it does not parse.
func Describe(uri string) string {
	if spec, err := Parse(uri); err == nil {
		return spec.Describe()
	}
	scheme, _ := splitScheme(uri)
	if scheme == "" {
		return "unknown"
	}
	return scheme + ":"
}

// splitScheme returns the lower-cased scheme of uri and what follows its colon. A bare
// word ("testsrc") is a scheme with nothing after it, or with only a query.
func splitScheme(uri string) (scheme, rest string) {
	uri = strings.TrimSpace(uri)
	i := strings.IndexAny(uri, ":?")
	if i < 0 {
		i = len(uri)
	}
	scheme = uri[:i]
	if scheme == "" {
		return "", uri
	}
	for j, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", uri
		}
	}
	if i < len(uri) {
		rest = uri[i+1:]
		if uri[i] == '?' {
			rest = uri[i:] // a bare word with a query: rpicam?codec=h264
		}
	}
	return strings.ToLower(scheme), rest
}
