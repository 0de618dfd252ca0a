package box

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"twincap/firmware/config"
	"twincap/server/audit"
	"twincap/server/servertest"
	"twincap/server/wire"
)

// updateEntries is the update entries of server s's audit trail.
func updateEntries(t *testing.T, room *servertest.Room, s *servertest.Server) []audit.Entry {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL()+wire.PathAuditTrail+"?action=update", nil)
	req.Header.Set(wire.HeaderAuthorization, "Bearer "+adminTicket(t, room, s))
	resp, err := room.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []audit.Entry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("audit: %d %v", resp.StatusCode, err)
	}
	return out
}

// An update report reaches both servers' audit trails once each: at once
// on the server that is up, and on the other when it returns. Until then
// it is kept on disk.
func TestUpdateReportsReachBothTrails(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	stage := t.TempDir()
	b := newTestBox(t, room, func(c *config.Config) {
		c.Update = config.Update{Source: "https://127.0.0.1:9/updates", PublicKeys: []string{"release.pem"}, Board: "qemu-x86_64",
			CheckInterval: config.Duration{Duration: time.Hour}, StageDir: stage, Installer: config.InstallerSysupdate}
	})
	ctx := context.Background()
	waitStatus(t, b, "two green icons", func(s Status) bool { return s.FailoverReady })
	if err := b.Login(ctx, servertest.User, servertest.Password); err != nil {
		t.Fatal(err)
	}
	pref, red := room.Servers[0], room.Servers[1]
	red.Stop()
	waitStatus(t, b, "the redundant server offline", func(s Status) bool { return !s.Servers[1].Green })

	b.ReportUpdate(wire.UpdateReport{Event: wire.UpdateRebooting, Running: "1.0.0", Version: "1.1.0", At: time.Now()})
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("the preferred server's entry", func() bool { return len(updateEntries(t, room, pref)) == 1 })
	e := updateEntries(t, room, pref)[0]
	if e.Actor != "box box" || !strings.Contains(e.Details, "rebooting; running 1.0.0; version 1.1.0") || !strings.Contains(e.Details, "reported with "+servertest.User+"'s ticket") {
		t.Fatalf("entry %s %q", e.Actor, e.Details)
	}

	// Kept on disk for the server that is away, and only for it.
	o, err := openOutbox(stage, b.names)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.pending[0]) != 0 || len(o.pending[1]) != 1 || o.pending[1][0].Event != wire.UpdateRebooting {
		t.Fatalf("kept on disk: %+v", o.pending)
	}

	red.Restart()
	wait("the redundant server's entry", func() bool { return len(updateEntries(t, room, red)) == 1 })
	wait("nothing left to send", func() bool {
		o, err := openOutbox(stage, b.names)
		return err == nil && len(o.pending[0]) == 0 && len(o.pending[1]) == 0
	})
	if r := updateEntries(t, room, red)[0]; r.Details != e.Details {
		t.Errorf("the two servers audited different reports:\n%s\n%s", e.Details, r.Details)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(updateEntries(t, room, pref)); n != 1 {
		t.Fatalf("the preferred server audited the report %d times", n)
	}
}
