package httpflv

// EndStream ends the current stream for every browser, as the end of Run does.
func EndStream(s *Server) { s.end() }
