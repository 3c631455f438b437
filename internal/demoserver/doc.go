// Package demoserver runs an in-process NFSv3 server (go-nfs over a go-billy
// filesystem) on loopback: the embedded upstream for `nfscacheproxy demo`
// and a fast upstream for unit tests.
//
// Know its quirks (see ARCHITECTURE.md): handles are random and live in an
// in-memory LRU, attributes are synthesised, every WRITE is FILE_SYNC, and
// it serves NFS and MOUNT on one port with no portmapper registration, so
// clients must be given the port for both.
//
// Concurrency: Close stops the listener and cancels the server's context;
// go-nfs's connection goroutines end when their connections do.
//
// It owns the embedded upstream only; it must not be used as a model of a
// real server in tests that check coherency (its attributes are not an
// upstream's), and the proxy itself never imports it. Locks: none of its
// own.
package demoserver
