package updater

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"twincap/firmware/update"
	"twincap/internal/durable"
	"twincap/server/wire"
)

// errRefused marks a check that found an offer this box must not take (a
// bundle for another board, too large): a refusal for the audit trail,
// unlike a source that did not answer.
var errRefused = errors.New("refused")

// Installer puts a verified bundle on the box. The real one hands it to
// systemd-sysupdate or RAUC; it must write only the slot that is not
// running (through update.Verifier.Install, which checks every payload
// again as it is written) and mark it to be tried once at the next boot.
type Installer interface {
	// Install writes the bundle at path, whose signed manifest is m, to
	// the other slot.
	Install(ctx context.Context, path string, m update.Manifest) error
	// Reboot restarts the box into the slot Install wrote.
	Reboot(ctx context.Context) error
}

// Trial is implemented by an Installer that can tell whether the slot the
// box runs is still on trial: started once by the boot loader and not yet
// marked good. After a reboot into a new
// version the agent then waits for the mark before it reports the update
// done and forgets the attempt, and does nothing else meanwhile: a slot
// that fails its self-test and goes back leaves the attempt on record for
// the old slot to find, which takes the version for one that did not come
// up. Both installers implement it: systemd-boot's boot counting on the
// UEFI image (sysupdate.Installer), tryboot on the Pi.
type Trial interface {
	OnTrial(ctx context.Context) (bool, error)
}

// Hold is what the box owes: the agent installs and reboots only when
// both are empty.
type Hold struct {
	Interview bool     // an interview is running
	Owed      []string // recordings not yet held whole by every server
}

// Config is the agent's share of the box config.
type Config struct {
	// Source is the HTTPS folder serving index.json and the bundles.
	Source string
	// Board is the box's board; bundles for another are refused.
	Board string
	// Current is the version the box runs.
	Current string
	// Interval is the time between checks.
	Interval time.Duration
	// Poll is how often Run re-evaluates (default 30 s): how soon a
	// waiting update notices that the interview ended.
	Poll time.Duration
	// StageDir holds a downloaded bundle until it is installed.
	StageDir string
	// MaxSize caps a bundle's size (default 4 GiB).
	MaxSize int64
	Trust   *update.Trust
}

// Deps are what the agent needs from the box.
type Deps struct {
	Now func() time.Time
	// Window reports whether now is inside the room's maintenance window
	// (the servers' settings).
	Window func(ctx context.Context, now time.Time) (bool, error)
	// Hold reports what the box owes right now.
	Hold      func() Hold
	Installer Installer
	// HTTP fetches from the source; NewHTTPClient makes one with the
	// config's CA file.
	HTTP *http.Client
	Log  *slog.Logger
	// Report, if set, is told each step the room servers audit: a bundle
	// refused, an install begun or failed, the reboot into it, and after
	// the reboot whether the update took or the box went back. Event,
	// Running, Version, Reason and At are filled; it must keep the report
	// before it returns (the reboot follows) and not block for long.
	Report func(wire.UpdateReport)
}

// Status is what the box shows of the agent.
type Status struct {
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	Current   string    `json:"current"`
	Offered   string    `json:"offered,omitempty"` // the newer version the source offers
	CheckedAt time.Time `json:"checked_at,omitzero"`
	// Last is the outcome of the last update the box rebooted into, if
	// it took ("updated to 1.4.0"); a rollback shows as failed.
	Last string `json:"last,omitempty"`
	// Bad lists versions that did not come up and are not installed
	// again.
	Bad []string `json:"bad,omitempty"`
}

// Updating reports whether the box is writing or switching slots: the
// LEDs' "updating: do not unplug".
func (s Status) Updating() bool {
	return s.State == Installing.String() || s.State == Rebooting.String()
}

// Agent runs the machine.
type Agent struct {
	cfg    Config
	deps   Deps
	source *url.URL

	// Owned by the goroutine that calls Step (Run).
	m        Machine
	offer    *update.Index
	staged   string
	manifest update.Manifest
	checked  time.Time
	bad      []string // versions that did not come up
	note     string   // the outcome of the last update, for the status
	// lastRefusal is the last refusal reported (one report, not one per check).
	lastRefusal string
	// manual: the staged bundle was brought by hand (Local), so the
	// maintenance window does not apply; the technician is there.
	manual bool
	local  chan localRequest // Local's requests, served by Run
	// onTrial: the box runs the version it rebooted into, not yet marked
	// good (Trial); the attempt stays on record until it is.
	onTrial bool

	mu     sync.Mutex // guards status
	status Status
}

// NewHTTPClient fetches over HTTPS, checking the source's certificate
// against caFile if given (else the system's roots).
func NewHTTPClient(caFile string) (*http.Client, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("updater: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("updater: %s holds no PEM certificate", caFile)
		}
		conf.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = conf
	return &http.Client{Transport: tr, Timeout: 30 * time.Minute}, nil
}

// New builds an agent; Run runs it.
func New(cfg Config, deps Deps) (*Agent, error) {
	u, err := url.Parse(cfg.Source)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("updater: source %q: want an https:// URL", cfg.Source)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	switch {
	case cfg.Trust == nil:
		return nil, errors.New("updater: no trusted keys")
	case update.ValidBoard(cfg.Board) != nil:
		return nil, fmt.Errorf("updater: %w", update.ValidBoard(cfg.Board))
	case update.ValidVersion(cfg.Current) != nil:
		return nil, fmt.Errorf("updater: running %w", update.ValidVersion(cfg.Current))
	case cfg.Interval <= 0:
		return nil, errors.New("updater: no check interval")
	case cfg.StageDir == "":
		return nil, errors.New("updater: no stage folder")
	case deps.Window == nil || deps.Hold == nil || deps.Installer == nil:
		return nil, errors.New("updater: Window, Hold and Installer are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 4 << 30
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.HTTP == nil {
		if deps.HTTP, err = NewHTTPClient(""); err != nil {
			return nil, err
		}
	}
	a := &Agent{cfg: cfg, deps: deps, source: u, local: make(chan localRequest)}
	if err := a.afterBoot(); err != nil {
		return nil, err
	}
	if err := a.removePartial(); err != nil {
		return nil, err
	}
	a.publish()
	return a, nil
}

// Status is the latest snapshot.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *Agent) publish() {
	s := Status{State: a.m.State.String(), Reason: a.m.Reason, Current: a.cfg.Current, CheckedAt: a.checked, Last: a.note}
	if a.m.State == Waiting {
		s.Reason = a.m.Pending.String() + " waits: " + a.m.Reason
	}
	if a.offer != nil {
		s.Offered = a.offer.Version
	}
	s.Bad = slices.Clone(a.bad)
	a.mu.Lock()
	a.status = s
	a.mu.Unlock()
}

// Run steps the machine every Poll, and takes the bundles Local hands
// it, until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	for {
		a.Step(ctx)
		t := time.NewTimer(a.nextWake())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case req := <-a.local:
			t.Stop()
			m, act, err := a.takeLocal(ctx, req.path)
			req.done <- err
			if err == nil {
				a.carry(ctx, m, act)
			}
		}
	}
}

// trialPoll is how often Run looks whether a slot on trial was marked good.
const trialPoll = 5 * time.Second

// nextWake is how long Run sleeps before the next Step: a poll, or less
// if the next check is due sooner. Polls alone made a check due a
// fraction of a second after a poll wait for the one after it: with
// check_interval 1m the checks came every 90 s (seen in the A/B VM).
func (a *Agent) nextWake() time.Duration {
	wait := a.cfg.Poll
	if a.onTrial {
		// The mark comes within the self-test's deadline; the update is
		// reported soon after it, not a poll later.
		return min(wait, trialPoll)
	}
	if a.m.State == Idle || a.m.State == Failed {
		if d := a.m.NextCheck.Sub(a.deps.Now()); d > 0 && d < wait {
			wait = d
		}
	}
	return wait
}

type localRequest struct {
	path string
	done chan error
}

// ErrNotRunning: Run did not take Local's bundle within 2 minutes: it is
// busy with a download or an install, or not running.
var ErrNotRunning = errors.New("updater: the update agent did not take the bundle within 2 minutes (busy with a download or an install, or not running)")

// Local hands the agent a bundle a technician brought to the box
// (twincapctl update FILE), staged at path in the stage folder. It is
// checked as a downloaded one would be (signature, board, payloads, a
// version newer than the running one) and refused with the reason, and
// removed, if it fails; else Local returns and the bundle is installed by
// the same rules as a remote update — never during an interview, never
// with a recording owed to a server (it waits for both) — but at any time
// of day, as the technician is there. It takes the place of a remote
// update that waits.
func (a *Agent) Local(ctx context.Context, path string) error {
	req := localRequest{path: path, done: make(chan error, 1)}
	select {
	case a.local <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Minute): // Run is busy with a step or gone
		return ErrNotRunning
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// takeLocal verifies the bundle at path and makes it the one to install.
func (a *Agent) takeLocal(ctx context.Context, path string) (Machine, Action, error) {
	if a.staged == path {
		a.staged = "" // the new upload replaced a waiting one in place: keep it
	}
	a.forget()
	m, err := a.verifyFile(path)
	if err == nil {
		err = a.newer(filepath.Base(path), m)
	}
	if err != nil {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			a.deps.Log.Warn("updater: remove refused bundle", "err", rerr)
		}
		a.deps.Log.Warn("updater: a bundle brought by hand was refused", "err", err)
		a.report(wire.UpdateRefused, "", "brought by hand: "+err.Error())
		return a.m, None, err
	}
	a.offer = &update.Index{Version: m.Version, Compatible: m.Compatible, Bundle: filepath.Base(path)}
	a.staged, a.manifest, a.manual = path, m, true
	a.deps.Log.Info("updater: a bundle brought by hand verified", "version", m.Version)
	next, act := a.m.Next(Event{Kind: Verified}, a.facts(ctx), a.cfg.Interval)
	return next, act, nil
}

// Step evaluates the machine once and carries out what it decides, one
// action after the other, re-reading the facts between them (an interview
// that starts during a download holds the install).
func (a *Agent) Step(ctx context.Context) {
	if a.onTrial && a.stillOnTrial(ctx) {
		return // nothing is checked or installed over the slot to go back to
	}
	if (a.m.State == Idle || a.m.State == Failed) && a.deps.Now().Before(a.m.NextCheck) {
		return // nothing to decide; the window costs a request to the servers
	}
	m, act := a.m.Next(Event{Kind: Tick}, a.facts(ctx), a.cfg.Interval)
	a.carry(ctx, m, act)
}

// carry makes m the machine and carries out act, and what follows it.
func (a *Agent) carry(ctx context.Context, m Machine, act Action) {
	for {
		if m.State != a.m.State || m.Reason != a.m.Reason {
			a.deps.Log.Info("updater: "+m.State.String(), "reason", m.Reason, "offered", a.offerVersion())
		}
		if m.State == Failed || m.State == Idle {
			a.forget()
		}
		a.m = m
		a.publish()
		if act == None || ctx.Err() != nil {
			return
		}
		switch act {
		case Install:
			how := ""
			if a.manual {
				how = "a bundle brought by hand"
			}
			a.report(wire.UpdateInstalling, a.manifest.Version, how)
		case Reboot:
			a.report(wire.UpdateRebooting, a.manifest.Version, "")
		}
		ev := a.do(ctx, act)
		if ev.Kind == Error {
			a.reportError(act, ev.Err)
		}
		if act == Reboot && ev.Kind != Error {
			return // the box is going down in the Rebooting state
		}
		m, act = a.m.Next(ev, a.facts(ctx), a.cfg.Interval)
	}
}

func (a *Agent) offerVersion() string {
	if a.offer == nil {
		return ""
	}
	return a.offer.Version
}

// forget drops an offer and its staged bundle.
func (a *Agent) forget() {
	if a.staged != "" {
		if err := os.Remove(a.staged); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.deps.Log.Warn("updater: remove staged bundle", "err", err)
		}
	}
	a.offer, a.staged, a.manifest, a.manual = nil, "", update.Manifest{}, false
}

func (a *Agent) facts(ctx context.Context) Facts {
	now := a.deps.Now()
	f := Facts{Now: now}
	h := a.deps.Hold()
	f.Interview, f.Owed = h.Interview, len(h.Owed)
	if a.manual {
		f.InWindow = true // a technician brought the bundle
		return f
	}
	in, err := a.deps.Window(ctx, now)
	f.InWindow = in && err == nil
	if err != nil {
		f.WindowErr = err.Error()
	}
	return f
}

func (a *Agent) do(ctx context.Context, act Action) Event {
	var err error
	kind := Error
	switch act {
	case Check:
		a.checked = a.deps.Now()
		var newer bool
		if newer, err = a.check(ctx); err == nil {
			kind = NoUpdate
			if newer {
				kind = Offered
			}
		}
	case Download:
		if err = a.download(ctx); err == nil {
			kind = Downloaded
		}
	case Verify:
		if err = a.verify(); err == nil {
			kind = Verified
		}
	case Install:
		// Recorded first: a power cut during the install, or before the
		// reboot is recorded, is told apart at the next start from a
		// version that was tried and did not come up.
		if err = a.installing(a.manifest.Version); err != nil {
			err = fmt.Errorf("record the install of %s: %w", a.manifest.Version, err)
		} else if err = a.deps.Installer.Install(ctx, a.staged, a.manifest); err == nil {
			kind = Installed
		} else {
			err = fmt.Errorf("install %s: %w", a.manifest.Version, err)
			if cerr := a.installing(""); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	case Reboot:
		// Recorded first: after the reboot, the version the box runs
		// says whether the update took or the boot loader went back.
		if err = a.attempt(a.manifest.Version); err != nil {
			err = fmt.Errorf("record the reboot into %s: %w", a.manifest.Version, err)
		} else if err = a.deps.Installer.Reboot(ctx); err != nil {
			err = fmt.Errorf("reboot into %s: %w", a.manifest.Version, err)
			// No reboot, so no attempt: the next start must not take
			// the version for one that did not come up.
			if cerr := a.attempt(""); cerr != nil {
				err = errors.Join(err, cerr)
			}
		} else {
			kind = Tick // the box goes down; nothing more happens here
		}
	}
	return Event{Kind: kind, Err: err}
}

func (a *Agent) get(ctx context.Context, name string) (*http.Response, error) {
	u := a.source.ResolveReference(&url.URL{Path: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.deps.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("source: %s: %s", u, resp.Status)
	}
	return resp, nil
}

// check reads the source's index; it reports whether it offers a newer
// version for this board.
func (a *Agent) check(ctx context.Context) (bool, error) {
	resp, err := a.get(ctx, update.IndexName)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, fmt.Errorf("source: %s: %w", update.IndexName, err)
	}
	ix, err := update.ParseIndex(data)
	if err != nil {
		return false, err
	}
	if ix.Compatible != a.cfg.Board {
		return false, fmt.Errorf("%w: the source offers a bundle for %q, this box is %q", errRefused, ix.Compatible, a.cfg.Board)
	}
	if ix.Size > a.cfg.MaxSize {
		return false, fmt.Errorf("%w: the source offers a bundle of %d bytes, more than %d", errRefused, ix.Size, a.cfg.MaxSize)
	}
	c, err := update.CompareVersions(ix.Version, a.cfg.Current)
	if err != nil || c <= 0 {
		return false, err
	}
	if slices.Contains(a.bad, ix.Version) {
		a.deps.Log.Warn("updater: the source offers a version that did not come up before; waiting for a newer one", "version", ix.Version)
		return false, nil
	}
	a.offer = &ix
	return true, nil
}

// download fetches the offered bundle into the stage folder, durably, and
// checks it against the index (size and SHA-256: what the transfer may
// have broken; the signature is checked next).
func (a *Agent) download(ctx context.Context) error {
	ix := *a.offer
	if err := durable.MkdirAll(a.cfg.StageDir, 0o700); err != nil {
		return err
	}
	resp, err := a.get(ctx, ix.Bundle)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	path := filepath.Join(a.cfg.StageDir, ix.Bundle)
	err = durable.WriteFrom(path, 0o600, func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(resp.Body, ix.Size+1))
		switch {
		case err != nil:
			return err
		case n != ix.Size:
			return fmt.Errorf("got %d bytes, the index says %d", n, ix.Size)
		case hex.EncodeToString(h.Sum(nil)) != ix.SHA256:
			return errors.New("SHA-256 differs from the index")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("download %s: %w", ix.Bundle, err)
	}
	a.staged = path
	return nil
}

// verify checks the staged bundle as the installer will: signature,
// board, payloads; and that its signed version is the one offered and
// newer than the running one (an old signed bundle is not a way back).
func (a *Agent) verify() error {
	m, err := a.verifyFile(a.staged)
	if err != nil {
		return err
	}
	if m.Version != a.offer.Version {
		return fmt.Errorf("verify %s: it holds version %s, the index says %s", a.offer.Bundle, m.Version, a.offer.Version)
	}
	if err := a.newer(a.offer.Bundle, m); err != nil {
		return err
	}
	a.manifest = m
	return nil
}

// newer refuses bundle name unless its signed version is newer than the
// running one: an old signed bundle is not a way back.
func (a *Agent) newer(name string, m update.Manifest) error {
	if c, _ := update.CompareVersions(m.Version, a.cfg.Current); c <= 0 {
		return fmt.Errorf("verify %s: version %s is not newer than the running %s", name, m.Version, a.cfg.Current)
	}
	return nil
}

// verifyFile checks the bundle at path as the installer will: signature,
// board, payloads.
func (a *Agent) verifyFile(path string) (update.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return update.Manifest{}, err
	}
	defer f.Close()
	m, err := update.Verifier{Trust: a.cfg.Trust, Board: a.cfg.Board}.Verify(f)
	if err != nil {
		return update.Manifest{}, fmt.Errorf("verify %s: %w", filepath.Base(path), err)
	}
	return m, nil
}

// report hands one step to Deps.Report.
func (a *Agent) report(event, version, reason string) {
	if a.deps.Report == nil {
		return
	}
	a.deps.Report(wire.UpdateReport{Event: event, Running: a.cfg.Current, Version: version, Reason: reason, At: a.deps.Now()})
}

// reportError reports what the failed action means for the audit: a
// bundle that failed its checks before anything was written is refused; a
// failed install or reboot failed. A source that did not answer is only
// logged, and a refusal the same as the last one is not reported again
// (the source offers it at every check).
func (a *Agent) reportError(act Action, err error) {
	event := wire.UpdateRefused
	switch {
	case act == Install || act == Reboot:
		event = wire.UpdateFailed
	case act == Check && !errors.Is(err, errRefused):
		return
	}
	why := err.Error()
	if event == wire.UpdateRefused {
		if why == a.lastRefusal {
			return
		}
		a.lastRefusal = why
	}
	a.report(event, a.offerVersion(), why)
}
