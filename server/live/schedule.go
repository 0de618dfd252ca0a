package live

import (
	"slices"
	"time"
)

// schedule paces one recording's samples against the wall clock: a
// sample is due at anchorWall + (its media time - anchorMedia), so a 1 s
// fragment plays out over 1 s, audio and video on the same clock. It is
// plain data, owned by the hub's goroutine, and takes the time as an
// argument so tests can drive it.
//
// The anchor is set by the first fragment (it plays at once) and moves
// only when a fragment does not fit:
//   - late (its start is already due): the anchor moves later so it starts
//     now; the viewers' jitter buffers absorb the pause.
//   - behind the live edge (its start is due more than maxLag from now,
//     because an earlier late fragment moved the anchor, or fragments came
//     in a burst): what is still queued is dropped and the fragment starts
//     now, if it starts with an IDR, so decoding is not broken.
//   - media time going backwards (a new encoder run): as late, after
//     dropping the queue.
//   - early (its start is not due yet): the anchor moves earlier by up to
//     catchUp, never so far that a track's samples would go out of
//     order. A late fragment moves the anchor later for good; without
//     this the delay would only ever grow to the worst seen (up to
//     maxLag), where with CMAF chunks arriving every 200 ms it now comes
//     back to what the fragments' arrival allows, a few percent faster
//     than real time for a moment.
type schedule struct {
	maxLag time.Duration

	anchored    bool
	anchorWall  time.Time
	anchorMedia time.Duration
	videoEnd    time.Duration // media time where the last added fragment's video ends

	queue []queued // in due order, each track in media order
	head  int      // queue[:head] has been taken
}

// catchUp is how much earlier the timeline may move per early fragment.
const catchUp = 10 * time.Millisecond

type queued struct {
	sample
	due time.Time
}

func (s *schedule) wall(media time.Duration) time.Time {
	return s.anchorWall.Add(media - s.anchorMedia)
}

func (s *schedule) anchor(now time.Time, media time.Duration) {
	s.anchored, s.anchorWall, s.anchorMedia = true, now, media
}

// pending is how many samples wait.
func (s *schedule) pending() int { return len(s.queue) - s.head }

// drop empties the queue and returns how many samples it held.
func (s *schedule) drop() int {
	n := s.pending()
	clear(s.queue)
	s.queue, s.head = s.queue[:0], 0
	return n
}

// add queues a fragment's samples and returns how many queued samples it
// dropped to do so.
func (s *schedule) add(now time.Time, f fragment) (dropped int) {
	if len(f.samples) == 0 {
		return 0
	}
	// The video decides: audio the box put in this fragment from before
	// its video starts is late, and goes out at once.
	start := f.start
	switch {
	case !s.anchored:
		s.anchor(now, start)
	case f.start < s.videoEnd && f.key:
		// Media time went backwards: a new run of the encoder. What is
		// queued belongs to the old timeline.
		dropped = s.drop()
		s.anchor(now, start)
	case s.wall(start).Before(now):
		s.anchorWall = s.anchorWall.Add(now.Sub(s.wall(start)))
	case s.wall(start).Sub(now) > s.maxLag && f.key:
		dropped = s.drop()
		s.anchor(now, start)
	case s.wall(start).After(now):
		s.anchorWall = s.anchorWall.Add(-s.catchUpBy(now, f))
	}
	n := len(s.queue)
	for _, smp := range f.samples {
		s.queue = append(s.queue, queued{sample: smp, due: s.wall(smp.at)})
	}
	if n > s.head && s.queue[n].due.Before(s.queue[n-1].due) {
		// The previous fragment runs past this one's start (its audio
		// may lead its video): keep the queue in due order, or that
		// audio would hold this fragment's IDR back. Stable, so each
		// track keeps its order.
		slices.SortStableFunc(s.queue[s.head:], func(a, b queued) int { return a.due.Compare(b.due) })
	}
	for i := len(f.samples) - 1; i >= 0; i-- {
		if v := f.samples[i]; v.video {
			s.videoEnd = v.at + v.dur
			break
		}
	}
	return dropped
}

// catchUpBy is how much earlier f may play than the anchor says: up to
// catchUp, no earlier than now, and no earlier than the last queued
// sample of each track, so each track stays in order.
func (s *schedule) catchUpBy(now time.Time, f fragment) time.Duration {
	shift := min(catchUp, s.wall(f.start).Sub(now))
	seen := [2]bool{}
	for _, smp := range f.samples {
		t := 0
		if smp.video {
			t = 1
		}
		if seen[t] {
			continue
		}
		seen[t] = true
		for i := len(s.queue) - 1; i >= s.head; i-- {
			if s.queue[i].video == smp.video {
				shift = min(shift, s.wall(smp.at).Sub(s.queue[i].due))
				break
			}
		}
	}
	return max(0, shift)
}

// next is when the next sample is due.
func (s *schedule) next() (time.Time, bool) {
	if s.pending() == 0 {
		return time.Time{}, false
	}
	return s.queue[s.head].due, true
}

// take returns the samples due at now, in order. The slice is valid until
// the next call to add or take.
func (s *schedule) take(now time.Time) []queued {
	if s.head > 0 && s.head == len(s.queue) {
		clear(s.queue)
		s.queue, s.head = s.queue[:0], 0
	} else if s.head > 1024 && s.head > len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	i := s.head
	for i < len(s.queue) && !s.queue[i].due.After(now) {
		i++
	}
	out := s.queue[s.head:i]
	s.head = i
	return out
}
