package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// fakeLive records what the API hands the livestream.
type fakeLive struct {
	mu        sync.Mutex
	parts     [][]byte
	published [][]byte
	partc     chan uint32
}

func (l *fakeLive) Publish(_ string, _ uint64, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.published = append(l.published, body)
}

func (l *fakeLive) PublishPart(_ string, _ uint64, part uint32, body []byte) {
	l.mu.Lock()
	l.parts = append(l.parts, bytes.Clone(body))
	l.mu.Unlock()
	l.partc <- part
}

func (l *fakeLive) End(string) {}

func mp4Box(typ string, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
	return append(append(b, typ...), payload...)
}

// chunkPair is one moof+mdat; only the box sizes and types matter here.
func chunkPair(i int) []byte {
	return append(mp4Box("moof", bytes.Repeat([]byte{byte(i)}, 40+i)), mp4Box("mdat", bytes.Repeat([]byte{byte(i)}, 1000+i))...)
}

// streamPut starts a PUT of segment seq whose body comes from a pipe and
// whose checksum is a trailer; it returns the pipe, the trailer to fill
// before closing it, and the reply.
func (f *fixture) streamPut(id string, seq uint64) (*io.PipeWriter, http.Header, <-chan *http.Response) {
	f.t.Helper()
	pr, pw := io.Pipe()
	r, err := http.NewRequest("PUT", f.srv.URL+path(wire.PathSegment, "id", id, "seq", strconv.FormatUint(seq, 10)), pr)
	if err != nil {
		f.t.Fatal(err)
	}
	r.Header.Set(wire.HeaderAuthorization, "Bearer "+f.ticket)
	r.Trailer = http.Header{wire.HeaderChecksum: nil}
	replies := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			replies <- nil
			return
		}
		replies <- resp
	}()
	return pw, r.Trailer, replies
}

// A streamed segment: each moof+mdat reaches the livestream while the body
// is still coming; the segment is stored, and acknowledged, only once the
// body is whole and matches the checksum sent as a trailer.
func TestStreamedSegmentPublishesPartsThenStores(t *testing.T) {
	f := newFixture(t)
	live := &fakeLive{partc: make(chan uint32, 8)}
	f.api.live = live
	f.create("rec1")
	pw, trailer, replies := f.streamPut("rec1", 1)
	var all []byte
	for i := range 3 {
		c := chunkPair(i)
		all = append(all, c...)
		if _, err := pw.Write(c); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-live.partc:
			if n != uint32(i) {
				t.Fatalf("part %d published as %d", i, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("part %d not published while the body was still open", i)
		}
		if got := f.segFiles("rec1"); len(got) != 0 {
			t.Fatalf("stored before the body was whole: %v", got)
		}
	}
	trailer.Set(wire.HeaderChecksum, segment.Sum(all).String())
	pw.Close()
	resp := <-replies
	if resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("reply %v", resp)
	}
	var ack wire.SegmentAck
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	resp.Body.Close()
	if ack.Seq != 1 {
		t.Fatalf("ack %+v, want segment 1", ack)
	}
	if got := f.segFiles("rec1"); !slices.Equal(got, []string{segment.Name(1)}) {
		t.Fatalf("segments %v", got)
	}
	live.mu.Lock()
	defer live.mu.Unlock()
	if len(live.parts) != 3 || !bytes.Equal(bytes.Join(live.parts, nil), all) {
		t.Fatalf("%d parts published, or not the body's bytes", len(live.parts))
	}
	if len(live.published) != 1 || !bytes.Equal(live.published[0], all) {
		t.Fatal("the stored segment was not published whole")
	}
}

// A streamed segment with a wrong or missing trailer, or cut short, is
// refused and not stored: the box sends it again from its journal.
func TestStreamedSegmentRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trailer func(body []byte) string
		cut     bool
		want    int
	}{
		{"wrong checksum", func(b []byte) string { return segment.Sum(append(b, 0)).String() }, false, http.StatusUnprocessableEntity},
		{"no trailer", func([]byte) string { return "" }, false, http.StatusBadRequest},
		{"cut short", func(b []byte) string { return segment.Sum(b).String() }, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			live := &fakeLive{partc: make(chan uint32, 8)}
			f.api.live = live
			f.create("rec1")
			pw, trailer, replies := f.streamPut("rec1", 1)
			body := append(chunkPair(0), chunkPair(1)...)
			if _, err := pw.Write(body); err != nil {
				t.Fatal(err)
			}
			if v := tc.trailer(body); v != "" {
				trailer.Set(wire.HeaderChecksum, v)
			}
			if tc.cut {
				pw.CloseWithError(io.ErrUnexpectedEOF)
			} else {
				pw.Close()
			}
			resp := <-replies
			if tc.want != 0 {
				if resp == nil {
					t.Fatal("no reply")
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
				}
			} else if resp != nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Fatal("a stream cut short was acknowledged")
				}
			}
			if got := f.segFiles("rec1"); len(got) != 0 {
				t.Fatalf("stored: %v", got)
			}
		})
	}
}
