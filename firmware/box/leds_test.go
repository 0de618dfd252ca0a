package box

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"twincap/drivers/camera"
	"twincap/drivers/camera/reconnect"
	"twincap/drivers/leds"
	"twincap/encoder"
	"twincap/firmware/updater"
	"twincap/server/wire"
)

func TestLEDsFollowTheStatus(t *testing.T) {
	servers := []ServerStatus{{State: "recording"}, {State: "offline"}}
	cases := []struct {
		name string
		st   Status
		want leds.BoxState
	}{
		{"idle", Status{Phase: "idle", Mode: wire.Buffered, Servers: servers},
			leds.BoxState{Power: true, Ready: true, Buffered: true}},
		{"recording", Status{Phase: "recording", Mode: wire.Unbuffered, Servers: servers},
			leds.BoxState{Power: true, Recording: true}},
		{"stopping still records", Status{Phase: "stopping", Mode: wire.Buffered, Servers: servers},
			leds.BoxState{Power: true, Recording: true, Buffered: true}},
		{"installing an update", Status{Phase: "idle", Mode: wire.Buffered, Servers: servers, Update: &updater.Status{State: "installing"}},
			leds.BoxState{Power: true, Ready: true, Updating: true, Buffered: true}},
		{"an update waits: not updating", Status{Phase: "idle", Mode: wire.Buffered, Servers: servers, Update: &updater.Status{State: "waiting"}},
			leds.BoxState{Power: true, Ready: true, Buffered: true}},
		{"shutting down", Status{Phase: "shutting down", Mode: wire.Buffered, Servers: servers, Fault: leds.FaultServers},
			leds.BoxState{Power: true, ShuttingDown: true, Buffered: true, Fault: leds.FaultServers}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := LEDs(c.st)
			if len(got.Servers) != 2 || got.Servers[0].State != "recording" || got.Servers[1].State != "offline" {
				t.Fatalf("servers %+v", got.Servers)
			}
			got.Servers = nil
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("LEDs = %+v, want %+v", got, c.want)
			}
			if err := LEDs(c.st).Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFaultOfNamesThePart(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: %w", errJournal, errors.New("no space left on device")), leds.FaultDisk},
		{fmt.Errorf("%w: /dev/video0: no such device", errCamera), leds.FaultCamera},
		{errors.Join(fmt.Errorf("%w: unplugged", encoder.ErrCamera)), leds.FaultCamera},
		{fmt.Errorf("%w: hw:0", errMicrophone), leds.FaultAudio},
		{fmt.Errorf("%w: overrun", encoder.ErrMicrophone), leds.FaultAudio},
		{errors.New("encoder: x264 did not make the IDR frame"), leds.FaultNone},
	}
	for _, c := range cases {
		if got := faultOf(c.err); got != c.want {
			t.Errorf("faultOf(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// fakeLost is a camera that was lost during the interview.
type fakeLost struct {
	camera.Camera
	outages []reconnect.Outage
}

func (f fakeLost) Outages() []reconnect.Outage { return f.outages }

func TestCameraOutagesNameTheSegmentAfter(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	iv := &interview{}
	for seq := uint64(1); seq <= 5; seq++ {
		iv.starts = append(iv.starts, segStart{seq, t0.Add(time.Duration(seq-1) * time.Second)})
	}
	iv.cam = fakeLost{outages: []reconnect.Outage{
		{Start: t0.Add(1500 * time.Millisecond), End: t0.Add(2500 * time.Millisecond), Err: errors.New("no such device")},
		{Start: t0.Add(4200 * time.Millisecond)}, // still away at stop
	}}
	now := t0.Add(5 * time.Second)
	got := cameraOutages(iv, now)
	if len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 6 || !got[1].To.Equal(now) ||
		got[0].Reason != "camera lost: no such device" {
		t.Fatalf("outages %+v", got)
	}
	if cameraOutages(&interview{}, now) != nil {
		t.Error("a camera that cannot be lost has outages")
	}
}
