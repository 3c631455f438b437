// Package rpc holds the ONC RPC (RFC 5531) pieces shared by the proxy's
// server side and the upstream client side: record marking over TCP, the call
// and reply headers, and the AUTH_NONE / AUTH_SYS credentials.
//
// Model: one RPC message is one record. ReadRecord reassembles a record from
// its fragments into a caller-owned buffer, refusing any record over a limit
// before allocating for it. Headers are decoded with internal/xdr straight
// from the record; nothing is reflected.
//
// Errors: decode failures are returned as errors wrapping xdr's sentinels or
// this package's (errors.go); the caller decides the protocol reply
// (GARBAGE_ARGS, AUTH_ERROR) or closes the connection.
//
// Concurrency: every function here is pure or works on values owned by one
// goroutine. Nothing is cached.
//
// It owns ONC RPC framing and headers; it must not know NFS. Locks: none.
package rpc
