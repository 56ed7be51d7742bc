// Command wordd serves the word service over HTTP: POST text to /MODE
// (see text.Modes) and get the result.
//
//	wordd -addr :8080
//
// It exits normally on SIGTERM or SIGINT, so that a build with -cover
// writes its counters.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/examples/coverage/word/text"
)

func main() {
	addr := flag.String("addr", ":8080", "listen on `ADDRESS`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(handle)}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("wordd: listening on %s", *addr)
	select {
	case err := <-errc:
		log.Fatalf("wordd: %v", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Printf("wordd: shutting down: %v", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		log.Printf("wordd: %v", err)
	}
	log.Print("wordd: stopped")
}

// handle answers POST /MODE with the text of the body after MODE.
func handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST text to /MODE", http.StatusMethodNotAllowed)
		return
	}
	mode := strings.TrimPrefix(r.URL.Path, "/")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := text.Apply(mode, string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	log.Printf("wordd: %s of %d bytes", mode, len(body))
	fmt.Fprint(w, out)
}
