package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `
listen = ":8443"
data_dir = "data"
server_id = "room1-a"
room_id = "Room 1"
ticket_ttl = "8h"
log_level = "debug"
`

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	p := write(t, good)
	dir := filepath.Dir(p)
	cfg, err := Load(p, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:             ":8443",
		DataDir:            filepath.Join(dir, "data"),
		ServerID:           "room1-a",
		RoomID:             "Room 1",
		RoomKeyFile:        filepath.Join(dir, "room.key"),
		TLSCertFile:        filepath.Join(dir, "server.pem"),
		TLSKeyFile:         filepath.Join(dir, "server.key"),
		UsersFile:          filepath.Join(dir, "data", "users.json"),
		CredentialsDir:     dir,
		TicketTTL:          Duration(8 * time.Hour),
		PasswordIterations: MinPasswordIterations,
		LogLevel:           LogDebug,
	}
	if cfg != want {
		t.Fatalf("cfg =\n%+v\nwant\n%+v", cfg, want)
	}
	// Environment beats the file.
	cfg, err = Load(p, env(map[string]string{
		"TWINCAP_SERVER_LISTEN":              "127.0.0.1",
		"TWINCAP_SERVER_SERVER_ID":           "room1-b",
		"TWINCAP_SERVER_TICKET_TTL":          "1h",
		"TWINCAP_SERVER_PASSWORD_ITERATIONS": "700000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8443" || cfg.ServerID != "room1-b" || cfg.TicketTTL != Duration(time.Hour) || cfg.PasswordIterations != 700000 {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{"unknown key", good + "colour = \"red\"\n", nil, "unknown keys: colour"},
		{"bad log level", strings.Replace(good, `"debug"`, `"loud"`, 1), nil, "unknown log level"},
		{"bad duration", strings.Replace(good, `"8h"`, `"eight"`, 1), nil, "eight"},
		{"ttl too short", strings.Replace(good, `"8h"`, `"1s"`, 1), nil, "ticket_ttl"},
		{"no server id", strings.Replace(good, `server_id = "room1-a"`, "", 1), nil, "server_id"},
		{"path-like server id", strings.Replace(good, `"room1-a"`, `"../a"`, 1), nil, "server_id"},
		{"no data dir", strings.Replace(good, `data_dir = "data"`, "", 1), nil, "data_dir is required"},
		{"bad listen", strings.Replace(good, `":8443"`, `":99999"`, 1), nil, "port must be"},
		{"not toml", "listen = ", nil, "config:"},
		{"weak iterations", good + "password_iterations = 1000\n", nil, "password_iterations"},
		{"env int", good, map[string]string{"TWINCAP_SERVER_PASSWORD_ITERATIONS": "many"}, "TWINCAP_SERVER_PASSWORD_ITERATIONS"},
		{"env enum", good, map[string]string{"TWINCAP_SERVER_LOG_LEVEL": "trace"}, "unknown log level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.file), env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	// Several problems are reported together.
	err := Config{}.Validate()
	if !errors.Is(err, ErrInvalid) || strings.Count(err.Error(), "\n") < 3 {
		t.Fatalf("Validate(zero) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("listen = 1\n"))
	f.Add([]byte("[x]\ny = 2"))
	f.Add([]byte(`ticket_ttl = "-5h"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, Default())
		if err != nil {
			return
		}
		// Whatever parses must validate or fail with words, never panic.
		cfg.resolve("base")
		cfg.normalize()
		if err := cfg.Validate(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate error does not wrap ErrInvalid: %v", err)
		}
	})
}

func TestCAFileIsRelativeToTheConfig(t *testing.T) {
	p := write(t, good+"ca_file = \"room/ca.pem\"\n")
	cfg, err := Load(p, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(p), "room", "ca.pem"); cfg.CAFile != want {
		t.Fatalf("ca_file = %q, want %q", cfg.CAFile, want)
	}
	if cfg, err = Load(write(t, good), env(nil)); err != nil || cfg.CAFile != "" {
		t.Fatalf("no ca_file: %q, %v; want empty (the chain in tls_cert_file)", cfg.CAFile, err)
	}
}
