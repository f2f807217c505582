package bilibili

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
)

// mixinOrder reorders img_key+sub_key into the WBI mixin key (its first 32 characters).
var mixinOrder = [64]byte{
	46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35, 27, 43, 5, 49,
	33, 9, 42, 19, 29, 28, 14, 39, 12, 38, 41, 13, 37, 48, 7, 16, 24, 55, 40,
	61, 26, 17, 0, 1, 60, 51, 30, 4, 22, 25, 54, 21, 56, 59, 6, 63, 57, 62, 11,
	36, 20, 34, 44, 52,
}

// mixinKey is the WBI key of the nav API's wbi_img: the file names (without extension) of
// img_url and sub_url, concatenated and reordered. "" when they are too short.
func mixinKey(imgURL, subURL string) string {
	raw := keyOf(imgURL) + keyOf(subURL)
	if len(raw) < 64 {
		return ""
	}
	var b strings.Builder
	for _, i := range mixinOrder[:32] {
		b.WriteByte(raw[i])
	}
	return b.String()
}

func keyOf(u string) string {
	base := path.Base(u)
	return strings.TrimSuffix(base, path.Ext(base))
}

// signWBI adds wts (Unix seconds) and w_rid to params: w_rid is the MD5 of the parameters
// sorted by name, their values stripped of !'()*, query-encoded with %20 for spaces, followed
// by the mixin key.
func signWBI(params url.Values, mixin string, wts int64) {
	params.Set("wts", strconv.FormatInt(wts, 10))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		v := strings.Map(func(r rune) rune {
			if strings.ContainsRune("!'()*", r) {
				return -1
			}
			return r
		}, params.Get(k))
		q.WriteString(url.QueryEscape(k) + "=" + strings.ReplaceAll(url.QueryEscape(v), "+", "%20"))
	}
	sum := md5.Sum([]byte(q.String() + mixin))
	params.Set("w_rid", hex.EncodeToString(sum[:]))
}
