//go:build linux

package vmtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"twincap/firmware/box"
)

// The A/B scenarios boot image/ab's disk under OVMF and update it through
// the remote path: a signed bundle served over HTTPS from the namespace
// (the guest reaches it as 10.0.2.2:8445), the box's update agent,
// systemd-sysupdate, systemd-boot's boot counting. They take several
// minutes each under TCG, so they run only with TWINCAP_VMTEST_AB=1
// (scripts/ab-test), not in make vm-test.
const (
	updateListen = "127.0.0.1:8445"
	updateVia    = "10.0.2.2:8445"
	abBoard      = "qemu-x86_64"
)

// abDir is image/ab/build's output (TWINCAP_AB_IMAGE, default out/ab).
func abDir(root string) string {
	if d := os.Getenv("TWINCAP_AB_IMAGE"); d != "" {
		return d
	}
	return filepath.Join(root, "out", "ab")
}

// newABScenario is newScenario with the A/B disk booted under OVMF and a
// box.toml whose [update] section points at the namespace's update
// source.
func newABScenario(t *testing.T) *scenario {
	t.Helper()
	if os.Getenv("TWINCAP_VMTEST_AB") != "1" {
		t.Skip("the A/B update scenarios take minutes each: run them with scripts/ab-test (TWINCAP_VMTEST_AB=1)")
	}
	requireTool(t, "sfdisk", "fdisk")
	sc := newScenario(t)
	ab := abDir(sc.root)
	if _, err := os.Stat(filepath.Join(ab, "disk.img")); err != nil {
		t.Fatalf("no A/B disk in %s: run make ab-image (%v)", ab, err)
	}
	sc.vm.Quit()
	os.Remove(sc.vm.Overlay)
	conf := filepath.Join(sc.dir, "box.toml")
	if err := os.WriteFile(conf, []byte(abBoxTOML(sc.root)), 0o644); err != nil {
		t.Fatal(err)
	}
	vm, err := NewVM(VMConfig{Dir: sc.dir, NS: sc.ns, UEFI: &UEFI{Disk: filepath.Join(ab, "disk.img")},
		Files: map[string]string{"ca.pem": sc.room.CAFile(), "box.toml": conf}})
	if err != nil {
		t.Fatal(err)
	}
	sc.vm = vm
	// A download, an install and up to four reboots under TCG: more than
	// newScenario's 10 minutes.
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Minute)
	t.Cleanup(cancel)
	sc.ctx = ctx
	return sc
}

// abBoxTOML is the image's box.toml (test pattern and tone) with remote
// updates from the namespace, checked every minute.
func abBoxTOML(root string) string {
	b, _ := os.ReadFile(filepath.Join(root, "image", "rootfs", "etc", "twincap", "box.toml"))
	s := strings.NewReplacer("@PREFERRED@", PreferredVia, "@REDUNDANT@", RedundantVia,
		"@CAMERA@", "testpattern", "@MICROPHONE@", "tone").Replace(string(b))
	return s + fmt.Sprintf(`
[update]
source = "https://%s/"
ca_file = "/etc/twincap/ca.pem"
public_keys = ["/etc/twincap/update-keys/dev.pub"]
board = %q
check_interval = "1m"
`, updateVia, abBoard)
}

// bundle signs version v of out/ab (its root and UKI) into the folder
// the update server serves, with scripts/update-bundle.
func (sc *scenario) bundle(v string) string {
	sc.t.Helper()
	src := filepath.Join(sc.dir, "source")
	ab := abDir(sc.root)
	cmd := exec.Command("./scripts/update-bundle")
	cmd.Dir = sc.root
	cmd.Env = append(os.Environ(), "UPDATE_ROOTFS="+filepath.Join(ab, v, "rootfs.img.gz"), "UPDATE_UKI="+filepath.Join(ab, v, "twincap.efi"),
		"UPDATE_VERSION="+v, "UPDATE_BOARD="+abBoard, "UPDATE_OUT="+src)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		sc.fatal("update-bundle %s: %v\n%s", v, err, out)
	}
	sc.t.Logf("bundle %s signed in %.1f s", v, time.Since(start).Seconds())
	return src
}

// audited reports whether both servers' audit trails hold the box's
// update report of event for version.
func (sc *scenario) audited(event, version string) bool {
	re := regexp.MustCompile(`^report \S+: ` + regexp.QuoteMeta(event) + `; running [0-9.]+; version ` + regexp.QuoteMeta(version) + `(;|$)`)
	for _, s := range sc.room.Servers {
		details, err := s.UpdateAudit()
		if err != nil {
			return false
		}
		if !slices.ContainsFunc(details, re.MatchString) {
			return false
		}
	}
	return true
}

// waitAudited waits until both servers have audited each of events for
// version.
func (sc *scenario) waitAudited(version string, d time.Duration, events ...string) time.Duration {
	sc.t.Helper()
	return sc.waitFor(fmt.Sprintf("both servers' audit trails to hold %v of %s", events, version), d, func() bool {
		for _, e := range events {
			if !sc.audited(e, version) {
				return false
			}
		}
		return true
	})
}

// serveUpdates serves dir over HTTPS inside the namespace with the room's
// server certificate (valid for 10.0.2.2).
func (sc *scenario) serveUpdates(dir string) {
	sc.t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(sc.room.RoomDir, "server.pem"), filepath.Join(sc.room.RoomDir, "server.key"))
	if err != nil {
		sc.t.Fatal(err)
	}
	ln, err := sc.ns.Listen("tcp", updateListen)
	if err != nil {
		sc.t.Fatal(err)
	}
	log := filepath.Join(sc.dir, "update-server.log")
	srv := &http.Server{Handler: logged(log, http.FileServer(http.Dir(dir))), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	sc.t.Cleanup(func() { srv.Close() })
}

func logged(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s %s %s\n", time.Now().UTC().Format(time.RFC3339), r.Method, r.URL.Path)
			f.Close()
		}
		h.ServeHTTP(w, r)
	})
}

// maintenanceAllDay gives both servers a maintenance window covering the
// whole day, through an administrator of their own.
func (sc *scenario) maintenanceAllDay() {
	sc.t.Helper()
	bin := buildServer(sc.t, sc.root)
	for _, s := range sc.room.Servers {
		steps := [][]string{
			{"useradd", "-config", s.Config, "-user", "boss"},
			{"usermod", "-config", s.Config, "-user", "boss", "-admin=true"},
			{"settings", "-config", s.Config, "-user", "boss", "-addr", s.Listen, "patch", `{"maintenance":[{"start":"00:00","length":"24h"}]}`},
		}
		for _, a := range steps {
			cmd := sc.ns.Command(bin, a...)
			cmd.Stdin = strings.NewReader(Password + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				sc.fatal("%s on %s: %v: %s", a[0], s.Name, err, out)
			}
		}
	}
}

// guest runs a command in the guest's root shell.
func (sc *scenario) guest(command string) string {
	sc.t.Helper()
	ctx, cancel := context.WithTimeout(sc.ctx, 30*time.Second)
	defer cancel()
	out, rc, err := sc.vm.Shell(ctx, command)
	if err != nil {
		sc.fatal("guest %q: %v", command, err)
	}
	if rc != 0 {
		sc.t.Logf("guest %q: exit %d: %s", command, rc, out)
	}
	return out
}

// running is the IMAGE_VERSION the guest booted.
func (sc *scenario) running() string {
	out := sc.guest(". /etc/os-release; echo \"v=$IMAGE_VERSION\"")
	m := regexp.MustCompile(`v=([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// ukis lists the ESP's boot entries (EFI/Linux).
func (sc *scenario) ukis() []string {
	out := strings.ReplaceAll(sc.guest("ls -1 /efi/EFI/Linux/"), "\r", "")
	// Whole lines: a temporary file sysupdate left (.#sysupdate...) is
	// no boot entry.
	return regexp.MustCompile(`(?m)^twincap_[0-9.]+(\+[0-9]+(-[0-9]+)?)?\.efi$`).FindAllString(out, -1)
}

// waitUpdate waits until the update agent's status satisfies ok.
func (sc *scenario) waitUpdate(what string, d time.Duration, ok func(box.Status) bool) time.Duration {
	sc.t.Helper()
	return sc.waitFor(what, d, func() bool {
		st, up := sc.status()
		return up && st.Update != nil && ok(st)
	})
}

// waitGuestStart waits until the guest's systemd has started n times in
// this QEMU (a reboot does not end QEMU).
func (sc *scenario) waitGuestStart(n int, d time.Duration) time.Duration {
	sc.t.Helper()
	return sc.waitFor(fmt.Sprintf("guest start %d", n), d, func() bool {
		return sc.vm.GuestStarts(sc.vm.Boots()) >= n
	})
}

// bootAB boots the factory disk and checks what it booted: version 0.1.0
// from slot A through systemd-boot, the other slot free.
func (sc *scenario) bootAB() (api, ready time.Duration) {
	api, ready = sc.boot(true)
	if v := sc.running(); v != "0.1.0" {
		sc.fatal("booted %q, want the factory version 0.1.0", v)
	}
	out := sc.guest("cat /proc/cmdline; ls /dev/disk/by-partlabel/; bootctl status --no-pager 2>&1 | grep -E 'Product|Current Entry|Boot loader sets|Partition'")
	for _, want := range []string{"root=PARTLABEL=twincap_0.1.0", "_empty", "systemd-boot"} {
		if !strings.Contains(out, want) {
			sc.fatal("the factory boot: %q not in\n%s", want, out)
		}
	}
	return api, ready
}

// TestABUpdate: the box finds 0.2.0 at the update source, installs it in
// the free slot through systemd-sysupdate, reboots, comes up on 0.2.0 and
// systemd-bless-boot marks it good (the UKI loses its try counter).
func TestABUpdate(t *testing.T) {
	sc := newABScenario(t)
	sc.serveUpdates(sc.bundle("0.2.0"))
	sc.maintenanceAllDay()
	api, ready := sc.bootAB()
	if u := sc.ukis(); !slices.Equal(u, []string{"twincap_0.1.0.efi"}) {
		sc.fatal("factory ESP entries %v", u)
	}
	sc.login()
	loggedIn := time.Now()
	sc.waitUpdate("the agent to take 0.2.0", 4*time.Minute, func(st box.Status) bool {
		return st.Update.Offered == "0.2.0" || st.Update.State == "installing" || st.Update.State == "rebooting"
	})
	offered := time.Since(loggedIn)
	sc.waitGuestStart(2, 8*time.Minute)
	rebootAt := time.Now()
	installed := rebootAt.Sub(loggedIn)
	sc.waitFor("the box's control API on the new slot", 4*time.Minute, func() bool {
		_, ok := sc.status()
		return ok
	})
	newAPI := time.Since(rebootAt)
	if v := sc.running(); v != "0.2.0" {
		sc.fatal("after the update the box runs %q, want 0.2.0", v)
	}
	blessed := sc.waitFor("0.2.0 marked good (twincap_0.2.0.efi)", 3*time.Minute, func() bool {
		return slices.Contains(sc.ukis(), "twincap_0.2.0.efi")
	})
	st, _ := sc.status()
	if st.Update == nil || st.Update.Current != "0.2.0" || !strings.Contains(st.Update.Last, "updated to 0.2.0") {
		sc.fatal("update status after the update: %+v", st.Update)
	}
	out := sc.guest("ls /dev/disk/by-partlabel/; cat /proc/cmdline; systemctl is-active boot-complete.target twincap-selftest.service systemd-bless-boot.service")
	if !strings.Contains(out, "twincap_0.1.0") || !strings.Contains(out, "root=PARTLABEL=twincap_0.2.0") {
		sc.fatal("slots after the update:\n%s", out)
	}
	// Both servers' audit trails: the install and the reboot (reported
	// on 0.1.0, or after the reboot if the servers had not taken them
	// yet) and, from 0.2.0, that the update took.
	audited := sc.waitAudited("0.2.0", 2*time.Minute, "installing", "rebooting", "updated")
	sc.result(fmt.Sprintf("uefi_boot_to_api=%.1fs uefi_boot_to_ready=%.1fs login_to_offer=%.1fs login_to_reboot=%.1fs reboot_to_api=%.1fs api_to_blessed=%.1fs blessed_to_audited=%.1fs entries=%v",
		api.Seconds(), ready.Seconds(), offered.Seconds(), installed.Seconds(), newAPI.Seconds(), blessed.Seconds(), audited.Seconds(), sc.ukis()))
}

// TestABRollback: 0.3.0's daemon never becomes ready. The self-test fails
// at each of its three tries, and systemd-boot goes back to 0.1.0 by
// itself; the agent then records 0.3.0 as bad and says so.
func TestABRollback(t *testing.T) {
	sc := newABScenario(t)
	sc.serveUpdates(sc.bundle("0.3.0"))
	sc.maintenanceAllDay()
	sc.bootAB()
	sc.login()
	loggedIn := time.Now()
	sc.waitGuestStart(2, 8*time.Minute)
	rebootAt := time.Now()
	sc.t.Logf("0.3.0 installed; rebooting into it %.1f s after the login", rebootAt.Sub(loggedIn).Seconds())
	// Three tries of 0.3.0, then 0.1.0 again: five starts in all.
	sc.waitGuestStart(5, 12*time.Minute)
	back := sc.waitUpdate("0.1.0 again, with 0.3.0 recorded as bad", 4*time.Minute, func(st box.Status) bool {
		return st.Update.Current == "0.1.0" && slices.Contains(st.Update.Bad, "0.3.0")
	})
	rollback := time.Since(rebootAt)
	if v := sc.running(); v != "0.1.0" {
		sc.fatal("after the rollback the box runs %q", v)
	}
	st, _ := sc.status()
	u := sc.ukis()
	if !slices.Contains(u, "twincap_0.1.0.efi") || !slices.ContainsFunc(u, func(s string) bool { return strings.HasPrefix(s, "twincap_0.3.0+0-") }) {
		sc.fatal("ESP entries after the rollback: %v", u)
	}
	if !strings.Contains(st.Update.Reason+st.Update.Last, "0.3.0 did not come up") {
		sc.fatal("the status does not say why: %+v", st.Update)
	}
	sc.result(fmt.Sprintf("reboot_into_0.3.0_to_back_on_0.1.0=%.1fs (ready after back: %.1fs) guest_starts=%d entries=%v reason=%q",
		rollback.Seconds(), back.Seconds(), sc.vm.GuestStarts(sc.vm.Boots()), u, st.Update.Reason))
}

// bundleTool builds twincap-bundle once per test binary.
func bundleTool(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(root, "out", "vmtest", "bin", "twincap-bundle")
	cmd := exec.Command("go", "build", "-o", bin, "./firmware/cmd/twincap-bundle")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build twincap-bundle: %v\n%s", err, out)
	}
	return bin
}

// writeIndex writes the index.json of bundle file name in dir, as the
// unsigned index of a source would say it (size and hash of the file as
// it is).
func writeIndex(t *testing.T, dir, name, version, board string) {
	t.Helper()
	sum, err := fileSum(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"version":%q,"compatible":%q,"bundle":%q,"size":%d,"sha256":%q}`, version, board, name, fi.Size(), sum)
	if err := os.WriteFile(filepath.Join(dir, "index.json.tmp"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "index.json.tmp"), filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
}

// TestABRefused offers three bundles the box must refuse before anything
// is written: one signed by a key the box does not trust, a truncated one
// (with an index that matches it, so only the bundle's own checks can
// tell), and one signed for another board (with an index that claims this
// one). Each time the box keeps running and its status says why; at the
// end slot B is still _empty and the ESP holds only 0.1.0.
func TestABRefused(t *testing.T) {
	sc := newABScenario(t)
	tool := bundleTool(t, sc.root)
	key := filepath.Join(sc.root, "out", "update", "dev.key")
	rogue := filepath.Join(sc.dir, "rogue")
	if out, err := exec.Command(tool, "keygen", "-out", rogue).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v: %s", err, out)
	}
	payloads := filepath.Join(sc.dir, "payloads")
	if err := os.MkdirAll(payloads, 0o755); err != nil {
		t.Fatal(err)
	}
	root := make([]byte, 4<<20)
	for i := range root {
		root[i] = byte(i*7 + i>>9)
	}
	_ = os.WriteFile(filepath.Join(payloads, "rootfs.img"), root, 0o644)
	_ = os.WriteFile(filepath.Join(payloads, "twincap.efi"), root[:256<<10], 0o644)
	src := filepath.Join(sc.dir, "source")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	create := func(version, board, signer string) string {
		name := "twincap-" + version + ".tcb"
		out, err := exec.Command(tool, "create", "-key", signer, "-version", version, "-board", board, "-out", filepath.Join(src, name),
			"rootfs.img="+filepath.Join(payloads, "rootfs.img"), "twincap.efi="+filepath.Join(payloads, "twincap.efi")).CombinedOutput()
		if err != nil {
			t.Fatalf("create %s: %v: %s", version, err, out)
		}
		return name
	}
	cases := []struct {
		what, version, want string
		offer               func(v string) string
	}{
		{"signed by an unknown key", "0.4.0", "unknown key", func(v string) string {
			return create(v, abBoard, rogue+".key")
		}},
		{"truncated", "0.5.0", "truncated", func(v string) string {
			name := create(v, abBoard, key)
			p := filepath.Join(src, name)
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
			return name
		}},
		{"for another board", "0.6.0", "another board", func(v string) string {
			return create(v, "other-board", key)
		}},
	}
	sc.serveUpdates(src)
	sc.maintenanceAllDay()
	sc.bootAB()
	sc.login()
	var figures []string
	for _, c := range cases {
		name := c.offer(c.version)
		// The index claims this board and matches the file as served.
		writeIndex(t, src, name, c.version, abBoard)
		offered := time.Now()
		sc.waitUpdate("the box to refuse the bundle "+c.what, 5*time.Minute, func(st box.Status) bool {
			return st.Update.State == "failed" && strings.Contains(st.Update.Reason, name)
		})
		st, _ := sc.status()
		if !strings.Contains(st.Update.Reason, c.want) {
			sc.fatal("bundle %s: the status says %q, want it to say %q", c.what, st.Update.Reason, c.want)
		}
		if st.Phase != "idle" || st.Room != "connected" {
			sc.fatal("after refusing the bundle %s the box is %s, room %s", c.what, st.Phase, st.Room)
		}
		figures = append(figures, fmt.Sprintf("%s: refused %.0fs after the offer: %q", c.what, time.Since(offered).Seconds(), st.Update.Reason))
	}
	if v := sc.running(); v != "0.1.0" {
		sc.fatal("the box runs %q after three refused bundles", v)
	}
	out := sc.guest("ls /dev/disk/by-partlabel/; ls -A /var/lib/twincap/sysupdate-source 2>/dev/null | wc -l; systemctl is-active twincap-box.service")
	if !strings.Contains(out, "_empty") || !strings.Contains(out, "active") {
		sc.fatal("after the refusals:\n%s", out)
	}
	if u := sc.ukis(); !slices.Equal(u, []string{"twincap_0.1.0.efi"}) {
		sc.fatal("ESP entries after the refusals: %v", u)
	}
	sc.result(strings.Join(figures, "; "))
}

// TestABUpdateWaitsForTheInterview: 0.2.0 is offered while an interview
// runs. The box neither installs nor reboots until the interview has
// stopped and both servers hold it finalized; then it updates, and the
// recording is whole on both servers.
func TestABUpdateWaitsForTheInterview(t *testing.T) {
	sc := newABScenario(t)
	sc.serveUpdates(sc.bundle("0.2.0"))
	sc.maintenanceAllDay()
	sc.bootAB()
	sc.login()
	id, started := sc.start()
	// Two checks' worth (check_interval 1m, the agent re-evaluates every
	// 30 s): the agent must be waiting, not installing.
	sc.sleep(150 * time.Second)
	st, _ := sc.status()
	if st.Phase != "recording" || st.Update == nil || (st.Update.State != "waiting" && st.Update.State != "idle") {
		sc.fatal("during the interview: phase %s, update %+v", st.Phase, st.Update)
	}
	if sc.vm.GuestStarts(sc.vm.Boots()) != 1 {
		sc.fatal("the box rebooted during the interview")
	}
	reason := st.Update.Reason
	stopped := sc.stop(id)
	delivered := sc.waitDelivered(id, 3*time.Minute)
	deliveredAt := time.Now()
	sc.waitGuestStart(2, 10*time.Minute)
	rebootAt := time.Now()
	if rebootAt.Before(deliveredAt.Add(-time.Second)) {
		sc.fatal("the box rebooted before the recording was delivered")
	}
	sc.waitFor("the box's control API on the new slot", 4*time.Minute, func() bool {
		_, ok := sc.status()
		return ok
	})
	if v := sc.running(); v != "0.2.0" {
		sc.fatal("after the interview the box updated to %q, want 0.2.0", v)
	}
	p, _ := sc.checkRecording(id)
	sc.result(fmt.Sprintf("interview=%.0fs while_recording=%q delivered_after_stop=%.1fs delivered_to_reboot=%.0fs recorded=%.1fs",
		stopped.Sub(started).Seconds(), reason, delivered.Seconds(), rebootAt.Sub(deliveredAt).Seconds(), p.Duration))
}
