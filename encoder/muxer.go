package encoder

import (
	"bytes"
	"fmt"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/camera"
	"twincap/encoder/fmp4"
	"twincap/encoder/h264"
	"twincap/encoder/segment"
)

// Media clocks of the two tracks.
const (
	videoTimescale = 90000
	audioTimescale = 48000
)

// audioTolerance is how far a chunk's capture time may stray from where the
// samples before it put it before the stream is mended: silence for a gap
// (an overrun, a stalled device), dropped samples for an overlap. Below it,
// timestamp jitter is ignored so the audio stays continuous.
const audioTolerance = 60 * time.Millisecond

// NAL unit types that travel in the init segment (avcC) or mean nothing in
// an MP4 sample.
const (
	nalSPS = 7
	nalPPS = 8
	nalAUD = 9
)

// muxer owns the state of one Run: it places frames and audio on the media
// clocks, decides segment boundaries, and sends segments. Only Run's
// goroutine touches it.
type muxer struct {
	cfg      Config
	venc     *VideoEncoder
	aenc     *AudioEncoder // nil: video only
	mic      audio.Format
	out      chan<- segment.Segment
	segLen   int64 // SegmentDuration in video ticks
	chunkLen int64 // ChunkDuration in video ticks; 0: one fragment per segment

	onChunk  func(Chunk) // nil: nobody streams chunks
	observe  func(fmp4.Fragment)
	setEpoch func(time.Time)
	resume   *Resume // nil: a new recording

	// Video.
	started  bool
	t0       time.Time // capture time of the first frame: media time 0
	lastPTS  int64
	lastDur  int64
	sps, pps []byte
	initSent bool
	held     *heldFrame // newest frame; its duration waits for the next one
	cur      *openSegment
	boundary int64 // the next segment starts at the first frame at or after it
	pending  []closedChunk
	seq      uint32 // next media segment number
	part     int    // next chunk of segment seq
	segData  []byte // the chunks of segment seq sent so far

	// Audio.
	preroll       []audio.Chunk // chunks that came before the first frame
	prerollFrames int
	placed        bool          // the first sample after t0 is placed
	pcmPos        int64         // sample frames (input rate) placed since t0
	pcm           []int16       // placed but not yet encoded
	packets       []fmp4.Sample // encoded, not yet sent; they end at audioNext
	audioNext     int64         // audio ticks where the next packet starts
	audioDone     bool
}

type heldFrame struct {
	pts  int64
	data []byte
	key  bool
}

// openSegment is the segment being captured: its start, and the samples
// of its open chunk (all of them when there are no chunks).
type openSegment struct {
	start      int64
	chunkStart int64
	nextChunk  int64 // the next chunk starts at the first frame at or after it
	samples    []fmp4.Sample
}

// closedChunk is one moof+mdat's worth of video, waiting for its audio.
// last: it ends its segment.
type closedChunk struct {
	segStart   int64
	start, end int64
	samples    []fmp4.Sample
	last       bool
}

// Chunk is one CMAF chunk of a media segment (a moof+mdat), handed out as
// soon as it is cut so that it can be streamed before its segment is
// complete. The segment's bytes are its chunks' bytes in order; the chunk
// with Last set ends it, and the segment itself follows on Run's channel.
// Every chunk of a segment carries the segment's number in its mfhd. Data
// must not be changed.
type Chunk struct {
	Seq   uint64        // the segment it belongs to
	Part  int           // 0, 1, ... within the segment
	Start time.Duration // media time of its first video frame
	End   time.Duration // media time where its video ends (the next chunk's Start)
	Data  []byte
	Last  bool
}

func newMuxer(cfg Config, venc *VideoEncoder, aenc *AudioEncoder, mic audio.Format, out chan<- segment.Segment) *muxer {
	return &muxer{
		cfg: cfg, venc: venc, aenc: aenc, mic: mic, out: out,
		segLen:   ticks(cfg.SegmentDuration, videoTimescale),
		chunkLen: ticks(cfg.ChunkDuration, videoTimescale),
		seq:      1,
	}
}

// ticks converts d to a clock of rate ticks per second, rounding to the
// nearest tick, without overflowing for long recordings.
func ticks(d time.Duration, rate int64) int64 {
	s, ns := int64(d)/int64(time.Second), int64(d)%int64(time.Second)
	half := int64(time.Second) / 2
	if ns < 0 {
		half = -half
	}
	return s*rate + (ns*rate+half)/int64(time.Second)
}

// duration is the inverse of ticks.
func duration(t, rate int64) time.Duration {
	return time.Duration(t/rate)*time.Second + time.Duration(t%rate)*time.Second/time.Duration(rate)
}

// video encodes one frame and closes a segment when the frame starts a new
// one.
func (m *muxer) video(f camera.Frame) error {
	if f.Image == nil {
		return fmt.Errorf("encoder: camera frame without a picture")
	}
	if !m.started {
		m.start(f.Time)
		for _, c := range m.preroll {
			if err := m.place(c); err != nil {
				return err
			}
		}
		m.preroll, m.prerollFrames = nil, 0
	}
	pts := m.slot(f.Time.Sub(m.t0))
	if m.held != nil && pts <= m.lastPTS {
		// A frame stamped at or before its predecessor, or in the same
		// slot of the frame rate (a camera faster than configured),
		// cannot be given a duration; showing the previous one a little
		// longer is the lesser harm.
		return nil
	}
	key := m.held == nil || pts >= m.boundary
	au, err := m.venc.Encode(f.Image, key)
	if err != nil {
		return err
	}
	data, isKey, err := m.sample(au)
	if err != nil {
		return err
	}
	if key && !isKey {
		return fmt.Errorf("encoder: x264 did not make the IDR frame asked for at %v", duration(pts, videoTimescale))
	}
	if !m.initSent {
		if err := m.sendInit(); err != nil {
			return err
		}
	}
	if m.held != nil {
		d := pts - m.held.pts
		m.cur.samples = append(m.cur.samples, fmp4.Sample{Data: m.held.data, Duration: uint32(d), Keyframe: m.held.key})
		m.lastDur = d
	}
	switch {
	case key:
		if m.cur != nil && len(m.cur.samples) > 0 {
			m.closeChunk(pts, true)
		}
		m.cur = &openSegment{start: pts, chunkStart: pts, nextChunk: pts + m.chunkLen}
		for m.boundary <= pts {
			m.boundary += m.segLen
		}
	case m.chunkLen > 0 && pts >= m.cur.nextChunk && len(m.cur.samples) > 0:
		m.closeChunk(pts, false)
		m.cur.chunkStart = pts
		for m.cur.nextChunk <= pts {
			m.cur.nextChunk += m.chunkLen
		}
	}
	m.held = &heldFrame{pts: pts, data: data, key: isKey}
	m.lastPTS = pts
	return m.emitReady()
}

// slot puts a frame captured at media time at on the configured frame
// rate's grid: the nearest multiple of 1/FPS, and never before where a
// resumed recording ended. The recording's rate is then the configured
// one whatever the camera does: a camera faster than configured has the
// frames that share a slot dropped, and the jitter of when frames were
// dequeued (large on a loaded box) does not reach the file. A frame moves
// by at most half a frame period against the audio.
func (m *muxer) slot(at time.Duration) int64 {
	fps := int64(m.cfg.FPS)
	t := ticks(at, videoTimescale)
	n := (t*fps + videoTimescale/2) / videoTimescale
	if t < 0 {
		n = -((-t*fps + videoTimescale/2) / videoTimescale)
	}
	pts := n * videoTimescale / fps
	if m.resume != nil && m.held == nil {
		if after := ticks(m.resume.After, videoTimescale); pts < after {
			// The first frame after a restart: the next slot at or after
			// the end of what was recorded.
			n = (after*fps + videoTimescale - 1) / videoTimescale
			pts = max(after, n*videoTimescale/fps)
		}
	}
	return pts
}

// closeChunk ends the open chunk at end and queues it for its audio.
func (m *muxer) closeChunk(end int64, last bool) {
	m.pending = append(m.pending, closedChunk{segStart: m.cur.start, start: m.cur.chunkStart, end: end, samples: m.cur.samples, last: last})
	m.cur.samples = nil
}

// start puts the first frame, captured at t, on the media clock: at 0 for
// a new recording; after a restart, where the wall clock says it is since
// the recording's epoch, and never before what was already recorded.
func (m *muxer) start(t time.Time) {
	m.started, m.t0 = true, t
	if r := m.resume; r != nil {
		m.t0 = r.Epoch
		if t.Sub(m.t0) < r.After {
			m.t0 = t.Add(-r.After)
		}
		at := t.Sub(m.t0)
		m.boundary = ticks(at, videoTimescale)
		if m.aenc != nil {
			m.pcmPos = ticks(at, int64(m.mic.SampleRate))
			m.audioNext = ticks(at, audioTimescale)
		}
	}
	if m.setEpoch != nil {
		m.setEpoch(m.t0)
	}
}

// sample turns an Annex-B access unit into an MP4 sample: parameter sets
// are kept for the init segment (and must not change), delimiters dropped,
// the rest length-prefixed.
func (m *muxer) sample(au []byte) ([]byte, bool, error) {
	nalus := h264.SplitAnnexB(au)
	keep := nalus[:0:0]
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch h264.NALType(n) {
		case nalSPS:
			if m.sps != nil && !bytes.Equal(m.sps, n) {
				return nil, false, fmt.Errorf("encoder: x264 changed its SPS mid-recording")
			}
			m.sps = bytes.Clone(n)
		case nalPPS:
			if m.pps != nil && !bytes.Equal(m.pps, n) {
				return nil, false, fmt.Errorf("encoder: x264 changed its PPS mid-recording")
			}
			m.pps = bytes.Clone(n)
		case nalAUD:
		default:
			keep = append(keep, n)
		}
	}
	if len(keep) == 0 {
		return nil, false, fmt.Errorf("encoder: x264 returned an access unit without slices")
	}
	return h264.AVCC(keep), h264.IsKeyframe(nalus), nil
}

func (m *muxer) sendInit() error {
	if m.sps == nil || m.pps == nil {
		return fmt.Errorf("encoder: first IDR frame came without SPS and PPS")
	}
	var at *fmp4.AudioTrack
	if m.aenc != nil {
		at = &fmp4.AudioTrack{SampleRate: audioTimescale, Channels: m.mic.Channels, PreSkip: opusPreSkip}
	}
	data, err := fmp4.Init(fmp4.VideoTrack{
		Width: m.cfg.Width, Height: m.cfg.Height, SPS: m.sps, PPS: m.pps, Timescale: videoTimescale,
	}, at)
	if err != nil {
		return fmt.Errorf("encoder: init segment: %w", err)
	}
	if m.resume != nil {
		if !bytes.Equal(data, m.resume.Init) {
			return fmt.Errorf("%w: the encoder's parameters changed since it began (init segment differs)", ErrCannotResume)
		}
		m.initSent = true // the recording has it already
		return nil
	}
	m.out <- segment.New(segment.InitSeq, 0, 0, data)
	m.initSent = true
	return nil
}

// audio takes one chunk from the microphone.
func (m *muxer) audio(c audio.Chunk) error {
	if !m.started {
		m.preroll = append(m.preroll, c)
		m.prerollFrames += len(c.Samples) / m.mic.Channels
		return nil
	}
	if err := m.place(c); err != nil {
		return err
	}
	return m.emitReady()
}

// audioAhead reports whether audio is far enough ahead of video that the
// microphone should wait: a source faster than real time must not fill
// memory, and a real one is never this far ahead.
func (m *muxer) audioAhead() bool {
	if !m.started {
		return m.prerollFrames >= m.mic.SampleRate
	}
	return m.audioNext*videoTimescale > (m.lastPTS+2*m.segLen)*audioTimescale
}

// needAudio reports whether the microphone has yet to cover the video so
// far, the held frame included.
func (m *muxer) needAudio() bool {
	if m.aenc == nil || m.audioDone || m.held == nil {
		return false
	}
	return m.audioNext*videoTimescale < (m.held.pts+m.heldDuration())*audioTimescale
}

// heldDuration is how long the newest frame lasts if no frame follows: as
// long as the one before it.
func (m *muxer) heldDuration() int64 {
	if m.lastDur > 0 {
		return m.lastDur
	}
	return videoTimescale / int64(m.cfg.FPS)
}

func (m *muxer) audioEnded() {
	m.audioDone = true
}

// place puts a chunk's samples on the audio clock (media time 0 is the
// first video frame), mends gaps and overlaps beyond audioTolerance, and
// encodes every whole packet.
func (m *muxer) place(c audio.Chunk) error {
	ch := m.mic.Channels
	rate := int64(m.mic.SampleRate)
	samples := c.Samples[:len(c.Samples)/ch*ch]
	start := ticks(c.Time.Sub(m.t0), rate)
	n := int64(len(samples) / ch)
	diff := start - m.pcmPos
	tol := ticks(audioTolerance, rate)
	if !m.placed {
		// The first samples line up exactly with the first frame.
		if start+n <= m.pcmPos {
			return nil
		}
		m.placed = true
		tol = 0
	}
	switch {
	case diff > tol:
		m.pcm = append(m.pcm, make([]int16, diff*int64(ch))...)
		m.pcmPos += diff
	case diff < -tol:
		drop := min(-diff, n)
		samples = samples[drop*int64(ch):]
	}
	m.pcm = append(m.pcm, samples...)
	m.pcmPos += int64(len(samples) / ch)
	return m.encodeAudio()
}

func (m *muxer) encodeAudio() error {
	fs := m.aenc.FrameSamples()
	i := 0
	for ; len(m.pcm)-i >= fs; i += fs {
		pkt, err := m.aenc.Encode(m.pcm[i : i+fs])
		if err != nil {
			return err
		}
		m.packets = append(m.packets, fmp4.Sample{Data: pkt, Duration: opusTicks, Keyframe: true})
		m.audioNext += opusTicks
	}
	m.pcm = append(m.pcm[:0], m.pcm[i:]...)
	return nil
}

// emitReady sends closed chunks whose audio is in, or that have waited
// long enough for it (half a chunk, or half a segment without chunks).
func (m *muxer) emitReady() error {
	wait := m.segLen / 2
	if m.chunkLen > 0 {
		wait = min(wait, m.chunkLen/2)
	}
	for len(m.pending) > 0 {
		s := m.pending[0]
		ready := m.aenc == nil || m.audioDone || len(m.pending) > 1 ||
			m.audioNext*videoTimescale >= s.end*audioTimescale ||
			m.lastPTS >= s.end+wait
		if !ready {
			return nil
		}
		if err := m.emit(s); err != nil {
			return err
		}
		m.pending = m.pending[1:]
	}
	return nil
}

// emit sends one chunk with the audio packets that start before its
// video ends, and the segment once its last chunk is out.
func (m *muxer) emit(s closedChunk) error {
	f := fmp4.Fragment{Seq: m.seq, VideoDecodeTime: uint64(s.start), Video: s.samples}
	if m.aenc != nil {
		first := m.audioNext - int64(len(m.packets))*opusTicks
		k := 0
		for k < len(m.packets) && (first+int64(k)*opusTicks)*videoTimescale < s.end*audioTimescale {
			k++
		}
		f.AudioDecodeTime = uint64(first)
		f.Audio = m.packets[:k:k]
		m.packets = m.packets[k:]
	}
	if m.observe != nil {
		m.observe(f)
	}
	data, err := f.Marshal()
	if err != nil {
		return fmt.Errorf("encoder: segment %d: %w", m.seq, err)
	}
	if m.onChunk != nil {
		m.onChunk(Chunk{Seq: uint64(m.seq), Part: m.part, Start: duration(s.start, videoTimescale), End: duration(s.end, videoTimescale), Data: data, Last: s.last})
	}
	if s.last && m.part == 0 {
		m.segData = data // one fragment: no copy
	} else {
		m.segData = append(m.segData, data...)
	}
	m.part++
	if !s.last {
		return nil
	}
	m.out <- segment.New(uint64(m.seq), duration(s.segStart, videoTimescale), duration(s.end-s.segStart, videoTimescale), m.segData)
	m.seq++
	m.part, m.segData = 0, nil
	return nil
}

// finish closes the open segment with the held frame (lasting as long as
// the one before it) and sends everything still pending.
func (m *muxer) finish() error {
	if m.held != nil && m.initSent {
		d := m.heldDuration()
		if m.aenc != nil {
			// The recording ends where its sound does: the last picture
			// lasts until then, in whole frames, and no longer. A camera
			// slower than configured (a starved one) would otherwise have
			// it last its predecessor's long gap, past the stop.
			slot := videoTimescale / int64(m.cfg.FPS)
			if left := m.audioNext*videoTimescale/audioTimescale - m.held.pts; left < d {
				d = max(slot, left/slot*slot)
			}
		}
		m.cur.samples = append(m.cur.samples, fmp4.Sample{Data: m.held.data, Duration: uint32(d), Keyframe: m.held.key})
		end := m.held.pts + d
		m.closeChunk(end, true)
		m.held, m.cur = nil, nil
		// The last samples short of a packet: pad with silence if the
		// packet starts before the video ends.
		if m.aenc != nil && len(m.pcm) > 0 && m.audioNext*videoTimescale < end*audioTimescale {
			m.pcm = append(m.pcm, make([]int16, m.aenc.FrameSamples()-len(m.pcm))...)
			if err := m.encodeAudio(); err != nil {
				return err
			}
		}
	}
	for len(m.pending) > 0 {
		if err := m.emit(m.pending[0]); err != nil {
			return err
		}
		m.pending = m.pending[1:]
	}
	return nil
}
