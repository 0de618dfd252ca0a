package encoder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"twincap/drivers/audio"
	"twincap/drivers/camera"
	"twincap/encoder/fmp4"
	"twincap/encoder/segment"
)

// Hand-off from the microphone.
const (
	// chunkBacklog chunks (a second of 20 ms ones) wait between the
	// microphone's reader and the encoder: room for what a slow frame
	// lets pile up.
	chunkBacklog = 64
	// settleWait bounds how long a cancelled Run waits for the audio of
	// the last frame, which a real microphone delivers a period or two
	// after the frame came.
	settleWait = 500 * time.Millisecond
)

// Pipeline encodes one camera (and optionally one microphone) into
// segments. Build it with New and call Run once per recording.
type Pipeline struct {
	cfg Config
	cam camera.Camera
	mic audio.Microphone

	observe func(fmp4.Fragment) // tests see each fragment before it is marshalled

	resume  *Resume
	onFrame func(camera.Frame)
	onChunk func(Chunk)

	mu    sync.Mutex // guards epoch
	epoch time.Time
}

// ErrCamera and ErrMicrophone wrap a source's failure during Run, so the
// box can say which part is at fault.
var (
	ErrCamera     = errors.New("encoder: camera")
	ErrMicrophone = errors.New("encoder: microphone")
)

// ErrCannotResume is returned by Run when a recording cannot be continued:
// the encoder's parameters (its init segment) differ from the earlier
// run's.
var ErrCannotResume = errors.New("encoder: cannot resume the recording")

// Resume continues a recording that an earlier run began (before the box
// restarted): segment numbers and media time go on from where it ended,
// the time in between shows as a jump in media time (the outage), and the
// init segment is not sent again.
type Resume struct {
	// Epoch is the capture time that is media time 0: Epoch() of the
	// earlier run.
	Epoch time.Time
	// After is the media time where the recording so far ends (the last
	// segment's Start+Duration); the first new frame is placed no earlier,
	// even if the clock went back.
	After time.Duration
	// NextSeq is the number of the first new media segment.
	NextSeq uint64
	// Init is the recording's init segment; the new run's must be the same
	// bytes (same size, rate and codec parameters), or Run fails with
	// ErrCannotResume before sending anything.
	Init []byte
}

// OnFrame has f called with every frame the camera delivers, before it is
// encoded (the box's watchdog sees frames arriving; its control page shows
// the newest). f must not change the frame. Set it before Run.
func (p *Pipeline) OnFrame(f func(camera.Frame)) { p.onFrame = f }

// OnChunk has f called on Run's goroutine with every chunk of every
// media segment as soon as it is cut (with ChunkDuration 0, one chunk per
// segment), before the segment goes out on Run's channel. f must not
// block: the encoder waits for it. Set it before Run.
func (p *Pipeline) OnChunk(f func(Chunk)) { p.onChunk = f }

// SetResume makes the next Run continue a recording instead of starting
// one.
func (p *Pipeline) SetResume(r Resume) { p.resume = &r }

// Epoch is the capture time of media time 0 (the first frame of the
// recording), known once Run has sent the init segment (or, resuming,
// the first segment). Zero before.
func (p *Pipeline) Epoch() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

func (p *Pipeline) setEpoch(t time.Time) {
	p.mu.Lock()
	p.epoch = t
	p.mu.Unlock()
}

// New checks cfg (zero fields take the defaults) against the sources. mic
// may be nil for a recording without sound. The pipeline does not close
// the sources: whoever opened them does.
func New(cfg Config, cam camera.Camera, mic audio.Microphone) (*Pipeline, error) {
	if cam == nil {
		return nil, errors.New("encoder: no camera")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := cam.Format()
	if f.Width != cfg.Width || f.Height != cfg.Height || f.FPS != cfg.FPS {
		return nil, fmt.Errorf("encoder: camera delivers %v but the config asks for %dx%d@%d (no scaling or rate conversion here)", f, cfg.Width, cfg.Height, cfg.FPS)
	}
	if mic != nil {
		af := mic.Format()
		switch af.SampleRate {
		case 8000, 12000, 16000, 24000, 48000:
		default:
			return nil, fmt.Errorf("encoder: microphone delivers %v; Opus needs 8000, 12000, 16000, 24000 or 48000 Hz", af)
		}
		if af.Channels != 1 && af.Channels != 2 {
			return nil, fmt.Errorf("encoder: microphone delivers %v; want 1 or 2 channels", af)
		}
	}
	return &Pipeline{cfg: cfg, cam: cam, mic: mic}, nil
}

// Config is the configuration in effect, defaults filled in.
func (p *Pipeline) Config() Config { return p.cfg }

type frameResult struct {
	frame camera.Frame
	err   error
}

type chunkResult struct {
	chunk audio.Chunk
	err   error
}

// Run encodes until ctx is cancelled. It sends segment 0 (the init
// segment, built once the first IDR's SPS and PPS are known), then media
// segments 1, 2, ... each starting with an IDR frame, covering about
// SegmentDuration of video and carrying the audio of the same span.
//
// On cancel it sends the last partial segment (if it holds a frame) and
// returns nil. If the camera ends (io.EOF) it does the same. If a source
// or an encoder fails, it still sends what it has, then returns the error.
// A microphone that ends leaves the rest of the recording silent.
//
// Segments are never dropped: the caller must receive from out until Run
// closes it, which it does before returning. Run uses the sources, so only
// one Run at a time.
func (p *Pipeline) Run(ctx context.Context, out chan<- segment.Segment) error {
	defer close(out)
	venc, err := NewVideoEncoder(p.cfg)
	if err != nil {
		return err
	}
	defer venc.Close()
	var aenc *AudioEncoder
	var micFormat audio.Format
	if p.mic != nil {
		micFormat = p.mic.Format()
		if aenc, err = NewAudioEncoder(micFormat.SampleRate, micFormat.Channels, p.cfg.AudioBitrate); err != nil {
			return err
		}
		defer aenc.Close()
	}

	// The readers block in the sources; they stop when rctx ends, which
	// is when Run returns (after a cancel the microphone is still read for
	// what it captured before), and are waited for before the encoders
	// close.
	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	frames := make(chan frameResult, 1)
	wg.Go(func() { readFrames(rctx, p.cam, frames) })
	var chunks chan chunkResult
	if p.mic != nil {
		chunks = make(chan chunkResult, chunkBacklog)
		wg.Go(func() { readChunks(rctx, p.mic, chunks) })
	}

	m := newMuxer(p.cfg, venc, aenc, micFormat, out)
	m.observe = p.observe
	m.onChunk = p.onChunk
	m.setEpoch = p.setEpoch
	if r := p.resume; r != nil {
		if r.NextSeq == 0 || r.NextSeq > uint64(^uint32(0)) || r.Epoch.IsZero() || len(r.Init) == 0 {
			return fmt.Errorf("%w: resume needs an epoch, an init segment and a next segment number (1..2^32-1), got %v, %d bytes, %d",
				ErrCannotResume, r.Epoch, len(r.Init), r.NextSeq)
		}
		m.resume = r
		m.seq = uint32(r.NextSeq)
	}
	for {
		// Audio first. A chunk costs little to encode and a frame much:
		// were the two taken at random when both wait, as select does, a
		// box short of CPU (a frame always waiting) would take about one
		// chunk per frame, and the microphone's backlog, and what of it is
		// lost at the stop, would grow with the recording.
		if chunks != nil && ctx.Err() == nil && !m.audioAhead() {
			select {
			case r := <-chunks:
				if err := takeChunk(ctx, m, r, &chunks); err != nil {
					return finishWith(m, err)
				}
				continue
			default:
			}
		}
		var audioIn <-chan chunkResult
		if chunks != nil && !m.audioAhead() {
			audioIn = chunks
		}
		select {
		case <-ctx.Done():
			// Keep what the microphone captured for the video so far.
			return errors.Join(settle(m, chunks, settleWait), m.finish())
		case r := <-frames:
			if r.err != nil {
				if ctx.Err() != nil {
					return m.finish()
				}
				if errors.Is(r.err, io.EOF) {
					// A finite source has no real time to keep: let the
					// microphone catch up with the last frame first.
					if err := catchUp(ctx, m, chunks); err != nil {
						return errors.Join(err, m.finish())
					}
					return m.finish()
				}
				return errors.Join(fmt.Errorf("%w: %w", ErrCamera, r.err), m.finish())
			}
			if p.onFrame != nil {
				p.onFrame(r.frame)
			}
			if err := m.video(r.frame); err != nil {
				return errors.Join(err, m.finish())
			}
		case r := <-audioIn:
			if err := takeChunk(ctx, m, r, &chunks); err != nil {
				return finishWith(m, err)
			}
		}
	}
}

// errStop ends Run without an error of its own (see takeChunk).
var errStop = errors.New("encoder: stop")

// finishWith ends Run on err: the open segment is sent all the same.
func finishWith(m *muxer, err error) error {
	if errors.Is(err, errStop) {
		return m.finish()
	}
	return errors.Join(err, m.finish())
}

// takeChunk feeds the muxer one chunk, or handles what the microphone
// said instead: a microphone that ended (io.EOF) leaves the rest silent
// (*chunks becomes nil); a failure returns ErrMicrophone; one after a
// cancel returns errStop.
func takeChunk(ctx context.Context, m *muxer, r chunkResult, chunks *chan chunkResult) error {
	if r.err != nil {
		switch {
		case ctx.Err() != nil:
			return errStop
		case errors.Is(r.err, io.EOF):
			*chunks = nil
			m.audioEnded()
			return nil
		}
		return fmt.Errorf("%w: %w", ErrMicrophone, r.err)
	}
	return m.audio(r.chunk)
}

func readFrames(ctx context.Context, cam camera.Camera, ch chan<- frameResult) {
	for {
		f, err := cam.Read(ctx)
		select {
		case ch <- frameResult{f, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func readChunks(ctx context.Context, mic audio.Microphone, ch chan<- chunkResult) {
	for {
		c, err := mic.Read(ctx)
		select {
		case ch <- chunkResult{c, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// catchUp feeds the muxer audio until it covers the video, the microphone
// ends, or ctx is done.
func catchUp(ctx context.Context, m *muxer, chunks <-chan chunkResult) error {
	for chunks != nil && m.needAudio() {
		select {
		case <-ctx.Done():
			return nil
		case r := <-chunks:
			if r.err != nil {
				if errors.Is(r.err, io.EOF) || ctx.Err() != nil {
					m.audioEnded()
					return nil
				}
				return fmt.Errorf("%w: %w", ErrMicrophone, r.err)
			}
			if err := m.audio(r.chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

// settle feeds the muxer, after a cancel, the audio the microphone has
// captured for the video so far: what is waiting, and what comes within
// wait (the microphone delivers a period after it is captured).
func settle(m *muxer, chunks <-chan chunkResult, wait time.Duration) error {
	if chunks == nil {
		return nil
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for m.needAudio() {
		select {
		case r := <-chunks:
			if r.err != nil {
				return nil
			}
			if err := m.audio(r.chunk); err != nil {
				return err
			}
		case <-timeout.C:
			return nil
		}
	}
	return nil
}
