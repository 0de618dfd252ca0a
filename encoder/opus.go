package encoder

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/opus"
	mdaudio "github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
)

// OpusFrame is the length of one Opus packet we produce.
const OpusFrame = 20 * time.Millisecond

// opusTicks is OpusFrame at the 48 kHz clock Opus (and our audio track)
// always runs on, whatever the input rate.
const opusTicks = 960

// opusPreSkip is libopus' encoder delay (lookahead) in 48 kHz samples for
// the VOIP and AUDIO applications: Fs/400 + Fs/250 at 48 kHz. The decoder
// drops that many samples at the start.
const opusPreSkip = 312

// AudioEncoder turns PCM into Opus packets of OpusFrame each with libopus
// (through mediadevices).
type AudioEncoder struct {
	enc      codec.ReadCloser
	channels int
	frames   int // sample frames per packet at the input rate
	next     *wave.Int16Interleaved
}

var errNoPCM = errors.New("encoder: opus asked for samples it was not given")

// NewAudioEncoder opens libopus for rate (8, 12, 16, 24 or 48 kHz),
// channels (1 or 2) and bitrate (bit/s).
func NewAudioEncoder(rate, channels, bitrate int) (*AudioEncoder, error) {
	switch rate {
	case 8000, 12000, 16000, 24000, 48000:
	default:
		return nil, fmt.Errorf("encoder: opus cannot take %d Hz (want 8000, 12000, 16000, 24000 or 48000)", rate)
	}
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("encoder: opus cannot take %d channels (want 1 or 2)", channels)
	}
	params, err := opus.NewParams()
	if err != nil {
		return nil, fmt.Errorf("encoder: opus params: %w", err)
	}
	params.BitRate = bitrate
	params.Latency = opus.Latency20ms
	e := &AudioEncoder{channels: channels, frames: rate * int(OpusFrame/time.Millisecond) / 1000}
	src := mdaudio.ReaderFunc(func() (wave.Audio, func(), error) {
		pcm := e.next
		e.next = nil
		if pcm == nil {
			return nil, func() {}, errNoPCM
		}
		return pcm, func() {}, nil
	})
	enc, err := params.BuildAudioEncoder(src, prop.Media{Audio: prop.Audio{SampleRate: rate, ChannelCount: channels}})
	if err != nil {
		return nil, fmt.Errorf("encoder: open opus (%d Hz x%d): %w", rate, channels, err)
	}
	e.enc = enc
	return e, nil
}

// FrameSamples is how many int16 values (all channels) one packet takes.
func (e *AudioEncoder) FrameSamples() int { return e.frames * e.channels }

// Encode codes exactly FrameSamples interleaved samples into one packet.
func (e *AudioEncoder) Encode(pcm []int16) ([]byte, error) {
	if len(pcm) != e.FrameSamples() {
		return nil, fmt.Errorf("encoder: opus packet needs %d samples, got %d", e.FrameSamples(), len(pcm))
	}
	e.next = &wave.Int16Interleaved{Data: pcm, Size: wave.ChunkInfo{Len: e.frames, Channels: e.channels}}
	pkt, release, err := e.enc.Read()
	if err != nil {
		return nil, fmt.Errorf("encoder: opus: %w", err)
	}
	if release != nil {
		release()
	}
	return pkt, nil
}

// Close releases libopus.
func (e *AudioEncoder) Close() error {
	if err := e.enc.Close(); err != nil {
		return fmt.Errorf("encoder: close opus: %w", err)
	}
	return nil
}
