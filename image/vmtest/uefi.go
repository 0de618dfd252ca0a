//go:build linux

package vmtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// UEFI is a whole disk booted by OVMF (Debian's ovmf package): the A/B
// image of image/ab, whose ESP holds systemd-boot and a UKI per version.
// The kernel command line is in each UKI, so VMConfig.Append does not
// apply; the A/B image's QEMU build has the debug shell in it.
type UEFI struct {
	Disk string // disk.img from image/ab/build
	Code string // OVMF_CODE; default /usr/share/OVMF/OVMF_CODE_4M.fd
	Vars string // the OVMF_VARS template; default /usr/share/OVMF/OVMF_VARS_4M.fd
}

// VarsPath is the VM's own copy of the variable store (kept across its
// boots, as a board's flash would be).
func (v *VM) VarsPath() string { return filepath.Join(v.cfg.Dir, "OVMF_VARS.fd") }

func newUEFIVM(cfg VMConfig) (*VM, error) {
	u := cfg.UEFI
	if u.Code == "" {
		u.Code = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	}
	if u.Vars == "" {
		u.Vars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	}
	for _, f := range []string{u.Disk, u.Code, u.Vars} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vmtest: UEFI: %w (run make ab-image; OVMF is in Debian's ovmf)", err)
		}
	}
	base, err := filepath.Abs(u.Disk)
	if err != nil {
		return nil, err
	}
	v := &VM{cfg: cfg, Overlay: filepath.Join(cfg.Dir, "overlay.qcow2")}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", v.Overlay).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vmtest: qemu-img create: %v: %s", err, out)
	}
	if err := copyFile(u.Vars, v.VarsPath()); err != nil {
		return nil, err
	}
	if v.sockDir, err = os.MkdirTemp("", "twincap-vm-"); err != nil {
		return nil, err
	}
	return v, nil
}

// args turns the direct-kernel-boot arguments Boot made into a firmware
// boot of the overlay: no -kernel, -initrd or -append, the disk as the
// only drive, OVMF's code read-only and the VM's variables writable.
func (u *UEFI) args(in []string, v *VM) []string {
	var out []string
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case "-kernel", "-initrd", "-append":
			i++
			continue
		case "-drive":
			if strings.HasPrefix(in[i+1], "file="+v.Overlay) {
				i++
				continue
			}
		}
		out = append(out, in[i])
	}
	return append(out,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+u.Code,
		"-drive", "if=pflash,format=raw,unit=1,file="+v.VarsPath(),
		"-drive", "file="+v.Overlay+",if=none,id=disk,format=qcow2",
		"-device", "virtio-blk-pci,drive=disk,bootindex=1",
	)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
