package leds

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoLED is returned by NewClass when the LED class device is missing
// (wrong name, or the device tree does not declare it).
var ErrNoLED = errors.New("leds: no such LED")

// ClassRoot is where the kernel lists LED class devices.
const ClassRoot = "/sys/class/leds"

// Class is an LED driven by the kernel's LED class (gpio-leds, PWM LEDs,
// I2C LED controllers): whatever the wiring, the kernel takes 0 for off and
// max_brightness for fully on.
type Class struct {
	name       string
	brightness string // path of the brightness file
	on         []byte // max_brightness, as written to brightness
}

// NewClass returns the LED root/name (root is ClassRoot on the box; tests
// give a fake tree) and sets its trigger to none. It fails, naming the LED
// and the path, if brightness or max_brightness is missing.
func NewClass(root, name string) (Output, error) {
	dir := filepath.Join(root, name)
	maxPath := filepath.Join(dir, "max_brightness")
	raw, err := os.ReadFile(maxPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("leds: class %s: %s: %w", name, maxPath, ErrNoLED)
	}
	if err != nil {
		return nil, fmt.Errorf("leds: class %s: %w", name, err)
	}
	maxB, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || maxB <= 0 {
		return nil, fmt.Errorf("leds: class %s: %s: max_brightness %q is not a positive number", name, maxPath, strings.TrimSpace(string(raw)))
	}
	b := filepath.Join(dir, "brightness")
	if _, err := os.Stat(b); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("leds: class %s: %s: %w", name, b, ErrNoLED)
	} else if err != nil {
		return nil, fmt.Errorf("leds: class %s: %w", name, err)
	}
	// A trigger (heartbeat, disk activity) left on by the device tree
	// would fight the engine; "none" hands the LED over. Trees without a
	// trigger file (tests, some drivers) have nothing to hand over.
	trig := filepath.Join(dir, "trigger")
	if _, err := os.Stat(trig); err == nil {
		if err := os.WriteFile(trig, []byte("none\n"), 0); err != nil {
			return nil, fmt.Errorf("leds: class %s: clear trigger: %w", name, err)
		}
	}
	return &Class{name: name, brightness: b, on: []byte(strconv.Itoa(maxB) + "\n")}, nil
}

// Name is the LED class device's name.
func (c *Class) Name() string { return c.name }

// Set writes brightness. The file is opened per write: sysfs ignores the
// offset and truncation, a regular file in a test tree needs both, and at
// most a few dozen writes a second the open costs nothing.
func (c *Class) Set(on bool) error {
	v := []byte("0\n")
	if on {
		v = c.on
	}
	f, err := os.OpenFile(c.brightness, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("leds: class %s: %w", c.name, err)
	}
	_, err = f.Write(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("leds: class %s: write %s: %w", c.name, c.brightness, err)
	}
	return nil
}
