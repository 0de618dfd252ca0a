//go:build linux

package vmtest

// setns(2): the syscall package has no name for it on amd64.
const sysSetns = 308
