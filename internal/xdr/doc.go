// Package xdr encodes and decodes the XDR (RFC 4506) subset that ONC RPC,
// NFSv3 and MOUNT v3 use: 32- and 64-bit integers, booleans, fixed and
// variable-length opaques and strings.
//
// Model: a Reader walks a byte slice that holds one whole message (an RPC
// record); a Writer appends to a byte slice. Neither uses reflection.
//
// Errors are sticky: the first decode error (short buffer, a length over the
// caller's limit, a bool that is neither 0 nor 1) is kept, every later read
// returns the zero value, and the caller checks Err once at the end. Every
// variable-length field takes a limit that is checked before anything is
// allocated or sliced, so a hostile length costs nothing.
//
// Aliasing: Opaque and Fixed return sub-slices of the Reader's buffer, not
// copies. A caller that keeps them past the life of the buffer must copy.
//
// Concurrency: a Reader or Writer belongs to one goroutine.
//
// It owns only the encoding; it must not know NFS or RPC types (those are
// internal/nfs3 and internal/rpc, built on it). Locks: none.
package xdr
