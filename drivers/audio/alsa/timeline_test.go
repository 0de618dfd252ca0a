package alsa

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const (
	ms     = time.Millisecond
	period = 20 * ms
	pf     = 960 // frames in a period at 48 kHz
)

// every returns n arrival times one period apart from the first period's
// end, each shifted by f(i).
func every(n int, f func(i int) time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1)*period + f(i)
	}
	return out
}

func none(int) time.Duration { return 0 }

func TestTimeline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		arrivals []time.Duration // of the periods, since t0
		holes    int
		silence  [2]time.Duration // least and most filled in all
		// exact: period i is stamped i periods from t0, plus what was
		// filled in before it.
		exact bool
		skip  int // periods before the stamps are exact
	}{
		{name: "steady", arrivals: every(500, none), exact: true},
		{name: "jitter below the threshold", arrivals: every(500, func(i int) time.Duration {
			return time.Duration(i*7919%30) * ms // 0..29 ms late, no pattern
		})},
		{name: "late first period", arrivals: every(500, func(i int) time.Duration {
			if i == 0 {
				return 35 * ms
			}
			return 0
		}), exact: true, skip: 1},
		{name: "stalled reader, nothing lost", arrivals: every(500, func(i int) time.Duration {
			// Periods due from 1 s to 1.1 s wait for a reader that was away
			// 150 ms, then come in a burst.
			if due := time.Duration(i+1) * period; due >= time.Second && due < 1150*ms {
				return 1150*ms - due + time.Duration(i)*10*time.Microsecond
			}
			return 0
		}), exact: true},
		{name: "overrun loses 200 ms", arrivals: every(500, func(i int) time.Duration {
			if i >= 50 {
				return 200 * ms
			}
			return 0
		}), holes: 1, silence: [2]time.Duration{200 * ms, 200 * ms}, exact: true},
		{name: "overrun, jitter while it is confirmed", arrivals: every(500, func(i int) time.Duration {
			switch {
			case i >= 50 && i%5 == 0:
				return 215 * ms
			case i >= 50:
				return 200 * ms
			}
			return 0
		}), holes: 1, silence: [2]time.Duration{200 * ms, 200 * ms}, exact: true},
		{name: "overrun loses 5 s", arrivals: every(500, func(i int) time.Duration {
			if i >= 50 {
				return 5 * time.Second
			}
			return 0
		}), holes: 1, silence: [2]time.Duration{5 * time.Second, 5 * time.Second}, exact: true},
		{name: "two overruns", arrivals: every(1000, func(i int) time.Duration {
			switch {
			case i >= 600:
				return 300 * ms
			case i >= 100:
				return 60 * ms
			}
			return 0
		}), holes: 2, silence: [2]time.Duration{300 * ms, 300 * ms}, exact: true},
		{name: "card clock 100 ppm slow for 20 minutes", arrivals: every(60000, func(i int) time.Duration {
			return time.Duration(i+1) * period / 10000
		}), holes: 2, silence: [2]time.Duration{80 * ms, 120 * ms}},
		{name: "card clock 100 ppm fast for 20 minutes", arrivals: every(60000, func(i int) time.Duration {
			return -time.Duration(i+1) * period / 10000
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := timeline{rate: 48000, threshold: DefaultHoleThreshold, confirm: DefaultHoleConfirm}
			var (
				holes   int
				silence time.Duration
				end     time.Time // where the previous period ended
			)
			for i, a := range tc.arrivals {
				now := t0.Add(a)
				p := tl.place(now, pf)
				if p.silence > 0 {
					holes++
					silence += frames(p.silence, 48000)
					if !p.silenceAt.Equal(end) || !p.at.Equal(end.Add(frames(p.silence, 48000))) {
						t.Fatalf("period %d: silence at %v then samples at %v; the previous period ended at %v", i, p.silenceAt.Sub(t0), p.at.Sub(t0), end.Sub(t0))
					}
				}
				if i > 0 && p.silence == 0 && p.at.After(end) {
					t.Fatalf("period %d at %v leaves a gap after %v", i, p.at.Sub(t0), end.Sub(t0))
				}
				if tc.exact && i >= tc.skip {
					if want := t0.Add(time.Duration(i)*period + silence); !p.at.Equal(want) {
						t.Fatalf("period %d at %v, want %v", i, p.at.Sub(t0), want.Sub(t0))
					}
				}
				end = p.at.Add(period)
				// Never after it arrived, and never far behind the clock
				// for longer than it takes to confirm a hole.
				if end.After(now) {
					t.Fatalf("period %d ends at %v, after it arrived at %v", i, end.Sub(t0), a)
				}
			}
			last := t0.Add(tc.arrivals[len(tc.arrivals)-1])
			if lag := last.Sub(end); lag > DefaultHoleThreshold {
				t.Errorf("at the end the samples are %v behind the clock", lag)
			}
			if holes != tc.holes || silence < tc.silence[0] || silence > tc.silence[1] {
				t.Errorf("%d holes, %v of silence; want %d, %v-%v", holes, silence, tc.holes, tc.silence[0], tc.silence[1])
			}
		})
	}
}

func TestFrames(t *testing.T) {
	for _, tc := range []struct {
		n, rate int64
		want    time.Duration
	}{
		{960, 48000, 20 * ms},
		{1, 48000, 20833 * time.Nanosecond},
		{441, 44100, 10 * ms},
		{48000 * 3600 * 24 * 30, 48000, 30 * 24 * time.Hour}, // a month: no overflow
	} {
		if got := frames(tc.n, tc.rate); got != tc.want {
			t.Errorf("frames(%d, %d) = %v, want %v", tc.n, tc.rate, got, tc.want)
		}
	}
}
