// Package upstream is the proxy's client side: it speaks ONC RPC over TCP to
// the upstream NFSv3 server and its MOUNT and portmapper services.
//
// Model: a Client owns a small pool of TCP connections to the upstream's NFS
// port. Each connection carries many calls at once; replies are matched to
// calls by XID (the XIDs are ours, never the end client's), and a call whose
// context ends is abandoned without disturbing the others. Every call carries
// the credential it is given (the end client's AUTH_SYS identity), so the
// upstream enforces permissions.
//
// Failures are classified for the caller (see Classify): a broken connection
// is redialled with backoff; a call that never reached the wire is retried
// anywhere; a call that did reach the wire is retried only when the
// procedure is idempotent, so a CREATE or RENAME is never replayed blindly
// on a new connection (the upstream's duplicate-request cache would not know
// it). Malformed replies are errors, never panics.
//
// Dial fails when the export cannot be mounted; Start instead returns a
// client that retries the MNT in the background (background.go), for a
// proxy that serves other volumes meanwhile. Mounted tells when it has
// mounted, and RootFSID (fsid.go) probes the export root's filesystem id,
// which the proxy checks handles against: together they are the
// proxy.Prober a volume served later is activated through.
//
// When running as root the client binds a privileged source port (below
// 1024), which upstream exports marked "secure" require.
//
// Concurrency: Client is safe for concurrent use. Each connection has one
// reader goroutine, owned by the connection and stopped by closing it; the
// hang watchdog (and, for Start, the mount retry before it) is one goroutine
// of the client; Close stops them all and waits.
//
// Nothing is cached here.
package upstream
