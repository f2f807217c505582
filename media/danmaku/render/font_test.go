package render

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"

	"github.com/camnode/camnode/media"
)

// cjkPunctuation is the punctuation of Chinese and Japanese chat: full-width forms,
// brackets, quotes, the ideographic full stop and comma, the ellipsis and dashes.
const cjkPunctuation = "。，、；：？！“”‘’（）【】《》〈〉「」『』〔〕〖〗…—～·・ー￥＃％＆＊＋－／＝＠＿｜　"

// readEmojiList reads testdata/emoji-top100.txt: one emoji a line before its name.
func readEmojiList(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "emoji-top100.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var list []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		emoji, _, _ := strings.Cut(line, " ")
		list = append(list, emoji)
	}
	if len(list) != 100 {
		t.Fatalf("%d emoji in the list, want 100", len(list))
	}
	return list
}

// drawnGlyphs lays text out at 720p and returns its glyphs.
func drawnGlyphs(t *testing.T, r *Renderer, text string) []placedGlyph {
	t.Helper()
	if r.w == 0 {
		at(t, r, 1280, 720, 0)
	}
	g, _ := r.layout(text, nil)
	return g
}

// TestEmojiCoverage: with the fonts scripts/deps.sh installs, the 100 most used emoji,
// emoji sequences (skin tones, joiners, flags, keycaps) and CJK punctuation draw
// without a single box, each as visible ink, and no warning is given.
func TestEmojiCoverage(t *testing.T) {
	for _, p := range []string{notoBold, symbola, unifontUpper} {
		requireFont(t, p)
	}
	r := newRenderer(t, Options{})
	if w := r.FontWarnings(); len(w) != 0 || !r.HasCJKFont() || !r.HasEmojiFont() {
		t.Fatalf("warnings %q with %s", w, r.Font())
	}
	check := func(what, text string, wantGlyphs int) {
		t.Helper()
		gs := drawnGlyphs(t, r, text)
		if len(gs) != wantGlyphs {
			t.Errorf("%s %q (%U): %d glyphs, want %d", what, text, []rune(text), len(gs), wantGlyphs)
		}
		for _, pg := range gs {
			g := pg.g
			if g.tofu {
				t.Errorf("%s %q: %q (%U) is drawn as a box", what, text, g.r, g.r)
				continue
			}
			ink := 0
			for _, a := range g.mask {
				if a > 128 {
					ink++
				}
			}
			if g.r != ' ' && g.r != '\u3000' && ink < 8 {
				t.Errorf("%s %q: %q (%U) has %d pixels of ink", what, text, g.r, g.r, ink)
			}
		}
	}
	for i, e := range readEmojiList(t) {
		check("emoji #"+string(rune('0'+i/10))+string(rune('0'+i%10)), e, 1)
	}
	for _, s := range []struct {
		text   string
		glyphs int
	}{
		{"👍🏽", 1},     // skin tone: the emoji in the font's one colour
		{"👋🏻👋🏿", 2},   // two waves, two tones
		{"🤦‍♂️", 2},   // man facepalming: person, joiner, male sign, VS16
		{"👨‍👩‍👧", 3},  // family: three people side by side
		{"❤️‍🔥", 2},   // heart on fire
		{"🏳️‍🌈", 2},   // rainbow flag: flag and rainbow
		{"🇨🇳🇯🇵", 4},   // flags: regional indicator letters
		{"#️⃣1️⃣", 4}, // keycaps: the digit and the enclosing keycap
		{"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", 1}, // Scotland: the black flag
		{"🏻", 1}, // a skin tone alone is its swatch
	} {
		check("sequence", s.text, s.glyphs)
	}
	check("CJK punctuation", cjkPunctuation, utf8.RuneCountInString(cjkPunctuation))
	check("chat", "Hello from Twitch chat 👋 前方高能！弹幕护体 🥰", utf8.RuneCountInString("Hello from Twitch chat 👋 前方高能！弹幕护体 🥰"))
}

// TestFontWarnings: without the emoji fonts (or the CJK font) the renderer says which
// package to install, once each; the warnings do not repeat with use.
func TestFontWarnings(t *testing.T) {
	goFontOnly(t)
	r := newRenderer(t, Options{})
	w := r.FontWarnings()
	if len(w) != 2 || !strings.Contains(w[0], "apt install fonts-noto-cjk") ||
		!strings.Contains(w[1], "no emoji font") || !strings.Contains(w[1], "apt install fonts-symbola fonts-unifont") {
		t.Fatalf("warnings %q", w)
	}
	if r.HasCJKFont() || r.HasEmojiFont() {
		t.Error("Go's font alone claims CJK or emoji")
	}
	// Boxes, not a crash or nothing, for what no font has.
	if gs := drawnGlyphs(t, r, "😀中"); len(gs) != 2 || !gs[0].g.tofu || !gs[1].g.tofu {
		t.Errorf("without fonts: %+v", gs)
	}
	if len(r.FontWarnings()) != 2 {
		t.Error("warnings changed with use")
	}

	requireFont(t, symbola)
	EmojiFonts = []string{symbola, "/nonexistent/unifont_upper.otf"}
	r = newRenderer(t, Options{})
	w = r.FontWarnings()
	if len(w) != 2 || !strings.Contains(w[1], "Unicode 11") || !strings.Contains(w[1], "apt install fonts-unifont") {
		t.Fatalf("with Symbola alone: warnings %q", w)
	}
	if !r.HasEmojiFont() || !strings.HasPrefix(r.Font(), "Go Bold, then Symbola") {
		t.Errorf("with Symbola alone: %s", r.Font())
	}
	// Latin text keeps Go's letters when there is no CJK font: Symbola has its own.
	goA := drawnGlyphs(t, newRenderer(t, Options{FontPath: ""}), "A")[0].g
	SystemFonts, EmojiFonts = nil, nil
	onlyGo := drawnGlyphs(t, newRenderer(t, Options{}), "A")[0].g
	if !bytes.Equal(goA.mask, onlyGo.mask) {
		t.Error("'A' is not Go's with Symbola in the chain")
	}
}

// TestFontPathList: CAMNODE_DANMAKU_FONT names several files, in the order the chain
// takes them; each rune comes from the first that has it; a bad entry is an error that
// names it.
func TestFontPathList(t *testing.T) {
	requireFont(t, notoBold)
	requireFont(t, symbola)
	if got := SplitFontPath(" a.ttf::b.otf : "); len(got) != 2 || got[0] != "a.ttf" || got[1] != "b.otf" {
		t.Errorf("SplitFontPath: %q", got)
	}
	r := newRenderer(t, Options{FontPath: symbola + ":" + notoBold})
	names := strings.Split(r.Font(), ", then ")
	if len(names) < 3 || !strings.HasPrefix(names[0], "Symbola") || !strings.HasPrefix(names[1], "Noto Sans CJK SC Bold") ||
		names[len(names)-1] != "Go Bold" || strings.Count(r.Font(), "("+symbola+")") != 1 {
		t.Fatalf("chain %s", r.Font())
	}
	// 'A' from Symbola (first), '的' from Noto (Symbola has none).
	sym := newRenderer(t, Options{FontPath: symbola})
	noto := newRenderer(t, Options{FontPath: notoBold})
	for _, c := range []struct {
		r    rune
		from *Renderer
	}{{'A', sym}, {'的', noto}} {
		got, want := drawnGlyphs(t, r, string(c.r))[0].g, drawnGlyphs(t, c.from, string(c.r))[0].g
		if !bytes.Equal(got.mask, want.mask) {
			t.Errorf("%q is not drawn by the first font that has it", c.r)
		}
	}
	if _, err := New(Options{FontPath: notoBold + ":/nonexistent/x.ttf"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.ttf") {
		t.Errorf("a missing font in the list: %v", err)
	}
}

// TestColourBitmapFontRefused: a font whose glyphs are colour bitmaps only (CBDT/CBLC,
// as Noto Color Emoji; sbix, as Apple's) is refused with a message saying why and what
// to install, rather than drawing boxes.
func TestColourBitmapFontRefused(t *testing.T) {
	// Go Bold with its outline tables renamed to the colour bitmap ones.
	b := bytes.Clone(gobold.TTF)
	n := int(binary.BigEndian.Uint16(b[4:]))
	for k := range n {
		tag := b[12+16*k : 12+16*k+4]
		switch string(tag) {
		case "glyf":
			copy(tag, "CBDT")
		case "loca":
			copy(tag, "CBLC")
		}
	}
	fake := filepath.Join(t.TempDir(), "ColorEmoji.ttf")
	if err := os.WriteFile(fake, b, 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{fake}
	for _, p := range []string{"/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "/usr/share/fonts/noto/NotoColorEmoji.ttf"} {
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p) // the real one, where installed
		}
	}
	for _, p := range paths {
		_, err := New(Options{FontPath: p})
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "colour bitmap") ||
			!strings.Contains(err.Error(), "apt install fonts-symbola fonts-unifont") {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Found among the emoji fonts, it is left out with a warning, not an error.
	goFontOnly(t)
	EmojiFonts = []string{fake}
	r := newRenderer(t, Options{})
	if w := r.FontWarnings(); len(w) != 3 || !strings.Contains(w[0], "colour bitmap") || r.Font() != "Go Bold" {
		t.Errorf("colour font among the emoji fonts: %s, warnings %q", r.Font(), w)
	}
}

// TestGoldenEmoji: chat as it comes, CJK with emoji and emoji sequences in every mode, at
// 720p with the whole chain (Noto CJK, Symbola, Unifont upper). Look at
// testdata/golden_emoji_720p.png after -update.
func TestGoldenEmoji(t *testing.T) {
	for _, p := range []string{notoBold, symbola, unifontUpper} {
		requireFont(t, p)
	}
	r := newRenderer(t, Options{})
	for _, c := range []Comment{
		{Text: "Hello from Twitch chat 👋 😂❤️🤣👍😭🙏", Color: White},
		{Text: "前方高能！弹幕护体 🥰🥺🥳🥵🥴 好耶", Color: 0xff6699},
		{Text: "置顶: 欢迎来到直播间 🎉✨🔥💯", Color: 0x00ccff, Mode: "top"},
		{Text: "👍🏽 🤦‍♂️ 👨‍👩‍👧 ❤️‍🔥 🏳️‍🌈 🇨🇳 #️⃣ 「引号」【括号】《书名》…", Color: 0xffcc00, Mode: "bottom"},
		{Text: "reverse 逆向弹幕 → 😀😎🤔", Color: 0x66ff66, Mode: "reverse"},
		{Text: "こんにちは 🌸 화이팅 💪", Color: 0xffffff, Mode: "top"},
	} {
		r.Add(c)
	}
	r.Draw(background(media.PixelI420, 1280, 720))
	f := background(media.PixelI420, 1280, 720)
	f.Time = 3500 * time.Millisecond
	if err := r.Draw(f); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Visible()); n != 6 {
		t.Fatalf("%d comments drawn, want 6", n)
	}
	compareGolden(t, "golden_emoji_720p.png", toImage(f))
}

// FuzzFontTables: the font file readers (table directory, the colour bitmap check, the
// repacking of misaligned faces) take any bytes without a panic.
func FuzzFontTables(f *testing.F) {
	f.Add(gobold.TTF[:min(len(gobold.TTF), 4096)], 0)
	f.Add([]byte("ttcf\x00\x01\x00\x00\x00\x00\x00\x02\x00\x00\x00\x14\x00\x00\x00\x20"), 1)
	f.Add([]byte("\x00\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00CBDT\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x04"), 0)
	f.Fuzz(func(t *testing.T, b []byte, face int) {
		r := bytes.NewReader(b)
		if tags, err := faceTables(r, face); err == nil {
			colourBitmapOnly(tags)
		}
		repackFace(r, face)
	})
}
