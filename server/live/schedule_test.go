package live

import (
	"cmp"
	"slices"
	"testing"
	"time"
)

// frag is a fragment of n video frames of 100 ms from media time start,
// starting with an IDR if key, with one audio packet lead before its
// start if lead > 0.
func frag(start time.Duration, n int, key bool, lead time.Duration) fragment {
	f := fragment{start: start, key: key}
	if lead > 0 {
		f.samples = append(f.samples, sample{at: start - lead, dur: 20 * ms})
	}
	for i := range n {
		f.samples = append(f.samples, sample{video: true, key: key && i == 0, at: start + time.Duration(i)*100*ms, dur: 100 * ms})
	}
	return f
}

// step adds a fragment at wall time `at` (after taking what is due then)
// and says when its first video sample should be due and how many queued
// samples adding it should drop.
type step struct {
	at       time.Duration
	f        fragment
	wantDue  time.Duration
	wantDrop int
}

func TestSchedule(t *testing.T) {
	const s = time.Second
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the first fragment plays at once", []step{
			{at: 0, f: frag(5*s, 10, true, 0), wantDue: 0},
		}},
		{"fragments on time continue the timeline", []step{
			{at: 0, f: frag(0, 10, true, 0), wantDue: 0},
			{at: s, f: frag(s, 10, true, 0), wantDue: s},
			{at: 2*s + 20*ms, f: frag(2*s, 10, true, 0), wantDue: 2*s + 20*ms},
		}},
		{"an early fragment waits for its turn, less catchUp", []step{
			{at: 0, f: frag(0, 10, true, 0), wantDue: 0},
			{at: 900 * ms, f: frag(s, 10, true, 0), wantDue: s - catchUp},
		}},
		{"a late fragment starts when it comes; the delay shrinks by catchUp a fragment", []step{
			{at: 0, f: frag(0, 10, true, 0), wantDue: 0},
			{at: 1200 * ms, f: frag(s, 10, true, 0), wantDue: 1200 * ms},
			{at: 2 * s, f: frag(2*s, 10, true, 0), wantDue: 2200*ms - catchUp},
			{at: 3 * s, f: frag(3*s, 10, true, 0), wantDue: 3200*ms - 2*catchUp},
		}},
		{"far behind the live edge: the queue is cut at the IDR", []step{
			{at: 0, f: frag(0, 10, true, 0), wantDue: 0},
			{at: 1600 * ms, f: frag(s, 10, true, 0), wantDue: 1600 * ms},
			// 2 s comes at 2.1 s but is due at 2.6 s, with 400 ms of 1 s queued.
			{at: 2100 * ms, f: frag(2*s, 10, true, 0), wantDue: 2100 * ms, wantDrop: 4},
		}},
		{"behind, but no IDR to cut at", []step{
			{at: 0, f: frag(0, 10, true, 0), wantDue: 0},
			{at: 100 * ms, f: frag(s, 10, false, 0), wantDue: s - catchUp},
		}},
		{"a burst within MaxLag is queued", []step{
			{at: 0, f: frag(0, 10, true, 0), wantDue: 0},
			{at: 800 * ms, f: frag(s, 10, true, 0), wantDue: s - catchUp},
		}},
		{"media time going backwards starts a new timeline", []step{
			{at: 0, f: frag(10*s, 10, true, 0), wantDue: 0},
			{at: 500 * ms, f: frag(0, 10, true, 0), wantDue: 500 * ms, wantDrop: 4},
		}},
		{"audio from before the video start goes out at once", []step{
			{at: 0, f: frag(0, 5, true, 0), wantDue: 0},
			{at: 500 * ms, f: frag(500*ms, 5, true, 240*ms), wantDue: 500 * ms},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := schedule{maxLag: DefaultMaxLag}
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				sc.take(now)
				if got := sc.add(now, st.f); got != st.wantDrop {
					t.Fatalf("step %d: dropped %d, want %d", i, got, st.wantDrop)
				}
				var due time.Time
				for _, q := range sc.queue[sc.head:] {
					if q.video && q.at == st.f.start {
						due = q.due
					}
				}
				if want := t0.Add(st.wantDue); !due.Equal(want) {
					t.Fatalf("step %d: first frame due at %v, want %v", i, due.Sub(t0), st.wantDue)
				}
				// A fragment plays out over its own length.
				last := sc.queue[len(sc.queue)-1]
				if got, want := last.due.Sub(due), last.at-st.f.start; got != want {
					t.Fatalf("step %d: last frame due %v after the first, want %v", i, got, want)
				}
			}
		})
	}
}

// TestScheduleAudioLeadingTheVideo: a fragment whose audio runs on past
// its video (a box may put up to two segments of audio ahead) does not
// hold back the next fragment's IDR, and each track stays in order.
func TestScheduleAudioLeadingTheVideo(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sc := schedule{maxLag: DefaultMaxLag}
	first := frag(0, 10, true, 0)
	for i := range 60 { // 1.2 s of audio with 1 s of video
		first.samples = append(first.samples, sample{at: time.Duration(i) * 20 * ms, dur: 20 * ms})
	}
	slices.SortStableFunc(first.samples, func(a, b sample) int { return cmp.Compare(a.at, b.at) })
	sc.add(t0, first)
	sc.take(t0.Add(990 * ms))
	second := frag(time.Second, 10, true, 0)
	for i := range 10 {
		second.samples = append(second.samples, sample{at: 1200*ms + time.Duration(i)*20*ms, dur: 20 * ms})
	}
	sc.add(t0.Add(time.Second), second)
	got := sc.take(t0.Add(time.Second))
	if len(got) != 2 || got[0].video || got[0].at != time.Second || !got[1].key || got[1].at != time.Second {
		t.Fatalf("at 1 s took %+v: want the audio at 1 s, then the second fragment's IDR", got)
	}
	lastAudio, lastVideo := time.Duration(-1), time.Duration(-1)
	for _, q := range sc.take(t0.Add(time.Hour)) {
		last := &lastAudio
		if q.video {
			last = &lastVideo
		}
		if q.at <= *last {
			t.Fatalf("sample at %v after %v on the same track", q.at, *last)
		}
		*last = q.at
	}
}

func TestScheduleTakesInOrderAndOnlyWhatIsDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sc := schedule{maxLag: DefaultMaxLag}
	sc.add(t0, frag(0, 10, true, 30*ms))
	if n, ok := sc.next(); !ok || !n.Equal(t0.Add(-30*ms)) {
		t.Fatalf("next = %v, %v", n, ok)
	}
	got := sc.take(t0.Add(250 * ms))
	if len(got) != 4 || got[0].video || !got[1].key || got[3].at != 200*ms {
		t.Fatalf("took %+v: want the audio lead, then frames at 0, 100 and 200 ms", got)
	}
	if n, _ := sc.next(); !n.Equal(t0.Add(300 * ms)) {
		t.Fatalf("next = %v, want +300ms", n.Sub(t0))
	}
	if got := sc.take(t0.Add(250 * ms)); len(got) != 0 {
		t.Fatalf("took %d samples twice", len(got))
	}
	if got := sc.take(t0.Add(time.Hour)); len(got) != 7 || sc.pending() != 0 {
		t.Fatalf("took %d, %d pending; want the other 7", len(got), sc.pending())
	}
	if _, ok := sc.next(); ok {
		t.Fatal("next on an empty queue")
	}
}

// Catching up never puts a track's samples out of order: an early
// fragment whose first audio packet follows the queued one by 5 ms moves
// by 5 ms, not catchUp.
func TestScheduleCatchUpKeepsTracksInOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	a := fragment{start: 0, key: true, samples: []sample{
		{video: true, key: true, at: 0, dur: 100 * ms},
		{at: 95 * ms, dur: 20 * ms},
	}}
	b := fragment{start: 100 * ms, samples: []sample{
		{video: true, at: 100 * ms, dur: 100 * ms},
		{at: 100 * ms, dur: 20 * ms},
	}}
	sc := schedule{maxLag: DefaultMaxLag}
	sc.add(t0, a)
	sc.add(t0.Add(10*ms), b)
	var video, audio []time.Duration
	for _, q := range sc.queue[sc.head:] {
		d := q.due.Sub(t0)
		if q.video {
			video = append(video, d)
		} else {
			audio = append(audio, d)
		}
	}
	if !slices.Equal(video, []time.Duration{0, 95 * ms}) || !slices.Equal(audio, []time.Duration{95 * ms, 95 * ms}) {
		t.Fatalf("video due %v, audio due %v; want [0 95ms] and [95ms 95ms]", video, audio)
	}
	if !slices.IsSortedFunc(sc.queue[sc.head:], func(x, y queued) int { return x.due.Compare(y.due) }) {
		t.Fatal("queue not in due order")
	}
}
