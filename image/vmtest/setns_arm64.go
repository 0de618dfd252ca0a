//go:build linux

package vmtest

// setns(2).
const sysSetns = 268
