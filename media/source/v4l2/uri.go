package v4l2

import (
	"fmt"
	"net/url"
	"strings"
)

// DevicePath returns the device a v4l2: URI names: v4l2:///dev/video0 (also written
// v4l2:/dev/video0) is /dev/video0.
func DevicePath(uri string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil {
		return "", fmt.Errorf("v4l2: URI: %w", err)
	}
	if u.Scheme != "v4l2" {
		return "", fmt.Errorf("v4l2: URI %q is not v4l2:///dev/videoN", uri)
	}
	if u.Host != "" {
		return "", fmt.Errorf("v4l2: URI %q names host %q: write v4l2:///dev/videoN (three slashes)", uri, u.Host)
	}
	if u.Opaque != "" || u.Path == "" {
		return "", fmt.Errorf("v4l2: URI %q names no device: write v4l2:///dev/videoN", uri)
	}
	for k := range u.Query() {
		return "", fmt.Errorf("v4l2: unknown parameter %q in URI %q", k, uri)
	}
	return u.Path, nil
}
