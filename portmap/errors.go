package portmap

import "errors"

// ErrClosed is returned by Serve and ServeUDP after Close.
var ErrClosed = errors.New("portmap: server closed")
