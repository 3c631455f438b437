package proxy

import "testing"

// TestServeStalePolicy: the stale answer is consulted only when the
// volume serves stale and the upstream just failed in transport, and a
// request it answered is marked for counting.
func TestServeStalePolicy(t *testing.T) {
	tests := []struct {
		serveStale, unreachable, answers bool
		asked, served                    bool
	}{
		{false, false, true, false, false},
		{false, true, true, false, false},
		{true, false, true, false, false},
		{true, true, false, true, false},
		{true, true, true, true, true},
	}
	for _, tt := range tests {
		v := &volume{}
		v.Failure.ServeStale = tt.serveStale
		req := &request{unreachable: tt.unreachable}
		asked := false
		got := req.serveStale(v, func() bool { asked = true; return tt.answers })
		if got != tt.served || asked != tt.asked || req.servedStale != tt.served {
			t.Errorf("ServeStale=%v unreachable=%v answers=%v: got served=%v asked=%v marked=%v; want %v %v %v",
				tt.serveStale, tt.unreachable, tt.answers, got, asked, req.servedStale, tt.served, tt.asked, tt.served)
		}
	}
}
