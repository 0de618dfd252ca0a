//go:build linux

package vmtest

import (
	"math"
	"testing"
)

// The figures SampleDaemon reports, from what the guest's shell printed:
// 2 CPUs at 100 Hz over 10 s (2000 ticks), the daemon using 250 of them
// (2.6 s by the scheduler).
func TestParseUsage(t *testing.T) {
	out := "hz 100 cpus 2 pid 238\n" +
		"sample 100.00 1000 40960 5000 15000 7000000000\n" +
		"sample 105.00 1120 51200 5600 15400 8000000000\n" +
		"sample 110.00 1250 46080 6200 15800 9600000000\n"
	u, err := parseUsage(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"seconds", u.Seconds, 10},
		{"rss min", u.RSSMinMiB, 40},
		{"rss max", u.RSSMaxMiB, 50},
		{"cpu of one", u.CPU, 25},
		{"share of both", u.Share, 12.5},
		{"sched", u.Sched, 26},
		{"ticking", u.Ticking, 2},
		{"busy", u.Busy, 60},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, err := parseUsage("hz 100 cpus 2\nsample 1 2 3 4 5 6\n"); err == nil {
		t.Error("one sample: no error")
	}
}
