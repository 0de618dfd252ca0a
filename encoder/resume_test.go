package encoder

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"twincap/drivers/audio/tone"
	"twincap/drivers/camera/testpattern"
)

// recordAt records seconds of test pattern and tone whose clock starts at
// start, continuing the recording r describes when r is not nil.
func recordAt(t *testing.T, cfg Config, start time.Time, seconds int, r *Resume) (result, time.Time) {
	t.Helper()
	now := func() time.Time { return start }
	pattern, err := testpattern.New(testpattern.Config{Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	mic, err := tone.New(tone.Config{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, &finiteCamera{pattern, cfg.FPS * seconds}, mic)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		p.SetResume(*r)
	}
	res := runPipeline(t, p, nil)
	return res, p.Epoch()
}

// A box that restarts mid-interview continues the same recording: numbers
// and media time go on, the outage is a jump in media time, no second init
// segment, and the whole still plays.
func TestResumeContinuesTheRecording(t *testing.T) {
	ffprobe := requireTool(t, "ffprobe")
	cfg := Config{Width: 320, Height: 240, FPS: 15, Bitrate: 500_000, SegmentDuration: time.Second}
	first, epoch := recordAt(t, cfg, t0, 2, nil)
	if first.err != nil {
		t.Fatal(first.err)
	}
	if !epoch.Equal(t0) {
		t.Fatalf("epoch %v, want the first frame's capture time %v", epoch, t0)
	}
	last := first.segs[len(first.segs)-1]
	const outage = 5 * time.Second
	resume := Resume{Epoch: epoch, After: last.Start + last.Duration, NextSeq: last.Seq + 1, Init: first.segs[0].Data}
	second, epoch2 := recordAt(t, cfg, t0.Add(2*time.Second+outage), 2, &resume)
	if second.err != nil {
		t.Fatal(second.err)
	}
	if !epoch2.Equal(epoch) {
		t.Errorf("resumed epoch %v, want %v", epoch2, epoch)
	}
	if len(second.segs) != 2 || second.segs[0].Seq != last.Seq+1 || second.segs[1].Seq != last.Seq+2 {
		t.Fatalf("resumed run sent %d segments starting at %d; want 2 media segments from %d", len(second.segs), second.segs[0].Seq, last.Seq+1)
	}
	if got := second.segs[0].Start; got != 2*time.Second+outage {
		t.Errorf("first resumed segment starts at %v, want %v (the outage kept as media time)", got, 2*time.Second+outage)
	}

	var file bytes.Buffer
	for _, s := range append(first.segs, second.segs...) {
		file.Write(s.Data)
	}
	path := filepath.Join(t.TempDir(), "resumed.mp4")
	if err := os.WriteFile(path, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	vp := packets(t, ffprobe, path, "v:0")
	if len(vp) != 4*cfg.FPS {
		t.Fatalf("%d video packets, want %d", len(vp), 4*cfg.FPS)
	}
	at := vp[2*cfg.FPS]
	if want := int64((2*time.Second + outage) / time.Second * 90000); at.pts != want || !at.key {
		t.Errorf("first resumed frame at pts %d key=%v, want %d and a key frame", at.pts, at.key, want)
	}
	ap := packets(t, ffprobe, path, "a:0")
	if len(ap) < 4*50-2 {
		t.Errorf("%d audio packets, want about %d", len(ap), 4*50)
	}
	for i := 1; i < len(ap); i++ {
		if ap[i].pts <= ap[i-1].pts {
			t.Fatalf("audio packet %d at %d after %d", i, ap[i].pts, ap[i-1].pts)
		}
	}
	if got := ap[100].pts; got < int64((2*time.Second+outage-20*time.Millisecond)/time.Second*48000) {
		t.Errorf("first resumed audio packet at %d, want after the outage", got)
	}
}

// A resume whose encoder would make a different init segment (other size,
// other codec parameters) fails before it sends anything.
func TestResumeRefusesOtherParameters(t *testing.T) {
	cfg := Config{Width: 320, Height: 240, FPS: 15, Bitrate: 500_000, SegmentDuration: time.Second}
	first, epoch := recordAt(t, cfg, t0, 1, nil)
	if first.err != nil {
		t.Fatal(first.err)
	}
	other := cfg
	other.Width = 352
	r := Resume{Epoch: epoch, After: time.Second, NextSeq: 2, Init: first.segs[0].Data}
	second, _ := recordAt(t, other, t0.Add(10*time.Second), 1, &r)
	if !errors.Is(second.err, ErrCannotResume) || len(second.segs) != 0 {
		t.Fatalf("resume with another size: %d segments, err %v; want none and ErrCannotResume", len(second.segs), second.err)
	}
	bad := Resume{Epoch: epoch, NextSeq: 0, Init: first.segs[0].Data}
	third, _ := recordAt(t, cfg, t0.Add(10*time.Second), 1, &bad)
	if !errors.Is(third.err, ErrCannotResume) || len(third.segs) != 0 {
		t.Fatalf("resume at segment 0: %d segments, err %v; want none and ErrCannotResume", len(third.segs), third.err)
	}
}
