package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"twincap/encoder"
	"twincap/firmware/policy"
	"twincap/firmware/roomclient"
	"twincap/firmware/update"
	"twincap/server/wire"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("config: invalid")

// Server is one configured room server.
type Server struct {
	// Addr is host:port; port 0 (or none) means the standard port.
	Addr string `toml:"addr"`
}

// Video is what the camera is asked for and the encoder produces.
type Video struct {
	Width   int    `toml:"width"`
	Height  int    `toml:"height"`
	FPS     int    `toml:"fps"`
	Bitrate int    `toml:"bitrate"` // bit/s
	Preset  string `toml:"preset"`  // x264 preset
}

// Duration is a time.Duration written as "1s", "500ms" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Config is the whole box configuration.
type Config struct {
	BoxID  string `toml:"box_id"`
	RoomID string `toml:"room_id"`
	// Preferred is required; Redundant may be empty in a one-server room.
	Preferred Server `toml:"preferred"`
	Redundant Server `toml:"redundant"`
	// CAFile is the room CA the servers' certificates are checked against.
	CAFile string `toml:"ca_file"`
	// FIPS runs the box in Go's FIPS 140-3 mode (it re-executes itself
	// with GODEBUG=fips140=on, and refuses to run if that does not enable
	// the mode): TLS to the servers with approved algorithms only. The
	// status says whether the box really is in the mode.
	FIPS     bool            `toml:"fips"`
	Fallback policy.Fallback `toml:"fallback"`
	Mode     wire.Mode       `toml:"mode"`
	// JournalDir holds one journal per interview (buffered mode).
	JournalDir string `toml:"journal_dir"`
	// Window is how much media unbuffered mode keeps for brief blips.
	Window Duration `toml:"window"`
	// Control is the listen address of the local control API.
	Control string `toml:"control"`
	// Camera is a V4L2 device path, or "testpattern".
	Camera string `toml:"camera"`
	// CameraInput is the camera's video input, by the name the device
	// lists ("HDMI 1") or its number; "" keeps the device's current one.
	CameraInput string `toml:"camera_input"`
	// Microphone is an ALSA device, or "tone".
	Microphone      string   `toml:"microphone"`
	Video           Video    `toml:"video"`
	AudioBitrate    int      `toml:"audio_bitrate"`
	SegmentDuration Duration `toml:"segment_duration"`
	// ChunkDuration cuts each segment into CMAF chunks of about this much
	// video, streamed to the servers as they are cut so the livestream is
	// a chunk, not a segment, behind the camera; 0: whole segments only.
	// Longer than SegmentDuration means whole segments.
	ChunkDuration Duration `toml:"chunk_duration"`
	// LostGrace is how long an interview goes on with no server available
	// before it is stopped (what was journaled is still delivered later).
	LostGrace Duration `toml:"lost_grace"`
	// Drain is how long an orderly stop (SIGTERM) waits for the servers
	// to take the segments captured so far; it must fit in the service's
	// stop timeout. What is left is sent after the restart.
	Drain Duration `toml:"shutdown_drain"`
	// LEDs are the status LEDs a field technician reads.
	LEDs LEDs `toml:"leds"`
	// Watchdog is the hardware watchdog, petted only while the box is
	// healthy.
	Watchdog Watchdog `toml:"watchdog"`
	// Update is where remote updates come from; an empty source turns
	// them off.
	Update Update `toml:"update"`
}

// Update configures remote updates (package updater).
type Update struct {
	// Source is the HTTPS folder that serves index.json and the signed
	// bundles; "" turns remote updates off.
	Source string `toml:"source"`
	// CAFile is the CA the source's certificate is checked against; ""
	// means the system's roots.
	CAFile string `toml:"ca_file"`
	// PublicKeys are PEM files of the keys bundles must be signed with
	// (more than one while a key is rotated).
	PublicKeys    []string `toml:"public_keys"`
	CheckInterval Duration `toml:"check_interval"`
	// Board is this box's board; a bundle for another is refused.
	Board string `toml:"board"`
	// StageDir holds a downloaded bundle until it is installed.
	StageDir string `toml:"stage_dir"`
	// Installer is how this board writes and switches its slots.
	Installer Installer `toml:"installer"`
}

// Installer names the way a board installs an update (firmware/cmd/
// twincap-box builds the matching updater.Installer).
type Installer string

const (
	// InstallerSysupdate: systemd-sysupdate writes the other root slot
	// and a UKI that systemd-boot counts down and systemd-bless-boot marks
	// good (the UEFI A/B image, image/ab).
	InstallerSysupdate Installer = "sysupdate"
	// InstallerTryboot: the same systemd-sysupdate writes the other root
	// and boot partitions, and the Raspberry Pi firmware's tryboot starts
	// them once until they are marked good (buildroot's rpi4-64).
	InstallerTryboot Installer = "tryboot"
)

// ParseInstaller accepts the installers this box knows and rejects the rest.
func ParseInstaller(s string) (Installer, error) {
	switch i := Installer(s); i {
	case InstallerSysupdate, InstallerTryboot:
		return i, nil
	}
	return "", fmt.Errorf("update.installer %q: want %q (UEFI A/B image) or %q (Raspberry Pi)", s, InstallerSysupdate, InstallerTryboot)
}

// UnmarshalText refuses an unknown installer when the file is parsed.
func (i *Installer) UnmarshalText(b []byte) error {
	v, err := ParseInstaller(string(b))
	if err != nil {
		return err
	}
	*i = v
	return nil
}

// Enabled reports whether remote updates are configured.
func (u Update) Enabled() bool { return u.Source != "" }

// LEDs says how the box's status LEDs are driven and what each is called:
// a kernel LED class device name (driver "class") or a GPIO line name
// (driver "gpio"). An empty name means the box has no such LED.
type LEDs struct {
	Driver    string `toml:"driver"` // "none", "class" or "gpio"
	ClassRoot string `toml:"class_root"`
	ActiveLow bool   `toml:"active_low"` // gpio: the LED lights when the line is low
	Power     string `toml:"power"`
	Status    string `toml:"status"`
	Fault     string `toml:"fault"`
	Server1   string `toml:"server1"`
	Server2   string `toml:"server2"`
}

// Names maps the status mapping's LED names (drivers/leds) to the
// configured device or line names, leaving out LEDs the box lacks.
func (l LEDs) Names() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{"power": l.Power, "status": l.Status, "fault": l.Fault, "server1": l.Server1, "server2": l.Server2} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// Watchdog is the hardware watchdog device.
type Watchdog struct {
	Device  string   `toml:"device"` // "" for none (a development machine)
	Timeout Duration `toml:"timeout"`
}

// Default is the configuration before any file is read.
func Default() Config {
	return Config{
		BoxID:           "box",
		RoomID:          "room",
		Fallback:        policy.Any,
		Mode:            wire.Buffered,
		JournalDir:      "journal",
		Window:          Duration{10 * time.Second},
		Control:         "127.0.0.1:8080",
		Camera:          "testpattern",
		Microphone:      "tone",
		Video:           Video{Width: 1280, Height: 720, FPS: 30, Bitrate: 4_000_000, Preset: "veryfast"},
		AudioBitrate:    64_000,
		SegmentDuration: Duration{time.Second},
		ChunkDuration:   Duration{200 * time.Millisecond},
		LostGrace:       Duration{10 * time.Second},
		Drain:           Duration{5 * time.Second},
		LEDs:            LEDs{Driver: "none", ClassRoot: "/sys/class/leds"},
		Watchdog:        Watchdog{Timeout: Duration{30 * time.Second}},
		Update:          Update{CheckInterval: Duration{time.Hour}, StageDir: "update", Installer: InstallerSysupdate},
	}
}

// Parse applies a TOML document over the defaults; unknown keys are errors.
func Parse(data []byte) (Config, error) {
	c := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("%w: unknown keys: %s", ErrInvalid, strings.Join(keys, ", "))
	}
	return c, nil
}

// Load reads path (if not empty), then the environment, then validates.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	c := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if c, err = Parse(data); err != nil {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	if env == nil {
		env = os.LookupEnv
	}
	if err := c.applyEnv(env); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c *Config) applyEnv(env func(string) (string, bool)) error {
	str := map[string]*string{
		"BOX_ID": &c.BoxID, "ROOM_ID": &c.RoomID, "PREFERRED": &c.Preferred.Addr, "REDUNDANT": &c.Redundant.Addr,
		"CA_FILE": &c.CAFile, "JOURNAL_DIR": &c.JournalDir, "CONTROL": &c.Control, "CAMERA": &c.Camera,
		"CAMERA_INPUT": &c.CameraInput,
		"MICROPHONE":   &c.Microphone, "PRESET": &c.Video.Preset,
		"UPDATE_SOURCE": &c.Update.Source, "UPDATE_BOARD": &c.Update.Board,
	}
	for k, p := range str {
		if v, ok := env("TWINCAP_BOX_" + k); ok {
			*p = v
		}
	}
	ints := map[string]*int{"WIDTH": &c.Video.Width, "HEIGHT": &c.Video.Height, "FPS": &c.Video.FPS, "BITRATE": &c.Video.Bitrate}
	for k, p := range ints {
		if v, ok := env("TWINCAP_BOX_" + k); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%w: TWINCAP_BOX_%s=%q: not a whole number", ErrInvalid, k, v)
			}
			*p = n
		}
	}
	if v, ok := env("TWINCAP_BOX_FIPS"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: TWINCAP_BOX_FIPS=%q: want true or false", ErrInvalid, v)
		}
		c.FIPS = b
	}
	if v, ok := env("TWINCAP_BOX_FALLBACK"); ok {
		f, err := policy.ParseFallback(v)
		if err != nil {
			return fmt.Errorf("%w: TWINCAP_BOX_FALLBACK: %v", ErrInvalid, err)
		}
		c.Fallback = f
	}
	if v, ok := env("TWINCAP_BOX_UPDATE_INSTALLER"); ok {
		i, err := ParseInstaller(v)
		if err != nil {
			return fmt.Errorf("%w: TWINCAP_BOX_UPDATE_INSTALLER: %v", ErrInvalid, err)
		}
		c.Update.Installer = i
	}
	if v, ok := env("TWINCAP_BOX_MODE"); ok {
		m, err := wire.ParseMode(v)
		if err != nil {
			return fmt.Errorf("%w: TWINCAP_BOX_MODE: %v", ErrInvalid, err)
		}
		c.Mode = m
	}
	return nil
}

// Validate checks every field and names all that are wrong.
func (c Config) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.BoxID == "" {
		bad("box_id is empty")
	}
	if c.RoomID == "" {
		bad("room_id is empty")
	}
	if c.Preferred.Addr == "" {
		bad("preferred.addr is empty: a room needs at least one server")
	} else if _, err := roomclient.HostPort(c.Preferred.Addr); err != nil {
		bad("preferred.addr: %v", err)
	}
	if c.Redundant.Addr != "" {
		if _, err := roomclient.HostPort(c.Redundant.Addr); err != nil {
			bad("redundant.addr: %v", err)
		}
	}
	if _, err := wire.ParseMode(string(c.Mode)); err != nil {
		bad("mode: %v", err)
	}
	if _, err := policy.ParseFallback(c.Fallback.String()); err != nil {
		bad("fallback: %v", err)
	}
	if c.Mode == wire.Buffered && c.JournalDir == "" {
		bad("journal_dir is empty (buffered mode needs a journal)")
	}
	if c.Control == "" {
		bad("control is empty")
	}
	if c.Camera == "" {
		bad("camera is empty (a V4L2 device or \"testpattern\")")
	}
	if c.CameraInput != "" && c.Camera == "testpattern" {
		bad("camera_input %q: the test pattern has no inputs (it is for a V4L2 camera)", c.CameraInput)
	}
	if c.Microphone == "" {
		bad("microphone is empty (an ALSA device or \"tone\")")
	}
	// The encoder owns the ranges and the preset names.
	if err := c.Encoder().Validate(); err != nil {
		bad("video settings (video.*, audio_bitrate, segment_duration, chunk_duration): %v", err)
	}
	if c.Mode == wire.Unbuffered && c.Window.Duration < c.SegmentDuration.Duration {
		bad("window %s: shorter than one segment", c.Window.Duration)
	}
	if c.LostGrace.Duration < 0 {
		bad("lost_grace is negative")
	}
	switch c.LEDs.Driver {
	case "none":
	case "class", "gpio":
		if len(c.LEDs.Names()) == 0 {
			bad("leds.driver %q but no LED is named (leds.power, leds.status, leds.fault, leds.server1, leds.server2)", c.LEDs.Driver)
		}
	default:
		bad("leds.driver %q: want \"none\", \"class\" or \"gpio\"", c.LEDs.Driver)
	}
	if c.Watchdog.Device != "" && (c.Watchdog.Timeout.Duration < 2*time.Second || c.Watchdog.Timeout.Duration > 10*time.Minute) {
		bad("watchdog.timeout %s: want 2s to 10m", c.Watchdog.Timeout.Duration)
	}
	if c.Drain.Duration < 0 || c.Drain.Duration > time.Minute {
		bad("shutdown_drain %s: want 0 to 1m (it must fit in the service's stop timeout)", c.Drain.Duration)
	}
	errs = append(errs, c.Update.problems()...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// ShutdownDrain is how long an orderly stop waits for the servers.
func (c Config) ShutdownDrain() time.Duration { return c.Drain.Duration }

// Servers lists the configured servers, preferred first, with their names.
func (c Config) Servers() []NamedServer {
	out := []NamedServer{{Name: "preferred", Addr: c.Preferred.Addr}}
	if c.Redundant.Addr != "" {
		out = append(out, NamedServer{Name: "redundant", Addr: c.Redundant.Addr})
	}
	return out
}

// NamedServer is a configured server with its role name.
type NamedServer struct{ Name, Addr string }

// WindowSegments is how many segments unbuffered mode keeps.
func (c Config) WindowSegments() int {
	n := int(c.Window.Duration / c.SegmentDuration.Duration)
	return max(n, 1)
}

// Encoder is the encoder's share of the configuration.
func (c Config) Encoder() encoder.Config {
	return encoder.Config{
		Width: c.Video.Width, Height: c.Video.Height, FPS: c.Video.FPS,
		Bitrate: c.Video.Bitrate, Preset: c.Video.Preset,
		SegmentDuration: c.SegmentDuration.Duration, AudioBitrate: c.AudioBitrate,
		ChunkDuration: min(c.ChunkDuration.Duration, c.SegmentDuration.Duration),
	}
}

// problems lists what is wrong with the update settings; nothing is
// required while remote updates are off.
func (u Update) problems() []string {
	if !u.Enabled() {
		return nil
	}
	var errs []string
	if s, err := url.Parse(u.Source); err != nil || s.Scheme != "https" || s.Host == "" || s.User != nil {
		errs = append(errs, fmt.Sprintf("update.source %q: want an https:// URL without credentials", u.Source))
	}
	if len(u.PublicKeys) == 0 {
		errs = append(errs, "update.public_keys is empty: bundles could not be verified")
	}
	for _, k := range u.PublicKeys {
		if k == "" {
			errs = append(errs, "update.public_keys has an empty file name")
		}
	}
	if err := update.ValidBoard(u.Board); err != nil {
		errs = append(errs, "update.board: "+err.Error())
	}
	if d := u.CheckInterval.Duration; d < time.Minute || d > 7*24*time.Hour {
		errs = append(errs, fmt.Sprintf("update.check_interval %s: want 1m to 168h", d))
	}
	if u.StageDir == "" {
		errs = append(errs, "update.stage_dir is empty")
	}
	if _, err := ParseInstaller(string(u.Installer)); err != nil {
		errs = append(errs, err.Error())
	}
	return errs
}
