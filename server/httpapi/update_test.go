package httpapi

import (
	"strings"
	"testing"

	"twincap/server/audit"
	"twincap/server/wire"
)

// Each step of a box's update the box reports is one update entry, by the
// box, naming the user whose ticket it used; a report sent again is audited
// once; a malformed one is refused and nothing is written.
func TestBoxUpdateIsAudited(t *testing.T) {
	f := newFixture(t)
	rep := wire.UpdateReport{ID: "u1", BoxID: "box1", Event: wire.UpdateRebooting, Running: "1.0.0", Version: "1.1.0", At: t0}
	for range 2 {
		if code := f.do("POST", wire.PathBoxUpdate, f.ticket, rep, nil); code != 204 {
			t.Fatalf("report: %d", code)
		}
	}
	back := wire.UpdateReport{ID: "u2", BoxID: "box1", Event: wire.UpdateRolledBack, Running: "1.0.0", Version: "1.1.0", Reason: "1.1.0 did not come up", At: t0}
	if code := f.do("POST", wire.PathBoxUpdate, f.ticket, back, nil); code != 204 {
		t.Fatalf("report: %d", code)
	}
	got := f.trail.Entries(audit.Filter{Action: audit.Update})
	if len(got) != 2 {
		t.Fatalf("%d update entries, want 2: %+v", len(got), got)
	}
	for i, want := range []string{"report u1: rebooting; running 1.0.0; version 1.1.0", "report u2: rolled_back; running 1.0.0; version 1.1.0; 1.1.0 did not come up"} {
		e := got[i]
		if e.Actor != "box box1" || !strings.HasPrefix(e.Details, want) || !strings.Contains(e.Details, "reported with alice's ticket") {
			t.Errorf("entry %d: %s %q; want box box1 %q, reported with alice's ticket", i, e.Actor, e.Details, want)
		}
	}

	n := len(f.trail.Entries(audit.Filter{}))
	for _, tc := range []struct{ name, body string }{
		{"unknown event", `{"id":"u3","box_id":"box1","event":"exploded","running":"1.0.0","at":"2026-01-01T00:00:00Z"}`},
		{"no id", `{"box_id":"box1","event":"updated","running":"1.0.0","at":"2026-01-01T00:00:00Z"}`},
		{"no box", `{"id":"u3","event":"updated","running":"1.0.0","at":"2026-01-01T00:00:00Z"}`},
		{"no time", `{"id":"u3","box_id":"box1","event":"updated","running":"1.0.0"}`},
		{"control character", `{"id":"u3","box_id":"box\n1","event":"updated","running":"1.0.0","at":"2026-01-01T00:00:00Z"}`},
		{"unknown field", `{"id":"u3","box_id":"box1","event":"updated","running":"1.0.0","at":"2026-01-01T00:00:00Z","x":1}`},
		{"huge reason", `{"id":"u3","box_id":"box1","event":"failed","running":"1.0.0","at":"2026-01-01T00:00:00Z","reason":"` + strings.Repeat("x", wire.MaxUpdateReason+1) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e wire.Error
			if code := f.do("POST", wire.PathBoxUpdate, f.ticket, tc.body, &e); code != 400 || e.Error == "" {
				t.Fatalf("status %d (%q), want 400 with a message", code, e.Error)
			}
		})
	}
	if m := len(f.trail.Entries(audit.Filter{})); m != n {
		t.Fatalf("refused reports changed the trail: %d entries, then %d", n, m)
	}
}
