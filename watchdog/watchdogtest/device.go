package watchdogtest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"twincap/watchdog"
)

// ErrExpired is returned by a Device whose timer ran out: on a box this
// is the reset, and nothing would be left to call it.
var ErrExpired = errors.New("watchdogtest: the watchdog expired (the box would have been reset)")

// ErrClosed is returned for calls on a closed Device.
var ErrClosed = errors.New("watchdogtest: device closed")

// Op names a Device method.
type Op string

// The operations a Device records.
const (
	OpSetTimeout Op = "SetTimeout"
	OpTimeout    Op = "Timeout"
	OpKeepalive  Op = "Keepalive"
	OpClose      Op = "Close"      // without the magic character
	OpMagicClose Op = "MagicClose" // 'V', then close
)

// Call is one call a Device saw.
type Call struct {
	At      time.Time
	Op      Op
	Timeout time.Duration // asked for, for OpSetTimeout
	Err     error         // what the call returned
}

func (c Call) String() string {
	s := fmt.Sprintf("%s %s", c.At.Format("15:04:05.000"), c.Op)
	if c.Op == OpSetTimeout {
		s += fmt.Sprintf("(%v)", c.Timeout)
	}
	if c.Err != nil {
		s += ": " + c.Err.Error()
	}
	return s
}

// Device is a fake watchdog.Device on an injected clock. Like the real
// thing its timer runs from creation, restarts at each Keepalive, stops
// only at a magic close, and keeps running after a plain close. It is safe
// for concurrent use, so a test can read it while a Petter runs.
type Device struct {
	now func() time.Time

	mu        sync.Mutex
	timeout   time.Duration
	deadline  time.Time // the timer runs out after this
	running   bool
	closed    bool
	magic     bool
	expiredAt time.Time
	calls     []Call
	fail      map[Op]error
}

var _ watchdog.Device = (*Device)(nil)

// NewDevice returns an open device with timeout, its timer started at
// now().
func NewDevice(now func() time.Time, timeout time.Duration) *Device {
	return &Device{now: now, timeout: timeout, deadline: now().Add(timeout), running: true, fail: map[Op]error{}}
}

// Fail makes every following call of op return err (for OpClose and
// OpMagicClose, the device still closes, as a failed close(2) does); nil
// heals it.
func (d *Device) Fail(op Op, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail[op] = err
}

// expire latches the reset if the timer ran out before now; mu is held.
func (d *Device) expire(now time.Time) {
	if d.running && d.expiredAt.IsZero() && now.After(d.deadline) {
		d.expiredAt = d.deadline
	}
}

// begin records a call and says whether it may go on; mu is held until
// end records its result.
func (d *Device) begin(op Op, timeout time.Duration) (time.Time, error) {
	now := d.now()
	d.expire(now)
	d.calls = append(d.calls, Call{At: now, Op: op, Timeout: timeout})
	switch {
	case d.closed:
		return now, fmt.Errorf("watchdogtest: %s: %w", op, ErrClosed)
	case !d.expiredAt.IsZero():
		return now, fmt.Errorf("watchdogtest: %s: %w", op, ErrExpired)
	case d.fail[op] != nil:
		return now, fmt.Errorf("watchdogtest: %s: %w", op, d.fail[op])
	}
	return now, nil
}

// end records err as the result of the call begin recorded.
func (d *Device) end(err error) error {
	d.calls[len(d.calls)-1].Err = err
	return err
}

// SetTimeout implements watchdog.Device. Like the kernel it counts whole
// seconds, rounding up, and restarts the timer.
func (d *Device) SetTimeout(timeout time.Duration) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now, err := d.begin(OpSetTimeout, timeout)
	if err == nil && timeout <= 0 {
		err = fmt.Errorf("watchdogtest: SetTimeout(%v): not positive", timeout)
	}
	if err != nil {
		return 0, d.end(err)
	}
	d.timeout = (timeout + time.Second - 1) / time.Second * time.Second
	d.deadline = now.Add(d.timeout)
	return d.timeout, d.end(nil)
}

// Timeout implements watchdog.Device.
func (d *Device) Timeout() (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.begin(OpTimeout, 0); err != nil {
		return 0, d.end(err)
	}
	return d.timeout, d.end(nil)
}

// Keepalive implements watchdog.Device: it restarts the timer, unless it
// has already run out.
func (d *Device) Keepalive() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now, err := d.begin(OpKeepalive, 0)
	if err != nil {
		return d.end(err)
	}
	d.deadline = now.Add(d.timeout)
	return d.end(nil)
}

// Close implements watchdog.Device: a magic close stops the timer (unless
// it has already run out), a plain one leaves it running. An injected
// failure is returned, but the device is closed all the same.
func (d *Device) Close(magic bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	op := OpClose
	if magic {
		op = OpMagicClose
	}
	_, err := d.begin(op, 0)
	if d.closed {
		return d.end(err)
	}
	d.closed = true
	if magic && d.expiredAt.IsZero() {
		d.magic, d.running = true, false
	}
	return d.end(err)
}

// Calls returns every call so far, oldest first.
func (d *Device) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Call(nil), d.calls...)
}

// Keepalives counts the Keepalive calls that restarted the timer.
func (d *Device) Keepalives() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if c.Op == OpKeepalive && c.Err == nil {
			n++
		}
	}
	return n
}

// Expired reports whether the timer has run out by now(), and when it did.
// Once expired the device stays expired: the box was reset.
func (d *Device) Expired() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(d.now())
	return d.expiredAt, !d.expiredAt.IsZero()
}

// Closed reports whether the device was closed, and whether that close
// was the magic one that stopped the timer.
func (d *Device) Closed() (closed, magic bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed, d.magic
}

// Running reports whether the timer is running: from creation until a
// magic close.
func (d *Device) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running
}

// Deadline is when the timer runs out unless it is petted or stopped.
func (d *Device) Deadline() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadline
}
