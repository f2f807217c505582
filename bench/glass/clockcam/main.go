// Command clockcam is a raw camera that shows its own clock: it writes I420 pictures of
// -size at -fps to stdout, paced by the wall clock, each carrying the time it was written
// (glass.Stamp), so that a reader of the stream at the far end can tell
// how old each picture is (bench/glass).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/camnode/camnode/bench/glass"
)

func main() {
	w := flag.Int("width", 640, "picture width")
	h := flag.Int("height", 360, "picture height")
	fps := flag.Int("fps", 30, "pictures per second")
	flag.Parse()
	if *w < glass.MinWidth || *h < glass.MinHeight+2 || *w%2 != 0 || *h%2 != 0 {
		fmt.Fprintf(os.Stderr, "clockcam: %dx%d: want an even size of at least %dx%d\n", *w, *h, glass.MinWidth, glass.MinHeight+2)
		os.Exit(2)
	}
	pic := make([]byte, *w**h*3/2)
	for i := range pic {
		pic[i] = 128 // grey, and neutral chroma
	}
	out := bufio.NewWriterSize(os.Stdout, len(pic))
	frame := time.Second / time.Duration(*fps)
	next := time.Now()
	for n := 0; ; n++ {
		time.Sleep(time.Until(next))
		// Something moves, so that the encoder codes every picture.
		pic[*w*(*h-1)+n%*w] ^= 0xff
		glass.Stamp(pic, *w, uint64(time.Now().UnixMilli()))
		if _, err := out.Write(pic); err != nil {
			os.Exit(0) // the reader went
		}
		if err := out.Flush(); err != nil {
			os.Exit(0)
		}
		next = next.Add(frame)
	}
}
