package render

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/camnode/camnode/media"
)

// TestOpaqueRunsBlendAsAlpha: a sprite blitted with its opaque runs copied gives the same
// pixels as every run blended with its alphas, on a random ground, in I420 and NV12, at
// positions that clip it on every side; and the sprites have such runs (luma: any text;
// chroma: broad strokes).
func TestOpaqueRunsBlendAsAlpha(t *testing.T) {
	r := newRenderer(t, Options{})
	r.resize(640, 360)
	for _, c := range []struct {
		text  string
		color uint32
	}{{"comment 07 666", White}, {"暗い色 dark", 0x101010}, {"■■ ██ colour", 0xff6699}} {
		p := r.prepare(Comment{Text: c.text, Color: c.color}, 0)
		s := buildSprite(p.glyphs, p.width, r.styleFor(c.color))
		for plane, spans := range [][]span{s.luma, s.chroma} {
			var opaque, total int
			for _, sp := range spans {
				total += int(sp.n)
				if sp.opaque {
					opaque += int(sp.n)
				}
			}
			// Chroma samples are opaque where a 2x2 block is: in glyphs of broad strokes.
			if (plane == 0 || c.color == 0xff6699) && (opaque == 0 || opaque >= total) {
				t.Errorf("%q plane %d: %d of %d stored pixels in opaque runs", c.text, plane, opaque, total)
			}
		}
		blended := *s
		blended.luma = slices.Clone(s.luma)
		blended.chroma = slices.Clone(s.chroma)
		for i := range blended.luma {
			blended.luma[i].opaque = false
		}
		for i := range blended.chroma {
			blended.chroma[i].opaque = false
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for _, format := range []media.PixelFormat{media.PixelI420, media.PixelNV12} {
			for _, at := range [][2]int{{20, 30}, {-s.w / 2 &^ 1, -10}, {640 - s.w/3&^1, 360 - s.h/2&^1}} {
				f := background(format, 640, 360)
				for _, pl := range f.Planes {
					for i := range pl {
						pl[i] = byte(rng.Uint32())
					}
				}
				g := &media.Frame{Format: f.Format, Width: f.Width, Height: f.Height, Strides: f.Strides}
				for i, pl := range f.Planes {
					g.Planes[i] = slices.Clone(pl)
				}
				s.blit(f, at[0], at[1])
				blended.blit(g, at[0], at[1])
				for i := range f.Planes {
					if !bytes.Equal(f.Planes[i], g.Planes[i]) {
						t.Errorf("%q %v at %v: plane %d differs between copied and blended opaque runs", c.text, format, at, i)
					}
				}
			}
		}
	}
}
