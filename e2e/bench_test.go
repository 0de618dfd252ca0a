package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"twincap/firmware/box"
)

// procTimes is user+system CPU seconds and the peak resident set of a
// process we started, from /proc.
func procTimes(tb testing.TB, pid int) (cpu float64, hwmKiB int) {
	tb.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const hz = 100 // USER_HZ on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwmKiB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	return (utime + stime) / hz, hwmKiB
}

// recordFor runs one interview of d on a fresh room and returns the box's
// CPU seconds per recorded second and its peak RSS.
func recordFor(b *testing.B, o roomOptions, d time.Duration) (cpuPerSec float64, hwmMiB float64) {
	r := newRoom(b, o)
	r.waitFor("servers online", 20*time.Second, func() bool {
		st := r.mustStatus()
		green := 0
		for _, s := range st.Servers {
			if s.Green {
				green++
			}
		}
		return green == len(r.servers)
	})
	r.login()
	pid := r.box.cmd.Process.Pid
	cpu0, _ := procTimes(b, pid)
	t0 := time.Now()
	r.action(box.PathStart)
	time.Sleep(d)
	r.action(box.PathStop)
	wall := time.Since(t0).Seconds()
	cpu1, hwm := procTimes(b, pid)
	r.waitFor("delivery", 60*time.Second, func() bool { return len(r.mustStatus().Owed) == 0 })
	return (cpu1 - cpu0) / wall, float64(hwm) / 1024
}

const video720 = `width = 1280
height = 720
fps = 30
bitrate = 4000000
preset = "veryfast"
`

const video1080 = `width = 1920
height = 1080
fps = 30
bitrate = 6000000
preset = "veryfast"
`

// BenchmarkBoxCPUTwoServersVsOne records 720p30 for 10 s to one server and
// then to two, three times alternating, in one run; the figures are the
// medians of the box's CPU seconds per recorded second, and their ratio.
func BenchmarkBoxCPUTwoServersVsOne(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var ones, twos []float64
		for round := 0; round < 3; round++ {
			one, _ := recordFor(b, roomOptions{servers: 1, video: video720}, 10*time.Second)
			two, _ := recordFor(b, roomOptions{servers: 2, video: video720}, 10*time.Second)
			ones, twos = append(ones, one), append(twos, two)
		}
		one, two := median(ones), median(twos)
		b.ReportMetric(one, "cpu-s/s-1server")
		b.ReportMetric(two, "cpu-s/s-2servers")
		b.ReportMetric(two/one, "ratio")
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkBoxMemory1080p is the box's peak resident memory while
// recording 1080p30 for 10 s to two servers.
func BenchmarkBoxMemory1080p(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_, hwm := recordFor(b, roomOptions{servers: 2, video: video1080}, 10*time.Second)
		b.ReportMetric(hwm, "MiB-peak-RSS")
	}
}

func percentile(v []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}
