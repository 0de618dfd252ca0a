package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"twincap/encoder/segment"
	"twincap/server/audit"
	"twincap/server/wire"
)

// actions lists the trail's entries as "actor action recording".
func (f *fixture) actions(filter audit.Filter) []string {
	var out []string
	for _, e := range f.trail.Entries(filter) {
		out = append(out, strings.TrimSpace(e.Actor+" "+string(e.Action)+" "+e.Recording))
	}
	return out
}

func (f *fixture) record(id string, n int) {
	f.t.Helper()
	f.create(id)
	for seq := range n {
		b := bytes.Repeat([]byte{byte('a' + seq)}, 100)
		if code, e := f.put(id, uint64(seq), b, segment.Sum(b).String()); code != 200 {
			f.t.Fatalf("put: %d %s", code, e.Error)
		}
	}
}

func TestAuditTrail(t *testing.T) {
	f := newFixture(t)
	f.do("POST", wire.PathLogin, "", wire.LoginRequest{Username: "alice", Password: "wrong"}, nil)
	f.do("POST", wire.PathLogin, "", wire.LoginRequest{Username: "mallory\x00\n", Password: "x"}, nil)
	f.record("rec1", 3)
	// A resume is no second start.
	if code := f.do("POST", wire.PathRecordings, f.ticket, wire.CreateRequest{ID: "rec1", RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: t0}, nil); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	stop := wire.StopRequest{Count: 3, StoppedAt: t0}
	if code := f.do("POST", path(wire.PathStop, "id", "rec1"), f.ticket, stop, nil); code != 200 {
		t.Fatalf("stop: %d", code)
	}
	if code := f.do("POST", path(wire.PathStop, "id", "rec1"), f.ticket, stop, nil); code != 200 {
		t.Fatalf("stop again: %d", code)
	}
	f.record("rec2", 1)
	if code := f.do("DELETE", path(wire.PathRecording, "id", "rec2"), f.ticket, nil, nil); code != 204 {
		t.Fatalf("cancel: %d", code)
	}
	if code := f.do("DELETE", path(wire.PathRecording, "id", "rec2"), f.ticket, nil, nil); code != 404 {
		t.Fatalf("cancel again: %d", code)
	}
	if code := f.do("POST", wire.PathLogout, f.ticket, nil, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	want := []string{
		"alice login", "alice login_failed", `"mallory\x00\n" login_failed`,
		"alice start rec1", "alice stop rec1", "alice start rec2", "alice cancel rec2", "alice logout",
	}
	if got := f.actions(audit.Filter{}); !slices.Equal(got, want) {
		t.Fatalf("trail:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	stops := f.trail.Entries(audit.Filter{Action: audit.Stop})
	if !strings.Contains(stops[0].Details, "3 segments") || !strings.Contains(stops[0].Details, "sha256 ") {
		t.Errorf("stop details %q", stops[0].Details)
	}

	// The finalized recording has its audit.json: an export that verifies
	// and holds the recording's start and stop.
	resp := f.req("GET", path(wire.PathAudit, "id", "rec1"), f.login("alice", operatorPassword), nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("audit.json: %d %s", resp.StatusCode, body)
	}
	onDisk, err := os.ReadFile(filepath.Join(f.dir, "data", "recordings", "rec1", "audit.json"))
	if err != nil || !bytes.Equal(onDisk, body) {
		t.Fatalf("audit.json on disk: %v", err)
	}
	x, err := audit.ParseExport(body)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := audit.VerifyExport(x)
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, e := range entries {
		acts = append(acts, string(e.Action))
	}
	if !slices.Equal(acts, []string{"start", "stop"}) {
		t.Fatalf("export of rec1: %v", acts)
	}
	if _, err := f.trail.CheckExport(x); err != nil {
		t.Fatal(err)
	}

	// The admin routes.
	admin := f.login("root", adminPassword)
	alice := f.login("alice", operatorPassword)
	if code := f.do("GET", wire.PathAuditTrail, alice, nil, nil); code != http.StatusForbidden {
		t.Fatalf("an operator reads the trail: %d", code)
	}
	if code := f.do("GET", wire.PathAuditVerify, alice, nil, nil); code != http.StatusForbidden {
		t.Fatalf("an operator verifies the trail: %d", code)
	}
	var got []audit.Entry
	if code := f.do("GET", wire.PathAuditTrail+"?recording=rec1", admin, nil, &got); code != 200 || len(got) != 2 || got[1].Action != audit.Stop {
		t.Fatalf("entries of rec1: %d %+v", code, got)
	}
	if code := f.do("GET", wire.PathAuditTrail+"?action=login&actor=root", admin, nil, &got); code != 200 || len(got) != 1 {
		t.Fatalf("root's logins: %d %+v", code, got)
	}
	if code := f.do("GET", wire.PathAuditTrail+"?recording=nope", admin, nil, &got); code != 200 || got == nil || len(got) != 0 {
		t.Fatalf("nothing: %d %+v", code, got)
	}
	if code := f.do("GET", wire.PathAuditTrail+"?action=dance", admin, nil, nil); code != 400 {
		t.Fatalf("unknown action: %d", code)
	}
	var check wire.AuditCheck
	if code := f.do("GET", wire.PathAuditVerify, admin, nil, &check); code != 200 || !check.OK || check.Entries != f.trail.Head().Seq {
		t.Fatalf("verify: %d %+v", code, check)
	}
	// A trail edited behind the server's back does not verify.
	log := filepath.Join(f.dir, "data", "audit.log")
	b, _ := os.ReadFile(log)
	if err := os.WriteFile(log, bytes.Replace(b, []byte(`"alice"`), []byte(`"bobby"`), 1), 0o640); err != nil {
		t.Fatal(err)
	}
	if code := f.do("GET", wire.PathAuditVerify, admin, nil, &check); code != 200 || check.OK || !strings.Contains(check.Error, "does not verify") {
		t.Fatalf("verify after tampering: %d %+v", code, check)
	}
}

// A recording finalized without its audit.json (the server stopped in
// between, or it is older than the trail) gets one at start-up, with a
// Stop entry of the system's.
func TestFinishAudits(t *testing.T) {
	f := newFixture(t)
	f.record("rec1", 2)
	f.record("rec2", 1)
	if _, err := f.store.Stop("rec1", 2, t0); err != nil {
		t.Fatal(err)
	}
	if err := f.api.FinishAudits(); err != nil {
		t.Fatal(err)
	}
	if got := f.actions(audit.Filter{Action: audit.Stop}); !slices.Equal(got, []string{"system stop rec1"}) {
		t.Fatalf("stops: %v", got)
	}
	if err := f.api.FinishAudits(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.trail.Entries(audit.Filter{Action: audit.Stop})); n != 1 {
		t.Fatalf("a second start-up added stops: %d", n)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data", "recordings", "rec1", "audit.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "data", "recordings", "rec2", "audit.json")); !os.IsNotExist(err) {
		t.Fatalf("a recording still in progress got an audit.json: %v", err)
	}
}

// An action is acknowledged only once it is in the trail: with the trail
// closed, login, start and stop fail, and a retry once it is back finishes
// the job.
func TestNothingAcknowledgedBeforeAudited(t *testing.T) {
	f := newFixture(t)
	f.record("rec1", 1)
	if err := f.trail.Close(); err != nil {
		t.Fatal(err)
	}
	if code := f.do("POST", wire.PathLogin, "", wire.LoginRequest{Username: "alice", Password: operatorPassword}, nil); code != 500 {
		t.Fatalf("login: %d", code)
	}
	if code := f.do("POST", wire.PathRecordings, f.ticket, wire.CreateRequest{ID: "rec2", RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: t0}, nil); code != 500 {
		t.Fatalf("create: %d", code)
	}
	if code := f.do("POST", path(wire.PathStop, "id", "rec1"), f.ticket, wire.StopRequest{Count: 1, StoppedAt: t0}, nil); code != 500 {
		t.Fatalf("stop: %d", code)
	}
	if code := f.do("PATCH", wire.PathSettings, f.ticket, `{"mode":"unbuffered"}`, nil); code != 403 {
		t.Fatalf("patch: %d", code)
	}
	trail, err := audit.Open(audit.Config{Path: filepath.Join(f.dir, "data", "audit.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	f.api.trail = trail
	f.trail = trail
	if code := f.do("POST", wire.PathRecordings, f.ticket, wire.CreateRequest{ID: "rec2", RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: t0}, nil); code != 200 {
		t.Fatalf("create again: %d", code)
	}
	if code := f.do("POST", path(wire.PathStop, "id", "rec1"), f.ticket, wire.StopRequest{Count: 1, StoppedAt: t0}, nil); code != 200 {
		t.Fatalf("stop again: %d", code)
	}
	if got, want := f.actions(audit.Filter{}), []string{"alice login", "alice start rec1", "alice start rec2", "alice stop rec1"}; !slices.Equal(got, want) {
		t.Fatalf("trail %q, want %q", got, want)
	}
}
