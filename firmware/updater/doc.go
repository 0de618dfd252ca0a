// Package updater is the box's remote-update agent: it checks the update
// source from the box's config, only inside the room's maintenance window
// and never during an interview, downloads and verifies a newer signed
// bundle (package update), and installs it and reboots only when no
// interview runs and nothing is owed to a server. The installer is behind
// the Installer interface: systemd-sysupdate with boot counting on the
// UEFI image (sysupdate), the same sysupdate with the firmware's tryboot
// on the Raspberry Pi (tryboot); a fake is in updatertest.
//
// Before it reboots into a new version the agent records it in the stage
// folder; at the next start the version the box runs tells whether the
// update took or the boot loader went back to the old slot. A version that
// did not come up is never installed again (the box would otherwise
// reboot into it at every check); a newer one is.
//
// The decisions are one pure function, Machine.Next, tested as a table;
// Agent runs it, owns the machine, and publishes a Status the box shows
// (and whose Updating drives the LEDs' update pattern).
package updater
