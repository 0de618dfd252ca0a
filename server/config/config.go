package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("config: invalid")

// MinPasswordIterations is the least PBKDF2 count accepted for new
// passwords (OWASP 2023 for PBKDF2-HMAC-SHA256).
const MinPasswordIterations = 600_000

// EnvPrefix starts every environment override.
const EnvPrefix = "TWINCAP_SERVER_"

// Duration is a time.Duration written as "12h", "90m".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// LogLevel is one of debug, info, warn, error.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// UnmarshalText rejects unknown levels.
func (l *LogLevel) UnmarshalText(b []byte) error {
	switch v := LogLevel(b); v {
	case LogDebug, LogInfo, LogWarn, LogError:
		*l = v
		return nil
	}
	return fmt.Errorf("unknown log level %q (want debug, info, warn or error)", b)
}

// Config is a room server's configuration. Keys in the TOML file are the
// toml tags; each has an environment override TWINCAP_SERVER_<KEY in upper case>.
type Config struct {
	// Listen is host:port for HTTPS. A missing port means wire.DefaultPort;
	// port 0 picks a free port (tests). Default: loopback only, so a
	// server is never exposed by accident; set ":8443" to serve the room.
	Listen   string `toml:"listen"`
	DataDir  string `toml:"data_dir"`  // required: recordings live here
	ServerID string `toml:"server_id"` // required: this server's stable name
	RoomID   string `toml:"room_id"`   // required: same on both servers of a room
	// RoomKeyFile holds the 32-byte key both servers of the room share.
	RoomKeyFile string `toml:"room_key_file"`
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// CAFile is the room CA that the paired server's certificate is
	// checked against. Empty: the CA certificates that follow this
	// server's certificate in TLSCertFile (init-room writes them there).
	CAFile string `toml:"ca_file"`
	// UsersFile defaults to <data_dir>/users.json.
	UsersFile string `toml:"users_file"`
	// CredentialsDir holds the credentials files that settings name by
	// reference (evidence.credentials_ref); the secrets never enter the
	// settings. Default: the config file's folder.
	CredentialsDir string `toml:"credentials_dir"`
	// EvidenceCAFile holds CA certificates (PEM) that an https evidence
	// store's certificate is checked against as well as the system's: a
	// store with a private CA. Empty: the system's CAs only.
	EvidenceCAFile     string   `toml:"evidence_ca_file"`
	TicketTTL          Duration `toml:"ticket_ttl"`
	PasswordIterations int      `toml:"password_iterations"`
	LogLevel           LogLevel `toml:"log_level"`
}

// Default is the configuration before any file or environment.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:" + strconv.Itoa(wire.DefaultPort),
		RoomKeyFile:        "room.key",
		CredentialsDir:     ".",
		TLSCertFile:        "server.pem",
		TLSKeyFile:         "server.key",
		TicketTTL:          Duration(12 * time.Hour),
		PasswordIterations: MinPasswordIterations,
		LogLevel:           LogInfo,
	}
}

// Load reads defaults, then the file at path (if not empty), then the
// environment (getenv is os.LookupEnv in production), then validates.
func Load(path string, getenv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	base := "."
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		base = filepath.Dir(path)
		if cfg, err = Parse(b, cfg); err != nil {
			return Config{}, fmt.Errorf("%w (in %s)", err, path)
		}
	}
	cfg.resolve(base)
	if getenv != nil {
		if err := cfg.applyEnv(getenv); err != nil {
			return Config{}, err
		}
	}
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Parse decodes TOML over cfg, refusing unknown keys. It neither resolves
// paths nor validates.
func Parse(data []byte, cfg Config) (Config, error) {
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config: unknown keys: %s", strings.Join(keys, ", "))
	}
	return cfg, nil
}

// resolve makes relative file paths relative to base.
func (c *Config) resolve(base string) {
	for _, p := range []*string{&c.DataDir, &c.RoomKeyFile, &c.TLSCertFile, &c.TLSKeyFile, &c.CAFile, &c.UsersFile, &c.CredentialsDir, &c.EvidenceCAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
}

// applyEnv overrides fields from TWINCAP_SERVER_<TOML KEY>.
func (c *Config) applyEnv(getenv func(string) (string, bool)) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name := EnvPrefix + strings.ToUpper(t.Field(i).Tag.Get("toml"))
		s, ok := getenv(name)
		if !ok {
			continue
		}
		f := v.Field(i)
		if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
			if err := u.UnmarshalText([]byte(s)); err != nil {
				return fmt.Errorf("config: %s: %w", name, err)
			}
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(s)
		case reflect.Int:
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("config: %s: want an integer: %w", name, err)
			}
			f.SetInt(int64(n))
		default:
			return fmt.Errorf("config: %s: unsupported field kind %s", name, f.Kind())
		}
	}
	return nil
}

// normalize fills in the default port.
func (c *Config) normalize() {
	if c.Listen != "" && !strings.Contains(c.Listen, ":") {
		c.Listen = net.JoinHostPort(c.Listen, strconv.Itoa(wire.DefaultPort))
	}
	if c.UsersFile == "" && c.DataDir != "" {
		c.UsersFile = filepath.Join(c.DataDir, "users.json")
	}
}

// Validate says, in words an operator can act on, what is wrong.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q: want host:port, e.g. \":%d\" or \"127.0.0.1:%d\"", c.Listen, wire.DefaultPort, wire.DefaultPort)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		bad("listen %q: port must be 0-65535", c.Listen)
	}
	if c.DataDir == "" {
		bad("data_dir is required (where recordings are stored)")
	}
	if err := segment.ValidateID(c.ServerID); err != nil {
		bad("server_id %q: want 1-64 of letters, digits, '-' and '_' (e.g. \"room1-a\")", c.ServerID)
	}
	if c.RoomID == "" || len(c.RoomID) > 128 || strings.ContainsFunc(c.RoomID, func(r rune) bool { return !unicode.IsPrint(r) }) {
		bad("room_id %q: want 1-128 printable characters, the same on both servers of the room", c.RoomID)
	}
	for _, f := range []struct{ key, v string }{{"room_key_file", c.RoomKeyFile}, {"tls_cert_file", c.TLSCertFile}, {"tls_key_file", c.TLSKeyFile}, {"users_file", c.UsersFile}} {
		if f.v == "" {
			bad("%s is required", f.key)
		}
	}
	if d := time.Duration(c.TicketTTL); d < time.Minute || d > 7*24*time.Hour {
		bad("ticket_ttl %v: want between 1m and 168h", d)
	}
	if c.PasswordIterations < MinPasswordIterations {
		bad("password_iterations %d: want at least %d", c.PasswordIterations, MinPasswordIterations)
	}
	if err := new(LogLevel).UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log_level: %v", err)
	}
	return errors.Join(errs...)
}
