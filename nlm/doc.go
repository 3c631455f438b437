// Package nlm serves file locking for the proxy's clients: NLM v4 (the
// Network Lock Manager, program 100021; XNFS chapters 10 and 14, with the
// Linux client and lockd as the practical reference) and the SM_NOTIFY
// call of NSM (program 100024), over TCP and UDP.
//
// Model: the proxy is a lock client of each volume's upstream NLM. Every
// client request is forwarded, translated:
//
//   - the file handle: the client's proxy handle becomes the upstream
//     handle (Files.Resolve), as for every NFS call; a handle that is not
//     ours is stale_fh, a client the volume's export policy refuses gets
//     failed;
//   - the owner: the upstream tells owners apart by caller_name and svid,
//     and sees one caller_name for all our clients (Options.Name), so each
//     (client caller_name, client address, svid, owner handle) is mapped to
//     an upstream svid of its own and the owner handle "svid@Name"; a TEST
//     holder that is one of our owners is mapped back, another host's
//     holder is shown as the upstream reports it. Upstream svids start from
//     a clock-derived base, so a restarted proxy does not reuse the svid of
//     a lock the upstream still holds for the previous run;
//   - the cookie is the client's, returned unchanged.
//
// Blocking locks: a LOCK with block set that the upstream denies is
// answered blocked and retried upstream (non-blocking) every PollInterval
// until granted, cancelled (CANCEL, FREE_ALL, SM_NOTIFY) or the server
// stops; once granted, the client is told with a GRANTED call to its NLM,
// found through its portmapper. A client that refuses that GRANTED (it gave
// up) has the lock released upstream. With Options.UpstreamBlocking the
// LOCK is forwarded blocking and the upstream's GRANTED or GRANTED_MSG
// (answered with GRANTED_RES) completes it too; that needs the upstream to
// reach this server through the portmapper at Options.Name.
//
// Lock-aware caching: Files.Granted runs for every grant before the client
// hears of it; the proxy drops the file's cached attributes there, so the
// new holder's next GETATTR or READ revalidates with the upstream and reads
// what the previous holder wrote.
//
// Reboots: SM_NOTIFY (every client at the sender's address) and FREE_ALL
// (the client of that name at the sender's address) release upstream every
// lock the client took through us, by unlocking each file it locked,
// whole-file, for each of its owners. Matching by the sender's address
// keeps one host from freeing another's locks.
//
// Restarts (recover.go): the upstream keeps our clients' locks while
// the proxy is down, since we never tell it we restarted, so no other
// host can take them. Options.StateFile records, before each LOCK goes
// upstream, the file and the client owner with its upstream svid. A
// server started with locks recorded maps those owners to the same
// upstream svids, sends SM_NOTIFY to each client host's statd (with an
// NSM state that grows with every start) and serves only reclaims for
// Options.GracePeriod, forwarding them as ordinary LOCKs (the upstream
// grants an owner the lock it already holds); other LOCKs and TESTs get
// denied_grace_period, as does a reclaim outside grace. At the end of
// grace every recorded lock not reclaimed is released upstream.
//
// An upstream's reboot: an SM_NOTIFY from one of Options.UpstreamIPs
// (the upstream's statd, reaching us as Name through port 111) means it
// lost our locks. Its volumes enter grace, the clients holding locks
// there get SM_NOTIFY with our next NSM state (so they reclaim all they
// hold through us), and their reclaims on those volumes are forwarded as
// reclaims, within the upstream's own grace; reclaims elsewhere are
// ordinary LOCKs again. It also frees the locks of any client at that
// address, as every SM_NOTIFY does (one host, one statd).
//
// NM_LOCK (the lock of a host without statd, which frees its locks with
// FREE_ALL) is served as a non-blocking LOCK.
//
// Not served: the other asynchronous _MSG and _RES procedures (the Linux
// client does not use them with NLM v4), SHARE and UNSHARE
// (PROC_UNAVAIL: nfs-ganesha 4.3 keeps a share after its UNSHARE, even
// a direct client's, so one forwarded under our name could never be
// released), NLM v1 and v3 (PROG_MISMATCH 4..4: they go with NFSv2,
// which the proxy does not serve). See README.md, Locking.
//
// Errors: an upstream without NLM (no entry in Options.Upstreams) answers
// every lock request denied_nolocks and logs that once per volume; an
// upstream call that fails or times out (CallTimeout) answers
// denied_nolocks (the client's ENOLCK) and is logged. Calls that do not
// decode are GARBAGE_ARGS; a message that is not a call closes the TCP
// connection.
//
// Concurrency: one goroutine per TCP connection reads calls and handles up
// to 32 at once, each on its own goroutine (a client's lockd multiplexes
// everything on one connection); UDP likewise per socket; one goroutine per
// blocked lock; after a restart one goroutine ends the grace period and
// one per client host sends SM_NOTIFY. Close stops them all and waits.
// Lock order: stateStore.mu, then Server.mu, then owners.mu; no network
// I/O is done under any, and the state file is written under
// stateStore.mu only.
//
// Caching: none of lock state beyond the owner mapping, the set of files
// each owner locked (for FREE_ALL, and in the state file for restarts)
// and the blocked requests; the upstream is the lock authority. An owner's mapping is dropped once no request of
// it is in flight, none of it waits, and every file it locked was unlocked
// whole-file (what the Linux client sends on close); an owner that only
// ever unlocks ranges keeps its entry until its client is freed.
//
// It must not cache lock state beyond what is above or decide lock
// conflicts itself: the upstream's NLM does. It must not import proxy;
// the proxy gives it what it needs (proxy.LockFiles).
package nlm
