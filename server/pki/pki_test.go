package pki

import (
	"crypto/tls"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestIssueAndHandshake(t *testing.T) {
	ca, err := NewCA("room1 CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.pem": ca.CertPEM(), "server.pem": certPEM, "server.key": keyPEM} {
		if err := WritePEM(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := LoadKeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := ReadPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("ok")) // fails for clients that refuse the certificate
			c.Close()
		}
	}()
	for _, tc := range []struct {
		name   string
		server string
		pool   bool
		ok     bool
	}{
		{"ip", "127.0.0.1", true, true},
		{"wrong name", "example.com", true, false},
		{"untrusted", "127.0.0.1", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{ServerName: tc.server}
			if tc.pool {
				cfg.RootCAs = pool
			} else {
				other, _ := NewCA("other")
				cfg.RootCAs = other.Pool()
			}
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("dial: %v", err)
			}
			if err == nil {
				b, _ := io.ReadAll(c)
				c.Close()
				if string(b) != "ok" {
					t.Fatalf("read %q", b)
				}
			}
		})
	}
	// A CA round-trips through PEM and can keep issuing.
	kp, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadCA(ca.CertPEM(), kp)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca2.IssueServer([]string{"10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.IssueServer(nil); err == nil {
		t.Fatal("no hosts accepted")
	}
}

func TestRoomPool(t *testing.T) {
	ca, err := NewCA("room1 CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.IssueServer([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, _ := strings.Cut(string(certPEM), "-----END CERTIFICATE-----\n")
	leaf += "-----END CERTIFICATE-----\n"
	dir := t.TempDir()
	files := map[string][]byte{"chain.pem": certPEM, "leaf.pem": []byte(leaf), "ca.pem": ca.CertPEM()}
	for name, data := range files {
		if err := WritePEM(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := NewCA("other")
	for _, tc := range []struct {
		name, cert, ca string
		ok             bool
	}{
		{"chain in the certificate file", "chain.pem", "", true},
		{"ca_file", "leaf.pem", "ca.pem", true},
		{"leaf alone", "leaf.pem", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caFile := ""
			if tc.ca != "" {
				caFile = filepath.Join(dir, tc.ca)
			}
			pool, err := RoomPool(filepath.Join(dir, tc.cert), caFile)
			if (err == nil) != tc.ok {
				t.Fatalf("RoomPool: %v", err)
			}
			if err != nil {
				return
			}
			if !pool.Equal(ca.Pool()) || pool.Equal(other.Pool()) {
				t.Fatal("the pool is not the room CA")
			}
		})
	}
}
