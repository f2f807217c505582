package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseCommand parses the flags of a subcommand that takes no arguments: -h prints its usage
// and is a clean stop (0), a bad flag or a stray argument a bad command line (2). ok false
// says the caller returns code.
func parseCommand(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, false
	}
	return 0, true
}
