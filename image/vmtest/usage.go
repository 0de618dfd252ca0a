//go:build linux

package vmtest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Usage is what the box daemon used while it was sampled, as the guest's
// /proc says.
type Usage struct {
	Seconds float64 // guest time between the first and last sample
	// RSSMinMiB and RSSMaxMiB are the daemon's resident memory (VmRSS).
	RSSMinMiB, RSSMaxMiB float64
	// CPU is the daemon's user+system time (/proc/<pid>/stat) over the
	// span, in percent of one vCPU; Share is that of all the guest's
	// vCPUs (VCPUs of them).
	CPU, Share float64
	VCPUs      int
	// Sched is the same as CPU from the scheduler's run time of every
	// thread (/proc/<pid>/task/*/schedstat): a second source, to check
	// the first against.
	Sched float64
	// Busy is how busy the guest's tick accounting (/proc/stat) says it
	// was, in percent of all vCPUs, and Ticking how many vCPUs it counts
	// ticks for: fewer than VCPUs when the host does not run QEMU's vCPU
	// threads all the time (a vCPU that does not run takes no ticks, while
	// the task on it is charged the time all the same).
	Busy, Ticking float64
	Samples       int
}

// SampleDaemon reads the box daemon's /proc/<pid>/stat and status and the
// guest's /proc/stat n+1 times, every apart, in the debug shell. The
// daemon must not restart meanwhile.
func (v *VM) SampleDaemon(ctx context.Context, n int, every time.Duration) (Usage, error) {
	script := fmt.Sprintf(`pid=$(systemctl show -p MainPID --value twincap-box.service); echo "hz $(getconf CLK_TCK) cpus $(grep -c '^cpu[0-9]' /proc/stat) pid $pid"
for i in $(seq 0 %d); do
  echo "sample $(cut -d' ' -f1 /proc/uptime) $(awk '{print $14+$15}' /proc/$pid/stat) $(awk '/^VmRSS:/{print $2}' /proc/$pid/status) $(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat) $(cat /proc/$pid/task/*/schedstat | awk '{s+=$1} END {printf "%%.0f", s}')"
  if [ $i -lt %d ]; then sleep %.3f; fi
done`, n, n, every.Seconds())
	out, rc, err := v.Shell(ctx, script)
	if err != nil {
		return Usage{}, err
	}
	if rc != 0 {
		return Usage{}, fmt.Errorf("vmtest: sample the daemon: exit %d: %s", rc, out)
	}
	return parseUsage(out)
}

func parseUsage(out string) (Usage, error) {
	var hz float64
	var cpus int
	type sample struct{ up, ticks, rss, busy, idle, sched float64 }
	var ss []sample
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[0] == "hz":
			hz, _ = strconv.ParseFloat(f[1], 64)
			cpus, _ = strconv.Atoi(f[3])
		case len(f) == 7 && f[0] == "sample":
			var s sample
			var err error
			for i, p := range []*float64{&s.up, &s.ticks, &s.rss, &s.busy, &s.idle, &s.sched} {
				if *p, err = strconv.ParseFloat(f[i+1], 64); err != nil {
					return Usage{}, fmt.Errorf("vmtest: sample %q: %w", line, err)
				}
			}
			ss = append(ss, s)
		}
	}
	if hz <= 0 || cpus <= 0 || len(ss) < 2 {
		return Usage{}, fmt.Errorf("vmtest: sample the daemon: %d samples, CLK_TCK %v, %d CPUs in %q", len(ss), hz, cpus, out)
	}
	a, b := ss[0], ss[len(ss)-1]
	u := Usage{Seconds: b.up - a.up, Samples: len(ss), VCPUs: cpus, RSSMinMiB: a.rss / 1024, RSSMaxMiB: a.rss / 1024}
	for _, s := range ss {
		u.RSSMinMiB = min(u.RSSMinMiB, s.rss/1024)
		u.RSSMaxMiB = max(u.RSSMaxMiB, s.rss/1024)
	}
	if u.Seconds <= 0 {
		return Usage{}, fmt.Errorf("vmtest: sample the daemon: no time passed")
	}
	all := (b.busy - a.busy) + (b.idle - a.idle)
	u.CPU = 100 * (b.ticks - a.ticks) / hz / u.Seconds
	u.Share = u.CPU / float64(cpus)
	u.Sched = 100 * (b.sched - a.sched) / 1e9 / u.Seconds
	u.Ticking = all / hz / u.Seconds
	if all > 0 {
		u.Busy = 100 * (b.busy - a.busy) / all
	}
	return u, nil
}
