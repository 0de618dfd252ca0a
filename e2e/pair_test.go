package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"twincap/firmware/box"
	"twincap/server/audit"
	"twincap/server/pair"
	"twincap/server/wire"
)

const (
	adminUser     = "admin"
	adminPassword = "admin password for the room"
)

// get calls an authenticated GET route of server s and decodes the reply.
func (r *room) get(s *server, ticket, path string, out any) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+s.addr+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set(wire.HeaderAuthorization, "Bearer "+ticket)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: r.tls.Clone()}}
	resp, err := hc.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		r.t.Fatalf("%s GET %s: HTTP %d: %s", s.name, path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		r.t.Fatalf("%s GET %s: %v: %s", s.name, path, err, b)
	}
}

func (r *room) adminTicket(s *server) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := r.client(s, "").Login(ctx, adminUser, adminPassword)
	if err != nil {
		r.t.Fatal(err)
	}
	return rep.Ticket
}

// settings runs "twincap-server settings" against a running server as its
// administrator.
func (r *room) settings(s *server, args ...string) string {
	r.t.Helper()
	return run(r.t, adminPassword+"\n", append([]string{filepath.Join(r.bin, "twincap-server"), "settings", "-config", s.cfg, "-user", adminUser}, args...)...)
}

func (r *room) health(s *server) wire.Health {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := r.client(s, "").Health(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// interview records a few seconds and stops; both servers finalize.
func (r *room) interview() string {
	r.t.Helper()
	id := r.action(box.PathStart)
	r.waitFor("a few segments on both servers", 30*time.Second, func() bool { return r.acked("preferred") >= 3 && r.acked("redundant") >= 3 })
	r.action(box.PathStop)
	r.waitFinalized(id, r.servers...)
	return id
}

// TestServerPair runs the settings, FIPS and audit of the server pair
// with real processes: two servers switched to FIPS 140-3 mode (they
// re-execute themselves) that compare their settings over TLS; the box
// refuses to start on a blocking mismatch and names it, starts and counts
// on a non-blocking one; each server's audit trail verifies and holds the
// logins, starts and stops; each finalized recording's audit.json verifies.
func TestServerPair(t *testing.T) {
	r := newRoom(t, roomOptions{})
	pref, red := r.servers[0], r.servers[1]
	srvBin := filepath.Join(r.bin, "twincap-server")
	for _, s := range r.servers {
		run(t, adminPassword+"\n", srvBin, "useradd", "-config", s.cfg, "-user", adminUser, "-admin")
	}
	paired := fmt.Sprintf(`"preferred":%q,"redundant":%q`, pref.addr, red.addr)
	for _, s := range r.servers {
		out := r.settings(s, "patch", fmt.Sprintf(`{"fips":true,"device_id":"dev-1","device_url":"https://evidence.example/devices/1",`+
			`"paired":{"role":%q,%s}}`, s.name, paired))
		if !strings.Contains(out, `"fips": true`) {
			t.Fatalf("%s: patch: %s", s.name, out)
		}
	}

	// FIPS mode comes with a restart: each server re-executes itself with
	// GODEBUG=fips140=on, and TLS, PBKDF2 logins, HMAC tickets and SHA-256
	// checksums go on working in it.
	for _, s := range r.servers {
		if h := r.health(s); h.FIPS {
			t.Fatalf("%s in FIPS mode before the restart", s.name)
		}
		s.p.term(15 * time.Second)
		r.startServer(s)
		if h := r.health(s); !h.FIPS {
			t.Fatalf("%s: not in FIPS mode after the restart: %+v\n%s", s.name, h, s.p.tail())
		}
		if !strings.Contains(s.p.tail(), "re-executing with GODEBUG=fips140=on") {
			t.Errorf("%s: the log does not say it re-executed:\n%s", s.name, s.p.tail())
		}
	}
	if a, b := r.health(pref).SettingsFingerprint, r.health(red).SettingsFingerprint; a != b || a == "" {
		t.Fatalf("fingerprints %q and %q", a, b)
	}
	for _, s := range r.servers {
		var rep pair.Report
		r.get(s, r.adminTicket(s), wire.PathPair+"?refresh=1", &rep)
		if rep.State != pair.Match {
			t.Fatalf("%s: pair %+v", s.name, rep)
		}
	}

	// Matching settings: the interview starts.
	r.readyAndLoggedIn()
	first := r.interview()
	if m := r.mustStatus().Mismatch; m == nil || len(m.Blocking) != 0 || m.NonBlocking != 0 || m.Unchecked != "" {
		t.Fatalf("mismatch with equal settings: %+v", m)
	}

	// A blocking mismatch: the box refuses and names it.
	r.settings(red, "patch", `{"device_id":"dev-2"}`)
	code, err := r.call(http.MethodPost, box.PathStart, nil, nil)
	if code != http.StatusConflict || err == nil || !strings.Contains(err.Error(), "Device ID") {
		t.Fatalf("start with Device ID differing: %d %v", code, err)
	}
	r.waitFor("the blocking mismatch in the status", 5*time.Second, func() bool {
		st := r.mustStatus()
		return st.Phase == "idle" && st.Mismatch != nil && slices.Equal(st.Mismatch.Blocking, []string{"Device ID"}) && strings.Contains(st.Message, "Device ID")
	})
	if !strings.Contains(r.box.tail(), `difference="Device ID (device_id, blocking): \"dev-1\" vs \"dev-2\""`) {
		t.Errorf("the box's log lacks the details:\n%s", r.box.tail())
	}
	var rep pair.Report
	r.get(pref, r.adminTicket(pref), wire.PathPair+"?refresh=1", &rep)
	if rep.State != pair.Blocking || !slices.Equal(rep.Blocking, []string{"Device ID"}) {
		t.Fatalf("preferred's pair check: %+v", rep)
	}
	if !strings.Contains(pref.p.tail(), "pair: setting differs") {
		t.Errorf("the preferred server's log lacks the details:\n%s", pref.p.tail())
	}

	// A non-blocking mismatch: the interview starts; the status counts it.
	r.settings(red, "patch", `{"device_id":"dev-1","evidence":{"retry_attempts":7}}`)
	id := r.action(box.PathStart)
	r.waitFor("the non-blocking mismatch counted", 5*time.Second, func() bool {
		st := r.mustStatus()
		return st.RecordingID == id && st.Mismatch != nil && len(st.Mismatch.Blocking) == 0 && st.Mismatch.NonBlocking == 1 &&
			strings.Contains(st.Message, "1 setting differs")
	})
	r.waitFor("a few segments on both servers", 30*time.Second, func() bool { return r.acked("preferred") >= 3 && r.acked("redundant") >= 3 })
	r.action(box.PathStop)
	r.waitFinalized(id, r.servers...)

	// The audit trail of each server verifies and tells who did what.
	for _, s := range r.servers {
		admin := r.adminTicket(s)
		var check wire.AuditCheck
		r.get(s, admin, wire.PathAuditVerify, &check)
		if !check.OK || check.Entries == 0 {
			t.Fatalf("%s: audit verify %+v", s.name, check)
		}
		if out := run(t, "", srvBin, "audit", "-config", s.cfg, "verify"); !strings.Contains(out, "verifies") {
			t.Fatalf("%s: audit verify command: %s", s.name, out)
		}
		var entries []audit.Entry
		r.get(s, admin, wire.PathAuditTrail, &entries)
		seen := map[string]int{}
		for _, e := range entries {
			seen[e.Actor+" "+string(e.Action)+" "+e.Recording]++
		}
		for _, want := range []string{
			testUser + " login ", adminUser + " login ", adminUser + " settings_change ",
			testUser + " start " + first, testUser + " stop " + first,
			testUser + " start " + id, testUser + " stop " + id,
		} {
			if seen[want] == 0 {
				t.Errorf("%s: no %q in the trail %v", s.name, want, seen)
			}
		}
		if seen[testUser+" start "+first] != 1 || seen[testUser+" stop "+first] != 1 {
			t.Errorf("%s: the first recording started or stopped more than once: %v", s.name, seen)
		}
		// Each finalized recording carries its audit trail, which verifies
		// on its own.
		for _, rec := range []string{first, id} {
			var buf bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.client(s, r.ticket()).Audit(ctx, rec, &buf)
			cancel()
			if err != nil {
				t.Fatalf("%s: audit.json of %s: %v", s.name, rec, err)
			}
			x, err := audit.ParseExport(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			got, err := audit.VerifyExport(x)
			if err != nil {
				t.Fatalf("%s: audit.json of %s does not verify: %v", s.name, rec, err)
			}
			var acts []string
			for _, e := range got {
				acts = append(acts, e.Actor+" "+string(e.Action))
			}
			if !slices.Equal(acts, []string{testUser + " start", testUser + " stop"}) {
				t.Fatalf("%s: audit.json of %s holds %v", s.name, rec, acts)
			}
		}
	}
}
