package alsa

import "time"

// timeline puts the periods a sound card delivers on the wall clock.
//
// Samples are stamped back to back from an origin, so that jitter in
// when periods arrive does not reach the timestamps. Two things keep the
// count honest against the clock:
//
//   - A period cannot arrive before its last sample was captured. One that
//     does shows the timeline to be late (the first period came in late,
//     or the card's clock runs fast), and the origin moves earlier.
//   - When periods keep arriving more than threshold after the timeline
//     says their last sample was captured, for confirm or longer, samples
//     were lost (an overrun: the card's buffer filled while nobody read
//     it, or the card's clock runs slow). The smallest lag seen over that
//     time is filled with silence, so audio stays in step with video. A
//     period that is merely late is followed at once by the ones that
//     queued behind it, on time, and so is not taken for a hole.
//
// The capture thread owns it.
type timeline struct {
	rate      int64
	threshold time.Duration
	confirm   time.Duration

	started bool
	origin  time.Time // capture time of sample frame 0
	pos     int64     // sample frames placed so far, silence included

	late      bool // periods have been arriving late since lateSince
	lateSince time.Time
	lateMin   time.Duration
}

// placement is where a period goes: after silence frames of silence
// starting at silenceAt, its first frame at at.
type placement struct {
	silence   int64
	silenceAt time.Time
	at        time.Time
}

// frameTime is the capture time of sample frame i, exact to the
// nanosecond however long the recording.
func (t *timeline) frameTime(i int64) time.Time {
	return t.origin.Add(frames(i, t.rate))
}

// frames is the duration of n sample frames at rate.
func frames(n, rate int64) time.Duration {
	return time.Duration(n/rate)*time.Second + time.Duration(n%rate)*time.Second/time.Duration(rate)
}

// place takes a period of n sample frames that arrived at now.
func (t *timeline) place(now time.Time, n int) placement {
	if !t.started {
		t.started = true
		t.origin = now.Add(-frames(int64(n), t.rate))
	}
	lag := now.Sub(t.frameTime(t.pos + int64(n)))
	if lag < 0 {
		t.origin = t.origin.Add(lag)
		lag = 0
	}
	switch {
	case lag <= t.threshold:
		t.late = false
	case !t.late:
		t.late, t.lateSince, t.lateMin = true, now, lag
	default:
		t.lateMin = min(t.lateMin, lag)
	}
	var p placement
	if t.late && now.Sub(t.lateSince) >= t.confirm {
		p.silence = int64(t.lateMin/time.Second)*t.rate + int64(t.lateMin%time.Second)*t.rate/int64(time.Second)
		p.silenceAt = t.frameTime(t.pos)
		t.pos += p.silence
		t.late = false
	}
	p.at = t.frameTime(t.pos)
	t.pos += int64(n)
	return p
}
