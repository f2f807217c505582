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
				f, g := noisyPair(rng, format, 640, 360)
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

// TestBlendWeights: for every alpha a, premultiplied colour p <= a and background bg, the
// blend with the stored weight is within 1 of p + bg*(255-a)/255, never above 255, keeps
// the background exactly where a is 0 and gives p exactly where a is 255.
func TestBlendWeights(t *testing.T) {
	for a := range 256 {
		k := weight(byte(a))
		for bg := range 256 {
			exact := float64(bg) * float64(255-a) / 255
			for p := 0; p <= a; p += max(1, a/7) {
				got := p + int((uint32(bg)*uint32(k)+128)>>8)
				if got > 255 {
					t.Fatalf("a %d p %d bg %d: %d", a, p, bg, got)
				}
				if d := float64(got) - float64(p) - exact; d > 1 || d < -1 {
					t.Fatalf("a %d p %d bg %d: %d, want %.2f within 1", a, p, bg, got, float64(p)+exact)
				}
				if b := int(blend(byte(p), byte(bg), k)); b != got {
					t.Fatalf("a %d p %d bg %d: blend %d, want %d", a, p, bg, b, got)
				}
			}
			if a == 0 && blend(0, byte(bg), k) != byte(bg) {
				t.Fatalf("a 0 changes bg %d", bg)
			}
			if a == 255 && blend(200, byte(bg), k) != 200 {
				t.Fatalf("a 255 over bg %d: not the sprite's colour", bg)
			}
		}
	}
}

// TestBlendInsideMatchesClipped: the unclipped path for a sprite wholly inside the
// picture changes the same pixels the same way as the clipping one, in all planes.
func TestBlendInsideMatchesClipped(t *testing.T) {
	r := newRenderer(t, Options{})
	r.resize(640, 360)
	p := r.prepare(Comment{Text: "comment 07 666 漢字", Color: 0xff6699}, 0)
	s := buildSprite(p.glyphs, p.width, r.styleFor(0xff6699))
	rng := rand.New(rand.NewPCG(3, 4))
	f, g := noisyPair(rng, media.PixelI420, 640, 360)
	before := slices.Clone(f.Planes[0])
	x, y := 640-s.w, 360-s.h // touching the right and bottom edges: still wholly inside
	s.blit(f, x, y)
	blendClipped(g.Planes[0], g.Strides[0], s.luma, s.yk, s.yp, x, y, 640, 360)
	blendClipped(g.Planes[1], g.Strides[1], s.chroma, s.ck, s.cu, x/2, y/2, 320, 180)
	blendClipped(g.Planes[2], g.Strides[2], s.chroma, s.ck, s.cv, x/2, y/2, 320, 180)
	for i := range f.Planes {
		if !bytes.Equal(f.Planes[i], g.Planes[i]) {
			t.Errorf("plane %d differs between the unclipped and the clipping path", i)
		}
	}
	if bytes.Equal(before, f.Planes[0]) {
		t.Error("the sprite changed no pixel")
	}
}

// noisyPair returns two w x h frames of the same random pixels.
func noisyPair(rng *rand.Rand, format media.PixelFormat, w, h int) (f, g *media.Frame) {
	f = background(format, w, h)
	for _, pl := range f.Planes {
		for i := range pl {
			pl[i] = byte(rng.Uint32())
		}
	}
	g = &media.Frame{Format: f.Format, Width: f.Width, Height: f.Height, Strides: f.Strides}
	for i, pl := range f.Planes {
		g.Planes[i] = slices.Clone(pl)
	}
	return f, g
}
