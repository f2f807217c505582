package testsrc

import (
	"fmt"
	"time"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/camnode/camnode/media"
)

// Pattern draws the live test picture: seven colour bars scrolling left (a quarter of the
// width per second), a grey ramp, and a panel with the size and rate, the wall clock and
// the frame counter. Any even size from 16x16 up works.
type Pattern struct {
	width, height int
	fps           float64
	barsEnd       int // rows [0, barsEnd) hold the bars
	rampEnd       int // rows [barsEnd, rampEnd) the ramp; the panel below
	scale         int // pixels per dot of the 7x13 text font
	font          [128][13]uint8
	rampY         []byte
	rowY, rowC    []byte // one row of bars: luma, then chroma as U,V pairs per column
}

// Colours of the bars, 75% intensity: white, yellow, cyan, green, magenta, red, blue.
var barRGB = [7]uint32{0xbfbfbf, 0xbfbf00, 0x00bfbf, 0x00bf00, 0xbf00bf, 0xbf0000, 0x0000bf}

// panel shades (Y) and text colour.
const (
	panelY = 40
	textY  = 235
)

// NewPattern prepares the drawing of width x height pictures at fps (the frame counter's
// clock and the bars' speed).
func NewPattern(width, height int, fps float64) (*Pattern, error) {
	if width < 16 || height < 16 || width > 8192 || height > 8192 || width%2 != 0 || height%2 != 0 {
		return nil, fmt.Errorf("testsrc: picture size %dx%d: want even sides from 16 to 8192", width, height)
	}
	if !(fps > 0 && fps <= 240) {
		return nil, fmt.Errorf("testsrc: frame rate %v: want more than 0 and at most 240", fps)
	}
	p := &Pattern{width: width, height: height, fps: fps,
		barsEnd: height * 2 / 3 &^ 1, rampEnd: height * 3 / 4 &^ 1,
		scale: max(1, height/240),
		rampY: make([]byte, width), rowY: make([]byte, width), rowC: make([]byte, width),
	}
	for x := range p.rampY {
		p.rampY[x] = byte(16 + 219*x/(width-1))
	}
	// The 7x13 font of x/image, one byte of coverage per dot.
	face := basicfont.Face7x13
	for r := rune(' '); r < 127; r++ {
		dr, mask, mp, _, ok := face.Glyph(fixed.P(0, face.Ascent), r)
		if !ok {
			continue
		}
		for y := 0; y < dr.Dy() && y < 13; y++ {
			for x := 0; x < dr.Dx() && x < 8; x++ {
				if _, _, _, a := mask.At(mp.X+x, mp.Y+y).RGBA(); a > 0x8000 {
					p.font[r][y+dr.Min.Y] |= 1 << x
				}
			}
		}
	}
	return p, nil
}

// Draw paints frame number n, taken at wall time wall, into f (I420 or NV12 of the
// pattern's size).
func (p *Pattern) Draw(f *media.Frame, n int64, wall time.Time) {
	// Bars: one row computed for this frame's offset, copied to every row.
	off := int(float64(n)*float64(p.width)/(4*p.fps)) % p.width
	for x := 0; x < p.width; x += 2 {
		y, u, v := yuv709(barRGB[(x+off)%p.width*7/p.width])
		p.rowY[x], p.rowY[x+1] = y, y
		p.rowC[x], p.rowC[x+1] = u, v
	}
	y0, ys := f.Planes[0], f.Strides[0]
	for row := 0; row < p.barsEnd; row++ {
		copy(y0[row*ys:row*ys+p.width], p.rowY)
	}
	for row := p.barsEnd; row < p.rampEnd; row++ {
		copy(y0[row*ys:row*ys+p.width], p.rampY)
	}
	for row := p.rampEnd; row < p.height; row++ {
		fill(y0[row*ys:row*ys+p.width], panelY)
	}
	cw := p.width / 2
	for row := 0; row < p.height/2; row++ {
		switch f.Format {
		case media.PixelNV12:
			line := f.Planes[1][row*f.Strides[1] : row*f.Strides[1]+p.width]
			if row < p.barsEnd/2 {
				copy(line, p.rowC)
			} else {
				fill(line, 128)
			}
		default:
			u := f.Planes[1][row*f.Strides[1] : row*f.Strides[1]+cw]
			v := f.Planes[2][row*f.Strides[2] : row*f.Strides[2]+cw]
			if row < p.barsEnd/2 {
				for x := range cw {
					u[x], v[x] = p.rowC[2*x], p.rowC[2*x+1]
				}
			} else {
				fill(u, 128)
				fill(v, 128)
			}
		}
	}
	// Panel text, two lines.
	lineH := 15 * p.scale
	top := p.rampEnd + max(0, (p.height-p.rampEnd-2*lineH)/2)
	margin := 8 * p.scale
	p.text(f, margin, top, fmt.Sprintf("camnode testsrc %dx%d %gfps", p.width, p.height, p.fps))
	secs := float64(n) / p.fps
	p.text(f, margin, top+lineH, fmt.Sprintf("%s  #%06d  t=%.3fs", wall.Format("15:04:05.000"), n, secs))
}

// text writes s in the luma plane with its top-left corner at (x, y), clipped to the
// picture.
func (p *Pattern) text(f *media.Frame, x, y int, s string) {
	ys := f.Strides[0]
	for _, r := range s {
		if r >= 128 {
			r = '?'
		}
		for gy, bits := range p.font[r] {
			for gx := 0; bits != 0; gx, bits = gx+1, bits>>1 {
				if bits&1 == 0 {
					continue
				}
				px, py := x+gx*p.scale, y+gy*p.scale
				for dy := range p.scale {
					if py+dy >= p.height {
						break
					}
					row := f.Planes[0][(py+dy)*ys:]
					for dx := range p.scale {
						if px+dx < p.width {
							row[px+dx] = textY
						}
					}
				}
			}
		}
		x += 7 * p.scale
		if x >= p.width {
			return
		}
	}
}

// NewFrame returns an I420 frame of the pattern's size with its own planes.
func (p *Pattern) NewFrame() *media.Frame {
	cw, ch := p.width/2, p.height/2
	buf := make([]byte, p.width*p.height+2*cw*ch)
	return &media.Frame{
		Format: media.PixelI420, Width: p.width, Height: p.height,
		Planes:  [3][]byte{buf[:p.width*p.height], buf[p.width*p.height : p.width*p.height+cw*ch], buf[p.width*p.height+cw*ch:]},
		Strides: [3]int{p.width, cw, cw},
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// yuv709 converts 0xRRGGBB to limited-range BT.709 Y'CbCr, the colour space the encoder
// flags in the stream.
func yuv709(rgb uint32) (y, u, v byte) {
	r, g, b := float64(rgb>>16&0xff)/255, float64(rgb>>8&0xff)/255, float64(rgb&0xff)/255
	l := 0.2126*r + 0.7152*g + 0.0722*b
	return byte(16 + 219*l + 0.5), byte(128 + 224*(b-l)/1.8556 + 0.5), byte(128 + 224*(r-l)/1.5748 + 0.5)
}
