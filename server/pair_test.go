package server_test

import (
	"crypto/fips140"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"twincap/server"
	"twincap/server/pair"
	"twincap/server/servertest"
	"twincap/server/settings"
	"twincap/server/wire"
)

func login(t *testing.T, c *client, user, pass string) {
	t.Helper()
	var rep wire.LoginReply
	if code := c.do("POST", wire.PathLogin, wire.LoginRequest{Username: user, Password: pass}, nil, &rep); code != 200 {
		t.Fatalf("login %s on %s: %d", user, c.base, code)
	}
	c.ticket = rep.Ticket
}

// The two servers read each other's settings over TLS with the room CA
// (from their certificate chain) and a peer token, and compare them.
func TestPairCheckOverTLS(t *testing.T) {
	room := servertest.NewRoom(t, 2, servertest.Options{})
	a := &client{t: t, hc: room.Client(), base: room.Servers[0].URL()}
	b := &client{t: t, hc: room.Client(), base: room.Servers[1].URL()}
	login(t, a, servertest.Admin, servertest.AdminPassword)
	login(t, b, servertest.Admin, servertest.AdminPassword)
	report := func(c *client) pair.Report {
		t.Helper()
		var r pair.Report
		if code := c.do("GET", wire.PathPair+"?refresh=1", nil, nil, &r); code != 200 {
			t.Fatalf("pair on %s: %d", c.base, code)
		}
		return r
	}
	if r := report(a); r.State != pair.Unpaired {
		t.Fatalf("before pairing: %+v", r)
	}
	patch := func(c *client, doc string) {
		t.Helper()
		var e wire.SettingsError
		if code := c.do("PATCH", wire.PathSettings, []byte(doc), nil, &e); code != 200 {
			t.Fatalf("patch %s on %s: %d %+v", doc, c.base, code, e)
		}
	}
	paired := fmt.Sprintf(`"preferred":%q,"redundant":%q`, room.Servers[0].Addr(), room.Servers[1].Addr())
	patch(a, `{"paired":{"role":"preferred",`+paired+`}}`)
	patch(b, `{"paired":{"role":"redundant",`+paired+`}}`)
	for _, c := range []*client{a, b} {
		if r := report(c); r.State != pair.Match || r.Error != "" {
			t.Fatalf("paired, same settings, on %s: %+v", c.base, r)
		}
	}
	var ha, hb wire.Health
	a.do("GET", wire.PathHealth, nil, nil, &ha)
	b.do("GET", wire.PathHealth, nil, nil, &hb)
	if ha.SettingsFingerprint != hb.SettingsFingerprint || ha.FIPS != fips140.Enabled() {
		t.Fatalf("health: %+v and %+v", ha, hb)
	}

	patch(b, `{"device_id":"dev-2","device_url":"https://evidence.example/2","evidence":{"retry_attempts":9}}`)
	r := report(a)
	if r.State != pair.Blocking || !slices.Equal(r.Blocking, []string{"Device ID", "Device URL"}) || r.NonBlocking != 1 ||
		!strings.Contains(r.Message, "Device ID and Device URL") {
		t.Fatalf("after b's device changed: %+v", r)
	}
	b.do("GET", wire.PathHealth, nil, nil, &hb)
	if ha.SettingsFingerprint == hb.SettingsFingerprint {
		t.Fatal("fingerprints still equal")
	}
	// The last report stays until the next check.
	var last pair.Report
	if code := a.do("GET", wire.PathPair, nil, nil, &last); code != 200 || last.State != pair.Blocking {
		t.Fatalf("last: %d %+v", code, last)
	}
	// The paired server down: unreachable, said so.
	room.Servers[1].Stop()
	if r := report(a); r.State != pair.Unreachable || r.Error == "" {
		t.Fatalf("peer down: %+v", r)
	}
}

// A server whose settings require FIPS 140-3 mode does not start outside
// it; EnterFIPS re-executes the program with GODEBUG=fips140=on.
func TestFIPSSettings(t *testing.T) {
	room := servertest.NewRoom(t, 1, servertest.Options{})
	srv := room.Servers[0]
	srv.Stop()
	path := server.SettingsPath(srv.Config)
	s, err := settings.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s.FIPS = true
	if err := settings.Save(path, s); err != nil {
		t.Fatal(err)
	}
	_, err = server.New(srv.Config, nil)
	if fips140.Enabled() {
		if err != nil {
			t.Fatalf("in FIPS mode: %v", err)
		}
	} else if !errors.Is(err, settings.ErrFIPS) {
		t.Fatalf("New outside FIPS mode = %v, want ErrFIPS", err)
	}

	var execs [][]string
	exec := func(env []string) error { execs = append(execs, env); return nil }
	for _, tc := range []struct {
		name    string
		path    string
		enabled bool
		env     []string
		execd   bool
		err     error
		godebug string
	}{
		{"fips asked, not on", path, false, []string{"HOME=/h", "GODEBUG=http2debug=1,fips140=off"}, true, nil, "GODEBUG=fips140=on,http2debug=1"},
		{"fips asked, on", path, true, nil, false, nil, ""},
		{"re-executed and still not on", path, false, []string{server.ReexecEnv + "=1"}, false, settings.ErrFIPS, ""},
		{"no settings file", filepath.Join(t.TempDir(), "settings.json"), false, nil, false, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			execs = nil
			err := server.EnterFIPS(tc.path, tc.enabled, tc.env, exec)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("EnterFIPS = %v, want %v", err, tc.err)
			}
			if (len(execs) == 1) != tc.execd {
				t.Fatalf("exec'd %d times", len(execs))
			}
			if tc.execd {
				env := execs[0]
				if !slices.Contains(env, tc.godebug) || !slices.Contains(env, server.ReexecEnv+"=1") || !slices.Contains(env, "HOME=/h") {
					t.Fatalf("env %q", env)
				}
			}
		})
	}
}
