package leds_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"twincap/drivers/leds"
)

// pin is a gpio.PinOut that records every level driven. (periph's
// gpiotest.Pin is the model; it is used in gpiotest_test.go once the
// module requires its clockwork dependency.)
type pin struct {
	name string
	mu   sync.Mutex
	outs []gpio.Level
	fail error
}

func (p *pin) String() string   { return p.name }
func (p *pin) Halt() error      { return nil }
func (p *pin) Name() string     { return p.name }
func (p *pin) Number() int      { return 17 }
func (p *pin) Function() string { return "Out" }
func (p *pin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("pin: no PWM")
}
func (p *pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.outs = append(p.outs, l)
	return nil
}

func levels(ls []gpio.Level) string {
	var b strings.Builder
	for _, l := range ls {
		if l {
			b.WriteByte('H')
		} else {
			b.WriteByte('L')
		}
	}
	return b.String()
}

// TestGPIOUnderEngine steps an engine over two pins, one wired each way,
// through a Blink: the active-low pin must see the inverse levels.
func TestGPIOUnderEngine(t *testing.T) {
	tests := []struct {
		activeLow bool
		want      string
	}{
		{false, "HLHLH"},
		{true, "LHLHL"},
	}
	for _, tt := range tests {
		p := &pin{name: "GPIO17"}
		e, err := leds.New(leds.Config{}, leds.NewGPIO("status", p, tt.activeLow))
		if err != nil {
			t.Fatal(err)
		}
		e.Set("status", leds.Blink)
		for at := t0; !at.After(t0.Add(1000 * ms)); at = at.Add(25 * ms) {
			if err := e.Step(at); err != nil {
				t.Fatal(err)
			}
		}
		if got := levels(p.outs); got != tt.want {
			t.Errorf("activeLow=%v: pin driven %s, want %s", tt.activeLow, got, tt.want)
		}
	}
}

func TestGPIOError(t *testing.T) {
	broken := errors.New("EBUSY")
	out := leds.NewGPIO("fault", &pin{name: "GPIO22", fail: broken}, false)
	err := out.Set(true)
	if !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "leds: gpio fault (pin GPIO22)") {
		t.Errorf("Set = %v", err)
	}
	if out.Name() != "fault" {
		t.Errorf("Name = %q", out.Name())
	}
}
