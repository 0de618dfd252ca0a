package store

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// BenchmarkIngest compares durable, acknowledged segment writes (tmp +
// fsync + rename + fsync folder per segment) with the floor: appending the
// same bytes to one file and fsyncing after each, in the same folder.
//
//	go test -run '^$' -bench Ingest -benchtime 200x ./server/store/
func BenchmarkIngest(b *testing.B) {
	const size = 500 << 10
	data := make([]byte, size)
	_, _ = rand.Read(data)
	sum := segment.Sum(data)
	dir := b.TempDir()

	b.Run("PutSegment", func(b *testing.B) {
		s, err := New(Config{Dir: dir, ServerID: "a", RoomID: "room1"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		const id = "bench"
		_ = s.Delete(id) // b.Run calls this function more than once
		if _, _, err := s.Create(wire.CreateRequest{ID: id, Mode: wire.Buffered}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.PutSegment(id, uint64(i), sum, data); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		_ = s.Delete(id)
	})

	b.Run("SequentialFsync", func(b *testing.B) {
		p := filepath.Join(dir, "sequential.bin")
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			b.Fatal(err)
		}
		defer os.Remove(p)
		defer f.Close()
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
