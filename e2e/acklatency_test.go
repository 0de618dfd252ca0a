package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/firmware/roomclient"
	"twincap/server/servertest"
	"twincap/server/wire"
)

// BenchmarkSegmentAckLatency is the time from sending a segment to holding
// the server's durable ack, over HTTPS on loopback to a real server: one
// 500 KB segment (1 s at 4 Mbit/s) per request, as the uplink sends them.
func BenchmarkSegmentAckLatency(b *testing.B) {
	room := servertest.NewRoom(b, 1, servertest.Options{})
	c, err := roomclient.New(room.Servers[0].Addr(), &tls.Config{RootCAs: room.CA.Pool(), MinVersion: tls.VersionTLS12})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rep, err := c.Login(ctx, servertest.User, servertest.Password)
	if err != nil {
		b.Fatal(err)
	}
	c = c.WithTicket(rep.Ticket)
	id := "bench-ack"
	if _, err := c.Create(ctx, wire.CreateRequest{ID: id, RoomID: room.ID, BoxID: "box", Mode: wire.Buffered, StartedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 500_000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	lat := make([]time.Duration, 0, b.N)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(payload, fmt.Sprintf("segment %d", i))
		s := segment.New(uint64(i), 0, time.Second, payload)
		t0 := time.Now()
		if _, err := c.Put(ctx, id, s); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "ms-p99")
}
