package journal

import (
	"testing"

	"twincap/encoder/segment"
)

// BenchmarkAppend is the journal's cost per segment on the box: a 500 KB
// segment (about 1 s of video) written and fsynced.
func BenchmarkAppend(b *testing.B) {
	j, err := Create(b.TempDir(), testMeta)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	data := pattern(1, 500<<10)
	s := segment.Segment{Data: data, Sum: segment.Sum(data)}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := j.Append(s); err != nil {
			b.Fatal(err)
		}
		s.Seq++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/append")
}

// BenchmarkSetAcked is the cost of recording a server's new position: an
// append and an fsync of the ack log, with a compaction now and then. Two
// servers take turns, as the uplinks do.
func BenchmarkSetAcked(b *testing.B) {
	j, err := Create(b.TempDir(), testMeta)
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	// Pretend to hold many segments so positions can keep rising without
	// writing them; SetAcked only looks at the count.
	j.index = make([]span, 1<<20)
	var next uint64
	for b.Loop() {
		next++
		if err := j.SetAcked([]string{"10.0.0.1:0", "10.0.0.2:0"}[next%2], next); err != nil {
			b.Fatal(err)
		}
	}
}
