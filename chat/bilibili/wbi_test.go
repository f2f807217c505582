package bilibili

import (
	"net/url"
	"testing"
)

// The worked example of the WBI documentation (bilibili-API-collect, docs/misc/sign/wbi.md).
func TestWBIDocumentedExample(t *testing.T) {
	mixin := mixinKey("https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png",
		"https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png")
	if mixin != "ea1db124af3c7062474693fa704f4ff8" {
		t.Fatalf("mixin key %s", mixin)
	}
	p := url.Values{"foo": {"114"}, "bar": {"514"}, "zab": {"1919810"}}
	signWBI(p, mixin, 1702204169)
	if p.Get("w_rid") != "8f6f2b5b3d485fe1886cec6a0be8c5d4" || p.Get("wts") != "1702204169" {
		t.Fatalf("signed %v", p)
	}
}
