package buffer

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/firmware/journal"
)

type appendReader interface {
	Append(segment.Segment) error
	Next() uint64
	Oldest() uint64
	Read(uint64) (segment.Segment, error)
	Changed() <-chan struct{}
	Ack(string, uint64) error
	Acked(string) uint64
}

func seg(seq uint64) segment.Segment {
	return segment.New(seq, time.Duration(seq)*time.Second, time.Second, []byte(fmt.Sprintf("payload %d", seq)))
}

func TestBuffers(t *testing.T) {
	j, err := journal.Create(filepath.Join(t.TempDir(), "rec"), journal.Meta{RecordingID: "rec", State: journal.StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	cases := []struct {
		name   string
		b      appendReader
		oldest uint64 // after 5 appends
	}{
		{"journaled", NewJournaled(j), 0},
		{"window of 3", NewWindow(3), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := c.b.Changed()
			if err := c.b.Append(seg(0)); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			default:
				t.Fatal("Append did not wake the readers")
			}
			for i := uint64(1); i < 5; i++ {
				if err := c.b.Append(seg(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.b.Append(seg(9)); err == nil {
				t.Error("out-of-order append accepted")
			}
			if c.b.Next() != 5 || c.b.Oldest() != c.oldest {
				t.Errorf("Next %d Oldest %d, want 5 %d", c.b.Next(), c.b.Oldest(), c.oldest)
			}
			for i := uint64(0); i < 5; i++ {
				s, err := c.b.Read(i)
				if i < c.oldest {
					if !errors.Is(err, ErrGone) {
						t.Errorf("Read(%d) = %v, want ErrGone", i, err)
					}
					continue
				}
				if err != nil || s.Verify() != nil || string(s.Data) != fmt.Sprintf("payload %d", i) {
					t.Errorf("Read(%d) = %q, %v", i, s.Data, err)
				}
			}
			if _, err := c.b.Read(5); !errors.Is(err, ErrNotYet) {
				t.Errorf("Read(5) = %v, want ErrNotYet", err)
			}
			_ = c.b.Ack("preferred", 3)
			_ = c.b.Ack("preferred", 2) // never goes back
			if got := c.b.Acked("preferred"); got != 3 {
				t.Errorf("Acked = %d, want 3", got)
			}
		})
	}
}

func TestEdge(t *testing.T) {
	e := NewEdge()
	if _, _, ok := e.Parts(1, 0); ok {
		t.Fatal("an empty edge holds segment 1")
	}
	ch := e.Changed()
	e.Add(1, 0, []byte("a"), false)
	select {
	case <-ch:
	default:
		t.Fatal("Add did not signal")
	}
	e.Add(1, 1, []byte("b"), false)
	if p, last, ok := e.Parts(1, 1); !ok || last || len(p) != 1 || string(p[0]) != "b" {
		t.Fatalf("Parts(1, 1) = %q %v %v", p, last, ok)
	}
	e.Add(1, 2, []byte("c"), true)
	if p, last, ok := e.Parts(1, 0); !ok || !last || len(p) != 3 {
		t.Fatalf("Parts(1, 0) = %q %v %v", p, last, ok)
	}
	if p, last, ok := e.Parts(1, 3); !ok || !last || len(p) != 0 {
		t.Fatalf("Parts(1, 3) = %q %v %v", p, last, ok)
	}
	e.Add(2, 0, []byte("d"), false)
	if _, _, ok := e.Parts(1, 0); ok {
		t.Fatal("segment 1 still held after segment 2 began")
	}
	// A lost chunk: the segment is not streamable.
	e.Add(2, 2, []byte("f"), false)
	if _, _, ok := e.Parts(2, 0); ok {
		t.Fatal("segment 2 held with a chunk missing")
	}
}
