package httpapi

import (
	"context"
	"crypto/fips140"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/pair"
	"twincap/server/settings"
	"twincap/server/wire"
)

func TestSettingsRoutes(t *testing.T) {
	f := newFixture(t)
	admin := f.login("root", adminPassword)
	var got settings.Settings
	if code := f.do("GET", wire.PathSettings, f.ticket, nil, &got); code != 200 || got.RoomID != "room1" {
		t.Fatalf("GET as an operator: %d %+v", code, got)
	}
	for _, m := range []string{"PATCH", "PUT"} {
		var e wire.Error
		if code := f.do(m, wire.PathSettings, f.ticket, `{"evidence":{"retry_attempts":7}}`, &e); code != http.StatusForbidden || !strings.Contains(e.Error, "not an administrator") {
			t.Fatalf("%s as an operator: %d %q", m, code, e.Error)
		}
	}
	if f.settings.Get().Evidence.RetryAttempts != settings.Default().Evidence.RetryAttempts {
		t.Fatal("an operator changed the settings")
	}

	for _, tc := range []struct {
		name, method, body string
		code               int
		fields             []string // named in the 400
		retry              int      // evidence.retry_attempts after
	}{
		{"patch", "PATCH", `{"evidence":{"retry_attempts":7}}`, 200, nil, 7},
		{"every bad field named", "PATCH", `{"evidence":{"retry_attempts":0,"colour":1},"mode":"triple","device_url":"ftp://x"}`, 400,
			[]string{"evidence.retry_attempts", "evidence.colour", "mode", "device_url"}, 7},
		{"another room", "PATCH", `{"room_id":"room9","fallback":"sometimes"}`, 400, []string{"fallback", "room_id"}, 7},
		{"another room alone", "PATCH", `{"room_id":"room9"}`, 400, []string{"room_id"}, 7},
		{"the same room", "PATCH", `{"room_id":"room1"}`, 200, nil, 7},
		{"not JSON", "PATCH", `retry=3`, 400, []string{""}, 7},
		{"null", "PATCH", `{"evidence":null}`, 400, []string{"evidence"}, 7},
		{"put: the rest takes its default", "PUT", `{"room_id":"room1","device_id":"dev-1","device_url":"https://evidence.example/1"}`, 200, nil, 5},
		{"put without a room", "PUT", `{}`, 400, []string{"room_id"}, 5},
		{"too large", "PATCH", `{"device_id":"` + strings.Repeat("x", settings.MaxDocument) + `"}`, 413, nil, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.settings.Get()
			resp := f.req(tc.method, wire.PathSettings, admin, tc.body, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			after := f.settings.Get()
			if after.Evidence.RetryAttempts != tc.retry {
				t.Fatalf("retry_attempts %d, want %d", after.Evidence.RetryAttempts, tc.retry)
			}
			if tc.code != 200 {
				if c := settings.Compare(before, after); len(c.Differences) != 0 {
					t.Fatalf("a refused change changed %v", c.Differences)
				}
			}
			if tc.code == 200 {
				var s settings.Settings
				if err := json.Unmarshal(body, &s); err != nil || len(settings.Compare(s, after).Differences) != 0 {
					t.Fatalf("reply %s is not the settings now (%v)", body, err)
				}
				// Durable: the file says the same.
				disk, err := settings.Load(f.dir + "/data/settings.json")
				if err != nil || len(settings.Compare(disk, after).Differences) != 0 {
					t.Fatalf("settings file: %+v, %v", disk, err)
				}
			}
			if tc.fields != nil {
				var e wire.SettingsError
				if err := json.Unmarshal(body, &e); err != nil {
					t.Fatal(err)
				}
				var named []string
				for _, p := range e.Fields {
					named = append(named, p.Field)
				}
				slices.Sort(named)
				want := slices.Sorted(slices.Values(tc.fields))
				if !slices.Equal(named, want) || e.Error == "" {
					t.Fatalf("named %q, want %q (%s)", named, want, body)
				}
			}
		})
	}
	// Every change is in the trail, with the admin as actor and what changed.
	changes := f.trail.Entries(audit.Filter{Action: audit.SettingsChange})
	if len(changes) != 3 {
		t.Fatalf("%d settings changes audited, want 3: %+v", len(changes), changes)
	}
	for i, want := range []string{"Retry attempts (evidence.retry_attempts, non-blocking): 5 vs 7", "PATCH: 0 settings changed", "Device ID (device_id, blocking): \"\" vs \"dev-1\""} {
		if changes[i].Actor != "root" || !strings.Contains(changes[i].Details, want) {
			t.Errorf("change %d: %s %q; want root and %q", i, changes[i].Actor, changes[i].Details, want)
		}
	}
}

// An administrator of another server of the room is nobody here: each
// server's users file decides.
func TestAdminIsPerServer(t *testing.T) {
	f := newFixture(t)
	if err := f.auth.Users().SetAdmin("root", false); err != nil {
		t.Fatal(err)
	}
	admin := f.login("root", adminPassword)
	if code := f.do("PATCH", wire.PathSettings, admin, `{"mode":"unbuffered"}`, nil); code != http.StatusForbidden {
		t.Fatalf("demoted admin: %d", code)
	}
	if code := f.do("GET", wire.PathAuditTrail, admin, nil, nil); code != http.StatusForbidden {
		t.Fatalf("demoted admin reads the trail: %d", code)
	}
}

func TestPeerSettings(t *testing.T) {
	f := newFixture(t)
	key, _ := auth.NewRoomKey()
	stranger, _ := auth.NewTickets(key, "room1", 0, nil)
	for _, tc := range []struct {
		name, auth string
		code       int
	}{
		{"peer token", wire.PeerScheme + " " + f.auth.PeerToken("b"), 200},
		{"no token", "", 401},
		{"a ticket", "Bearer " + f.ticket, 401},
		{"a ticket as a peer token", wire.PeerScheme + " " + f.ticket, 401},
		{"another room key", wire.PeerScheme + " " + stranger.PeerToken("b"), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.req("GET", wire.PathPeerSettings, "", nil, map[string]string{wire.HeaderAuthorization: tc.auth})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if tc.code == 200 {
				if s, err := settings.Decode(body); err != nil || s.RoomID != "room1" {
					t.Fatalf("settings %s: %v", body, err)
				}
			}
		})
	}
}

type fakePair struct {
	last, checked pair.Report
	nudged        int
}

func (p *fakePair) Last() pair.Report                          { return p.last }
func (p *fakePair) Check(context.Context) (pair.Report, error) { return p.checked, nil }
func (p *fakePair) Nudge()                                     { p.nudged++ }

func TestPairRoute(t *testing.T) {
	f := newFixture(t)
	if code := f.do("GET", wire.PathPair, f.ticket, nil, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("without a checker: %d", code)
	}
	p := &fakePair{last: pair.Report{State: pair.Match}, checked: pair.Report{State: pair.Blocking, Blocking: []string{"FIPS"}}}
	f = newFixtureWith(t, p)
	var r pair.Report
	if code := f.do("GET", wire.PathPair, f.ticket, nil, &r); code != 200 || r.State != pair.Match {
		t.Fatalf("last: %d %+v", code, r)
	}
	if code := f.do("GET", wire.PathPair+"?refresh=1", f.ticket, nil, &r); code != 200 || r.State != pair.Blocking || r.Blocking[0] != "FIPS" {
		t.Fatalf("refresh: %d %+v", code, r)
	}
	if code := f.do("PATCH", wire.PathSettings, f.login("root", adminPassword), `{"fips":true}`, nil); code != 200 || p.nudged != 1 {
		t.Fatalf("a settings change: %d, nudged %d times", code, p.nudged)
	}
}

func TestHealthSaysFIPSAndFingerprint(t *testing.T) {
	f := newFixture(t)
	var h wire.Health
	if code := f.do("GET", wire.PathHealth, "", nil, &h); code != 200 || h.FIPS != fips140.Enabled() || h.SettingsFingerprint != settings.Fingerprint(f.settings.Get()) {
		t.Fatalf("health: %d %+v", code, h)
	}
	before := h.SettingsFingerprint
	if code := f.do("PATCH", wire.PathSettings, f.login("root", adminPassword), `{"evidence":{"retry_attempts":9}}`, nil); code != 200 {
		t.Fatal(code)
	}
	f.do("GET", wire.PathHealth, "", nil, &h)
	if h.SettingsFingerprint == before {
		t.Fatal("the fingerprint did not follow a non-blocking change")
	}
	f.do("PATCH", wire.PathSettings, f.login("root", adminPassword), `{"paired":{"role":"redundant","preferred":"10.0.0.1"}}`, nil)
	var h2 wire.Health
	f.do("GET", wire.PathHealth, "", nil, &h2)
	if h2.SettingsFingerprint != h.SettingsFingerprint {
		t.Fatal("the fingerprint changed with an ignored setting")
	}
}
