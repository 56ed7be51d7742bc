// Command word is the client of wordd: it sends its standard input to
// the service and prints the result.
//
//	word -url http://server:8080 -mode count < file
//
// An unknown mode is refused before anything is sent (exit status 2); a
// failed request is exit status 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/vmtest/vmtest/examples/coverage/word/text"
)

func main() {
	url := flag.String("url", "http://localhost:8080", "the service's `URL`")
	mode := flag.String("mode", "count", "what to do: "+strings.Join(text.Modes, ", "))
	flag.Parse()
	if err := text.CheckMode(*mode); err != nil {
		fmt.Fprintln(os.Stderr, "word:", err)
		os.Exit(2)
	}
	if err := run(*url+"/"+*mode, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "word:", err)
		os.Exit(1)
	}
}

// run posts in to url and copies the answer to out.
func run(url string, in io.Reader, out io.Writer) error {
	resp, err := http.Post(url, "text/plain", in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
