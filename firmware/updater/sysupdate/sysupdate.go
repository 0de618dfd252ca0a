// Package sysupdate is the update agent's Installer on a box whose slots
// systemd-sysupdate manages (systemd 254 from bookworm-backports, or
// later): it verifies the bundle again while it unpacks its payloads into
// the local folder the box's transfer definitions name as their source
// (Type=regular-file; sysupdate checks nothing for local sources, so the
// bundle's signature is what vouches for them), under the versioned
// names those definitions match, and then runs `systemd-sysupdate
// update VERSION`, which writes the slots that are not running. Reboot
// runs `systemd-sysupdate reboot`, which reboots only if a newer version
// than the booted one is installed.
package sysupdate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"twincap/firmware/update"
	"twincap/internal/durable"
)

// Config says where sysupdate and its definitions are.
type Config struct {
	// Binary is systemd-sysupdate (Debian: /lib/systemd/systemd-sysupdate).
	Binary string
	// Definitions is the folder of transfer definitions (--definitions);
	// "" means sysupdate's own (/etc/sysupdate.d, ...).
	Definitions string
	// SourceDir is the folder the definitions' [Source] Path= names. It
	// belongs to the installer: anything in it is removed first.
	SourceDir string
	// Names maps each payload of a bundle to its file name in SourceDir,
	// with "@v" for the version, as the definitions' MatchPattern= wants
	// ("rootfs.img" -> "twincap_@v.root.img"). A bundle with a payload
	// not listed here is refused.
	Names    map[string]string
	Verifier update.Verifier
	// ESP is where the EFI system partition is mounted ("": /efi) and
	// BootCountVar the LoaderBootCountPath variable's file ("":
	// BootCountVar), for OnTrial; tests set them.
	ESP, BootCountVar string
}

// Installer runs systemd-sysupdate.
type Installer struct {
	cfg Config
	// Run runs a command and returns its combined output; tests replace
	// it.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

// New checks cfg.
func New(cfg Config) (*Installer, error) {
	switch {
	case cfg.Binary == "":
		return nil, errors.New("sysupdate: no binary")
	case cfg.SourceDir == "":
		return nil, errors.New("sysupdate: no source folder")
	case len(cfg.Names) == 0:
		return nil, errors.New("sysupdate: no payload names")
	case cfg.Verifier.Trust == nil:
		return nil, errors.New("sysupdate: no trusted keys")
	}
	for p, n := range cfg.Names {
		if !strings.Contains(n, "@v") || strings.ContainsRune(n, '/') {
			return nil, fmt.Errorf("sysupdate: name for %s %q: want a file name with @v", p, n)
		}
	}
	return &Installer{cfg: cfg, Run: run}, nil
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Install unpacks the bundle at path (verifying it again) into the source
// folder and has sysupdate install m.Version.
func (i *Installer) Install(ctx context.Context, path string, m update.Manifest) error {
	if err := i.clear(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sysupdate: %w", err)
	}
	defer f.Close()
	t := &versioned{names: i.cfg.Names, dir: &update.DirTarget{Dir: i.cfg.SourceDir}}
	got, err := i.cfg.Verifier.Install(f, t)
	if err != nil {
		return err
	}
	if got.Version != m.Version {
		return fmt.Errorf("sysupdate: the bundle holds %s, not %s", got.Version, m.Version)
	}
	args := []string{"--no-pager"}
	if i.cfg.Definitions != "" {
		args = append(args, "--definitions="+i.cfg.Definitions)
	}
	args = append(args, "update", m.Version)
	out, err := i.Run(ctx, i.cfg.Binary, args...)
	if err != nil {
		return fmt.Errorf("sysupdate: update %s: %w: %s", m.Version, err, lastLines(out, 5))
	}
	// The slots hold it now; the unpacked copy only takes room.
	return i.clear()
}

// Reboot reboots into the newest installed version.
func (i *Installer) Reboot(ctx context.Context) error {
	args := []string{"--no-pager"}
	if i.cfg.Definitions != "" {
		args = append(args, "--definitions="+i.cfg.Definitions)
	}
	out, err := i.Run(ctx, i.cfg.Binary, append(args, "reboot")...)
	if err != nil && GoingDown(ctx, err) {
		// The reboot began: systemd stops the daemon (its context ends)
		// or kills what is left, sysupdate's client among them, before
		// that client returns. Seen in the A/B VM.
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysupdate: reboot: %w: %s", err, lastLines(out, 5))
	}
	return nil
}

// GoingDown reports whether err, of a command that asked for a reboot,
// is that command ended by the shutdown it asked for rather than a
// failure: the caller's context ended, or the process died of SIGTERM or
// SIGKILL. Package tryboot's reboot is judged the same way.
func GoingDown(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGKILL
		}
	}
	return false
}

// clear empties the source folder.
func (i *Installer) clear() error {
	entries, err := os.ReadDir(i.cfg.SourceDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sysupdate: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(i.cfg.SourceDir, e.Name())); err != nil {
			return fmt.Errorf("sysupdate: %w", err)
		}
	}
	return nil
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// versioned is a Target that stores each payload under the name the
// transfer definitions match, with the bundle's version; the manifest is
// only known at Commit, so payloads are renamed there.
type versioned struct {
	names   map[string]string
	dir     *update.DirTarget
	payload []string
}

func (v *versioned) Write(p update.Payload, r io.Reader) error {
	if _, ok := v.names[p.Name]; !ok {
		return fmt.Errorf("sysupdate: the box has no slot for payload %q", p.Name)
	}
	v.payload = append(v.payload, p.Name)
	return v.dir.Write(p, r)
}

func (v *versioned) Commit(m update.Manifest) error {
	if err := v.dir.Commit(m); err != nil {
		return err
	}
	for _, name := range v.payload {
		to := strings.ReplaceAll(v.names[name], "@v", m.Version)
		if err := os.Rename(filepath.Join(v.dir.Dir, name), filepath.Join(v.dir.Dir, to)); err != nil {
			return err
		}
	}
	return durable.SyncDir(v.dir.Dir)
}

func (v *versioned) Abort() { v.dir.Abort() }
