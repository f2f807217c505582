package h264

import "testing"

// The parameter sets of a real stream: the first unit with SPS and PPS makes a set, units
// without them or with the same ones keep it, a new PPS alone replaces that half.
func TestNextParameterSets(t *testing.T) {
	aus := splitAll(t, readClip(t, "high_1280x720_30fps_gop10.h264"), 4096)
	var cur *ParameterSets
	made := 0
	for i, au := range aus {
		next, err := NextParameterSets(cur, au)
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if next != cur {
			made++
		}
		cur = next
	}
	if cur == nil || made != 1 {
		t.Fatalf("%d sets made over %d units, want 1 (the clip repeats the same SPS/PPS)", made, len(aus))
	}
	if cur.Info.Width != 1280 || cur.Info.Height != 720 || cur.Info.FrameRate() != 30 || len(cur.Record) == 0 {
		t.Fatalf("set: %dx%d at %v fps, record %d bytes", cur.Info.Width, cur.Info.Height, cur.Info.FrameRate(), len(cur.Record))
	}
	// A PPS alone, different: a new set with the same SPS.
	pps := append([]byte(nil), cur.PPS[0]...)
	pps[len(pps)-1] ^= 0x40
	next, err := NextParameterSets(cur, [][]byte{pps})
	if err != nil || next == cur || string(next.SPS[0]) != string(cur.SPS[0]) || string(next.PPS[0]) != string(pps) {
		t.Fatalf("new PPS: %+v, %v", next, err)
	}
	// The set holds copies: changing the caller's bytes changes nothing.
	pps[0] = 0
	if next.PPS[0][0] == 0 {
		t.Fatal("the set aliases the caller's NAL unit")
	}
	// Only a PPS, no set yet: wait for both.
	if s, err := NextParameterSets(nil, [][]byte{cur.PPS[0]}); s != nil || err != nil {
		t.Fatalf("PPS alone with no set: %v, %v", s, err)
	}
	// A broken SPS: an error, and the set in force stays.
	if s, err := NextParameterSets(cur, [][]byte{{0x67, 0xff}, cur.PPS[0]}); s != cur || err == nil {
		t.Fatalf("broken SPS: %v, %v", s, err)
	}
}
