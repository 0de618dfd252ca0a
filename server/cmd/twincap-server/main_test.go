package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twincap/server/auth"
	"twincap/server/pki"
	"twincap/server/wire"
)

func runCmd(ctx context.Context, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "init-room"},
		{nil, 2, "Usage"},
		{[]string{"bogus"}, 2, "unknown command"},
		{[]string{"serve", "-h"}, 0, "-config"},
		{[]string{"useradd", "-h"}, 0, "-password-file"},
		{[]string{"passwd", "-h"}, 0, "-user"},
		{[]string{"init-room", "-h"}, 0, "-hosts"},
		{[]string{"useradd", "-h"}, 0, "-admin"},
		{[]string{"usermod", "-h"}, 0, "-admin"},
		{[]string{"settings", "-h"}, 0, "merge patch"},
		{[]string{"audit", "-h"}, 0, "set-aside"},
		{[]string{"serve"}, 2, "-config"},
		{[]string{"init-room", "-nope"}, 2, "flag provided but not defined"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := runCmd(context.Background(), "", tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("code %d, out %q, err %q", code, out, errs)
			}
		})
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestInitUseraddServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "room")
	if code, _, errs := runCmd(context.Background(), "", "init-room", "-out", dir, "-hosts", "127.0.0.1,localhost"); code != 0 {
		t.Fatalf("init-room: %s", errs)
	}
	if code, _, errs := runCmd(context.Background(), "", "init-room", "-out", dir); code != 1 || !strings.Contains(errs, "refusing") {
		t.Fatalf("second init-room: %d %s", code, errs)
	}
	addr := freePort(t)
	cfg := filepath.Join(dir, "a.toml")
	if err := os.WriteFile(cfg, []byte("listen = \""+addr+"\"\ndata_dir = \"data-a\"\nserver_id = \"a\"\nroom_id = \"room1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(context.Background(), "operator-pass\n", "useradd", "-config", cfg, "-user", "op"); code != 0 {
		t.Fatalf("useradd: %s", errs)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("new-password\n"), 0o600)
	if code, _, errs := runCmd(context.Background(), "", "passwd", "-config", cfg, "-user", "op", "-password-file", pw); code != 0 {
		t.Fatalf("passwd: %s", errs)
	}
	if code, _, errs := runCmd(context.Background(), "short\n", "useradd", "-config", cfg, "-user", "op2"); code != 1 || !strings.Contains(errs, "too short") {
		t.Fatalf("weak password: %d %s", code, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCmd(ctx, "", "serve", "-config", cfg)
		done <- code
	}()
	pool, err := pki.ReadPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	for range 100 {
		if resp, err = hc.Get("https://" + addr + wire.PathHealth); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	resp, err = hc.Post("https://"+addr+wire.PathLogin, "application/json", strings.NewReader(`{"username":"op","password":"new-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// startServe runs "serve" in this process until the test ends.
func startServe(t *testing.T, cfg, addr, caFile string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		code := run(ctx, []string{"serve", "-config", cfg}, strings.NewReader(""), io.Discard, &errb)
		done <- code
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, errb.String())
		}
	})
	pool, err := pki.ReadPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for range 200 {
		resp, err := hc.Get("https://" + addr + wire.PathHealth)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the server did not come up")
}

func TestSettingsAndAuditCommands(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "room")
	if code, _, errs := runCmd(ctx, "", "init-room", "-out", dir, "-hosts", "localhost,127.0.0.1"); code != 0 {
		t.Fatalf("init-room: %s", errs)
	}
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	// Listening on every interface: the command talks to this machine and
	// checks the certificate against the names it carries.
	cfg := filepath.Join(dir, "a.toml")
	if err := os.WriteFile(cfg, []byte("listen = \":"+port+"\"\ndata_dir = \"data-a\"\nserver_id = \"a\"\nroom_id = \"room1\"\npassword_iterations = 600000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(ctx, "chief-password\n", "useradd", "-config", cfg, "-user", "chief", "-admin"); code != 0 {
		t.Fatalf("useradd -admin: %s", errs)
	}
	// The users the commands log in as: few iterations keep the test fast
	// (each hash keeps its own count).
	users, err := auth.OpenUsers(filepath.Join(dir, "data-a", "users.json"), 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := users.IsAdmin("chief"); err != nil || !ok {
		t.Fatalf("useradd -admin made no administrator: %v", err)
	}
	if err := users.Add("boss", "boss-password", true); err != nil {
		t.Fatal(err)
	}
	if err := users.Add("op", "op-password", false); err != nil {
		t.Fatal(err)
	}
	startServe(t, cfg, "127.0.0.1:"+port, filepath.Join(dir, "ca.pem"))
	settingsCmd := func(stdin string, args ...string) (int, string, string) {
		return runCmd(ctx, stdin, append([]string{"settings", "-config", cfg}, args...)...)
	}
	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		code   int
		out    string // in stdout
		errOut string // in stderr
	}{
		{"show as an operator", "op-password\n", []string{"-user", "op", "show"}, 0, `"room_id": "room1"`, ""},
		{"patch as an operator", "op-password\n", []string{"-user", "op", "patch", `{"mode":"unbuffered"}`}, 1, "", "not an administrator"},
		{"patch", "boss-password\n", []string{"-user", "boss", "patch", `{"evidence":{"retry_attempts":3}}`}, 0, `"retry_attempts": 3`, ""},
		{"every bad field named", "boss-password\n", []string{"-user", "boss", "patch", `{"mode":"triple","evidence":{"retry_attempts":0}}`}, 1, "",
			"mode: wire: unknown mode"},
		{"wrong password", "nope\n", []string{"-user", "boss", "show"}, 1, "", "HTTP 401"},
		{"set - needs -password-file", "{}", []string{"-user", "boss", "set", "-"}, 1, "", "-password-file"},
		{"no subcommand", "", []string{"-user", "boss"}, 2, "", "Usage"},
		{"unknown subcommand", "", []string{"-user", "boss", "frobnicate"}, 2, "", "Usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := settingsCmd(tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.errOut) {
				t.Fatalf("code %d (want %d)\nstdout %s\nstderr %s", code, tc.code, out, errs)
			}
		})
	}
	_, _, errs := settingsCmd("boss-password\n", "-user", "boss", "patch", `{"mode":"triple","evidence":{"retry_attempts":0}}`)
	if !strings.Contains(errs, "evidence.retry_attempts:") {
		t.Fatalf("not every field named: %s", errs)
	}
	// set FILE replaces the whole document; -addr reaches a server by name.
	doc := filepath.Join(t.TempDir(), "settings.json")
	_ = os.WriteFile(doc, []byte(`{"room_id":"room1","device_id":"dev-1","device_url":"https://evidence.example/1"}`), 0o600)
	pw := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(pw, []byte("boss-password\n"), 0o600)
	code, out, errs := settingsCmd("", "-user", "boss", "-password-file", pw, "-addr", "localhost:"+port, "set", doc)
	if code != 0 || !strings.Contains(out, `"device_id": "dev-1"`) || !strings.Contains(out, `"retry_attempts": 5`) {
		t.Fatalf("set: %d\n%s\n%s", code, out, errs)
	}
	// The changes are in the trail, which verifies.
	code, out, errs = runCmd(ctx, "", "audit", "-config", cfg, "verify")
	if code != 0 || !strings.Contains(out, "verifies") {
		t.Fatalf("audit verify: %d %s %s", code, out, errs)
	}
	trail, err := os.ReadFile(filepath.Join(dir, "data-a", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(trail), `"action":"settings_change"`); n != 2 {
		t.Fatalf("%d settings changes in the trail, want 2:\n%s", n, trail)
	}
	if code, _, errs := runCmd(ctx, "", "audit", "-config", cfg, "set-aside"); code != 1 || !strings.Contains(errs, "nothing to set aside") {
		t.Fatalf("set-aside of a good trail: %d %s", code, errs)
	}
	// usermod demotes: the next request sees it.
	if code, _, errs := runCmd(ctx, "", "usermod", "-config", cfg, "-user", "boss", "-admin=false"); code != 0 {
		t.Fatalf("usermod: %s", errs)
	}
	if code, _, errs := settingsCmd("boss-password\n", "-user", "boss", "patch", `{"mode":"unbuffered"}`); code != 1 || !strings.Contains(errs, "HTTP 403") {
		t.Fatalf("demoted: %d %s", code, errs)
	}
	if code, _, _ := runCmd(ctx, "", "usermod", "-config", cfg, "-user", "boss"); code != 2 {
		t.Fatalf("usermod without -admin: %d", code)
	}
}

func TestAuditSetAside(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "a.toml")
	if err := os.WriteFile(cfg, []byte("data_dir = \"data\"\nserver_id = \"a\"\nroom_id = \"room1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	trail := filepath.Join(dir, "data", "audit.log")
	_ = os.MkdirAll(filepath.Dir(trail), 0o750)
	if err := os.WriteFile(trail, []byte("{\"seq\":1}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd(context.Background(), "", "audit", "-config", cfg, "verify"); code != 1 || !strings.Contains(errs, "does not verify") {
		t.Fatalf("verify: %d %s", code, errs)
	}
	if code, out, errs := runCmd(context.Background(), "", "audit", "-config", cfg, "set-aside"); code != 0 || !strings.Contains(out, "moved to") {
		t.Fatalf("set-aside: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(trail); !os.IsNotExist(err) {
		t.Fatalf("the broken trail is still there: %v", err)
	}
}
