// Package sources registers every kind of video source with package source: one import
// line each. Import it (blank) wherever a CAMNODE_SOURCE URI is parsed.
package sources

import (
	_ "github.com/camnode/camnode/media/source/auto"
	_ "github.com/camnode/camnode/media/source/exec"
	_ "github.com/camnode/camnode/media/source/file"
	_ "github.com/camnode/camnode/media/source/rpicam"
	_ "github.com/camnode/camnode/media/source/testsrc"
	_ "github.com/camnode/camnode/media/source/v4l2"
)
