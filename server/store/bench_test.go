package store

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

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

	for _, inflight := range []int{1, 4} {
		// inflight is how many segments a box has on the wire at once:
		// 1 at the live edge, more while it backfills a returned server.
		b.Run(fmt.Sprintf("PutSegment/inflight=%d", inflight), func(b *testing.B) {
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
			var next atomic.Uint64
			var g errgroup.Group
			for range inflight {
				g.Go(func() error {
					for {
						seq := next.Add(1) - 1
						if seq >= uint64(b.N) {
							return nil
						}
						if _, err := s.PutSegment(id, seq, sum, data); err != nil {
							return err
						}
					}
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = s.Delete(id)
		})
	}

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
