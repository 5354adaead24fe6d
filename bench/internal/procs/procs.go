// Package procs measures the CPU time and memory of the stack's processes from
// /proc: utime+stime of /proc/<pid>/stat, VmHWM (peak RSS) and VmRSS of
// /proc/<pid>/status. Peak RSS is reset at the start of a measurement by
// writing 5 to /proc/<pid>/clear_refs (allowed for one's own processes), so
// it is the peak of that measurement, not of the process's life.
package procs

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// Proc is one process being measured.
type Proc struct {
	Name string
	PID  int
}

// Find lists the stack's processes from the pid files in dir (STACK_DIR/pids)
// and, when found, the machine's MariaDB and Redis (shared services: other
// work on the machine shows in their figures too).
func Find(pidDir string) []Proc {
	var out []Proc
	files, _ := filepath.Glob(filepath.Join(pidDir, "*.pid"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			continue
		}
		// stack.sh starts each process through setsid; the pid is the
		// process itself (exec), but follow a lone child if it is a shell.
		out = append(out, Proc{Name: strings.TrimSuffix(filepath.Base(f), ".pid"), PID: pid})
	}
	for _, svc := range []struct{ name, comm string }{{"mariadb", "mariadbd"}, {"mariadb", "mysqld"}, {"redis", "redis-server"}} {
		if pid := byComm(svc.comm); pid > 0 {
			out = append(out, Proc{Name: svc.name, PID: pid})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// byComm is the oldest process (lowest pid) named comm: the machine's own
// service, not a test's instance started later (/proc lists pids as text,
// so its first match could be any of them).
func byComm(comm string) int {
	dirs, _ := os.ReadDir("/proc")
	best := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || best != 0 && pid >= best {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(raw)) == comm {
			best = pid
		}
	}
	return best
}

// CPUSeconds is user+system time of pid so far.
func CPUSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from its ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat of %d", pid)
	}
	f := strings.Fields(s[i+1:])
	// After ')': state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat of %d", pid)
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, nil
}

// Memory returns VmRSS and VmHWM of pid in MiB.
func Memory(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			key string
			dst *float64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if strings.HasPrefix(line, k.key) {
				fs := strings.Fields(line)
				if len(fs) >= 2 {
					kb, _ := strconv.ParseFloat(fs[1], 64)
					*k.dst = kb / 1024
				}
			}
		}
	}
	return rss, hwm, sc.Err()
}

// Usage is what one process used during a measurement.
type Usage struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"` // of one core, over the measurement
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// SteadyRSSMiB is the mean RSS over the second half of the measurement.
	SteadyRSSMiB float64 `json:"steady_rss_mib"`
	PeakReset    bool    `json:"peak_reset"` // false: VmHWM could not be reset, so it is the life-time peak
	// CPUMicrosPerMsg is CPUSeconds per accepted message of the measurement, in µs (0: no messages).
	CPUMicrosPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
}

// Meter measures a set of processes from Start to Stop.
type Meter struct {
	procs   []Proc
	start   time.Time
	cpu0    map[int]float64
	reset   map[int]bool
	mu      sync.Mutex
	samples map[int][][2]float64 // pid -> (seconds, rss MiB)
	stop    chan struct{}
	done    chan struct{}
}

// Start begins measuring procs: CPU baseline, peak reset, RSS every second.
func Start(procs []Proc) *Meter {
	m := &Meter{procs: procs, start: time.Now(), cpu0: map[int]float64{}, reset: map[int]bool{},
		samples: map[int][][2]float64{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range procs {
		m.cpu0[p.PID], _ = CPUSeconds(p.PID)
		m.reset[p.PID] = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.PID), []byte("5"), 0) == nil
	}
	go func() {
		defer close(m.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				el := time.Since(m.start).Seconds()
				m.mu.Lock()
				for _, p := range m.procs {
					if rss, _, err := Memory(p.PID); err == nil {
						m.samples[p.PID] = append(m.samples[p.PID], [2]float64{el, rss})
					}
				}
				m.mu.Unlock()
			}
		}
	}()
	return m
}

// Stop ends the measurement and returns each process's usage.
func (m *Meter) Stop() []Usage {
	close(m.stop)
	<-m.done
	el := time.Since(m.start).Seconds()
	var out []Usage
	for _, p := range m.procs {
		u := Usage{Name: p.Name, PID: p.PID, PeakReset: m.reset[p.PID]}
		if c, err := CPUSeconds(p.PID); err == nil {
			// To the clock tick: the µs per message are computed from it.
			u.CPUSeconds = math.Round((c-m.cpu0[p.PID])*100) / 100
			u.CPUPercent = round(100 * (c - m.cpu0[p.PID]) / el)
		}
		if _, hwm, err := Memory(p.PID); err == nil {
			u.PeakRSSMiB = round(hwm)
		}
		var sum float64
		var n int
		for _, s := range m.samples[p.PID] {
			if s[0] >= el/2 {
				sum += s[1]
				n++
			}
		}
		if n > 0 {
			u.SteadyRSSMiB = round(sum / float64(n))
		}
		out = append(out, u)
	}
	return out
}

func round(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
