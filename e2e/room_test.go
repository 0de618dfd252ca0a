package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"twincap/firmware/journal"

	"twincap/firmware/box"
	"twincap/firmware/roomclient"
	"twincap/server/wire"
)

// killAndRestart kills a server with SIGKILL in the middle of the
// interview, checks the box marks it offline while recording goes on with
// the other, restarts it and waits until the box records on it again and
// has backfilled what it missed.
func (r *room) killAndRestart(s *server, other *server, down time.Duration) {
	t := r.t
	t.Helper()
	killed := time.Now()
	s.p.kill()
	r.waitFor(s.name+" marked offline", 5*time.Second, func() bool { return r.serverState(s.name) == "offline" })
	t.Logf("%s killed: marked offline after %s", s.name, time.Since(killed).Round(10*time.Millisecond))

	before := r.acked(other.name)
	time.Sleep(down)
	if after := r.acked(other.name); after <= before {
		t.Fatalf("recording did not go on with %s while %s was down: acked %d then %d", other.name, s.name, before, after)
	}
	r.startServer(s)
	back := time.Now()
	r.waitFor(s.name+" recording again and caught up", 30*time.Second, func() bool {
		st := r.mustStatus()
		for _, ss := range st.Servers {
			if ss.Name == s.name {
				return ss.State == "recording" && ss.Acked+1 >= st.Segments && st.Segments > 0
			}
		}
		return false
	})
	t.Logf("%s restarted: recording again and backfilled after %s", s.name, time.Since(back).Round(10*time.Millisecond))
}

func (r *room) acked(name string) uint64 {
	for _, s := range r.mustStatus().Servers {
		if s.Name == name {
			return s.Acked
		}
	}
	return 0
}

func (r *room) waitFinalized(id string, servers ...*server) {
	r.t.Helper()
	ticket := r.ticket()
	r.waitFor("recording finalized on "+serverNames(servers), 60*time.Second, func() bool {
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := r.client(s, ticket).Get(ctx, id)
			cancel()
			if err != nil || st.State != wire.StateFinalized {
				return false
			}
		}
		return true
	})
}

func serverNames(ss []*server) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += " and "
		}
		out += s.name
	}
	return out
}

func (r *room) probeMedia(name string, media []byte) probe {
	path := filepath.Join(r.dir, name+".mp4")
	if err := os.WriteFile(path, media, 0o644); err != nil {
		r.t.Fatal(err)
	}
	return ffprobe(r.t, path)
}

func TestBufferedRecordingSurvivesEachServerKilled(t *testing.T) {
	r := newRoom(t, roomOptions{mode: wire.Buffered, fallback: "any"})
	pref, red := r.servers[0], r.servers[1]
	r.readyAndLoggedIn()

	t0 := time.Now()
	id := r.action(box.PathStart)
	time.Sleep(4 * time.Second)
	r.killAndRestart(pref, red, 3*time.Second)
	time.Sleep(3 * time.Second)
	r.killAndRestart(red, pref, 3*time.Second)
	time.Sleep(3 * time.Second)
	if got := r.action(box.PathStop); got != id {
		t.Fatalf("stopped %q, started %q", got, id)
	}
	wall := time.Since(t0).Seconds()

	r.waitFor("both servers to hold the recording whole (nothing owed)", 60*time.Second, func() bool {
		st := r.mustStatus()
		return len(st.Owed) == 0 && st.Phase == "idle"
	})
	r.waitFinalized(id, pref, red)

	mediaP, metaP := r.recordingFiles(pref, id)
	mediaR, metaR := r.recordingFiles(red, id)
	if sum(mediaP) != sum(mediaR) || len(mediaP) == 0 {
		t.Fatalf("recordings differ: preferred %d bytes %s, redundant %d bytes %s", len(mediaP), sum(mediaP), len(mediaR), sum(mediaR))
	}
	if metaP.MediaSHA256 != sum(mediaP) || metaR.MediaSHA256 != sum(mediaR) {
		t.Errorf("metadata sha256 does not match the media")
	}
	if len(metaP.Gaps) != 0 || len(metaR.Gaps) != 0 {
		t.Errorf("buffered recording has gaps: %v / %v", metaP.Gaps, metaR.Gaps)
	}
	if len(metaP.Segments) != len(metaR.Segments) || len(metaP.Segments) < 10 {
		t.Errorf("segments: preferred %d, redundant %d", len(metaP.Segments), len(metaR.Segments))
	}

	p := r.probeMedia("preferred", mediaP)
	t.Logf("recording %s: %d bytes, %d segments, ffprobe duration %.3fs, wall time %.3fs, %d video frames, max frame step %.3fs",
		id, len(mediaP), len(metaP.Segments), p.Duration, wall, len(p.VideoPTS), p.maxGap())
	if p.VideoCodec != "h264" || p.Width != 320 || p.Height != 240 {
		t.Errorf("video stream: %s %dx%d, want h264 320x240", p.VideoCodec, p.Width, p.Height)
	}
	if p.AudioCodec != "opus" {
		t.Errorf("audio stream: %q, want opus", p.AudioCodec)
	}
	if p.DecodeError != "" {
		t.Errorf("ffmpeg decode errors: %s", p.DecodeError)
	}
	if math.Abs(p.Duration-wall) > 1.0 {
		t.Errorf("duration %.3fs vs wall time %.3fs: more than one segment apart", p.Duration, wall)
	}
	if p.FrameStep == 0 || p.maxGap() > 1.5*p.FrameStep {
		t.Errorf("video frames have a gap: max step %.3fs, frame step %.3fs", p.maxGap(), p.FrameStep)
	}
	if dirs := r.journals(); len(dirs) != 0 {
		t.Errorf("journal not removed after both servers hold the recording: %v", dirs)
	}
}

func TestUnbufferedGapIsRecordedOnTheServerThatMissedIt(t *testing.T) {
	r := newRoom(t, roomOptions{mode: wire.Unbuffered, fallback: "any", window: "2s"})
	pref, red := r.servers[0], r.servers[1]
	r.readyAndLoggedIn()
	t0 := time.Now()
	id := r.action(box.PathStart)
	time.Sleep(3 * time.Second)
	// Longer away than the 2 s window: the redundant server gets a gap.
	r.killAndRestart(red, pref, 5*time.Second)
	time.Sleep(2 * time.Second)
	r.action(box.PathStop)
	wall := time.Since(t0).Seconds()
	r.waitFinalized(id, pref, red)

	mediaP, metaP := r.recordingFiles(pref, id)
	_, metaR := r.recordingFiles(red, id)
	if len(metaP.Gaps) != 0 {
		t.Errorf("the surviving server has gaps: %v", metaP.Gaps)
	}
	if len(metaR.Gaps) == 0 {
		t.Fatalf("the server that was away has no gap in its metadata")
	}
	missed := uint64(0)
	for _, g := range metaR.Gaps {
		missed += g.To - g.From
	}
	t.Logf("redundant gaps %v (%d segments missed)", metaR.Gaps, missed)
	if missed < 2 {
		t.Errorf("gap of %d segments; the server was away 5 s with a 2 s window", missed)
	}
	p := r.probeMedia("preferred", mediaP)
	if math.Abs(p.Duration-wall) > 1.0 || p.maxGap() > 1.5*p.FrameStep || p.DecodeError != "" {
		t.Errorf("surviving server's recording not whole: duration %.3f wall %.3f max step %.3f errors %q",
			p.Duration, wall, p.maxGap(), p.DecodeError)
	}
}

func TestCancelLeavesNothingAnywhere(t *testing.T) {
	r := newRoom(t, roomOptions{mode: wire.Buffered, fallback: "all"})
	pref, red := r.servers[0], r.servers[1]
	r.readyAndLoggedIn()
	id := r.action(box.PathStart)
	time.Sleep(3 * time.Second)
	// One server is away when the operator cancels: it is cleaned when it
	// returns.
	red.p.kill()
	r.waitFor("redundant offline", 5*time.Second, func() bool { return r.serverState("redundant") == "offline" })
	if got := r.action(box.PathCancel); got != id {
		t.Fatalf("cancelled %q, want %q", got, id)
	}
	if dirs := r.journals(); len(dirs) != 0 {
		t.Errorf("journal still holds %v after cancel", dirs)
	}
	r.startServer(red)
	ticket := r.ticket()
	// A server answers "not found" as soon as the folder is renamed away,
	// a moment before it is removed: wait for both.
	var left []string
	r.waitFor("the recording deleted on both servers, its folder gone", 20*time.Second, func() bool {
		left = nil
		for _, s := range []*server{pref, red} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := r.client(s, ticket).Get(ctx, id)
			cancel()
			if !errors.Is(err, roomclient.ErrNotFound) {
				return false
			}
			entries, _ := os.ReadDir(filepath.Join(s.data, "recordings"))
			for _, e := range entries {
				left = append(left, s.name+": "+e.Name())
			}
		}
		return len(left) == 0
	})
}

// TestFallbackPolicyWithOneServerDown starts an interview with one
// server killed after the room connected, for each fallback.
func TestFallbackPolicyWithOneServerDown(t *testing.T) {
	cases := []struct {
		fallback string
		down     int // index of the killed server: 0 preferred, 1 redundant
		starts   bool
		reason   string
	}{
		{"any", 0, true, ""},
		{"preferred", 1, true, ""},
		{"preferred", 0, false, "fallback preferred: preferred cannot start a recording"},
		{"all", 1, false, "fallback all: redundant cannot start a recording"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d-down", c.fallback, c.down), func(t *testing.T) {
			r := newRoom(t, roomOptions{mode: wire.Buffered, fallback: c.fallback})
			r.readyAndLoggedIn()
			down := r.servers[c.down]
			down.p.kill()
			r.waitFor(down.name+" offline", 5*time.Second, func() bool { return r.serverState(down.name) == "offline" })
			var rep box.ActionReply
			code, err := r.call("POST", box.PathStart, nil, &rep)
			if !c.starts {
				if err == nil || code != 409 || !strings.Contains(err.Error(), c.reason) {
					t.Fatalf("start = %d, %v; want 409 with %q", code, err, c.reason)
				}
				if st := r.mustStatus(); st.Phase != "idle" {
					t.Errorf("phase %s after a refused start", st.Phase)
				}
				return
			}
			if err != nil {
				t.Fatalf("start refused: %v", err)
			}
			time.Sleep(2 * time.Second)
			if got := r.action(box.PathStop); got != rep.RecordingID {
				t.Fatalf("stopped %q, started %q", got, rep.RecordingID)
			}
			up := r.servers[1-c.down]
			r.waitFinalized(rep.RecordingID, up)
		})
	}
}

// TestBoxRestartShipsWhatIsOwed stops the box in the middle of an interview
// (kill -9, then SIGTERM), starts it again, and checks that every segment
// it had journaled reaches both servers, which finalize the recording,
// without anyone logging in again.
// A box that restarts mid-interview (a crash, or an orderly stop such as
// a reboot) continues the same recording: same ID, segments numbered on,
// the time it was down kept as an outage in the metadata, and what it
// owed a server that was away is shipped when that server returns.
func TestBoxRestartContinuesTheInterview(t *testing.T) {
	for _, how := range []string{"kill -9", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			r := newRoom(t, roomOptions{mode: wire.Buffered, fallback: "any"})
			pref, red := r.servers[0], r.servers[1]
			r.readyAndLoggedIn()
			began := time.Now()
			id := r.action(box.PathStart)
			// One server is away, so the journal holds what it owes.
			time.Sleep(2 * time.Second)
			red.p.kill()
			time.Sleep(3 * time.Second)
			journaled := r.mustStatus().Segments
			downAt := time.Now()
			if how == "kill -9" {
				r.box.kill()
			} else {
				if !r.box.term(10 * time.Second) {
					t.Fatal("the box did not exit within 10 s of SIGTERM")
				}
				// An orderly stop finishes the segment under way and
				// gives the server that is up everything it captured.
				j, err := journal.Open(filepath.Join(r.dir, "journal", id))
				if err != nil {
					t.Fatal(err)
				}
				captured := j.Next()
				j.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				st, err := r.client(pref, r.ticket()).Get(ctx, id)
				cancel()
				if err != nil || st.NextSeq != captured {
					t.Fatalf("after SIGTERM the preferred server holds up to %d (%v); the box captured %d", st.NextSeq, err, captured)
				}
			}
			r.startServer(red)
			r.box = start(t, r.dir, "box", filepath.Join(r.bin, "twincap-box"), "-config", r.boxCfg)
			r.waitFor("the interview to go on", 20*time.Second, func() bool {
				st, err := r.status()
				return err == nil && st.Phase == box.Recording.String() && st.RecordingID == id && st.Segments > journaled
			})
			down := time.Since(downAt)
			time.Sleep(3 * time.Second)
			r.action(box.PathStop)
			wall := time.Since(began)
			r.waitFinalized(id, pref, red)
			r.waitFor("nothing owed", 30*time.Second, func() bool {
				st, err := r.status()
				return err == nil && len(st.Owed) == 0
			})
			mediaP, metaP := r.recordingFiles(pref, id)
			mediaR, metaR := r.recordingFiles(red, id)
			if sum(mediaP) != sum(mediaR) {
				t.Fatalf("recordings differ after the box restarted")
			}
			if uint64(len(metaP.Segments)) <= journaled || len(metaR.Segments) != len(metaP.Segments) {
				t.Errorf("segments: preferred %d, redundant %d; %d were journaled before the box stopped",
					len(metaP.Segments), len(metaR.Segments), journaled)
			}
			if len(metaP.Outages) != 1 || len(metaR.Outages) != 1 || metaP.Outages[0].Seq < journaled {
				t.Fatalf("outages: preferred %+v, redundant %+v; want one, after segment %d", metaP.Outages, metaR.Outages, journaled)
			}
			o := metaP.Outages[0]
			if how == "kill -9" {
				// The chunks of the segment being cut were durable: the
				// kill costs the chunk being cut and what was still in
				// the encoder, not the second being filled.
				if lost := downAt.Sub(o.From); lost > 700*time.Millisecond {
					t.Errorf("kill -9 lost %v of media (from the end of what the box kept to the kill); want at most a chunk (200 ms) and the encoder's latency", lost.Round(time.Millisecond))
				} else {
					t.Logf("kill -9 lost %v of media", lost.Round(time.Millisecond))
				}
			}
			p := r.probeMedia("preferred", mediaP)
			t.Logf("%s: %d segments journaled before, %d finalized on each server, %.2fs of media over %.2fs of wall time; outage %v in the metadata, the box was away %.1fs",
				how, journaled, len(metaP.Segments), p.Duration, wall.Seconds(), o.To.Sub(o.From).Round(time.Millisecond), down.Seconds())
			if p.DecodeError != "" {
				t.Errorf("recording does not decode cleanly: %q", p.DecodeError)
			}
			// The one jump in the pictures is the outage; elsewhere the
			// frames follow each other.
			jump, jumps := 0.0, 0
			for i := 1; i < len(p.VideoPTS); i++ {
				if d := p.VideoPTS[i] - p.VideoPTS[i-1]; d > 1.5*p.FrameStep {
					jump, jumps = d, jumps+1
				}
			}
			if want := o.To.Sub(o.From).Seconds(); jumps != 1 || math.Abs(jump-want) > 1 {
				t.Errorf("%d jumps in the video, the largest %.2fs; want one of about the outage, %.2fs", jumps, jump, want)
			}
			// The media spans the interview's wall time, outage included.
			if math.Abs(p.Duration-wall.Seconds()) > 1.5 {
				t.Errorf("media lasts %.2fs, the interview %.2fs of wall time", p.Duration, wall.Seconds())
			}
		})
	}
}
