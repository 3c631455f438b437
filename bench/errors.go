package bench

import "errors"

// Sentinel errors.
var (
	// ErrUnknownWorkload is returned for a workload name not in [Workloads].
	ErrUnknownWorkload = errors.New("bench: unknown workload")

	// ErrVerify reports data read back that does not carry the stamp written
	// by Setup: the server returned wrong bytes.
	ErrVerify = errors.New("bench: data verification failed")

	// ErrProtocol reports a reply that breaks a rule of RFC 1813 the
	// benchmark relies on (a READ making no progress before EOF, a listing
	// page with no entries and no EOF).
	ErrProtocol = errors.New("bench: server protocol violation")

	// ErrMarkers reports a Markdown document whose matrix markers are
	// unpaired, repeated or out of order.
	ErrMarkers = errors.New("bench: matrix markers unpaired or out of order")
)
