package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"twincap/firmware/box"
	"twincap/server/pair"
	"twincap/server/wire"
)

// logMark remembers where each log of the room ends, so that a case looks
// only at what was logged after it began.
type logMark map[string]int64

func (r *room) markLogs() logMark {
	m := logMark{}
	for _, p := range r.procs() {
		if fi, err := os.Stat(p.log); err == nil {
			m[p.log] = fi.Size()
		}
	}
	return m
}

func (r *room) procs() []*proc {
	ps := []*proc{r.box}
	for _, s := range r.servers {
		ps = append(ps, s.p)
	}
	return ps
}

// since is what p logged after the mark.
func (m logMark) since(p *proc) string {
	b, _ := os.ReadFile(p.log)
	if off := m[p.log]; off <= int64(len(b)) {
		b = b[off:]
	}
	return string(b)
}

// pairServers gives both servers an administrator and pairs them, with the
// same Device ID and URL; extra is added to each patch.
func (r *room) pairServers(extra string) {
	r.t.Helper()
	pref, red := r.servers[0], r.servers[1]
	for _, s := range r.servers {
		run(r.t, adminPassword+"\n", filepath.Join(r.bin, "twincap-server"), "useradd", "-config", s.cfg, "-user", adminUser, "-admin")
	}
	paired := fmt.Sprintf(`"preferred":%q,"redundant":%q`, pref.addr, red.addr)
	for _, s := range r.servers {
		r.settings(s, "patch", fmt.Sprintf(`{%s"device_id":"dev-1","device_url":"https://evidence.example/devices/1","paired":{"role":%q,%s}}`, extra, s.name, paired))
	}
}

// pairReport asks server s to compare its settings with its peer's now.
func (r *room) pairReport(s *server) pair.Report {
	r.t.Helper()
	var rep pair.Report
	r.get(s, r.adminTicket(s), wire.PathPair+"?refresh=1", &rep)
	return rep
}

// TestSettingsMismatchEachField changes one setting at a time on the
// redundant server of a running room and looks at what each side makes of
// it: the box's status and log (before a start, which a blocking
// difference refuses), and both servers' pair check and logs. Blocking:
// Device ID, Device URL, Room ID (a server restarted with another room in
// its config); FIPS is TestFIPSMismatch. Allowed: source settings,
// maintenance times and paired-server settings (the two servers' roles
// differ all along). Non-blocking: counted.
func TestSettingsMismatchEachField(t *testing.T) {
	r := newRoom(t, roomOptions{})
	pref, red := r.servers[0], r.servers[1]
	r.pairServers("")
	for _, s := range r.servers {
		if rep := r.pairReport(s); rep.State != pair.Match {
			t.Fatalf("%s: paired with equal settings: %+v", s.name, rep)
		}
	}
	// The paired-server settings differ from the start: each server's role.
	if a, b := r.settings(pref, "show"), r.settings(red, "show"); !strings.Contains(a, `"role": "preferred"`) || !strings.Contains(b, `"role": "redundant"`) {
		t.Fatalf("roles: preferred shows\n%s\nredundant shows\n%s", a, b)
	}
	r.readyAndLoggedIn()

	for _, tc := range []struct {
		name     string
		patch    string // on the redundant server; undone after the case
		undo     string
		blocking []string // labels
		non      int
		// the detail each server's log and the box's log must hold
		detail string
	}{
		{name: "Device ID", patch: `{"device_id":"dev-2"}`, undo: `{"device_id":"dev-1"}`, blocking: []string{"Device ID"},
			detail: `Device ID (device_id, blocking): \"dev-1\" vs \"dev-2\"`},
		{name: "Device URL", patch: `{"device_url":"https://evidence.example/devices/2"}`, undo: `{"device_url":"https://evidence.example/devices/1"}`,
			blocking: []string{"Device URL"}, detail: `Device URL (device_url, blocking)`},
		{name: "source allowed", patch: `{"source":{"width":1920,"height":1080}}`, undo: `{"source":{"width":1280,"height":720}}`},
		{name: "maintenance allowed", patch: `{"maintenance":[{"days":["mon"],"start":"02:00","length":"1h"}]}`, undo: `{"maintenance":[]}`},
		{name: "two non-blocking", patch: `{"evidence":{"retry_attempts":7},"fallback":"all"}`, undo: `{"evidence":{"retry_attempts":5},"fallback":"any"}`,
			non: 2, detail: `(evidence.retry_attempts, non-blocking)`},
		{name: "blocking and non-blocking", patch: `{"device_id":"dev-3","evidence":{"retry_attempts":8}}`, undo: `{"device_id":"dev-1","evidence":{"retry_attempts":5}}`,
			blocking: []string{"Device ID"}, non: 1, detail: `Device ID (device_id, blocking): \"dev-1\" vs \"dev-3\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			mark := r.markLogs()
			undo := r.settings(red, "show")
			r.settings(red, "patch", tc.patch)
			t.Cleanup(func() {
				r.t = t
				r.settings(red, "patch", tc.undo)
				for _, s := range r.servers {
					if rep := r.pairReport(s); rep.State != pair.Match {
						t.Fatalf("%s after undoing %s: %+v (settings before the case:\n%s)", s.name, tc.patch, rep, undo)
					}
				}
			})
			// Both servers: the pair check and the log.
			for _, s := range r.servers {
				rep := r.pairReport(s)
				switch {
				case tc.blocking != nil && (rep.State != pair.Blocking || !slices.Equal(rep.Blocking, tc.blocking) || rep.NonBlocking != tc.non):
					t.Errorf("%s: pair %+v; want blocking %v and %d more", s.name, rep, tc.blocking, tc.non)
				case tc.blocking == nil && tc.non > 0 && (rep.State != pair.Mismatch || rep.NonBlocking != tc.non):
					t.Errorf("%s: pair %+v; want %d non-blocking", s.name, rep, tc.non)
				case tc.blocking == nil && tc.non == 0 && rep.State != pair.Match:
					t.Errorf("%s: pair %+v; want a match", s.name, rep)
				}
				log := mark.since(s.p)
				if tc.detail != "" {
					if !strings.Contains(log, "pair: setting differs") || !strings.Contains(log, tc.detail) {
						t.Errorf("%s: the log lacks %q:\n%s", s.name, tc.detail, log)
					}
				} else if strings.Contains(log, "pair: setting differs") {
					t.Errorf("%s: an allowed difference logged as one that matters:\n%s", s.name, log)
				}
			}
			// The box: a start, refused or not; its status and log.
			code, err := r.call(http.MethodPost, box.PathStart, nil, nil)
			st := r.mustStatus()
			if tc.blocking != nil {
				if code != http.StatusConflict || err == nil || !strings.Contains(err.Error(), tc.blocking[0]) {
					t.Fatalf("start: %d %v; want 409 naming %s", code, err, tc.blocking[0])
				}
				if st.Phase != "idle" || st.Mismatch == nil || !slices.Equal(st.Mismatch.Blocking, tc.blocking) || st.Mismatch.NonBlocking != tc.non ||
					!strings.Contains(st.Message, tc.blocking[0]) {
					t.Fatalf("status %+v, mismatch %+v", st, st.Mismatch)
				}
			} else {
				if err != nil {
					t.Fatalf("start: %d %v", code, err)
				}
				if st.Mismatch == nil || len(st.Mismatch.Blocking) != 0 || st.Mismatch.NonBlocking != tc.non || st.Mismatch.Unchecked != "" {
					t.Errorf("mismatch %+v; want %d non-blocking", st.Mismatch, tc.non)
				}
				if tc.non > 0 && !strings.Contains(st.Message, fmt.Sprintf("%d settings differ", tc.non)) {
					t.Errorf("message %q; want the count %d", st.Message, tc.non)
				}
				if _, err := r.call(http.MethodPost, box.PathCancel, nil, nil); err != nil {
					t.Fatal(err)
				}
				r.waitFor("the box idle", 20*time.Second, func() bool { return r.mustStatus().Phase == "idle" })
			}
			blog := mark.since(r.box)
			if tc.detail != "" && !strings.Contains(blog, tc.detail) {
				t.Errorf("the box's log lacks %q:\n%s", tc.detail, blog)
			}
			if tc.detail == "" && strings.Contains(blog, "box: setting differs") {
				t.Errorf("the box logged an allowed difference:\n%s", blog)
			}
		})
	}

	// Room ID: the settings follow the config's room_id, so the redundant
	// server is restarted in another room.
	t.Run("Room ID", func(t *testing.T) {
		r.t = t
		mark := r.markLogs()
		red.p.term(15 * time.Second)
		cfg, err := os.ReadFile(red.cfg)
		if err != nil {
			t.Fatal(err)
		}
		other := strings.Replace(string(cfg), `room_id = "room-e2e"`, `room_id = "room-other"`, 1)
		if err := os.WriteFile(red.cfg, []byte(other), 0o644); err != nil {
			t.Fatal(err)
		}
		r.startServer(red)
		for _, s := range r.servers {
			rep := r.pairReport(s)
			if rep.State != pair.Blocking || !slices.Contains(rep.Blocking, "Room ID") {
				t.Errorf("%s: pair %+v; want Room ID blocking", s.name, rep)
			}
			if log := mark.since(s.p); !strings.Contains(log, "Room ID (room_id, blocking)") {
				t.Errorf("%s: the log lacks the Room ID difference:\n%s", s.name, log)
			}
		}
		r.waitFor("both servers connected", 20*time.Second, func() bool { return r.mustStatus().FailoverReady })
		r.login()
		code, err := r.call(http.MethodPost, box.PathStart, nil, nil)
		if code != http.StatusConflict || err == nil || !strings.Contains(err.Error(), "Room ID") {
			t.Fatalf("start with the Room ID differing: %d %v%s", code, err, r.logs())
		}
		st := r.mustStatus()
		if st.Phase != "idle" || st.Mismatch == nil || !slices.Contains(st.Mismatch.Blocking, "Room ID") || !strings.Contains(st.Message, "Room ID") {
			t.Fatalf("status %+v, mismatch %+v", st, st.Mismatch)
		}
		if blog := mark.since(r.box); !strings.Contains(blog, "Room ID (room_id, blocking)") {
			t.Errorf("the box's log lacks the Room ID difference:\n%s", blog)
		}
	})
}

// TestFIPSMismatch runs one server in FIPS 140-3 mode and one not: the
// pair is a blocking mismatch on FIPS, seen in the box's refusal, status
// and log and in both servers' pair checks and logs; and the FIPS server
// refuses TLS clients that offer only what the mode does not approve
// (TLS 1.0-1.1, ChaCha20-Poly1305, X25519 alone), which the other server,
// as a control, accepts where its own policy allows. Then the box is
// restarted in FIPS mode and reports it.
func TestFIPSMismatch(t *testing.T) {
	r := newRoom(t, roomOptions{})
	fipsSrv, plain := r.servers[0], r.servers[1]
	r.pairServers("")
	r.settings(fipsSrv, "patch", `{"fips":true}`)
	fipsSrv.p.term(15 * time.Second)
	mark := r.markLogs()
	r.startServer(fipsSrv)
	if h := r.health(fipsSrv); !h.FIPS {
		t.Fatalf("%s: not in FIPS mode after the restart: %+v\n%s", fipsSrv.name, h, fipsSrv.p.tail())
	}
	if h := r.health(plain); h.FIPS {
		t.Fatalf("%s: in FIPS mode without the setting: %+v", plain.name, h)
	}
	if log := mark.since(fipsSrv.p); !strings.Contains(log, "re-executing with GODEBUG=fips140=on") || !strings.Contains(log, "fips=true") {
		t.Errorf("%s: the log does not say it entered FIPS mode:\n%s", fipsSrv.name, log)
	}

	for _, s := range r.servers {
		rep := r.pairReport(s)
		if rep.State != pair.Blocking || !slices.Equal(rep.Blocking, []string{"FIPS"}) {
			t.Errorf("%s: pair %+v; want FIPS blocking", s.name, rep)
		}
		if log := mark.since(s.p); !strings.Contains(log, "FIPS (fips, blocking)") {
			t.Errorf("%s: the log lacks the FIPS difference:\n%s", s.name, log)
		}
	}
	r.readyAndLoggedIn()
	code, err := r.call(http.MethodPost, box.PathStart, nil, nil)
	if code != http.StatusConflict || err == nil || !strings.Contains(err.Error(), "FIPS") {
		t.Fatalf("start with FIPS differing: %d %v", code, err)
	}
	st := r.mustStatus()
	if st.Phase != "idle" || st.Mismatch == nil || !slices.Equal(st.Mismatch.Blocking, []string{"FIPS"}) || !strings.Contains(st.Message, "FIPS") {
		t.Fatalf("status %+v, mismatch %+v", st, st.Mismatch)
	}
	if blog := mark.since(r.box); !strings.Contains(blog, `FIPS (fips, blocking): true vs false`) {
		t.Errorf("the box's log lacks the FIPS difference:\n%s", blog)
	}

	// TLS: what each server accepts. The test process is not in FIPS
	// mode, so it can offer anything.
	handshake := func(s *server, c *tls.Config) error {
		c = c.Clone()
		c.RootCAs = r.tls.RootCAs
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", s.addr, c)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	for _, tc := range []struct {
		name      string
		cfg       *tls.Config
		plainToo  bool // the non-FIPS server accepts it
		fipsTakes bool
	}{
		{name: "approved: TLS 1.3, P-256", cfg: &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.CurveP256}},
			plainToo: true, fipsTakes: true},
		{name: "approved: TLS 1.2, ECDHE-ECDSA AES-128-GCM", cfg: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, CurvePreferences: []tls.CurveID{tls.CurveP256}}, plainToo: true, fipsTakes: true},
		{name: "TLS 1.2, ChaCha20-Poly1305 only", cfg: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, plainToo: true},
		{name: "TLS 1.3, X25519 only", cfg: &tls.Config{MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}, plainToo: true},
		{name: "TLS 1.2, X25519 only", cfg: &tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.X25519}}, plainToo: true},
		{name: "TLS 1.1 at most", cfg: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(fipsSrv, tc.cfg)
			if tc.fipsTakes && err != nil {
				t.Errorf("FIPS server refused an approved configuration: %v", err)
			}
			if !tc.fipsTakes && err == nil {
				t.Errorf("FIPS server accepted a configuration the mode does not approve")
			}
			if perr := handshake(plain, tc.cfg); tc.plainToo && perr != nil {
				t.Errorf("control: the non-FIPS server refused it too (%v), so the FIPS refusal shows nothing", perr)
			}
		})
	}
	// And the FIPS server logs the refused handshakes.
	if log := mark.since(fipsSrv.p); !strings.Contains(log, "TLS handshake error") {
		t.Errorf("%s: the log does not show the refused handshakes:\n%s", fipsSrv.name, log)
	}

	// The box in FIPS mode too (TWINCAP_BOX_FIPS, as "fips = true" in its
	// config): it re-executes itself, says so in its status, and reaches
	// both servers with approved TLS only.
	r.t = t
	if r.mustStatus().FIPS {
		t.Fatal("the box reports FIPS mode without being asked")
	}
	r.box.term(15 * time.Second)
	mark = r.markLogs()
	r.box = startEnv(t, r.dir, "box", []string{"TWINCAP_BOX_FIPS=true"}, filepath.Join(r.bin, "twincap-box"), "-config", r.boxCfg)
	r.waitFor("the box in FIPS mode with both servers", 30*time.Second, func() bool {
		st, err := r.status()
		return err == nil && st.FIPS && st.FailoverReady
	})
	if blog := mark.since(r.box); !strings.Contains(blog, "re-executing with GODEBUG=fips140=on") {
		t.Errorf("the box's log does not say it re-executed:\n%s", blog)
	}
}
