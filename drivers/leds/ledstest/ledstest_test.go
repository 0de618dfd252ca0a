package ledstest_test

import (
	"errors"
	"testing"
	"time"

	"twincap/drivers/internal/fakeclock"
	"twincap/drivers/leds/ledstest"
)

func TestLED(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	c := fakeclock.New(t0)
	l := ledstest.NewLED("status", c.Now)
	if _, written := l.On(); written {
		t.Error("a new LED reports a write")
	}
	l.Set(true)
	c.Advance(time.Second)
	broken := errors.New("dead")
	l.Fail(broken)
	if err := l.Set(false); !errors.Is(err, broken) {
		t.Errorf("Set on a failing LED = %v", err)
	}
	l.Fail(nil)
	l.Set(false)
	want := []ledstest.Write{{At: t0, On: true}, {At: t0.Add(time.Second), On: false}}
	got := l.Writes()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("writes %v, want %v", got, want)
	}
	if on, written := l.On(); on || !written {
		t.Errorf("On = %v, %v", on, written)
	}
}
