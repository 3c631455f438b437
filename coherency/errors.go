package coherency

import "errors"

// ErrUnknownMode is returned (wrapped) by ParseMode for a name that is not
// "ttl", "cto" or "static".
var ErrUnknownMode = errors.New("unknown coherency mode")
