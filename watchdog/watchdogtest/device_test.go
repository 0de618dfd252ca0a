package watchdogtest_test

import (
	"errors"
	"testing"
	"time"

	"twincap/watchdog/watchdogtest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestDeviceExpiry(t *testing.T) {
	type op struct {
		at time.Duration // from t0
		do string        // "pet", "close", "magic", "timeout=<d>"
	}
	tests := []struct {
		name      string
		ops       []op
		checkAt   time.Duration
		expiredAt time.Duration // -1: not expired
	}{
		{"fresh", nil, 0, -1},
		{"at the deadline is not yet expired", nil, 10 * time.Second, -1},
		{"unpetted expires", nil, 10*time.Second + time.Nanosecond, 10 * time.Second},
		{"petted in time", []op{{9 * time.Second, "pet"}, {18 * time.Second, "pet"}}, 27 * time.Second, -1},
		{"petted, then left", []op{{9 * time.Second, "pet"}}, time.Minute, 19 * time.Second},
		{"pet too late does not revive", []op{{11 * time.Second, "pet"}}, 15 * time.Second, 10 * time.Second},
		{"magic close stops the timer", []op{{5 * time.Second, "magic"}}, time.Hour, -1},
		{"plain close leaves it running", []op{{5 * time.Second, "pet"}, {6 * time.Second, "close"}}, time.Hour, 15 * time.Second},
		{"magic close too late", []op{{11 * time.Second, "magic"}}, time.Hour, 10 * time.Second},
		{"set timeout restarts the timer, rounded up", []op{{5 * time.Second, "timeout=2500ms"}}, time.Hour, 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := watchdogtest.NewClock(t0)
			d := watchdogtest.NewDevice(clock.Now, 10*time.Second)
			for _, o := range tt.ops {
				clock.Advance(t0.Add(o.at).Sub(clock.Now()))
				switch o.do {
				case "pet":
					_ = d.Keepalive()
				case "close":
					_ = d.Close(false)
				case "magic":
					_ = d.Close(true)
				case "timeout=2500ms":
					if got, err := d.SetTimeout(2500 * time.Millisecond); err != nil || got != 3*time.Second {
						t.Fatalf("SetTimeout(2.5s) = %v, %v; want 3s", got, err)
					}
				default:
					t.Fatalf("unknown op %q", o.do)
				}
			}
			clock.Advance(t0.Add(tt.checkAt).Sub(clock.Now()))
			at, expired := d.Expired()
			switch {
			case tt.expiredAt < 0 && expired:
				t.Errorf("expired at %v, want not expired", at.Sub(t0))
			case tt.expiredAt >= 0 && !expired:
				t.Errorf("not expired, want expired at %v", tt.expiredAt)
			case expired && at.Sub(t0) != tt.expiredAt:
				t.Errorf("expired at %v, want %v", at.Sub(t0), tt.expiredAt)
			}
		})
	}
}

func TestDeviceCalls(t *testing.T) {
	clock := watchdogtest.NewClock(t0)
	d := watchdogtest.NewDevice(clock.Now, 10*time.Second)
	boom := errors.New("EIO")

	if got, err := d.Timeout(); got != 10*time.Second || err != nil {
		t.Errorf("Timeout() = %v, %v; want 10s", got, err)
	}
	clock.Advance(time.Second)
	if err := d.Keepalive(); err != nil {
		t.Errorf("Keepalive: %v", err)
	}
	d.Fail(watchdogtest.OpKeepalive, boom)
	if err := d.Keepalive(); !errors.Is(err, boom) {
		t.Errorf("failing Keepalive = %v, want %v", err, boom)
	}
	d.Fail(watchdogtest.OpKeepalive, nil)
	if _, err := d.SetTimeout(0); err == nil {
		t.Error("SetTimeout(0) succeeded")
	}
	if err := d.Close(false); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := d.Keepalive(); !errors.Is(err, watchdogtest.ErrClosed) {
		t.Errorf("Keepalive after Close = %v, want ErrClosed", err)
	}
	if closed, magic := d.Closed(); !closed || magic {
		t.Errorf("Closed() = %v, %v; want true, false", closed, magic)
	}
	if !d.Running() {
		t.Error("a plain close stopped the timer")
	}
	if n := d.Keepalives(); n != 1 {
		t.Errorf("Keepalives() = %d, want 1 (the failed and the late ones do not count)", n)
	}
	want := []watchdogtest.Op{watchdogtest.OpTimeout, watchdogtest.OpKeepalive, watchdogtest.OpKeepalive,
		watchdogtest.OpSetTimeout, watchdogtest.OpClose, watchdogtest.OpKeepalive}
	calls := d.Calls()
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want ops %v", calls, want)
	}
	for i, c := range calls {
		if c.Op != want[i] {
			t.Errorf("call %d is %v, want %v", i, c, want[i])
		}
	}
	if calls[2].Err == nil || calls[1].Err != nil || !calls[1].At.Equal(t0.Add(time.Second)) {
		t.Errorf("calls not recorded with their time and result: %v", calls)
	}

	// An expired device refuses everything but a close, which cannot
	// undo the reset.
	clock.Advance(time.Hour)
	d2 := watchdogtest.NewDevice(clock.Now, time.Second)
	clock.Advance(2 * time.Second)
	if err := d2.Keepalive(); !errors.Is(err, watchdogtest.ErrExpired) {
		t.Errorf("Keepalive after expiry = %v, want ErrExpired", err)
	}
	if err := d2.Close(true); !errors.Is(err, watchdogtest.ErrExpired) {
		t.Errorf("Close after expiry = %v, want ErrExpired", err)
	}
	if _, magic := d2.Closed(); magic {
		t.Error("a magic close after expiry counted as stopping the timer")
	}
}
