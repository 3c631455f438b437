package kernel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Control is the host side of the suite's control channel: an HTTP server
// on the host's loopback that the guest reaches as 10.0.2.2:Port. It serves
// POST /restart?target=NAME by calling the restart function registered for
// NAME and answering once the server is back.
type Control struct {
	Port int
	srv  *http.Server
	done chan struct{}
	log  io.Writer

	// mu guards restart.
	mu      sync.Mutex
	restart map[string]func(context.Context) error
}

// StartControl listens on 127.0.0.1 (a free port) and serves until Close.
// log receives one line per request.
func StartControl(log io.Writer) (*Control, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kernel: control: %w", err)
	}
	c := &Control{Port: l.Addr().(*net.TCPAddr).Port, done: make(chan struct{}), log: log,
		restart: map[string]func(context.Context) error{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /restart", c.handleRestart)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(c.done)
		c.srv.Serve(l)
	}()
	return c, nil
}

// OnRestart registers how to restart the server of target.
func (c *Control) OnRestart(target string, f func(context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restart[target] = f
}

func (c *Control) handleRestart(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("target")
	c.mu.Lock()
	f := c.restart[target]
	c.mu.Unlock()
	if f == nil {
		http.Error(w, "no restart for target "+target, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	fmt.Fprintf(c.log, "kernel: control: restart %s: %v (err %v)\n", target, time.Since(start).Round(time.Millisecond), err)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "restarted %s in %v\n", target, time.Since(start).Round(time.Millisecond))
}

// Close stops the server.
func (c *Control) Close() error {
	err := c.srv.Close()
	<-c.done
	return err
}
