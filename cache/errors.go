package cache

import "errors"

// Sentinel errors. Operations wrap them with "cache: <op> ...: %w".
var (
	// ErrLocked: another process (or another Store in this process)
	// holds the cache directory.
	ErrLocked = errors.New("cache: directory in use")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("cache: store closed")
	// ErrNoRecord: a cache file has no object record.
	ErrNoRecord = errors.New("cache: no object record")
	// ErrRecordCorrupt: an object record failed to decode or its CRC.
	ErrRecordCorrupt = errors.New("cache: object record corrupt")
	// ErrRecordVersion: an object record has an unknown format version.
	ErrRecordVersion = errors.New("cache: object record version unknown")
	// ErrRecordMismatch: a valid record describes another handle or inode.
	ErrRecordMismatch = errors.New("cache: object record belongs elsewhere")
	// ErrChecksum: granule bytes on disk differ from their recorded CRC.
	ErrChecksum = errors.New("cache: granule checksum mismatch")
	// ErrCullIncomplete: CullTo could not get under its target because
	// the remaining objects are in use.
	ErrCullIncomplete = errors.New("cache: cull incomplete, objects in use")
	// ErrCrashed: FaultFS simulated a crash; every later operation fails.
	ErrCrashed = errors.New("cache: faultfs crashed")
)
