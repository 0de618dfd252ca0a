package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
