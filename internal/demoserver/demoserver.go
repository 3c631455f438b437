package demoserver

import (
	"context"
	"fmt"
	"net"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/osfs"
	nfs "github.com/willscott/go-nfs"
	nfshelper "github.com/willscott/go-nfs/helpers"
)

func init() {
	// go-nfs logs through a package-level logger; keep it to errors.
	nfs.Log.SetLevel(nfs.ErrorLevel)
}

// Server is a running embedded upstream.
type Server struct {
	l      net.Listener
	cancel context.CancelFunc
	done   chan struct{}
	FS     billy.Filesystem
}

// Start serves dir (or an in-memory filesystem when dir is "") on addr
// (default "127.0.0.1:0").
func Start(dir, addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var fs billy.Filesystem
	if dir == "" {
		fs = memfs.New()
	} else {
		fs = osfs.New(dir, osfs.WithBoundOS())
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demoserver: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := nfshelper.NewCachingHandler(nfshelper.NewNullAuthHandler(fs), 1<<16)
	s := &Server{l: l, cancel: cancel, done: make(chan struct{}), FS: fs}
	srv := &nfs.Server{Handler: h, Context: ctx}
	go func() {
		defer close(s.done)
		srv.Serve(l)
	}()
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() *net.TCPAddr { return s.l.Addr().(*net.TCPAddr) }

// Port returns the port serving both NFS and MOUNT.
func (s *Server) Port() int { return s.Addr().Port }

// Close stops the server.
func (s *Server) Close() error {
	s.cancel()
	err := s.l.Close()
	<-s.done
	return err
}
