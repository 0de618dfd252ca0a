//go:build linux

package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The guest's NICs, by QEMU device ID (SetLink takes these). The
// management NIC carries only the control API's host forward; each server
// has its own NIC and user network, so one server's link can be cut.
const (
	NICManagement = "nic-mgmt"
	NICPreferred  = "nic-preferred"
	NICRedundant  = "nic-redundant"
)

// ControlAddr is where the box's control API is reached from inside the
// namespace (QEMU forwards it to the guest's port 8080).
const ControlAddr = "127.0.0.1:8080"

// VMConfig says what to boot and where to keep the artifacts.
type VMConfig struct {
	Image string // folder made by image/build: rootfs.img, vmlinuz, initrd.img, cmdline
	Dir   string // artifacts: the overlay, console logs, QEMU's log
	NS    *Netns
	// Files are handed to the guest by fw_cfg as opt/twincap/<name>;
	// the image installs ca.pem and box.toml into /etc/twincap at boot.
	Files     map[string]string
	MemoryMB  int    // default 1024
	CPUs      int    // default 2
	Append    string // more kernel arguments
	QEMU      string // default qemu-system-x86_64
	DebugOff  bool   // no root shell on ttyS1
	ExtraArgs []string
	// UEFI boots a whole disk under OVMF instead of Image's kernel (the
	// A/B image, image/ab; see uefi.go).
	UEFI *UEFI
}

// VM is the appliance under QEMU: one qcow2 overlay on the image, booted
// as often as a scenario needs (the overlay carries the disk across power
// cuts and reboots).
type VM struct {
	cfg     VMConfig
	Overlay string
	sockDir string
	boots   int
	proc    *Proc
	qmp     *QMP
	shell   *serialShell
	older   []Event // events of earlier boots
	// BootedAt is when the current boot's QEMU was started.
	BootedAt time.Time
}

// NewVM makes the overlay; Boot starts QEMU.
func NewVM(cfg VMConfig) (*VM, error) {
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.QEMU == "" {
		cfg.QEMU = "qemu-system-x86_64"
	}
	if cfg.UEFI != nil {
		return newUEFIVM(cfg)
	}
	for _, f := range []string{"rootfs.img", "vmlinuz", "initrd.img", "cmdline"} {
		if _, err := os.Stat(filepath.Join(cfg.Image, f)); err != nil {
			return nil, fmt.Errorf("vmtest: image: %w (run make image)", err)
		}
	}
	base, err := filepath.Abs(filepath.Join(cfg.Image, "rootfs.img"))
	if err != nil {
		return nil, err
	}
	v := &VM{cfg: cfg, Overlay: filepath.Join(cfg.Dir, "overlay.qcow2")}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", v.Overlay).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("vmtest: qemu-img create: %v: %s", err, out)
	}
	// Unix socket paths are short (108 bytes): keep them out of the tree.
	if v.sockDir, err = os.MkdirTemp("", "twincap-vm-"); err != nil {
		return nil, err
	}
	return v, nil
}

// Boots is how many times the VM was booted.
func (v *VM) Boots() int { return v.boots }

// ConsoleLog is the serial console log of boot n (1-based).
func (v *VM) ConsoleLog(n int) string {
	return filepath.Join(v.cfg.Dir, fmt.Sprintf("console-%d.log", n))
}

// Console is the text of boot n's serial console so far.
func (v *VM) Console(n int) string {
	b, _ := os.ReadFile(v.ConsoleLog(n))
	return string(b)
}

// Boot starts QEMU on the overlay and connects to its monitor and to the
// debug shell's serial port. It returns once QEMU runs, not when the box is
// up (see the control API for that).
func (v *VM) Boot(ctx context.Context) error {
	if v.proc != nil && !v.proc.Exited() {
		return fmt.Errorf("vmtest: boot: QEMU is still running (pid %d)", v.proc.PID())
	}
	v.closeMonitors()
	v.boots++
	n := v.boots
	var cmdline []byte
	var err error
	if v.cfg.UEFI == nil {
		if cmdline, err = os.ReadFile(filepath.Join(v.cfg.Image, "cmdline")); err != nil {
			return fmt.Errorf("vmtest: %w", err)
		}
	}
	appendArgs := strings.TrimSpace(string(cmdline))
	if !v.cfg.DebugOff {
		appendArgs += " twincap.debug_shell"
	}
	if v.cfg.Append != "" {
		appendArgs += " " + v.cfg.Append
	}
	qmpSock := filepath.Join(v.sockDir, "qmp.sock")
	shellSock := filepath.Join(v.sockDir, "shell.sock")
	os.Remove(qmpSock)
	os.Remove(shellSock)
	args := []string{
		"-name", "twincap-box", "-no-user-config", "-nodefaults",
		"-machine", "pc", "-accel", "tcg", "-cpu", "max",
		"-smp", strconv.Itoa(v.cfg.CPUs), "-m", strconv.Itoa(v.cfg.MemoryMB),
		"-display", "none", "-vga", "none", "-rtc", "base=utc",
		"-kernel", filepath.Join(v.cfg.Image, "vmlinuz"),
		"-initrd", filepath.Join(v.cfg.Image, "initrd.img"),
		"-append", appendArgs,
		"-drive", "file=" + v.Overlay + ",if=virtio,format=qcow2",
		// ttyS0: the console, straight to a file (never blocks the guest).
		"-chardev", "file,id=console,path=" + v.ConsoleLog(n),
		"-serial", "chardev:console",
		// ttyS1: the debug shell, typed into through a socket.
		"-chardev", "socket,id=shell,path=" + shellSock + ",server=on,wait=off,logfile=" +
			filepath.Join(v.cfg.Dir, fmt.Sprintf("shell-%d.log", n)),
		"-serial", "chardev:shell",
		"-qmp", "unix:" + qmpSock + ",server=on,wait=off",
		"-device", "i6300esb", "-action", "watchdog=reset",
		"-netdev", "user,id=mgmt,net=10.0.4.0/24,restrict=on,hostfwd=tcp:" + ControlAddr + "-10.0.4.15:8080",
		"-device", "virtio-net-pci,netdev=mgmt,id=" + NICManagement + ",mac=52:54:00:74:63:01",
		"-netdev", "user,id=preferred,net=10.0.2.0/24",
		"-device", "virtio-net-pci,netdev=preferred,id=" + NICPreferred + ",mac=52:54:00:74:63:02",
		"-netdev", "user,id=redundant,net=10.0.3.0/24",
		"-device", "virtio-net-pci,netdev=redundant,id=" + NICRedundant + ",mac=52:54:00:74:63:03",
	}
	for name, path := range v.cfg.Files {
		args = append(args, "-fw_cfg", "name=opt/twincap/"+name+",file="+path)
	}
	if v.cfg.UEFI != nil {
		args = v.cfg.UEFI.args(args, v)
	}
	args = append(args, v.cfg.ExtraArgs...)
	v.BootedAt = time.Now()
	p, err := StartProc(fmt.Sprintf("qemu-%d", n), v.cfg.NS.Command(v.cfg.QEMU, args...), filepath.Join(v.cfg.Dir, fmt.Sprintf("qemu-%d.log", n)))
	if err != nil {
		return err
	}
	v.proc = p
	qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if v.qmp, err = DialQMP(qctx, qmpSock); err != nil {
		return fmt.Errorf("%w; QEMU: %s", err, p.Tail(2000))
	}
	if !v.cfg.DebugOff {
		if v.shell, err = dialShell(qctx, shellSock); err != nil {
			return err
		}
	}
	return nil
}

// Running reports whether QEMU runs.
func (v *VM) Running() bool { return v.proc != nil && !v.proc.Exited() }

// Kill is a power cut: QEMU gets SIGKILL, whatever the guest had not
// written to the virtual disk is lost.
func (v *VM) Kill() {
	if v.proc != nil {
		v.proc.Kill()
	}
	v.closeMonitors()
}

// Powerdown presses the power button (ACPI): the guest shuts down cleanly
// and QEMU exits.
func (v *VM) Powerdown(ctx context.Context) error {
	_, err := v.qmp.Execute(ctx, "system_powerdown", nil)
	return err
}

// WaitExit waits up to d for QEMU to exit.
func (v *VM) WaitExit(d time.Duration) bool {
	if v.proc == nil {
		return true
	}
	ok := v.proc.Wait(d)
	if ok {
		v.closeMonitors()
	}
	return ok
}

// Quit ends QEMU (QMP quit, or SIGKILL if that does not work) and removes
// the socket folder.
func (v *VM) Quit() {
	if v.Running() && v.qmp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = v.qmp.Execute(ctx, "quit", nil)
		cancel()
		v.proc.Wait(10 * time.Second)
	}
	v.Kill()
	os.RemoveAll(v.sockDir)
}

// SetLink plugs (up) or pulls (down) the cable of a NIC: NICPreferred or
// NICRedundant cuts the box off one server.
func (v *VM) SetLink(ctx context.Context, nic string, up bool) error {
	_, err := v.qmp.Execute(ctx, "set_link", map[string]any{"name": nic, "up": up})
	return err
}

// Events is every QMP event of every boot so far.
func (v *VM) Events() []Event {
	ev := append([]Event(nil), v.older...)
	if v.qmp != nil {
		ev = append(ev, v.qmp.Events()...)
	}
	return ev
}

// WatchdogFired reports whether QEMU saw the hardware watchdog expire in
// any boot (QMP's WATCHDOG event).
func (v *VM) WatchdogFired() bool {
	for _, e := range v.Events() {
		if e.Name == "WATCHDOG" {
			return true
		}
	}
	return false
}

// GuestStarts counts how many times the guest's systemd started during
// boot n: more than one means the guest was reset (the watchdog, a
// panic) within that boot.
func (v *VM) GuestStarts(n int) int {
	return strings.Count(v.Console(n), "Welcome to ")
}

// WaitWatchdogReset waits until the hardware watchdog has reset the guest
// (the hook for a hang scenario: HangDaemon, then this).
func (v *VM) WaitWatchdogReset(ctx context.Context) error {
	for !v.WatchdogFired() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("vmtest: no watchdog reset: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// Shell runs a command in the guest's root shell on ttyS1 and returns its
// output and exit status (hooks: HangDaemon, UnplugCamera).
func (v *VM) Shell(ctx context.Context, command string) (string, int, error) {
	if v.shell == nil {
		return "", 0, fmt.Errorf("vmtest: no debug shell in this boot")
	}
	return v.shell.run(ctx, command)
}

// HangDaemon stops the box daemon with SIGSTOP: it stays alive but no
// longer pets the watchdogs, as a deadlock would. systemd's watchdog
// (WatchdogSec, then TimeoutAbortSec) kills and restarts it before the
// hardware watchdog expires.
func (v *VM) HangDaemon(ctx context.Context) error {
	return v.shellOK(ctx, "hang the daemon", "systemctl kill --signal=SIGSTOP twincap-box.service")
}

// HangDaemonForReset hangs the daemon so that systemd cannot bring it back
// (until the next boot its binary is /usr/bin/false, so every restart
// fails at once): only the hardware watchdog can, by resetting the box.
// Wait with WaitWatchdogReset.
func (v *VM) HangDaemonForReset(ctx context.Context) error {
	return v.shellOK(ctx, "hang the daemon for good",
		"mount --bind /usr/bin/false /usr/bin/twincap-box && systemctl kill --signal=SIGSTOP twincap-box.service")
}

// Clock reads the guest's wall clock through the shell: the guest's time
// minus the host's, and how uncertain that is (half the round trip).
func (v *VM) Clock(ctx context.Context) (offset, within time.Duration, err error) {
	asked := time.Now()
	out, rc, err := v.Shell(ctx, "date +%s.%N")
	answered := time.Now()
	if err == nil && rc != 0 {
		err = fmt.Errorf("exit %d: %s", rc, out)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("vmtest: read the guest's clock: %w", err)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("vmtest: read the guest's clock: %q: %w", out, err)
	}
	half := answered.Sub(asked) / 2
	guest := time.Unix(0, int64(secs*1e9))
	return guest.Sub(asked.Add(half)), half, nil
}

func (v *VM) shellOK(ctx context.Context, what, command string) error {
	out, rc, err := v.Shell(ctx, command)
	if err == nil && rc != 0 {
		err = fmt.Errorf("vmtest: %s: exit %d: %s", what, rc, out)
	}
	return err
}

// UnplugCamera unplugs the vivid camera: its platform device is unbound
// from the driver, so /dev/video0 goes away as a USB camera's node does,
// even while the daemon holds it open (rmmod refuses then; vivid's
// Disconnect control keeps the node).
func (v *VM) UnplugCamera(ctx context.Context) error {
	return v.shellOK(ctx, "unplug the camera", "echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind")
}

// PlugCamera binds the vivid camera again: /dev/video0 comes back.
func (v *VM) PlugCamera(ctx context.Context) error {
	return v.shellOK(ctx, "plug the camera", "echo vivid.0 > /sys/bus/platform/drivers/vivid/bind")
}

func (v *VM) closeMonitors() {
	if v.qmp != nil {
		v.older = append(v.older, v.qmp.Events()...)
		v.qmp.Close()
		v.qmp = nil
	}
	if v.shell != nil {
		v.shell.close()
		v.shell = nil
	}
}

// serialShell types into the guest's shell on ttyS1 and reads what it
// answers. Its reader drains the port all the time, so the guest never
// blocks on it.
type serialShell struct {
	conn net.Conn
	mu   sync.Mutex // guards buf
	buf  bytes.Buffer
	seq  int
	// up: the shell has answered a command, so a line typed now is read.
	up bool
}

func dialShell(ctx context.Context, path string) (*serialShell, error) {
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			s := &serialShell{conn: c}
			go s.read()
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vmtest: debug shell socket: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *serialShell) read() {
	b := make([]byte, 4096)
	for {
		n, err := s.conn.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *serialShell) close() { s.conn.Close() }

// run types command and waits for its end marker. The marker is written
// as an arithmetic expansion so that the echo of the typed line does not
// match it. Until the shell has answered once, the line is typed again
// every few seconds (a line typed before the shell opened the port is
// lost); after that never, since a command that takes longer would run
// twice. (A guest reset within one QEMU run restarts the shell on the same
// port: a scenario that types after one must allow for a lost line.)
func (s *serialShell) run(ctx context.Context, command string) (string, int, error) {
	s.seq++
	re := regexp.MustCompile(fmt.Sprintf(`@@vmtest-%d rc=(\d+)@@`, s.seq))
	line := fmt.Sprintf("%s\nrc=$?; echo \"@@vmtest-$((%d+0)) rc=$rc@@\"\n", command, s.seq)
	s.mu.Lock()
	start := s.buf.Len()
	s.mu.Unlock()
	for {
		if _, err := s.conn.Write([]byte(line)); err != nil {
			return "", 0, fmt.Errorf("vmtest: debug shell: %w", err)
		}
		var retype <-chan time.Time
		if !s.up {
			retype = time.After(5 * time.Second)
		}
		for {
			s.mu.Lock()
			out := s.buf.String()[start:]
			s.mu.Unlock()
			if m := re.FindStringSubmatchIndex(out); m != nil {
				s.up = true
				rc, _ := strconv.Atoi(out[m[2]:m[3]])
				return out[:m[0]], rc, nil
			}
			select {
			case <-ctx.Done():
				return out, 0, fmt.Errorf("vmtest: debug shell: %q: %w", command, ctx.Err())
			case <-retype:
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
	}
}
