package repl

import (
	"errors"
	"io"
	"strings"

	"github.com/vmtest/vmtest/lang"
)

// Prompts of the front end: the first line of a chunk, and the lines
// that continue it.
const (
	Prompt             = ">>> "
	ContinuationPrompt = "... "
)

// ReadChunk reads one chunk of input, the unit the prompt evaluates: a
// line of simple statements, or as many lines as an open bracket or a
// compound statement (def, if, for, while) needs; a block ends at a blank
// line or at a line back at the left margin. Lines come from read, which
// is given the prompt to show. It returns the chunk's source. A syntax
// error returns the error with what was read; an error of read (io.EOF,
// an interrupt) is returned as is, io.EOF only before the chunk's first
// line (later, end of input ends the chunk).
func ReadChunk(read func(prompt string) (string, error)) (string, error) {
	var src strings.Builder
	var readErr error
	prompt := Prompt
	ended := false
	next := func() ([]byte, error) {
		if ended {
			return nil, io.EOF
		}
		line, err := read(prompt)
		prompt = ContinuationPrompt
		if err != nil {
			if !errors.Is(err, io.EOF) || src.Len() == 0 {
				readErr = err
				return nil, err
			}
			// End of input inside a block ends the block, as a blank
			// line would.
			ended = true
			return []byte("\n"), nil
		}
		line += "\n"
		src.WriteString(line)
		return []byte(line), nil
	}
	_, err := lang.Options().ParseCompoundStmt("<stdin>", next)
	if readErr != nil {
		return src.String(), readErr
	}
	return src.String(), err
}
