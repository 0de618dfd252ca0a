package live

import (
	"errors"
	"strings"
	"testing"
)

// chromeOffer is the shape of a recvonly offer from Chrome: VP8 first,
// H.264 in several profiles and both packetization modes, Opus.
const chromeOffer = `v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
m=video 9 UDP/TLS/RTP/SAVPF 96 102 103 106 107 127 125 39
c=IN IP4 0.0.0.0
a=mid:0
a=recvonly
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 H264/90000
a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:106 H264/90000
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 H264/90000
a=fmtp:107 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:127 H264/90000
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:125 H264/90000
a=fmtp:125 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f
a=rtpmap:39 H264/90000
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f
m=audio 9 UDP/TLS/RTP/SAVPF 111 0
c=IN IP4 0.0.0.0
a=mid:1
a=recvonly
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:0 PCMU/8000
`

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestChooseCodecs(t *testing.T) {
	videoOnly := crlf(chromeOffer[:strings.Index(chromeOffer, "m=audio")])
	for _, tc := range []struct {
		name      string
		offer     string
		profile   string
		audio     bool
		channels  int
		wantPT    uint8
		wantFmtp  string // a part of the chosen fmtp line
		wantAudio string // a part of the Opus fmtp; "" for no audio
		err       bool
	}{
		{name: "High as x264 veryfast writes it", offer: chromeOffer, profile: "64000d", wantPT: 125, wantFmtp: "packetization-mode=1;profile-level-id=64001f"},
		{name: "Constrained High: the exact constraints win", offer: chromeOffer, profile: "640c1f", wantPT: 39, wantFmtp: "640c1f"},
		{name: "Constrained Baseline from ultrafast", offer: chromeOffer, profile: "42c00d", wantPT: 102, wantFmtp: "packetization-mode=1;profile-level-id=42001f"},
		{name: "Main", offer: chromeOffer, profile: "4d0028", wantPT: 127, wantFmtp: "profile-level-id=4d001f"},
		{name: "High 10 falls back to the first usable", offer: chromeOffer, profile: "6e001f", wantPT: 102},
		{name: "with audio", offer: chromeOffer, profile: "64001f", audio: true, channels: 1, wantPT: 125, wantAudio: "useinbandfec=1"},
		{name: "stereo audio says so", offer: chromeOffer, profile: "64001f", audio: true, channels: 2, wantPT: 125, wantAudio: "sprop-stereo=1"},
		{name: "an offer without audio gets none", offer: videoOnly, profile: "64001f", audio: true, channels: 1, wantPT: 125},
		{name: "CRLF line ends", offer: crlf(chromeOffer), profile: "64001f", wantPT: 125},
		{name: "VP8 only", offer: strings.Replace(chromeOffer, "96 102 103 106 107 127 125 39", "96", 1), profile: "64001f", err: true},
		{name: "packetization-mode 0 only", offer: strings.ReplaceAll(chromeOffer, "packetization-mode=1", "packetization-mode=0"), profile: "64001f", err: true},
		{name: "not SDP", offer: "hello", profile: "64001f", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := tracks{profile: tc.profile, audio: tc.audio, channels: tc.channels}
			v, a, err := chooseCodecs(tc.offer, tr)
			if tc.err {
				if !errors.Is(err, ErrBadOffer) {
					t.Fatalf("err = %v, want ErrBadOffer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if uint8(v.PayloadType) != tc.wantPT || !strings.Contains(v.SDPFmtpLine, tc.wantFmtp) || v.ClockRate != 90000 {
				t.Fatalf("video %d %q, want %d with %q", v.PayloadType, v.SDPFmtpLine, tc.wantPT, tc.wantFmtp)
			}
			switch {
			case tc.wantAudio == "" && a != nil:
				t.Fatalf("audio %+v, want none", a)
			case tc.wantAudio != "" && (a == nil || a.PayloadType != 111 || !strings.Contains(a.SDPFmtpLine, tc.wantAudio)):
				t.Fatalf("audio %+v, want 111 with %q", a, tc.wantAudio)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{UDPPortMin: 5000},
		{UDPPortMin: 6000, UDPPortMax: 5000},
		{MaxViewers: -1},
		{MaxLag: -1},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("New(%+v) took it", c)
		}
	}
	if _, err := New(Config{UDPPortMin: 50000, UDPPortMax: 50100}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestViewerStateNames(t *testing.T) {
	for s, want := range map[ViewerState]string{
		ViewerConnecting: "connecting", ViewerWaiting: "waiting", ViewerPlaying: "playing", ViewerState(9): "ViewerState(9)",
	} {
		if got, _ := s.MarshalText(); s.String() != want || string(got) != want {
			t.Errorf("%d: %q / %q, want %q", int(s), s.String(), got, want)
		}
	}
}
