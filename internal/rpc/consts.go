package rpc

// Message types.
const (
	Call  = 0
	Reply = 1
)

// Reply status.
const (
	MsgAccepted = 0
	MsgDenied   = 1
)

// AcceptStat values.
const (
	Success      = 0
	ProgUnavail  = 1
	ProgMismatch = 2
	ProcUnavail  = 3
	GarbageArgs  = 4
	SystemErr    = 5
)

// RejectStat values.
const (
	RPCMismatch = 0
	AuthError   = 1
)

// AuthStat values.
const (
	AuthOK           = 0
	AuthBadCred      = 1
	AuthRejectedCred = 2
	AuthBadVerf      = 3
	AuthRejectedVerf = 4
	AuthTooWeak      = 5
)

// Authentication flavors.
const (
	AuthNone  = 0
	AuthSys   = 1
	AuthShort = 2
)

// Limits from RFC 5531 and common practice.
const (
	MaxAuthBytes   = 400 // opaque_auth body
	MaxMachineName = 255
	MaxGroups      = 16
	RPCVersion     = 2
)

// Portmapper program (RFC 1833).
const (
	PmapProgram     = 100000
	PmapVersion     = 2
	PmapProcGetport = 3
	IPProtoTCP      = 6
)
