package bench

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the child if we die first, so a
// crashed benchmark leaves no proxy behind.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
