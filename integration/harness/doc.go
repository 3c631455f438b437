// Package harness runs real NFS parts for integration tests and benchmarks:
// nfs-ganesha as the upstream NFSv3 server, rpcbind for it to register with,
// and the libnfs-utils command-line clients (nfs-cat, nfs-ls, nfs-cp).
//
// # Model
//
// Each [Ganesha] is one ganesha.nfsd process, started in the foreground (-F)
// as a child of the calling process, exporting one local directory ([Ganesha.Dir])
// over NFSv3/TCP only, on 127.0.0.1, at the pseudo path "/export" (MOUNT of
// "/export" works because the configuration sets Mount_Path_Pseudo). Every
// instance has its own state directory holding its configuration file, log,
// pid file and NFSv4 recovery root, its own D-Bus name prefix and its own ports,
// so any number of instances run side by side. Ports default to free loopback
// ports picked at start; [Ganesha.Restart] reuses them, as well as the
// directory, so file handles stay valid across a restart (ganesha's VFS handles
// are derived from the kernel's name_to_handle_at handles plus the export id).
//
// The export is read-write with No_Root_Squash and AUTH_SYS, and Graceless is
// set, so writes work the moment the server answers. [StartGanesha] returns
// only when ganesha has logged "NFS SERVER INITIALIZED" (so the answers come
// from our process), the NFS port answers an ONC RPC NULL call for NFS v3 and
// the MOUNT port grants MNT of "/export"; both checks use the tiny RPC client in this
// package ([PingRPC], [MountRoot]), which depends on nothing else in the project.
//
// ganesha refuses to start unless it can register with a portmapper, so
// [StartGanesha] calls [EnsureRPCBind] first. That uses an rpcbind already
// answering on 127.0.0.1:111 and on its local socket /run/rpcbind.sock (which
// ganesha registers through), or starts "rpcbind -w" and waits until it
// answers on both; rpcbind daemonizes and is
// deliberately left running: it is shared by every instance in every test
// process on the machine, and killing it would break the others. Note that
// all instances register the same programs, so the portmapper only knows the
// ports of the instance that registered last, and a stopping instance
// unregisters them all: always use explicit ports, never the portmapper.
//
// # Errors
//
// A missing binary or FSAL is reported as an error wrapping
// [ErrMissingDependency] whose text names the Debian package to install
// (scripts/deps.sh installs them all). Start failures include the tail of the
// ganesha log. Every wait is bounded by the context and by the timeouts in
// [GaneshaOptions].
//
// # Concurrency
//
// [EnsureRPCBind] and [StartGanesha] are safe to call from many goroutines
// and processes. Start-ups (including restarts) are serialized machine-wide by
// flock on a file in os.TempDir(), from exec until ready: every ganesha
// unregisters NFS and MOUNT from rpcbind and then registers, and two doing
// that at once make one fail fatally ("Cannot register NFS V3 on TCP"). It
// costs little: a start takes about 50-100ms. The methods of one [Ganesha]
// are serialized by its mutex. The goroutine
// that waits for a ganesha process ends when that process exits; Stop, Kill,
// Close and Restart wait for it. Child processes get SIGKILL if the test
// process dies (Pdeathsig), so a crashed test leaves no ganesha behind.
//
// Nothing here caches anything.
package harness
