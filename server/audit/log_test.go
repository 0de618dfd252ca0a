package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injected clock that moves one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newClock() func() time.Time { return (&clock{t: t0}).now }

var script = []Record{
	{Actor: "alice", Action: Login},
	{Actor: "alice", Action: Start, Recording: "rec-1", Details: "buffered"},
	{Actor: "bob", Action: LoginFailed, Details: "bad password from 10.0.0.5"},
	{Actor: "alice", Action: Stop, Recording: "rec-1"},
	{Actor: "admin", Action: SettingsChange, Details: "evidence.retry_attempts: 5 -> 3"},
	{Actor: "alice", Action: Start, Recording: "rec-2"},
	{Actor: "alice", Action: Cancel, Recording: "rec-2"},
	{Actor: SystemActor, Action: Upload, Recording: "rec-1", Details: "s3://evidence/rec-1"},
	{Actor: "alice", Action: Logout},
	{Actor: SystemActor, Action: Deletion, Recording: "rec-1", Details: "retention"},
	{Actor: SystemActor, Action: Update, Details: "1.2.3 -> 1.2.4"},
}

// written opens a fresh trail and appends the script.
func written(t *testing.T) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit", "audit.log")
	l, err := Open(Config{Path: path, Now: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	for _, r := range script {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	return l, path
}

func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func TestAppendAndReopen(t *testing.T) {
	l, path := written(t)
	all := l.Entries(Filter{})
	if len(all) != len(script) {
		t.Fatalf("%d entries", len(all))
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.Record() != script[i] || !e.Time.Equal(t0.Add(time.Duration(i+1)*time.Second)) {
			t.Fatalf("entry %d = %+v", i, e)
		}
		if i > 0 && e.Prev != all[i-1].Hash {
			t.Fatalf("entry %d is not chained", i)
		}
	}
	if all[0].Prev != GenesisHash {
		t.Fatal("first prev is not the genesis hash")
	}
	for _, tc := range []struct {
		f    Filter
		seqs []uint64
	}{
		{Filter{Recording: "rec-1"}, []uint64{2, 4, 8, 10}},
		{Filter{Recording: "rec-2"}, []uint64{6, 7}},
		{Filter{Recording: "rec-3"}, nil},
		{Filter{Actor: "bob"}, []uint64{3}},
		{Filter{Action: Start}, []uint64{2, 6}},
		{Filter{Actor: "alice", Recording: "rec-2", Action: Cancel}, []uint64{7}},
	} {
		var got []uint64
		for _, e := range l.Entries(tc.f) {
			got = append(got, e.Seq)
		}
		if !reflect.DeepEqual(got, tc.seqs) {
			t.Errorf("Entries(%+v) = %v, want %v", tc.f, got, tc.seqs)
		}
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	head := l.Head()
	if head.Seq != uint64(len(script)) || head.Hash != all[len(all)-1].Hash {
		t.Fatalf("Head = %+v", head)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(script[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v", err)
	}
	if err := l.Verify(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Verify after Close = %v", err)
	}

	l2, err := Open(Config{Path: path, Now: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if !reflect.DeepEqual(l2.Entries(Filter{}), all) || l2.Head() != head || l2.TornBytes() != 0 {
		t.Fatal("reopened trail differs")
	}
	e, err := l2.Append(Record{Actor: "carol", Action: Login})
	if err != nil || e.Seq != head.Seq+1 || e.Prev != head.Hash {
		t.Fatalf("append after reopen = %+v, %v", e, err)
	}
	if h, err := VerifyFile(path); err != nil || h.Seq != e.Seq {
		t.Fatalf("VerifyFile = %+v, %v", h, err)
	}
}

func TestAppendRefusesBadRecords(t *testing.T) {
	l, path := written(t)
	before, _ := os.ReadFile(path)
	for _, r := range []Record{{Action: Login}, {Actor: "a", Action: "erase"}, {Actor: "a", Action: Stop, Recording: ".."}} {
		if _, err := l.Append(r); !errors.Is(err, ErrBadEntry) {
			t.Errorf("Append(%+v) = %v", r, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a refused record reached the file")
	}
}

// Every way of tampering with a written trail is found by Verify on the
// open log; all but removing the last entries (which leaves a shorter
// chain that is whole) are found by Open and VerifyFile, with no help from
// memory.
func TestTamper(t *testing.T) {
	type edit func(t *testing.T, ls [][]byte) [][]byte
	forge := func(e Entry) []byte {
		b, _ := Encode(sealed(e))
		return append(b, '\n')
	}
	parse := func(t *testing.T, ln []byte) Entry {
		e, err := ParseLine(bytes.TrimSuffix(ln, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name      string
		edit      edit
		openFails bool
	}{
		{"edit a byte", func(t *testing.T, ls [][]byte) [][]byte {
			ls[4] = bytes.Replace(ls[4], []byte("retry"), []byte("rEtry"), 1)
			return ls
		}, true},
		{"edit the last entry", func(t *testing.T, ls [][]byte) [][]byte {
			ls[len(ls)-1] = bytes.Replace(ls[len(ls)-1], []byte("1.2.4"), []byte("1.2.5"), 1)
			return ls
		}, true},
		{"delete a line", func(t *testing.T, ls [][]byte) [][]byte { return append(ls[:3], ls[4:]...) }, true},
		{"delete the first line", func(t *testing.T, ls [][]byte) [][]byte { return ls[1:] }, true},
		{"delete the last line", func(t *testing.T, ls [][]byte) [][]byte { return ls[:len(ls)-1] }, false},
		{"swap two", func(t *testing.T, ls [][]byte) [][]byte { ls[2], ls[3] = ls[3], ls[2]; return ls }, true},
		{"truncate in the middle", func(t *testing.T, ls [][]byte) [][]byte {
			// Cut from the middle of line 3 to the middle of line 6.
			joined := append(append([]byte{}, ls[2][:len(ls[2])/2]...), ls[5][len(ls[5])/2:]...)
			return append(append(ls[:2:2], joined), ls[6:]...)
		}, true},
		{"truncate after a whole line", func(t *testing.T, ls [][]byte) [][]byte { return ls[:5] }, false},
		{"insert a copy", func(t *testing.T, ls [][]byte) [][]byte {
			return append(ls[:5:5], append([][]byte{ls[4]}, ls[5:]...)...)
		}, true},
		{"insert a forged entry", func(t *testing.T, ls [][]byte) [][]byte {
			prev := parse(t, ls[4])
			f := forge(Entry{Seq: 6, Time: prev.Time, Actor: "mallory", Action: Login, Prev: prev.Hash})
			return append(ls[:5:5], append([][]byte{f}, ls[5:]...)...)
		}, true},
		{"append a forged entry", func(t *testing.T, ls [][]byte) [][]byte {
			last := parse(t, ls[len(ls)-1])
			return append(ls, forge(Entry{Seq: last.Seq + 1, Time: last.Time, Actor: "mallory", Action: Deletion, Recording: "rec-1", Prev: last.Hash}))
		}, false},
		{"rewrite the chain from an altered entry", func(t *testing.T, ls [][]byte) [][]byte {
			prev := parse(t, ls[2]).Hash
			for i := 3; i < len(ls); i++ {
				e := parse(t, ls[i])
				if i == 3 {
					e.Details = "forged"
				}
				e.Prev = prev
				ls[i] = forge(e)
				prev = parse(t, ls[i]).Hash
			}
			return ls
		}, false},
		{"empty the file", func(t *testing.T, ls [][]byte) [][]byte { return nil }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, path := written(t)
			ls := tc.edit(t, lines(t, path))
			if err := os.WriteFile(path, bytes.Join(ls, nil), 0o640); err != nil {
				t.Fatal(err)
			}
			var ce *ChainError
			if err := l.Verify(); !errors.Is(err, ErrBroken) || !errors.As(err, &ce) {
				t.Fatalf("Verify after %s = %v", tc.name, err)
			}
			_, ferr := VerifyFile(path)
			l2, oerr := Open(Config{Path: path})
			if l2 != nil {
				_ = l2.Close()
			}
			if tc.openFails {
				if !errors.Is(oerr, ErrBroken) || !errors.Is(ferr, ErrBroken) {
					t.Fatalf("Open = %v, VerifyFile = %v; want ErrBroken", oerr, ferr)
				}
			} else if oerr != nil || ferr != nil {
				t.Fatalf("Open = %v, VerifyFile = %v; want a whole (shorter or longer) chain", oerr, ferr)
			}
		})
	}
}

// Deleting any one line, whichever, is found by Verify on the open log;
// by Open and VerifyFile too, except the last line (a shorter chain that
// is whole: only the running log's memory, or an export's head, knows it
// was longer).
func TestDeleteEveryLine(t *testing.T) {
	l, path := written(t)
	orig := lines(t, path)
	for i := range orig {
		ls := append(append([][]byte{}, orig[:i]...), orig[i+1:]...)
		if err := os.WriteFile(path, bytes.Join(ls, nil), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := l.Verify(); !errors.Is(err, ErrBroken) {
			t.Fatalf("deleting line %d of %d went unnoticed by Verify: %v", i+1, len(orig), err)
		}
		if _, err := VerifyFile(path); i < len(orig)-1 && !errors.Is(err, ErrBroken) {
			t.Fatalf("deleting line %d of %d went unnoticed by VerifyFile: %v", i+1, len(orig), err)
		}
	}
	if err := os.WriteFile(path, bytes.Join(orig, nil), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Every single-byte change anywhere in the file is found.
func TestEveryByte(t *testing.T) {
	l, path := written(t)
	orig, _ := os.ReadFile(path)
	for i := range orig {
		b := bytes.Clone(orig)
		b[i] ^= 0x01
		if err := os.WriteFile(path, b, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := l.Verify(); !errors.Is(err, ErrBroken) {
			t.Fatalf("flipping byte %d (%q) went unnoticed: %v", i, orig[i], err)
		}
	}
	if err := os.WriteFile(path, orig, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail func(next []byte) []byte
	}{
		{"half a line", func(next []byte) []byte { return next[:len(next)/2] }},
		{"all but the newline", func(next []byte) []byte { return next[:len(next)-1] }},
		{"one byte", func(next []byte) []byte { return next[:1] }},
		{"zeros with a newline", func(next []byte) []byte {
			z := bytes.Clone(next)
			for i := 10; i < 40; i++ {
				z[i] = 0
			}
			return z
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, path := written(t)
			head := l.Head()
			// The line the next append would write, cut short by a power failure.
			next := forge2(Entry{Seq: head.Seq + 1, Time: t0, Actor: "alice", Action: Login, Prev: head.Hash})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			torn := tc.tail(next)
			appendFile(t, path, torn)
			if _, err := VerifyFile(path); !errors.Is(err, ErrBroken) {
				t.Fatalf("VerifyFile with a torn tail = %v", err)
			}
			l2, err := Open(Config{Path: path, Now: newClock()})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			if l2.TornBytes() != int64(len(torn)) {
				t.Fatalf("TornBytes = %d, want %d", l2.TornBytes(), len(torn))
			}
			es := l2.Entries(Filter{})
			last := es[len(es)-1]
			if len(es) != len(script)+1 || last.Action != Recover || last.Actor != SystemActor ||
				!strings.Contains(last.Details, fmt.Sprintf("cut %d bytes", len(torn))) {
				t.Fatalf("after recovery: %d entries, last %+v", len(es), last)
			}
			if err := l2.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A torn first line of a new trail.
	path := filepath.Join(t.TempDir(), "audit.log")
	appendFile(t, path, []byte(`{"seq":1,"ti`))
	l, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if es := l.Entries(Filter{}); len(es) != 1 || es[0].Action != Recover || es[0].Prev != GenesisHash {
		t.Fatalf("entries %+v", es)
	}
}

func forge2(e Entry) []byte {
	b, _ := Encode(sealed(e))
	return append(b, '\n')
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBrokenTrailIsSetAside(t *testing.T) {
	l, path := written(t)
	_ = l.Close()
	ls := lines(t, path)
	if err := os.WriteFile(path, bytes.Join(append(ls[:2:2], ls[3:]...), nil), 0o640); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	var ce *ChainError
	if _, err := Open(Config{Path: path}); !errors.As(err, &ce) || ce.Line != 3 || ce.Seq != 3 {
		t.Fatalf("Open = %v, want a ChainError at line 3", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("Open changed a broken trail")
	}
	aside, err := SetAside(path, t0)
	if err != nil {
		t.Fatal(err)
	}
	if kept, _ := os.ReadFile(aside); !bytes.Equal(kept, before) {
		t.Fatal("the set-aside file differs")
	}
	l2, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.Head().Seq != 0 {
		t.Fatal("a new trail does not start empty")
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(Config{Path: path, Now: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := l.Append(Record{Actor: fmt.Sprintf("user%d", w), Action: Login, Details: fmt.Sprint(i)})
				errs <- err
				_ = l.Entries(Filter{Actor: "user0"})
				_ = l.Head()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		es := l.Entries(Filter{Actor: fmt.Sprintf("user%d", w)})
		for i, e := range es {
			if e.Details != fmt.Sprint(i) {
				t.Fatalf("writer %d: entry %d has details %q: order lost", w, i, e.Details)
			}
		}
	}
	if h := l.Head(); h.Seq != writers*each {
		t.Fatalf("head %d", h.Seq)
	}
}

// A failed write that cannot be undone stops further appends instead of
// writing after a partial line.
func TestFailedAppendStops(t *testing.T) {
	l, _ := written(t)
	_ = l.f.Close() // the file goes away under the log: write and truncate fail
	if _, err := l.Append(Record{Actor: "a", Action: Login}); err == nil {
		t.Fatal("Append on a closed file succeeded")
	}
	if _, err := l.Append(Record{Actor: "a", Action: Login}); err == nil || !strings.Contains(err.Error(), "earlier append failed") {
		t.Fatalf("second Append = %v", err)
	}
	if h := l.Head(); h.Seq != uint64(len(script)) {
		t.Fatalf("a failed append moved the head to %d", h.Seq)
	}
}
