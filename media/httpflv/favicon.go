package httpflv

import "net/http"

// withFavicon answers a browser's GET /favicon.ico with 204 No Content before the token
// check: browsers ask for it without the page's query (so without its token), and a
// refusal would log a WARN for every page opened. The page itself names an empty icon, so
// a current browser does not ask; an older one, or a bookmark, still may.
func withFavicon(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			w.Header().Set("Cache-Control", "max-age=86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
