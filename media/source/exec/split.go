package exec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Split cuts a command line into argv the way a POSIX shell cuts words, without running
// one: blanks separate words; 'single quotes' keep everything literally; "double quotes"
// keep everything but a backslash before \ " $ ` or a newline; outside quotes a backslash
// keeps the next character. There is no expansion of variables, globs or ~, and no
// pipes or redirections (the characters stay in the words).
func Split(line string) ([]string, error) {
	var (
		args   []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 == len(line) {
				return nil, errors.New("command line ends in a backslash")
			}
			i++
			if line[i] != '\n' { // backslash-newline joins lines
				word.WriteByte(line[i])
				inWord = true
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("command line has an unclosed ' at byte %d", i)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && strings.IndexByte("\\\"$`\n", line[j+1]) >= 0 {
					j++
					if line[j] != '\n' {
						word.WriteByte(line[j])
					}
					continue
				}
				word.WriteByte(line[j])
			}
			if j == len(line) {
				return nil, fmt.Errorf("command line has an unclosed \" at byte %d", i)
			}
			i = j
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}

// shellC matches a command line that asks for a shell explicitly: sh, bash or dash
// (optionally with a path) followed by -c.
var shellC = regexp.MustCompile(`(?s)^\s*((?:\S*/)?(?:sh|bash|dash))\s+-c\s+(.*?)\s*$`)

// Argv turns a command line into the argv to run. A line that starts with `sh -c` (or
// bash/dash) runs that shell with the rest as its script: if the rest is one word after
// splitting (typically a quoted string) that word is the script, otherwise the rest is
// taken verbatim, so `sh -c ffmpeg ... | tee x` works without quotes. Every other line is
// split by Split and run directly, without a shell.
func Argv(line string) ([]string, error) {
	if m := shellC.FindStringSubmatch(line); m != nil {
		script := m[2]
		if words, err := Split(script); err == nil && len(words) == 1 {
			script = words[0]
		}
		return []string{m[1], "-c", script}, nil
	}
	args, err := Split(line)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, errors.New("command line is empty")
	}
	return args, nil
}
