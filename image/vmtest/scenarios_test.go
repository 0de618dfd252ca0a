//go:build linux

package vmtest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestBootRecordStop boots the image, measures boot-to-ready under TCG,
// records about 20 s and checks both servers' recordings.
func TestBootRecordStop(t *testing.T) {
	sc := newScenario(t)
	api, ready := sc.boot(true)
	sc.checkGuest()
	sc.login()
	id, started := sc.start()
	sc.sleep(20 * time.Second)
	stopped := sc.stop(id)
	wall := stopped.Sub(started).Seconds()
	delivered := sc.waitDelivered(id, time.Minute)
	p, rec := sc.checkRecording(id)
	sc.result(fmt.Sprintf("boot_to_api=%.1fs boot_to_ready=%.1fs recorded=%.1fs wall=%.1fs segments=%d size=%dB video_frames=%d (%.1f/s) audio=%s/%dHz finalized_after_stop=%.1fs",
		api.Seconds(), ready.Seconds(), p.Duration, wall, len(rec.Meta.Segments), p.Size, p.VideoFrames, float64(p.VideoFrames)/p.Duration,
		p.AudioCodec, p.SampleRate, delivered.Seconds()))
	if p.Duration < wall-3 || p.Duration > wall+1.5 {
		sc.fatal("recorded %.1f s of a %.1f s interview", p.Duration, wall)
	}
}

// TestPowerCut kills QEMU mid-interview (a power cut), boots the same disk
// again and checks that the box recovers its journal and goes on with the
// same interview; after the stop both servers hold it whole, and the
// figures say how much media the cut cost.
func TestPowerCut(t *testing.T) {
	sc := newScenario(t)
	sc.boot(true)
	sc.login()
	id, started := sc.start()
	sc.sleep(12 * time.Second)
	st, _ := sc.status()
	cut := time.Now()
	sc.vm.Kill()
	t.Logf("power cut %.1f s into the interview; the box had journaled %d segments", cut.Sub(started).Seconds(), st.Segments)

	api, _ := sc.boot(false)
	resumed, stopped := sc.continueAndStop(id, 5*time.Second)
	delivered := sc.waitDelivered(id, 2*time.Minute)
	p, rec := sc.checkRecording(id)
	if !strings.Contains(sc.vm.Console(2), "interview continued after a restart") {
		sc.fatal("the box did not say it continued the interrupted interview")
	}
	if len(rec.Meta.Outages) != 1 {
		sc.fatal("want one outage in the metadata, got %+v", rec.Meta.Outages)
	}
	o := rec.Meta.Outages[0]
	if o.Seq < st.Segments {
		sc.fatal("the outage starts at segment %d, but the box had journaled %d before the cut: journaled media was lost", o.Seq, st.Segments)
	}
	before, gap, after := p.Jump()
	lost := cut.Sub(started).Seconds() - before
	sc.result(fmt.Sprintf("interview_before_cut=%.1fs media_before_cut=%.1fs lost=%.1fs journaled_before_cut=%d outage_starts_at_segment=%d outage=%.1fs (media jump %.1fs) reboot_to_api=%.1fs reboot_to_recording=%.1fs media_after=%.1fs of %.1fs segments=%d finalized_after_stop=%.1fs torn_tail_cut=%t",
		cut.Sub(started).Seconds(), before, lost, st.Segments, o.Seq, o.To.Sub(o.From).Seconds(), gap, api.Seconds(),
		resumed.Sub(sc.vm.BootedAt).Seconds(), after, stopped.Sub(resumed).Seconds(), len(rec.Meta.Segments), delivered.Seconds(),
		strings.Contains(sc.vm.Console(2), "torn tail")))
}

// TestGracefulShutdown presses the power button mid-interview: the box
// shuts down cleanly, goes on with the interview after the next boot, and
// nothing it had captured is lost; the hardware watchdog never fires.
func TestGracefulShutdown(t *testing.T) {
	sc := newScenario(t)
	sc.boot(true)
	sc.login()
	id, started := sc.start()
	sc.sleep(10 * time.Second)
	st, _ := sc.status()
	pressed := time.Now()
	if err := sc.vm.Powerdown(sc.ctx); err != nil {
		sc.fatal("system_powerdown: %v", err)
	}
	if !sc.vm.WaitExit(2 * time.Minute) {
		sc.fatal("the guest did not power off within 2 minutes of the power button")
	}
	shutdown := time.Since(pressed)
	first := sc.vm.Console(1)
	switch {
	case !strings.Contains(first, "reboot: Power down"):
		sc.fatal("the guest did not power down cleanly (no 'reboot: Power down' on the console)")
	case strings.Contains(first, "Killing process"), strings.Contains(first, "timed out"):
		sc.fatal("a unit did not stop in time during the shutdown (see %s)", sc.vm.ConsoleLog(1))
	}

	sc.boot(false)
	resumed, stopped := sc.continueAndStop(id, 5*time.Second)
	delivered := sc.waitDelivered(id, 2*time.Minute)
	p, rec := sc.checkRecording(id)
	if len(rec.Meta.Outages) != 1 {
		sc.fatal("want one outage in the metadata, got %+v", rec.Meta.Outages)
	}
	o := rec.Meta.Outages[0]
	before, gap, after := p.Jump()
	lost := math.Max(0, pressed.Sub(started).Seconds()-before)
	sc.result(fmt.Sprintf("interview_before_button=%.1fs media_before_shutdown=%.1fs lost=%.1fs journaled_before_button=%d outage_starts_at_segment=%d shutdown=%.1fs outage=%.1fs (media jump %.1fs) media_after=%.1fs of %.1fs segments=%d finalized_after_stop=%.1fs",
		pressed.Sub(started).Seconds(), before, lost, st.Segments, o.Seq, shutdown.Seconds(), o.To.Sub(o.From).Seconds(), gap,
		after, stopped.Sub(resumed).Seconds(), len(rec.Meta.Segments), delivered.Seconds()))
	if o.Seq < st.Segments {
		sc.fatal("the outage starts at segment %d, but the box had journaled %d before the button", o.Seq, st.Segments)
	}
	if lost > 1.5 {
		sc.fatal("%.1f s of the interview lost in a graceful shutdown", lost)
	}
	if strings.Contains(sc.vm.Console(2), "torn tail") {
		sc.fatal("the journal had a torn tail after a graceful shutdown")
	}
	for n := 1; n <= sc.vm.Boots(); n++ {
		if c := sc.vm.GuestStarts(n); c != 1 {
			sc.fatal("boot %d: the guest started %d times (a reset)", n, c)
		}
	}
	if sc.vm.WatchdogFired() {
		sc.fatal("the hardware watchdog fired: %v", sc.vm.Events())
	}
}

// TestNetworkCut cuts the link to the preferred server, then to both,
// heals both, and checks that both servers end up with the same
// recording, whole.
func TestNetworkCut(t *testing.T) {
	sc := newScenario(t)
	sc.boot(true)
	sc.login()
	id, started := sc.start()
	sc.sleep(5 * time.Second)

	link := func(nic string, up bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(sc.ctx, 10*time.Second)
		defer cancel()
		if err := sc.vm.SetLink(ctx, nic, up); err != nil {
			sc.fatal("set_link %s %t: %v", nic, up, err)
		}
	}
	state := func(name string) string {
		st, _ := sc.status()
		return ServerView(st, name).State
	}
	link(NICPreferred, false)
	offA := sc.waitFor("preferred marked offline", 15*time.Second, func() bool { return state("preferred") == "offline" })
	sc.sleep(4 * time.Second)
	if state("redundant") != "recording" {
		sc.fatal("recording did not go on with the redundant server")
	}
	link(NICRedundant, false)
	offB := sc.waitFor("redundant marked offline", 15*time.Second, func() bool { return state("redundant") == "offline" })
	sc.sleep(3 * time.Second) // both away, for less than lost_grace (10 s): the interview goes on
	if st, _ := sc.status(); st.Phase != "recording" {
		sc.fatal("the interview stopped while both servers were away: %s", st.Phase)
	}
	link(NICPreferred, true)
	link(NICRedundant, true)
	healed := sc.waitFor("both servers recording again and caught up", 2*time.Minute, func() bool {
		st, ok := sc.status()
		if !ok || st.Segments == 0 {
			return false
		}
		for _, name := range []string{"preferred", "redundant"} {
			s := ServerView(st, name)
			if s.State != "recording" || s.Acked+1 < st.Segments {
				return false
			}
		}
		return true
	})
	sc.sleep(4 * time.Second)
	stopped := sc.stop(id)
	wall := stopped.Sub(started).Seconds()
	delivered := sc.waitDelivered(id, 2*time.Minute)
	p, rec := sc.checkRecording(id)
	sc.result(fmt.Sprintf("preferred_offline_after=%.1fs redundant_offline_after=%.1fs caught_up_after_heal=%.1fs recorded=%.1fs wall=%.1fs segments=%d finalized_after_stop=%.1fs",
		offA.Seconds(), offB.Seconds(), healed.Seconds(), p.Duration, wall, len(rec.Meta.Segments), delivered.Seconds()))
	if p.Duration < wall-3 {
		sc.fatal("recorded %.1f s of a %.1f s interview", p.Duration, wall)
	}
}
