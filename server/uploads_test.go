package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twincap/server/config"
	"twincap/server/settings"
)

func TestEvidenceConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "good.json"), []byte(`{"access_key":"ak","secret_key":"sk"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "half.json"), []byte(`{"access_key":"ak"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.json"), []byte(`{"access_key":"ak","secret_key":"sk","token":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{CredentialsDir: dir, ServerID: "a", RoomID: "room 1"}
	for _, tc := range []struct {
		name     string
		ev       settings.Evidence
		ok       bool
		endpoint string
		secure   bool
		days     int
		err      string
	}{
		{name: "not configured", ev: settings.Evidence{}},
		{name: "no bucket", ev: settings.Evidence{Endpoint: "https://s3.example"}},
		{name: "https default port", ev: settings.Evidence{Endpoint: "https://s3.example", Bucket: "bkt", CredentialsRef: "good.json"},
			ok: true, endpoint: "s3.example:443", secure: true},
		{name: "http with port", ev: settings.Evidence{Endpoint: "http://127.0.0.1:9000/", Bucket: "bkt", CredentialsRef: "good.json"},
			ok: true, endpoint: "127.0.0.1:9000"},
		{name: "retention rounds up to days", ev: settings.Evidence{Endpoint: "https://[::1]:9000", Bucket: "bkt", CredentialsRef: "good.json",
			ObjectLockRetention: settings.Duration(25 * time.Hour)}, ok: true, endpoint: "[::1]:9000", secure: true, days: 2},
		{name: "path", ev: settings.Evidence{Endpoint: "https://s3.example/bucket", Bucket: "bkt", CredentialsRef: "good.json"}, ok: true, err: "scheme://host"},
		{name: "scheme", ev: settings.Evidence{Endpoint: "ftp://s3.example", Bucket: "bkt", CredentialsRef: "good.json"}, ok: true, err: "http or https"},
		{name: "missing file", ev: settings.Evidence{Endpoint: "https://s3.example", Bucket: "bkt", CredentialsRef: "nope.json"}, ok: true, err: "no such file"},
		{name: "half", ev: settings.Evidence{Endpoint: "https://s3.example", Bucket: "bkt", CredentialsRef: "half.json"}, ok: true, err: "both required"},
		{name: "unknown key", ev: settings.Evidence{Endpoint: "https://s3.example", Bucket: "bkt", CredentialsRef: "extra.json"}, ok: true, err: "unknown field"},
		{name: "path in ref", ev: settings.Evidence{Endpoint: "https://s3.example", Bucket: "bkt", CredentialsRef: "../good.json"}, ok: true, err: "file name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok, err := EvidenceConfig(cfg, tc.ev)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if c.Endpoint != tc.endpoint || c.Secure != tc.secure || c.RetentionDays != tc.days ||
				c.AccessKey != "ak" || c.SecretKey != "sk" || c.ServerID != "a" || c.RoomID != "room 1" || c.Bucket != "bkt" {
				t.Fatalf("config %+v", c)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
