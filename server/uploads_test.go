package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twincap/server/config"
	"twincap/server/evidence"
	"twincap/server/evidence/evidencetest"
	"twincap/server/pki"
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

// TestEvidenceOverHTTPSWithCAFile uploads to a real MinIO that serves
// https with a certificate from a private CA: with evidence_ca_file naming
// that CA the store is reached and its bucket checked; without it the
// certificate is refused. A CA file without a certificate is an error.
func TestEvidenceOverHTTPSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("evidence test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	store := evidencetest.StartTLS(t, certPEM, keyPEM, ca.Pool())
	store.MakeBucket(t, "evidence", false)
	creds, _ := json.Marshal(Credentials{AccessKey: store.AccessKey, SecretKey: store.SecretKey})
	caFile := filepath.Join(dir, "evidence-ca.pem")
	for name, b := range map[string][]byte{"creds.json": creds, "evidence-ca.pem": ca.CertPEM(), "empty.pem": []byte("no certificate here\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ev := settings.Evidence{Endpoint: "https://" + store.Endpoint, Bucket: "evidence", CredentialsRef: "creds.json"}
	check := func(caFile string) error {
		t.Helper()
		c, ok, err := EvidenceConfig(config.Config{CredentialsDir: dir, ServerID: "a", RoomID: "room1", EvidenceCAFile: caFile}, ev)
		if err != nil || !ok {
			t.Fatalf("EvidenceConfig: %v, %v", ok, err)
		}
		u, err := evidence.New(c)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return u.Check(ctx)
	}
	if err := check(caFile); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	if err := check(""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA file: %v; want the certificate refused", err)
	}
	if _, _, err := EvidenceConfig(config.Config{CredentialsDir: dir, ServerID: "a", RoomID: "room1", EvidenceCAFile: filepath.Join(dir, "empty.pem")}, ev); err == nil ||
		!strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("CA file without a certificate: %v", err)
	}
}
