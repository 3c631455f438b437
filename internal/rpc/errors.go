package rpc

import "errors"

// Sentinel errors.
var (
	ErrRecordTooLarge = errors.New("rpc: record over size limit")
	ErrNotCall        = errors.New("rpc: message is not a call")
	ErrNotReply       = errors.New("rpc: message is not a reply")
	ErrRPCVersion     = errors.New("rpc: rpc version is not 2")
	ErrBadCred        = errors.New("rpc: malformed credential")
	ErrBadVerifier    = errors.New("rpc: malformed verifier")
)
