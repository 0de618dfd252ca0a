package updater

import (
	"context"
	"crypto/ecdsa"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twincap/firmware/update"
	"twincap/firmware/updater/updatertest"
	"twincap/server/settings"
	"twincap/server/wire"
)

// clock is moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }
func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// room stands for the box: what it owes, and the servers' settings.
type room struct {
	mu        sync.Mutex
	interview bool
	owed      []string
	settings  settings.Settings
	asked     int // calls of window: each costs the box requests to the servers
}

func (r *room) hold() Hold {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Hold{Interview: r.interview, Owed: append([]string(nil), r.owed...)}
}

func (r *room) set(interview bool, owed ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.interview, r.owed = interview, owed
}

func (r *room) window(_ context.Context, now time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked++
	return r.settings.InMaintenance(now), nil
}

// source is an HTTPS update source on loopback that counts what it is
// asked for.
type source struct {
	srv      *httptest.Server
	dir      string
	index    atomic.Int64
	bundles  atomic.Int64
	caFile   string
	releaseK *ecdsa.PrivateKey
}

func newSource(t *testing.T) *source {
	t.Helper()
	s := &source{dir: t.TempDir()}
	// The source serves its files at /updates/.
	files := http.StripPrefix("/updates", http.FileServer(http.Dir(s.dir)))
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, update.IndexName) {
			s.index.Add(1)
		} else {
			s.bundles.Add(1)
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(s.caFile, pemCert, 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.releaseK, err = update.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	return s
}

// publish signs a bundle of version for board with key and makes it the
// source's current one.
func (s *source) publish(t *testing.T, key *ecdsa.PrivateKey, version, board string) update.Index {
	t.Helper()
	payload := filepath.Join(t.TempDir(), "rootfs.img")
	if err := os.WriteFile(payload, []byte(strings.Repeat("root file system "+version+"\n", 4000)), 0o644); err != nil {
		t.Fatal(err)
	}
	name := "twincap-" + version + "-" + board + ".tcb"
	f, err := os.Create(filepath.Join(s.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := update.Build(f, key, update.Manifest{Version: version, Compatible: board}, []update.File{{Name: "rootfs.img", Path: payload}}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	size, sum := hashOf(t, filepath.Join(s.dir, name))
	ix := update.Index{Version: version, Compatible: board, Bundle: name, Size: size, SHA256: sum}
	s.writeIndex(t, ix)
	return ix
}

func (s *source) writeIndex(t *testing.T, ix update.Index) {
	t.Helper()
	data := `{"version":"` + ix.Version + `","compatible":"` + ix.Compatible + `","bundle":"` + ix.Bundle +
		`","size":` + itoa(ix.Size) + `,"sha256":"` + ix.SHA256 + `"}`
	if err := os.WriteFile(filepath.Join(s.dir, update.IndexName), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rig is an agent for a box on board rpi4-64 running 1.3.0, whose room's
// maintenance window is 02:00-04:00 every day.
type rig struct {
	clock     *clock
	room      *room
	src       *source
	installer *updatertest.Installer
	// trial, if set, is the installer instead (its Installer is installer):
	// one that tells whether the slot is on trial.
	trial   *updatertest.TrialInstaller
	agent   *Agent
	stage   string
	mu      sync.Mutex
	reports []wire.UpdateReport // what the agent reported for the audit (under mu)
}

var night = time.Date(2026, 11, 25, 2, 30, 0, 0, time.UTC) // inside the window
var noon = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)  // outside

func newRig(t *testing.T, start time.Time) *rig {
	t.Helper()
	r := &rig{clock: &clock{now: start}, src: newSource(t), installer: &updatertest.Installer{}, stage: t.TempDir()}
	r.room = &room{settings: settings.Settings{Maintenance: []settings.Window{{Start: 2 * 60, Length: settings.Duration(2 * time.Hour)}}}}
	r.restart(t, "1.3.0")
	return r
}

// restart makes a new agent on the same stage folder, as the daemon does
// after a reboot, running version current.
func (r *rig) restart(t *testing.T, current string) {
	t.Helper()
	trust, err := update.NewTrust(&r.src.releaseK.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	httpc, err := NewHTTPClient(r.src.caFile)
	if err != nil {
		t.Fatal(err)
	}
	var inst Installer = r.installer
	if r.trial != nil {
		inst = r.trial
	}
	r.agent, err = New(Config{
		Source: r.src.srv.URL + "/updates", Board: "rpi4-64", Current: current,
		Interval: time.Hour, StageDir: r.stage, Trust: trust,
	}, Deps{
		Now: r.clock.Now, Window: r.room.window, Hold: r.room.hold, Installer: inst,
		HTTP: httpc, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Report: func(u wire.UpdateReport) { r.mu.Lock(); r.reports = append(r.reports, u); r.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (r *rig) step(t *testing.T) Status {
	t.Helper()
	r.agent.Step(context.Background())
	return r.agent.Status()
}

func want(t *testing.T, s Status, state State, reason string) {
	t.Helper()
	if s.State != state.String() || !strings.Contains(s.Reason, reason) {
		t.Fatalf("status %+v, want %s (%q)", s, state, reason)
	}
}

func TestOfferDuringAnInterviewWaitsForTheEndAndForWhatIsOwed(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	r.room.set(true)
	want(t, r.step(t), Waiting, "check waits: an interview is running")
	r.clock.Advance(10 * time.Minute)
	want(t, r.step(t), Waiting, "an interview is running")
	if n := r.src.index.Load() + r.src.bundles.Load(); n != 0 {
		t.Fatalf("the source was asked %d times during the interview", n)
	}
	// The interview stops; its recording is not yet on both servers.
	r.room.set(false, "room-20261125-0230-ab")
	s := r.step(t)
	want(t, s, Waiting, "install waits: 1 recording is not yet held whole by every server")
	if s.Offered != "1.4.0" || r.src.bundles.Load() != 1 {
		t.Fatalf("offer %q, %d bundle downloads", s.Offered, r.src.bundles.Load())
	}
	if inst, boots := r.installer.Calls(); len(inst) != 0 || boots != 0 {
		t.Fatalf("installed %v, rebooted %d while a recording is owed", inst, boots)
	}
	// A new interview starts before the servers caught up.
	r.room.set(true, "room-20261125-0230-ab")
	want(t, r.step(t), Waiting, "an interview is running")
	r.room.set(false)
	want(t, r.step(t), Rebooting, "")
	inst, boots := r.installer.Calls()
	if len(inst) != 1 || inst[0] != "1.4.0" || boots != 1 {
		t.Fatalf("installed %v, rebooted %d", inst, boots)
	}
	if r.src.bundles.Load() != 1 {
		t.Errorf("the bundle was downloaded %d times", r.src.bundles.Load())
	}
	if !r.agent.Status().Updating() {
		t.Error("rebooting into the update does not light the update pattern")
	}
}

func TestOutsideTheWindowNothingIsDownloaded(t *testing.T) {
	r := newRig(t, noon)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	for range 14 { // 12:00 to 01:00
		want(t, r.step(t), Waiting, "outside the room's maintenance window")
		r.clock.Advance(time.Hour)
	}
	if n := r.src.index.Load() + r.src.bundles.Load(); n != 0 {
		t.Fatalf("the source was asked %d times outside the window", n)
	}
	r.clock.Set(night.AddDate(0, 0, 1))
	want(t, r.step(t), Rebooting, "")
	// The window closes after the download but before the install.
	r2 := newRig(t, night)
	r2.src.publish(t, r2.src.releaseK, "1.4.0", "rpi4-64")
	r2.room.mu.Lock()
	r2.room.settings.Maintenance[0].Length = settings.Duration(30*time.Minute + time.Nanosecond)
	r2.room.mu.Unlock()
	r2.room.set(false, "owed")
	want(t, r2.step(t), Waiting, "recording is not yet held whole")
	r2.room.set(false)
	r2.clock.Advance(time.Minute)
	want(t, r2.step(t), Waiting, "install waits: outside the room's maintenance window")
	if inst, _ := r2.installer.Calls(); len(inst) != 0 {
		t.Fatalf("installed outside the window: %v", inst)
	}
}

func TestFailedVerificationKeepsTheBoxRunningAndSaysWhy(t *testing.T) {
	other, _ := update.GenerateKey()
	cases := []struct {
		name    string
		publish func(r *rig)
		says    string
	}{
		{"signed by an unknown key", func(r *rig) { r.src.publish(t, other, "1.4.0", "rpi4-64") }, "signed by an unknown key"},
		{"for another board", func(r *rig) {
			ix := r.src.publish(t, r.src.releaseK, "1.4.0", "qemu-x86_64")
			ix.Compatible = "rpi4-64" // the index lies; the signed manifest does not
			r.src.writeIndex(t, ix)
		}, "bundle is for another board"},
		{"truncated in transfer", func(r *rig) {
			ix := r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
			path := filepath.Join(r.src.dir, ix.Bundle)
			if err := os.Truncate(path, ix.Size-5000); err != nil {
				t.Fatal(err)
			}
		}, "got 90744 bytes, the index says 95744"},
		{"an older signed bundle", func(r *rig) {
			ix := r.src.publish(t, r.src.releaseK, "1.2.0", "rpi4-64")
			ix.Version = "1.9.0"
			r.src.writeIndex(t, ix)
		}, "it holds version 1.2.0, the index says 1.9.0"},
		{"index for another board", func(r *rig) { r.src.publish(t, r.src.releaseK, "1.4.0", "qemu-x86_64") }, `offers a bundle for "qemu-x86_64"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, night)
			c.publish(r)
			s := r.step(t)
			want(t, s, Failed, c.says)
			if inst, boots := r.installer.Calls(); len(inst) != 0 || boots != 0 {
				t.Fatalf("installed %v, rebooted %d", inst, boots)
			}
			left, _ := os.ReadDir(r.stage)
			if len(left) != 0 {
				t.Errorf("the refused bundle is still staged: %v", left)
			}
			// No retry before the interval; then it tries again.
			asked := r.src.index.Load()
			r.clock.Advance(30 * time.Minute)
			want(t, r.step(t), Failed, c.says)
			if r.src.index.Load() != asked {
				t.Error("checked again before the interval")
			}
			r.clock.Advance(31 * time.Minute)
			r.step(t)
			if r.src.index.Load() != asked+1 {
				t.Error("did not check again after the interval")
			}
		})
	}
}

func TestNothingNewerStaysIdle(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.3.0", "rpi4-64")
	want(t, r.step(t), Idle, "")
	asked := r.room.asked
	for range 10 {
		r.clock.Advance(5 * time.Minute)
		want(t, r.step(t), Idle, "")
	}
	if r.room.asked != asked || r.src.index.Load() != 1 {
		t.Errorf("before the next check: %d window reads, %d index reads", r.room.asked-asked, r.src.index.Load())
	}
	r.clock.Advance(10 * time.Minute)
	r.step(t)
	if r.src.index.Load() != 2 {
		t.Errorf("no check after the interval: %d index reads", r.src.index.Load())
	}
	if r.src.bundles.Load() != 0 || r.agent.Status().CheckedAt.IsZero() {
		t.Errorf("downloaded %d bundles; checked at %s", r.src.bundles.Load(), r.agent.Status().CheckedAt)
	}
}

func TestInstallerFailureIsShown(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	r.installer.FailInstall = errors.New("sysupdate: no free slot")
	want(t, r.step(t), Failed, "install 1.4.0: sysupdate: no free slot")
	if r.agent.Status().Updating() {
		t.Error("a failed install keeps the update pattern lit")
	}
}

func TestNewRefusesAPlainHTTPSource(t *testing.T) {
	k, _ := update.GenerateKey()
	trust, _ := update.NewTrust(&k.PublicKey)
	_, err := New(Config{Source: "http://updates.example/", Board: "rpi4-64", Current: "1.0", Interval: time.Hour, StageDir: "x", Trust: trust},
		Deps{Window: func(context.Context, time.Time) (bool, error) { return true, nil }, Hold: func() Hold { return Hold{} }, Installer: &updatertest.Installer{}})
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("New with http: %v", err)
	}
}

func TestAfterTheRebootTheAgentKnowsWhetherTheUpdateTook(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	want(t, r.step(t), Rebooting, "")
	r.clock.Advance(3 * time.Minute)
	r.restart(t, "1.4.0") // the new slot came up
	s := r.agent.Status()
	if s.State != Idle.String() || s.Last != "updated to 1.4.0" || len(s.Bad) != 0 {
		t.Fatalf("after a good update: %+v", s)
	}
	want(t, r.step(t), Idle, "")
	if inst, _ := r.installer.Calls(); len(inst) != 1 {
		t.Errorf("installed again: %v", inst)
	}
}

func TestARolledBackVersionIsNotInstalledAgain(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	want(t, r.step(t), Rebooting, "")
	r.clock.Advance(4 * time.Minute)
	r.restart(t, "1.3.0") // the boot loader went back to the old slot
	s := r.agent.Status()
	want(t, s, Failed, "1.4.0 did not come up; the box went back to 1.3.0 (4m0s after the reboot into it)")
	if len(s.Bad) != 1 || s.Bad[0] != "1.4.0" {
		t.Fatalf("bad versions %v", s.Bad)
	}
	// At the next check the source still offers 1.4.0: not again.
	downloads := r.src.bundles.Load()
	r.clock.Set(night.AddDate(0, 0, 1))
	want(t, r.step(t), Idle, "")
	if r.src.bundles.Load() != downloads {
		t.Fatal("the version that did not come up was downloaded again")
	}
	// It is remembered across another restart.
	r.restart(t, "1.3.0")
	if s := r.agent.Status(); len(s.Bad) != 1 || s.State != Idle.String() {
		t.Fatalf("after another restart: %+v", s)
	}
	// A fixed, newer version is installed.
	r.src.publish(t, r.src.releaseK, "1.4.1", "rpi4-64")
	want(t, r.step(t), Rebooting, "")
	if inst, boots := r.installer.Calls(); len(inst) != 2 || inst[1] != "1.4.1" || boots != 2 {
		t.Fatalf("installed %v, rebooted %d", inst, boots)
	}
}

func TestAFailedRebootIsNotTakenForARollback(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	r.installer.FailReboot = errors.New("systemctl: access denied")
	want(t, r.step(t), Failed, "reboot into 1.4.0: systemctl: access denied")
	r.restart(t, "1.3.0")
	if s := r.agent.Status(); s.State != Idle.String() || len(s.Bad) != 0 {
		t.Fatalf("after a reboot that never happened: %+v", s)
	}
}

// events lists the reports since the last call as "event version: reason".
func (r *rig) events() []string {
	var out []string
	for _, u := range r.takeReports() {
		out = append(out, strings.TrimSuffix(u.Event+" "+u.Version+": "+u.Reason, ": "))
	}
	return out
}

// takeReports is the reports since the last call.
func (r *rig) takeReports() []wire.UpdateReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reports
	r.reports = nil
	return out
}

// The room servers' audit trails hear each step of an update: the install,
// the reboot, and after it whether the update took or the box went back;
// a bundle refused (once, not at every check while the source offers it);
// a failed install. A source that does not answer is not an audit matter.
func TestEachStepIsReportedForTheAudit(t *testing.T) {
	t.Run("updated", func(t *testing.T) {
		r := newRig(t, night)
		r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		want(t, r.step(t), Rebooting, "")
		r.clock.Advance(2 * time.Minute)
		r.restart(t, "1.4.0")
		got := r.events()
		if len(got) != 3 || got[0] != "installing 1.4.0" || got[1] != "rebooting 1.4.0" || got[2] != "updated 1.4.0: 2m0s after the reboot" {
			t.Fatalf("reports %q", got)
		}
	})
	t.Run("rolled back", func(t *testing.T) {
		r := newRig(t, night)
		r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		r.step(t)
		r.events()
		r.restart(t, "1.3.0")
		got := r.events()
		if len(got) != 1 || !strings.HasPrefix(got[0], "rolled_back 1.4.0: 1.4.0 did not come up") {
			t.Fatalf("reports %q", got)
		}
	})
	t.Run("refused once", func(t *testing.T) {
		r := newRig(t, night)
		other, _ := update.GenerateKey()
		r.src.publish(t, other, "1.4.0", "rpi4-64")
		want(t, r.step(t), Failed, "unknown key")
		r.clock.Advance(61 * time.Minute)
		want(t, r.step(t), Failed, "unknown key")
		got := r.events()
		if len(got) != 1 || !strings.HasPrefix(got[0], "refused 1.4.0: verify") || !strings.Contains(got[0], "unknown key") {
			t.Fatalf("reports %q", got)
		}
		r.src.publish(t, r.src.releaseK, "1.5.0", "qemu-x86_64") // another board, in the index
		r.clock.Set(night.AddDate(0, 0, 1))
		want(t, r.step(t), Failed, "qemu-x86_64")
		if got := r.events(); len(got) != 1 || !strings.HasPrefix(got[0], "refused") {
			t.Fatalf("reports %q", got)
		}
	})
	t.Run("install failed", func(t *testing.T) {
		r := newRig(t, night)
		r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		r.installer.FailInstall = errors.New("sysupdate: no free slot")
		r.step(t)
		if got := r.events(); len(got) != 2 || got[0] != "installing 1.4.0" || !strings.HasPrefix(got[1], "failed 1.4.0: install 1.4.0: sysupdate: no free slot") {
			t.Fatalf("reports %q", got)
		}
	})
	t.Run("source away", func(t *testing.T) {
		r := newRig(t, night)
		r.src.srv.Close()
		want(t, r.step(t), Failed, "source")
		if got := r.events(); len(got) != 0 {
			t.Fatalf("reports %q", got)
		}
	})
}

// bring copies the source's bundle of ix into the stage folder, as the box
// does with one a technician uploads.
func (r *rig) bring(t *testing.T, ix update.Index) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.src.dir, ix.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.stage, "by-hand.tcb")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runAgent runs the agent as the daemon does, until the test ends.
func (r *rig) runAgent(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.agent.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitAgent(t *testing.T, a *Agent, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s := a.Status(); ok(s) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %+v", what, a.Status())
	return Status{}
}

// A bundle brought by hand is checked like a downloaded one and refused
// with the reason; a good one is installed outside the maintenance window
// (the technician is there), but still never during an interview or with
// a recording owed: it waits for both.
func TestABundleBroughtByHand(t *testing.T) {
	t.Run("waits for the interview, not for the window", func(t *testing.T) {
		r := newRig(t, noon)
		r.agent.cfg.Poll = 20 * time.Millisecond
		r.room.set(true, "rec-1")
		ix := r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		r.runAgent(t)
		if err := r.agent.Local(context.Background(), r.bring(t, ix)); err != nil {
			t.Fatal(err)
		}
		waitAgent(t, r.agent, "the install waits for the interview", func(s Status) bool {
			return s.State == Waiting.String() && strings.Contains(s.Reason, "install waits: an interview is running")
		})
		r.room.set(false, "rec-1")
		waitAgent(t, r.agent, "the install waits for what is owed", func(s Status) bool {
			return strings.Contains(s.Reason, "1 recording is not yet held whole")
		})
		if inst, _ := r.installer.Calls(); len(inst) != 0 {
			t.Fatalf("installed while held: %v", inst)
		}
		r.room.set(false)
		waitAgent(t, r.agent, "the reboot", func(s Status) bool {
			_, boots := r.installer.Calls()
			return s.State == Rebooting.String() && boots == 1
		})
		if inst, _ := r.installer.Calls(); len(inst) != 1 || inst[0] != "1.4.0" {
			t.Fatalf("installed %v", inst)
		}
		if r.src.index.Load() != 0 || r.src.bundles.Load() != 0 {
			t.Errorf("the source was asked: %d index, %d bundle reads", r.src.index.Load(), r.src.bundles.Load())
		}
		var got []string
		for _, u := range r.takeReports() {
			got = append(got, u.Event+": "+u.Reason)
		}
		if len(got) != 2 || got[0] != "installing: a bundle brought by hand" || got[1] != "rebooting: " {
			t.Errorf("reports %q", got)
		}
	})
	other, _ := update.GenerateKey()
	for _, c := range []struct {
		name    string
		publish func(r *rig) update.Index
		says    string
	}{
		{"signed by an unknown key", func(r *rig) update.Index { return r.src.publish(t, other, "1.4.0", "rpi4-64") }, "signed by an unknown key"},
		{"for another board", func(r *rig) update.Index { return r.src.publish(t, r.src.releaseK, "1.4.0", "qemu-x86_64") }, "another board"},
		{"not newer", func(r *rig) update.Index { return r.src.publish(t, r.src.releaseK, "1.3.0", "rpi4-64") }, "not newer than the running 1.3.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, noon)
			r.runAgent(t)
			path := r.bring(t, c.publish(r))
			err := r.agent.Local(context.Background(), path)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Local: %v, want %q", err, c.says)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused bundle is still there: %v", err)
			}
			if inst, boots := r.installer.Calls(); len(inst) != 0 || boots != 0 {
				t.Fatalf("installed %v, rebooted %d", inst, boots)
			}
			if got := r.takeReports(); len(got) != 1 || got[0].Event != wire.UpdateRefused || !strings.Contains(got[0].Reason, "brought by hand") {
				t.Errorf("reports %+v", got)
			}
		})
	}
}

// A second bundle brought while the first waits (it is uploaded to the
// same file) takes its place and is the one installed.
func TestASecondBundleBroughtByHandReplacesTheWaitingOne(t *testing.T) {
	r := newRig(t, noon)
	r.agent.cfg.Poll = 20 * time.Millisecond
	r.room.set(true)
	r.runAgent(t)
	first := r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	if err := r.agent.Local(context.Background(), r.bring(t, first)); err != nil {
		t.Fatal(err)
	}
	waitAgent(t, r.agent, "1.4.0 waits for the interview", func(s Status) bool { return s.State == Waiting.String() && s.Offered == "1.4.0" })
	second := r.src.publish(t, r.src.releaseK, "1.5.0", "rpi4-64")
	if err := r.agent.Local(context.Background(), r.bring(t, second)); err != nil {
		t.Fatalf("the second bundle: %v", err)
	}
	waitAgent(t, r.agent, "1.5.0 waits for the interview", func(s Status) bool { return s.State == Waiting.String() && s.Offered == "1.5.0" })
	r.room.set(false)
	waitAgent(t, r.agent, "the reboot", func(s Status) bool {
		_, boots := r.installer.Calls()
		return boots == 1
	})
	if inst, _ := r.installer.Calls(); len(inst) != 1 || inst[0] != "1.5.0" {
		t.Fatalf("installed %v, want [1.5.0]", inst)
	}
}

// cutInstaller keeps the agent's record as it was while Install ran: put
// back before a restart, it is the stage folder a power cut during the
// install (or before the reboot was recorded) leaves.
type cutInstaller struct {
	*updatertest.Installer
	stage  string
	during []byte
}

func (c *cutInstaller) Install(ctx context.Context, path string, m update.Manifest) error {
	c.during, _ = os.ReadFile(filepath.Join(c.stage, recordName))
	return c.Installer.Install(ctx, path, m)
}

func (c *cutInstaller) cut(t *testing.T) {
	t.Helper()
	if len(c.during) == 0 {
		t.Fatal("no record was written before the install")
	}
	if err := os.WriteFile(filepath.Join(c.stage, recordName), c.during, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAPowerCutDuringTheInstall(t *testing.T) {
	t.Run("the old slot boots: installed again, not taken for bad", func(t *testing.T) {
		r := newRig(t, night)
		cut := &cutInstaller{Installer: r.installer, stage: r.stage}
		r.agent.deps.Installer = cut
		r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		want(t, r.step(t), Rebooting, "")
		r.takeReports()
		cut.cut(t)
		r.clock.Advance(time.Minute)
		r.restart(t, "1.3.0")
		s := r.agent.Status()
		if s.State != Idle.String() || len(s.Bad) != 0 || !strings.Contains(s.Last, "the install of 1.4.0 was cut short") {
			t.Fatalf("after a cut install: %+v", s)
		}
		if got := r.events(); len(got) != 1 || !strings.HasPrefix(got[0], "failed 1.4.0: the install of 1.4.0 was cut short") {
			t.Fatalf("reports %q", got)
		}
		want(t, r.step(t), Rebooting, "")
		if inst, _ := r.installer.Calls(); len(inst) != 2 || inst[1] != "1.4.0" {
			t.Fatalf("installed %v", inst)
		}
	})
	t.Run("the new slot boots: the update took", func(t *testing.T) {
		r := newRig(t, night)
		cut := &cutInstaller{Installer: r.installer, stage: r.stage}
		r.agent.deps.Installer = cut
		r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		want(t, r.step(t), Rebooting, "")
		r.takeReports()
		cut.cut(t)
		r.restart(t, "1.4.0") // the boot loader took the finished install's entry
		s := r.agent.Status()
		if s.State != Idle.String() || s.Last != "updated to 1.4.0" || len(s.Bad) != 0 {
			t.Fatalf("after a cut before the reboot: %+v", s)
		}
		if got := r.events(); len(got) != 1 || !strings.HasPrefix(got[0], "updated 1.4.0: the box restarted between the install and the reboot") {
			t.Fatalf("reports %q", got)
		}
	})
	t.Run("a failed install leaves no record", func(t *testing.T) {
		r := newRig(t, night)
		r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
		r.installer.FailInstall = errors.New("no space")
		want(t, r.step(t), Failed, "no space")
		r.takeReports()
		r.restart(t, "1.3.0")
		if s := r.agent.Status(); s.State != Idle.String() || s.Last != "" || len(r.events()) != 0 {
			t.Fatalf("after a failed install and a restart: %+v", s)
		}
	})
}

func TestAPartialDownloadIsRemovedAtStart(t *testing.T) {
	r := newRig(t, night)
	partial := filepath.Join(r.stage, ".tmp-twincap-1.4.0-rpi4-64.tcb-0123456789abcdef")
	kept := filepath.Join(r.stage, "twincap-1.4.0-rpi4-64.tcb")
	for _, p := range []string{partial, kept} {
		if err := os.WriteFile(p, []byte("half a bundle"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.restart(t, "1.3.0")
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partial download is still there: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("a whole bundle was removed: %v", err)
	}
}

func TestRunWakesWhenTheNextCheckIsDue(t *testing.T) {
	r := newRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "other-board")
	want(t, r.step(t), Failed, "other-board")
	if w := r.agent.nextWake(); w != r.agent.cfg.Poll {
		t.Fatalf("an hour before the next check Run sleeps %s, want a poll (%s)", w, r.agent.cfg.Poll)
	}
	r.clock.Advance(time.Hour - 5*time.Second)
	if w := r.agent.nextWake(); w != 5*time.Second {
		t.Fatalf("5 s before the next check Run sleeps %s, want 5s", w)
	}
	r.clock.Advance(10 * time.Second)
	if w := r.agent.nextWake(); w != r.agent.cfg.Poll {
		t.Fatalf("with the check overdue Run sleeps %s, want a poll", w)
	}
}

// newTrialRig is newRig with an installer that tells whether the running
// slot is on trial (the Raspberry Pi's tryboot).
func newTrialRig(t *testing.T, start time.Time) *rig {
	t.Helper()
	r := newRig(t, start)
	r.trial = &updatertest.TrialInstaller{}
	r.installer = &r.trial.Installer
	r.restart(t, "1.3.0")
	return r
}

// On a board whose tried slot must be marked good (the Pi), the update is
// done only once it is: until then nothing else is checked or installed,
// and the attempt stays on record.
func TestATriedSlotIsUpdatedOnlyOnceMarkedGood(t *testing.T) {
	r := newTrialRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	want(t, r.step(t), Rebooting, "")
	r.events()
	r.clock.Advance(2 * time.Minute)
	r.trial.SetTrial(true, nil)
	r.restart(t, "1.4.0")
	if s := r.agent.Status(); !strings.Contains(s.Last, "running 1.4.0 on trial") {
		t.Fatalf("status on trial %+v", s)
	}
	r.src.publish(t, r.src.releaseK, "1.5.0", "rpi4-64")
	checks := r.src.index.Load()
	r.clock.Advance(time.Minute)
	r.step(t)
	if got := r.events(); len(got) != 0 || r.src.index.Load() != checks {
		t.Fatalf("on trial: reports %q, %d checks", got, r.src.index.Load()-checks)
	}
	r.trial.SetTrial(false, nil) // boot-complete: blessed
	r.clock.Advance(30 * time.Second)
	s := r.step(t)
	got := r.events()
	if len(got) < 1 || got[0] != "updated 1.4.0: 3m30s after the reboot, marked good" || s.Last == "" {
		t.Fatalf("reports %q, status %+v", got, s)
	}
	// Marked good, the agent goes on: the check that waited runs now, and
	// 1.5.0 is installed over the old slot.
	if r.src.index.Load() == checks || s.State != Rebooting.String() {
		t.Errorf("after the mark: %d checks, status %+v", r.src.index.Load()-checks, s)
	}
	if installed, _ := r.installer.Calls(); !slices.Equal(installed, []string{"1.4.0", "1.5.0"}) {
		t.Errorf("installed %v", installed)
	}
}

// A tried slot that never gets the mark (its self-test fails, the watchdog
// resets the board) goes back to the old slot, which finds the attempt on
// record: rolled back, and the version is not installed again.
func TestATriedSlotThatIsNeverMarkedGoodIsRolledBack(t *testing.T) {
	r := newTrialRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	want(t, r.step(t), Rebooting, "")
	r.events()
	r.trial.SetTrial(true, nil)
	r.restart(t, "1.4.0")
	r.clock.Advance(time.Minute)
	r.step(t)
	r.trial.SetTrial(false, nil)
	r.restart(t, "1.3.0") // the firmware started the old slot
	got := r.events()
	if len(got) != 1 || !strings.HasPrefix(got[0], "rolled_back 1.4.0: 1.4.0 did not come up") {
		t.Fatalf("reports %q", got)
	}
	if s := r.agent.Status(); len(s.Bad) != 1 || s.Bad[0] != "1.4.0" {
		t.Fatalf("bad %v", s.Bad)
	}
	if installed, _ := r.installer.Calls(); len(installed) != 1 {
		t.Fatalf("installed %v", installed)
	}
}

// An installer that cannot tell is taken at its word that the box came up.
func TestATrialThatCannotBeToldIsTakenAsGood(t *testing.T) {
	r := newTrialRig(t, night)
	r.src.publish(t, r.src.releaseK, "1.4.0", "rpi4-64")
	want(t, r.step(t), Rebooting, "")
	r.events()
	r.trial.SetTrial(true, errors.New("autoboot.txt: no such file"))
	r.restart(t, "1.4.0")
	if got := r.events(); len(got) != 1 || !strings.HasPrefix(got[0], "updated 1.4.0") {
		t.Fatalf("reports %q", got)
	}
}
