package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill the server when the test process dies without its cleanup
// (a panic, a -timeout): no redis-server is left behind.
func dieWithTest(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
