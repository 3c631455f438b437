package main

// The admin API: state-changing requests (POST /admin/invalidate), served
// on a unix socket (mode 0600; peers must be root or the proxy's own user)
// and, when configured, on a TCP listener where every request needs the
// bearer token. The metrics listener never serves them: it is read-only.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
)

// adminServer is the admin API: one HTTP server per listener.
type adminServer struct {
	servers    []*http.Server
	listeners  []net.Listener
	socketPath string // the unix socket, removed on close
}

// listenAdmin opens the admin listeners the configuration asks for.
func (a *app) listenAdmin() error {
	mux := http.NewServeMux()
	mux.Handle("POST /admin/invalidate", http.HandlerFunc(a.serveInvalidate))
	add := func(l net.Listener, h http.Handler) {
		a.admin.listeners = append(a.admin.listeners, l)
		a.admin.servers = append(a.admin.servers, &http.Server{Handler: h,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	}
	if p := a.cfg.AdminSocket(); p != "" {
		l, err := listenUnixPrivate(p)
		if err != nil {
			return fmt.Errorf("admin.socket: %w", err)
		}
		a.admin.socketPath = p
		add(l, mux)
	}
	if a.cfg.Admin.Listen != "" {
		b, err := os.ReadFile(a.cfg.Admin.TokenFile)
		if err != nil {
			return fmt.Errorf("admin.token_file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		if len(token) < 16 {
			return fmt.Errorf("admin.token_file %s: the token has %d characters; want at least 16", a.cfg.Admin.TokenFile, len(token))
		}
		l, err := net.Listen("tcp", a.cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen %s: %w", a.cfg.Admin.Listen, err)
		}
		add(l, requireToken(token, mux))
	}
	return nil
}

// serveAdmin hands each admin server to start, which runs it in a
// goroutine the app owns, until closeAdmin.
func (a *app) serveAdmin(start func(name string, serve func() error)) {
	for i, srv := range a.admin.servers {
		l := a.admin.listeners[i]
		start("admin "+l.Addr().String(), func() error {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
}

// closeAdmin stops the admin servers (requests in flight get a moment to
// finish) and removes the socket.
func (a *app) closeAdmin() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i, srv := range a.admin.servers {
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		a.admin.listeners[i].Close() // when Serve never ran
	}
	if a.admin.socketPath != "" {
		os.Remove(a.admin.socketPath)
	}
	a.admin = adminServer{}
}

// listenUnixPrivate listens on a unix socket at path with mode 0600 and
// accepts only peers running as root or as this process's user. A stale
// socket at path (from a proxy that died) is replaced; any other file
// there is an error.
func listenUnixPrivate(path string) (net.Listener, error) {
	if len(path) > 107 {
		return nil, fmt.Errorf("%s: %d bytes, longer than the 107 a unix socket path may have; set admin.socket (--admin-socket) to a shorter path", path, len(path))
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process serves it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // closeAdmin removes it, after the servers stopped
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		os.Remove(path)
		return nil, err
	}
	return &peerListener{UnixListener: ul, uid: uint32(os.Getuid())}, nil
}

// peerListener drops connections from users other than root and uid (the
// mode 0600 already refuses them; this holds even if the mode is changed).
type peerListener struct {
	*net.UnixListener
	uid uint32
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, ok := peerUID(c); ok && (uid == 0 || uid == l.uid) {
			return c, nil
		}
		c.Close()
	}
}

// peerUID is the uid of the process at the other end of c.
func peerUID(c *net.UnixConn) (uint32, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return cred.Uid, true
}

// requireToken answers 401 to requests without "Authorization: Bearer
// token".
func requireToken(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nfscacheproxy admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// invalidateReply is the JSON answer of POST /admin/invalidate.
type invalidateReply struct {
	DryRun  bool            `json:"dry_run"`
	Volumes []adminVolumeID `json:"volumes"`
}

// adminVolumeID names a volume in admin answers.
type adminVolumeID struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// serveInvalidate drops the metadata caches of one volume (?volume=ID or
// ?volume=NAME, its mount path) or of all: the explicit invalidation
// static volumes rely on. Cached data is kept and revalidated against the
// fresh attributes on its next read. With ?dry_run=1 it only names the
// volumes it would invalidate (and counts against no limit).
func (a *app) serveInvalidate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dryRun, _ := strconv.ParseBool(q.Get("dry_run"))
	if !dryRun && !a.invalidateLimit.Allow() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many invalidations: at most one a second", http.StatusTooManyRequests)
		return
	}
	want := q.Get("volume")
	rep := invalidateReply{DryRun: dryRun, Volumes: []adminVolumeID{}}
	var ids []int
	for _, vc := range a.cfg.Volumes {
		if want != "" && want != strconv.Itoa(vc.ID) && want != vc.MountPath() {
			continue
		}
		if !dryRun {
			a.srv.Meta(uint16(vc.ID)).InvalidateAll(coherency.CauseExplicit)
		}
		ids = append(ids, vc.ID)
		rep.Volumes = append(rep.Volumes, adminVolumeID{ID: vc.ID, Name: vc.MountPath()})
	}
	if len(ids) == 0 {
		http.Error(w, "no such volume", http.StatusNotFound)
		return
	}
	if !dryRun {
		a.log.Info("invalidated by request", "volumes", ids, "client", r.RemoteAddr)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}
