package settings

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"twincap/firmware/policy"
	"twincap/server/wire"
)

// ErrInvalid is wrapped by every error about a settings document or value.
var ErrInvalid = errors.New("settings: invalid")

// ErrFIPS says that the settings require FIPS 140-3 mode and the process is
// not running in it.
var ErrFIPS = errors.New("settings: FIPS mode is required but not enabled")

// Settings is everything an administrator sets on one room server. The
// json tag is the field's name in the admin API and in messages; label is
// what an operator reads; compare is the seed's class for a difference
// between the two servers of a room (no tag: non-blocking).
type Settings struct {
	// RoomID names the room; the box refuses to record unless both
	// servers agree on it.
	RoomID string `json:"room_id" label:"Room ID" compare:"blocking"`
	// DeviceID is the identity of the room's recording device as the
	// evidence store knows it: both servers upload the same recording
	// under it, so a second upload lands on the same evidence. Empty:
	// not registered yet.
	DeviceID string `json:"device_id" label:"Device ID" compare:"blocking"`
	// DeviceURL is where that device is registered (http or https);
	// empty when DeviceID is.
	DeviceURL string `json:"device_url" label:"Device URL" compare:"blocking"`
	// FIPS requires the server to run in FIPS 140-3 mode (see CheckFIPS)
	// and the evidence endpoint to use TLS.
	FIPS bool `json:"fips" label:"FIPS" compare:"blocking"`
	// Paired names the two servers of the room; each server says which
	// one it is, so the two documents differ by design.
	Paired Paired `json:"paired" label:"Paired server" compare:"ignored"`
	// Source is what the box captures from; it may differ per server.
	Source Source `json:"source" label:"Source" compare:"ignored"`
	// Maintenance lists when the server may do disruptive work (apply an
	// update, restart). The two servers should use different windows so
	// that they are never down together.
	Maintenance []Window `json:"maintenance,omitempty" label:"Maintenance times" compare:"ignored"`
	// Fallback is the server-failure fallback: which servers must be able
	// to start a recording before an interview starts (any, preferred,
	// all). A running interview goes on while any server is available.
	Fallback policy.Fallback `json:"fallback" label:"Server failure fallback"`
	// Mode is buffered (the box journals every segment and backfills a
	// server that returns) or unbuffered.
	Mode wire.Mode `json:"mode" label:"Buffer mode"`
	// Evidence is the evidence-store upload.
	Evidence Evidence `json:"evidence" label:"Evidence upload"`
}

// Role says which server of the room this one is.
type Role string

// Roles.
const (
	Preferred Role = "preferred"
	Redundant Role = "redundant"
)

// ParseRole rejects unknown roles.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case Preferred, Redundant:
		return Role(s), nil
	}
	return "", fmt.Errorf("unknown role %q (want preferred or redundant)", s)
}

// UnmarshalText rejects unknown roles wherever a Role is decoded.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Addr is a room server's address: host or host:port. Port 0, or no port,
// means the standard port wire.DefaultPort.
type Addr string

// HostPort resolves the standard port and checks the address.
func (a Addr) HostPort() (string, error) {
	s := string(a)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare host, a bare IPv6 address, or one in brackets.
		switch {
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' && net.ParseIP(s[1:len(s)-1]) != nil:
			host = s[1 : len(s)-1]
		case !strings.ContainsAny(s, ":[]") || net.ParseIP(s) != nil:
			host = s
		default:
			return "", fmt.Errorf("address %q: want host or host:port", s)
		}
		port = "0"
	}
	if host == "" || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == '/' || r >= 0x7f }) {
		return "", fmt.Errorf("address %q: want a host name or IP address", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || strconv.FormatUint(n, 10) != port {
		return "", fmt.Errorf("address %q: port must be 0-65535 (0: the standard port %d)", s, wire.DefaultPort)
	}
	if n == 0 {
		n = wire.DefaultPort
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

// Paired is the paired-server settings.
type Paired struct {
	// Role is this server's own role ("use this server as").
	Role      Role `json:"role" label:"Use this server as"`
	Preferred Addr `json:"preferred" label:"Preferred server"`
	// Redundant is empty in a room with one server.
	Redundant Addr `json:"redundant" label:"Redundant server"`
}

// Source is the source settings. Zero numbers and empty names mean the
// box's own defaults.
type Source struct {
	Camera       string `json:"camera" label:"Camera"`
	Microphone   string `json:"microphone" label:"Microphone"`
	Width        int    `json:"width" label:"Video width"`
	Height       int    `json:"height" label:"Video height"`
	FPS          int    `json:"fps" label:"Frame rate"`
	VideoBitrate int    `json:"video_bitrate" label:"Video bitrate"` // bit/s
	AudioBitrate int    `json:"audio_bitrate" label:"Audio bitrate"` // bit/s
}

// Day is a day of the week: mon, tue, wed, thu, fri, sat, sun.
type Day string

var dayNames = []Day{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} // time.Weekday order

// UnmarshalText rejects unknown days.
func (d *Day) UnmarshalText(b []byte) error {
	if !slices.Contains(dayNames, Day(b)) {
		return fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", b)
	}
	*d = Day(b)
	return nil
}

// Weekday is the day as a time.Weekday; ok is false for an unknown day.
func (d Day) Weekday() (time.Weekday, bool) {
	i := slices.Index(dayNames, d)
	return time.Weekday(i), i >= 0
}

// Clock is a time of day, in minutes after midnight, written "HH:MM".
type Clock int

// MarshalText writes "HH:MM".
func (c Clock) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%02d:%02d", int(c)/60, int(c)%60), nil
}

// UnmarshalText reads exactly "HH:MM", 00:00 to 23:59.
func (c *Clock) UnmarshalText(b []byte) error {
	s := string(b)
	if len(s) != 5 || s[2] != ':' {
		return fmt.Errorf("time of day %q: want HH:MM", s)
	}
	h, err1 := strconv.ParseUint(s[:2], 10, 8)
	m, err2 := strconv.ParseUint(s[3:], 10, 8)
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return fmt.Errorf("time of day %q: want HH:MM between 00:00 and 23:59", s)
	}
	*c = Clock(h*60 + m)
	return nil
}

// Window is one maintenance window, in the server's local time.
type Window struct {
	// Days the window starts on; empty means every day.
	Days   []Day    `json:"days,omitempty" label:"Days"`
	Start  Clock    `json:"start" label:"Start"`
	Length Duration `json:"length" label:"Length"`
}

// Contains reports whether t (in its own location) falls in the window. A
// window that crosses midnight belongs to the day it starts on.
func (w Window) Contains(t time.Time) bool {
	for back := range 2 {
		d := t.AddDate(0, 0, -back)
		start := time.Date(d.Year(), d.Month(), d.Day(), int(w.Start)/60, int(w.Start)%60, 0, 0, t.Location())
		if !w.onDay(start.Weekday()) {
			continue
		}
		if !t.Before(start) && t.Before(start.Add(time.Duration(w.Length))) {
			return true
		}
	}
	return false
}

func (w Window) onDay(wd time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, d := range w.Days {
		if v, ok := d.Weekday(); ok && v == wd {
			return true
		}
	}
	return false
}

// InMaintenance reports whether t falls in any maintenance window.
func (s Settings) InMaintenance(t time.Time) bool {
	return slices.ContainsFunc(s.Maintenance, func(w Window) bool { return w.Contains(t) })
}

// Duration is a time.Duration written as a Go duration string ("24h",
// "90m").
type Duration time.Duration

// MarshalText writes the Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: want a duration such as \"24h\" or \"90m\"", b)
	}
	*d = Duration(v)
	return nil
}

// Limits of the values Validate accepts.
const (
	MaxWindows       = 16
	MaxRetryAttempts = 100
	MaxWait          = Duration(30 * 24 * time.Hour)
	MinWait          = Duration(time.Minute)
	MaxRetention     = Duration(100 * 365 * 24 * time.Hour)
	MaxMargin        = int64(1) << 50 // 1 PiB
)

// Default is the settings of a server nobody has configured yet. RoomID is
// empty: the caller fills it in (from the server's configuration).
func Default() Settings {
	return Settings{
		Paired:   Paired{Role: Preferred},
		Fallback: policy.Any,
		Mode:     wire.Buffered,
		Evidence: Evidence{
			Order:         OrderDefault,
			RetryAttempts: 5,
			TakeoverAfter: Duration(24 * time.Hour),
			StalledAfter:  Duration(4 * time.Hour),
		},
	}
}

// Clone is a deep copy: changing one never changes the other.
func (s Settings) Clone() Settings {
	c := s
	c.Maintenance = slices.Clone(s.Maintenance)
	for i := range c.Maintenance {
		c.Maintenance[i].Days = slices.Clone(c.Maintenance[i].Days)
	}
	return c
}

// CheckFIPS says whether a process whose FIPS 140-3 mode is enabled (pass
// crypto/fips140.Enabled()) may serve these settings.
func (s Settings) CheckFIPS(enabled bool) error {
	if s.FIPS && !enabled {
		return fmt.Errorf("%w (start the server with GODEBUG=fips140=on)", ErrFIPS)
	}
	return nil
}

// FieldError is one thing wrong with one field.
type FieldError struct {
	// Field is the JSON path, such as "evidence.bucket" or
	// "maintenance[1].start"; empty when the whole document is wrong.
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// InvalidError lists everything wrong with a settings document or value.
type InvalidError struct {
	Fields []FieldError `json:"fields"`
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return ErrInvalid.Error() + ": " + strings.Join(parts, "; ")
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// problems collects field errors; err is nil when there are none.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (p problems) has(field string) bool {
	return slices.ContainsFunc(p, func(f FieldError) bool { return f.Field == field })
}

// covers reports whether field, or an object or list holding it, already
// has a problem.
func (p problems) covers(field string) bool {
	return slices.ContainsFunc(p, func(f FieldError) bool {
		return f.Field == field || strings.HasPrefix(field, f.Field+".") || strings.HasPrefix(field, f.Field+"[")
	})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &InvalidError{Fields: slices.Clone(p)}
}

// Validate names every field whose value is wrong.
func (s Settings) Validate() error {
	var p problems
	s.validate(&p)
	return p.err()
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

var (
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	refPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

func (s Settings) validate(p *problems) {
	if s.RoomID == "" || len(s.RoomID) > 128 || !printable(s.RoomID) {
		p.add("room_id", "want 1-128 printable characters, the same on both servers of the room")
	}
	if len(s.DeviceID) > 128 || !printable(s.DeviceID) || strings.TrimSpace(s.DeviceID) != s.DeviceID {
		p.add("device_id", "want up to 128 printable characters without leading or trailing spaces")
	}
	if s.DeviceURL != "" {
		if err := checkURL(s.DeviceURL); err != nil {
			p.add("device_url", "%v", err)
		}
	}
	if s.DeviceURL == "" && s.DeviceID != "" {
		p.add("device_url", "required when device_id is set")
	}
	s.Paired.validate(p)
	s.Source.validate(p)
	if len(s.Maintenance) > MaxWindows {
		p.add("maintenance", "at most %d windows", MaxWindows)
	}
	for i, w := range s.Maintenance {
		w.validate(p, fmt.Sprintf("maintenance[%d]", i))
	}
	if _, err := policy.ParseFallback(s.Fallback.String()); err != nil {
		p.add("fallback", "unknown value (want any, preferred or all)")
	}
	if _, err := wire.ParseMode(string(s.Mode)); err != nil {
		p.add("mode", "unknown value %q (want buffered or unbuffered)", s.Mode)
	}
	s.Evidence.validate(p, s.FIPS)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2048 || !printable(s) {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q: want an absolute http or https URL", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: credentials do not belong in a URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("%q: want no query or fragment", s)
	}
	return nil
}

func (pa Paired) validate(p *problems) {
	if _, err := ParseRole(string(pa.Role)); err != nil {
		p.add("paired.role", "%v", err)
	}
	var pref, red string
	var err error
	if pa.Preferred != "" {
		if pref, err = pa.Preferred.HostPort(); err != nil {
			p.add("paired.preferred", "%v", err)
		}
	}
	if pa.Redundant != "" {
		if red, err = pa.Redundant.HostPort(); err != nil {
			p.add("paired.redundant", "%v", err)
		}
		if pa.Preferred == "" {
			p.add("paired.preferred", "required when paired.redundant is set")
		}
	}
	if pref != "" && pref == red {
		p.add("paired.redundant", "is the same server as paired.preferred (%s)", pref)
	}
}

func (s Source) validate(p *problems) {
	for _, f := range []struct{ name, v string }{{"source.camera", s.Camera}, {"source.microphone", s.Microphone}} {
		if len(f.v) > 256 || !printable(f.v) {
			p.add(f.name, "want up to 256 printable characters")
		}
	}
	for _, f := range []struct {
		name     string
		v, lo, x int
		unit     string
	}{
		{"source.width", s.Width, 16, 7680, "pixels"},
		{"source.height", s.Height, 16, 4320, "pixels"},
		{"source.fps", s.FPS, 1, 120, "frames per second"},
		{"source.video_bitrate", s.VideoBitrate, 100_000, 100_000_000, "bit/s"},
		{"source.audio_bitrate", s.AudioBitrate, 8_000, 512_000, "bit/s"},
	} {
		if f.v != 0 && (f.v < f.lo || f.v > f.x) {
			p.add(f.name, "%d: want 0 (the box's default) or %d-%d %s", f.v, f.lo, f.x, f.unit)
		}
	}
}

func (w Window) validate(p *problems, at string) {
	if w.Start < 0 || w.Start >= 24*60 {
		p.add(at+".start", "want HH:MM between 00:00 and 23:59")
	}
	if w.Length < MinWait || w.Length > Duration(24*time.Hour) {
		p.add(at+".length", "%v: want between 1m and 24h", time.Duration(w.Length))
	}
	seen := map[Day]bool{}
	for _, d := range w.Days {
		if _, ok := d.Weekday(); !ok {
			p.add(at+".days", "unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", d)
		} else if seen[d] {
			p.add(at+".days", "%s given twice", d)
		}
		seen[d] = true
	}
}

// checkWait accepts 0 (off) or MinWait..MaxWait.
func checkWait(p *problems, field string, d Duration) {
	if d != 0 && (d < MinWait || d > MaxWait) {
		p.add(field, "%v: want 0 (off) or between 1m and 720h", time.Duration(d))
	}
}

func (e Evidence) validate(p *problems, fips bool) {
	if _, err := ParseOrder(string(e.Order)); err != nil {
		p.add("evidence.upload_order", "%v", err)
	}
	if e.RetryAttempts < 1 || e.RetryAttempts > MaxRetryAttempts {
		p.add("evidence.retry_attempts", "%d: want 1-%d", e.RetryAttempts, MaxRetryAttempts)
	}
	checkWait(p, "evidence.takeover_after", e.TakeoverAfter)
	checkWait(p, "evidence.stalled_after", e.StalledAfter)
	if e.SecondUploadMargin < 0 || e.SecondUploadMargin > MaxMargin {
		p.add("evidence.second_upload_margin_bytes", "%d: want 0-%d", e.SecondUploadMargin, MaxMargin)
	}
	if r := e.ObjectLockRetention; r != 0 && (r < MinWait || r > MaxRetention) {
		p.add("evidence.object_lock_retention", "%v: want 0 (no Object Lock) or between 1m and 100 years", time.Duration(r))
	}
	if e.Endpoint != "" {
		if err := checkURL(e.Endpoint); err != nil {
			p.add("evidence.endpoint", "%v", err)
		} else if fips && !strings.HasPrefix(e.Endpoint, "https://") {
			p.add("evidence.endpoint", "FIPS mode needs an https endpoint")
		}
	}
	if e.Region != "" && !regionPattern.MatchString(e.Region) {
		p.add("evidence.region", "%q: want 1-32 of a-z, 0-9 and '-'", e.Region)
	}
	switch {
	case e.Bucket != "" && (!bucketPattern.MatchString(e.Bucket) || strings.Contains(e.Bucket, "..") || net.ParseIP(e.Bucket) != nil):
		p.add("evidence.bucket", "%q: want an S3 bucket name (3-63 of a-z, 0-9, '.' and '-')", e.Bucket)
	case e.Bucket == "" && e.Endpoint != "":
		p.add("evidence.bucket", "required when evidence.endpoint is set")
	}
	switch {
	case e.CredentialsRef != "" && !refPattern.MatchString(e.CredentialsRef):
		p.add("evidence.credentials_ref", "%q: want the name of a credentials file (1-64 of letters, digits, '.', '_' and '-'), never the secret itself", e.CredentialsRef)
	case e.CredentialsRef == "" && e.Endpoint != "":
		p.add("evidence.credentials_ref", "required when evidence.endpoint is set")
	}
}
