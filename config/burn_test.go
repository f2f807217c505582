package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBurnSettings(t *testing.T) {
	clearEnv(t)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DanmakuFont != "" || c.DanmakuArea != 0.5 || c.DanmakuOpacity != 1 {
		t.Fatalf("burn defaults: font %q area %v opacity %v", c.DanmakuFont, c.DanmakuArea, c.DanmakuOpacity)
	}
	font := filepath.Join(t.TempDir(), "face.ttf")
	if err := os.WriteFile(font, []byte("not checked here: the renderer reads it"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAMNODE_DANMAKU", "burn,sei")
	t.Setenv("CAMNODE_DANMAKU_FONT", font)
	t.Setenv("CAMNODE_DANMAKU_AREA", "0.3")
	t.Setenv("CAMNODE_DANMAKU_OPACITY", "0.8")
	if c, err = Load(); err != nil {
		t.Fatal(err)
	}
	if !c.Danmaku.Has(CarrierBurn) || !c.Danmaku.Has(CarrierSEI) || c.DanmakuFont != font || c.DanmakuArea != 0.3 || c.DanmakuOpacity != 0.8 {
		t.Fatalf("burn settings: %v font %q area %v opacity %v", c.Danmaku, c.DanmakuFont, c.DanmakuArea, c.DanmakuOpacity)
	}
}

func TestBurnSettingsRejected(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ env, val, wantMsg string }{
		{"CAMNODE_DANMAKU_FONT", "/nonexistent/font.ttc", "cannot read /nonexistent/font.ttc"},
		{"CAMNODE_DANMAKU_FONT", dir, "is a directory"},
		{"CAMNODE_DANMAKU_AREA", "0", "0.1 to 1"},
		{"CAMNODE_DANMAKU_AREA", "1.5", "0.1 to 1"},
		{"CAMNODE_DANMAKU_AREA", "NaN", "0.1 to 1"},
		{"CAMNODE_DANMAKU_AREA", "half", "cannot parse"},
		{"CAMNODE_DANMAKU_OPACITY", "0.05", "0.1 to 1"},
		{"CAMNODE_DANMAKU_OPACITY", "2", "0.1 to 1"},
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			_, err := Load()
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Var != tc.env || !strings.Contains(ce.Msg, tc.wantMsg) {
				t.Fatalf("got %q, want var %s and %q", err, tc.env, tc.wantMsg)
			}
		})
	}
}

// CAMNODE_DANMAKU=auto (the default) names no carrier until the source opens, may use
// any, and resolves to burn + sei where camnode encodes with fonts, sei + amf + cc otherwise.
func TestDanmakuAuto(t *testing.T) {
	var cs Carriers
	if err := cs.Decode("auto"); err != nil {
		t.Fatal(err)
	}
	if !cs.Auto() || cs.Has(CarrierSEI) || cs.Has(CarrierBurn) || !cs.May(CarrierBurn) || !cs.May(CarrierCC) {
		t.Fatalf("auto = %v", cs)
	}
	if got := cs.Resolve(true); !slices.Equal(got, Carriers{CarrierBurn, CarrierSEI}) {
		t.Errorf("auto where camnode draws: %v", got)
	}
	if got := cs.Resolve(false); !slices.Equal(got, Carriers{CarrierSEI, CarrierAMF, CarrierCC}) {
		t.Errorf("auto where the H.264 goes through or without fonts: %v", got)
	}
	fixed := Carriers{CarrierBurn, CarrierSEI}
	if got := fixed.Resolve(true); !slices.Equal(got, fixed) {
		t.Errorf("a fixed setting drawn resolved to %v", got)
	}
	if got := fixed.Resolve(false); !slices.Equal(got, Carriers{CarrierSEI}) || !slices.Equal(fixed, Carriers{CarrierBurn, CarrierSEI}) {
		t.Errorf("burn,sei not drawn resolved to %v (the setting became %v)", got, fixed)
	}
	if err := cs.Decode("auto,burn"); err == nil {
		t.Error("auto,burn accepted")
	}
}
