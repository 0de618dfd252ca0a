package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"twincap/firmware/policy"
	"twincap/server/wire"
)

const good = `
box_id = "box-7"
room_id = "room-12"
fallback = "preferred"
mode = "unbuffered"
window = "5s"
segment_duration = "500ms"
[preferred]
addr = "127.0.0.1:0"
[redundant]
addr = "127.0.0.1:9443"
[video]
width = 640
height = 480
fps = 25
bitrate = 1000000
preset = "ultrafast"
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Fallback != policy.Preferred || c.Mode != wire.Unbuffered || c.SegmentDuration.Duration != 500*time.Millisecond {
		t.Errorf("parsed %+v", c)
	}
	if c.WindowSegments() != 10 {
		t.Errorf("WindowSegments = %d, want 10", c.WindowSegments())
	}
	if s := c.Servers(); len(s) != 2 || s[0].Name != "preferred" || s[1].Addr != "127.0.0.1:9443" {
		t.Errorf("Servers = %+v", s)
	}
	// Defaults survive where the file is silent.
	if c.Microphone != "tone" || c.AudioBitrate != 64000 {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestParseBad(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"unknown key", "colour = 1\n[preferred]\naddr=\"a:1\"", "unknown keys: colour"},
		{"unknown fallback", "fallback = \"first\"", "unknown fallback"},
		{"unknown mode", "mode = \"maybe\"", "unknown mode"},
		{"bad duration", "window = \"soon\"", "duration"},
		{"syntax", "box_id = ", "config:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want error containing %q", err, c.want)
			}
		})
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	c := Default()
	c.Preferred.Addr = ""
	c.Video.Width = 641
	c.Video.Preset = "quick"
	c.SegmentDuration.Duration = time.Minute
	c.Drain.Duration = 2 * time.Minute
	c.LEDs.Driver = "pwm"
	c.CameraInput = "HDMI 0" // the default camera is the test pattern
	c.Watchdog = Watchdog{Device: "/dev/watchdog", Timeout: Duration{time.Second}}
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want ErrInvalid", err)
	}
	for _, want := range []string{"preferred.addr", "Width 641", "Preset \"quick\"", "SegmentDuration 1m0s", "shutdown_drain 2m0s", `leds.driver "pwm"`, "watchdog.timeout 1s", `camera_input "HDMI 0"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestEnvOverridesFile(t *testing.T) {
	env := map[string]string{"TWINCAP_BOX_PREFERRED": "127.0.0.1:1", "TWINCAP_BOX_FALLBACK": "all", "TWINCAP_BOX_FPS": "15"}
	c, err := Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Preferred.Addr != "127.0.0.1:1" || c.Fallback != policy.All || c.Video.FPS != 15 {
		t.Errorf("env not applied: %+v", c)
	}
	env["TWINCAP_BOX_FPS"] = "fast"
	if _, err := Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil {
		t.Error("bad number in env accepted")
	}
}

// FIPS 140-3 mode is off unless the file or TWINCAP_BOX_FIPS says so; a
// value that is not a boolean is refused, naming the variable.
func TestFIPS(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil || c.FIPS {
		t.Fatalf("default: FIPS %v, %v", c.FIPS, err)
	}
	if c, err = Parse([]byte("fips = true\n" + good)); err != nil || !c.FIPS {
		t.Fatalf("fips = true: FIPS %v, %v", c.FIPS, err)
	}
	env := map[string]string{"TWINCAP_BOX_PREFERRED": "127.0.0.1:1", "TWINCAP_BOX_FIPS": "true"}
	get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if c, err = Load("", get); err != nil || !c.FIPS {
		t.Fatalf("TWINCAP_BOX_FIPS=true: FIPS %v, %v", c.FIPS, err)
	}
	env["TWINCAP_BOX_FIPS"] = "sometimes"
	if _, err = Load("", get); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TWINCAP_BOX_FIPS") {
		t.Fatalf("TWINCAP_BOX_FIPS=sometimes: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("mode = \"buffered\"\n"))
	f.Add([]byte("[video]\nwidth = -1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parsed must validate or say why, never panic.
		_ = c.Validate()
		_ = c.Servers()
	})
}

func TestLEDsNeedANameWithADriver(t *testing.T) {
	c := Default()
	c.Preferred.Addr = "a:1"
	c.LEDs.Driver = "class"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "no LED is named") {
		t.Fatalf("class driver without names: %v", err)
	}
	c.LEDs.Status, c.LEDs.Server2 = "twincap:status", "twincap:server2"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := c.LEDs.Names(); len(n) != 2 || n["status"] != "twincap:status" || n["server2"] != "twincap:server2" {
		t.Fatalf("Names = %v", n)
	}
}

func TestUpdateSection(t *testing.T) {
	doc := `
[preferred]
addr = "a:1"
[update]
source = "https://updates.example/twincap/rpi4-64/"
ca_file = "/etc/twincap/update-ca.pem"
public_keys = ["/etc/twincap/release.pub", "/etc/twincap/release-next.pub"]
check_interval = "30m"
board = "rpi4-64"
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	u := c.Update
	if !u.Enabled() || u.CheckInterval.Duration != 30*time.Minute || len(u.PublicKeys) != 2 || u.StageDir != "update" || u.CAFile == "" {
		t.Fatalf("update %+v", u)
	}
	// Off by default, and then nothing else is required.
	d := Default()
	d.Preferred.Addr = "a:1"
	if d.Update.Enabled() || d.Validate() != nil || d.Update.CheckInterval.Duration != time.Hour {
		t.Fatalf("default update %+v: %v", d.Update, d.Validate())
	}
	bad := c
	bad.Update = Update{Source: "http://user:pw@updates.example/", Board: "RPi 4", CheckInterval: Duration{time.Second}, PublicKeys: nil}
	err = bad.Validate()
	for _, want := range []string{"update.source", "update.public_keys is empty", "update.board", "update.check_interval 1s", "update.stage_dir is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %q", err, want)
		}
	}
	if u.Installer != InstallerSysupdate {
		t.Errorf("default installer %q", u.Installer)
	}
	// The installer is an enum: an unknown one is refused as the file is
	// parsed, from the environment, and by Validate.
	if c, err := Parse([]byte(doc + "installer = \"tryboot\"\n")); err != nil || c.Update.Installer != InstallerTryboot {
		t.Errorf("installer tryboot: %q, %v", c.Update.Installer, err)
	}
	if _, err := Parse([]byte(doc + "installer = \"rauc\"\n")); err == nil || !strings.Contains(err.Error(), `update.installer "rauc": want "sysupdate" (UEFI A/B image) or "tryboot" (Raspberry Pi)`) {
		t.Errorf("installer rauc: %v", err)
	}
	envInst := map[string]string{"TWINCAP_BOX_PREFERRED": "a:1", "TWINCAP_BOX_UPDATE_INSTALLER": "Tryboot"}
	if _, err := Load("", func(k string) (string, bool) { v, ok := envInst[k]; return v, ok }); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TWINCAP_BOX_UPDATE_INSTALLER") {
		t.Errorf("bad installer in env: %v", err)
	}
	badInst := c
	badInst.Update.Installer = ""
	if err := badInst.Validate(); err == nil || !strings.Contains(err.Error(), "update.installer") {
		t.Errorf("empty installer: %v", err)
	}
	if _, err := Parse([]byte("[update]\nsorce = \"https://x/\"")); err == nil || !strings.Contains(err.Error(), "update.sorce") {
		t.Errorf("unknown update key: %v", err)
	}
	env := map[string]string{"TWINCAP_BOX_PREFERRED": "a:1", "TWINCAP_BOX_UPDATE_SOURCE": "ftp://x/"}
	if _, err := Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil || !strings.Contains(err.Error(), "update.source") {
		t.Errorf("bad update source in env: %v", err)
	}
}
