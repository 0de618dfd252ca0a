// Package buildroot holds no code: its test checks the BR2_EXTERNAL tree
// in this folder against the Go side and the shared trees: the box config
// that the board's post-build script makes from image/rootfs must load;
// image/rootfs and image/ab/rootfs (the A/B update definitions and the
// self-test) are laid as overlays, never copied; and the SD card its
// post-image script makes with genimage has the slots, GPT labels and
// types that the sysupdate transfers and autoboot.txt expect.
package buildroot
