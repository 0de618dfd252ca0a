// Package buildroot holds no code: its test checks the BR2_EXTERNAL tree
// in this folder against the Go side (the box config that the board's
// post-build script makes from image/rootfs must load).
package buildroot
