// Package tryboot is the update agent's Installer on a Raspberry Pi 4
// (buildroot/board/rpi4-64), whose boot loader does the A/B switch itself:
// autoboot.txt on the card's first partition names the boot partition
// that starts by default and, under [tryboot], the one a reboot with the
// tryboot flag (`reboot '0 tryboot'`) starts once.
//
// Install has the shared systemd-sysupdate installer write the slot that
// is not running (the same root transfer as the UEFI image, and the
// board's boot-partition transfer), finds the boot partition sysupdate
// labelled with the new version, and makes it autoboot.txt's [tryboot]
// partition, the running one staying the default. Reboot asks for the
// tryboot reboot. The new slot becomes the default only when Bless runs
// on it, after boot-complete.target (twincap-tryboot bless, from
// twincap-tryboot-bless.service); any reset before that — a self-test
// that fails, the hardware watchdog, a power cut — starts the default,
// the old slot, again, because the firmware clears the tryboot flag as it
// reads it. OnTrial (updater.Trial) tells the agent that the running slot
// is not the default yet, so it reports the update done only after Bless.
package tryboot
