// Command twincap-tryboot is the Raspberry Pi's side of marking a slot
// good (package tryboot): `twincap-tryboot bless`, run by
// twincap-tryboot-bless.service once boot-complete.target is reached,
// makes a slot the firmware started with the tryboot flag the default in
// autoboot.txt; `twincap-tryboot status` says which slot runs and what
// autoboot.txt names, for a field technician.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"twincap/firmware/updater/tryboot"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twincap-tryboot:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("twincap-tryboot", flag.ContinueOnError)
	autoboot := fs.String("autoboot", "/boot/autoboot/autoboot.txt", "autoboot.txt on the card's first partition")
	bootloader := fs.String("bootloader", "/proc/device-tree/chosen/bootloader", "the firmware's device-tree node")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: twincap-tryboot [flags] bless|status\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one command: bless or status")
	}
	boot, err := tryboot.ReadBoot(*bootloader)
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "bless":
		changed, err := tryboot.Bless(*autoboot, *bootloader)
		switch {
		case err != nil:
			return err
		case changed:
			fmt.Fprintf(out, "boot partition %d, tried, is now the default\n", boot.Partition)
		case boot.Tryboot:
			fmt.Fprintf(out, "boot partition %d is already the default\n", boot.Partition)
		default:
			fmt.Fprintf(out, "boot partition %d was not started by a tryboot reboot: autoboot.txt left as it is\n", boot.Partition)
		}
		return nil
	case "status":
		data, err := os.ReadFile(*autoboot)
		if err != nil {
			return err
		}
		ab, err := tryboot.ParseAutoboot(data)
		if err != nil {
			return err
		}
		how := "by default"
		if boot.Tryboot {
			how = "with the tryboot flag (on trial)"
		}
		fmt.Fprintf(out, "running: boot partition %d, started %s\nautoboot.txt: default %d, tryboot %d\n", boot.Partition, how, ab.Default, ab.Try)
		return nil
	}
	return fmt.Errorf("unknown command %q: want bless or status", fs.Arg(0))
}
