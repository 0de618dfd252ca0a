// Package vmtest boots the appliance image (image/build) under QEMU with two
// room servers, all inside a network namespace the test creates, and drives
// it as an operator would: the box's control API through a QEMU host
// forward, the servers' recordings read from their data folders, faults
// through QMP (power cut, graceful power-down, per-server link cuts) and a
// root shell on the serial console (daemon hang, camera unplug).
//
// The scenarios are Go tests in this package; `make vm-test` builds the
// image and runs them with TWINCAP_VMTEST=1 (without it they skip). They
// need root (network namespaces), qemu-system-x86_64, qemu-img and ffprobe;
// a missing tool fails the test with the package to install.
package vmtest
