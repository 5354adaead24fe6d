package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/centrifugal/gocent/v3"

	"github.com/logchat/bench/internal/procs"
	"github.com/logchat/bench/internal/report"
)

// broadcastNamespace is where the broadcast measurement publishes: the
// personal channels' namespace, with their history settings.
const broadcastNamespace = "user"

// broadcastPayload is a message.created publication of a personal channel,
// about size bytes long.
func broadcastPayload(size int) []byte {
	head := `{"type":"message.created","cursor":"123456.s1","message":{"id":987654,"chat_id":4242,"author":{"id":17,"name":"bench"},"created_at":"2026-01-01T00:00:00Z","text":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", max(size-len(head)-len(tail), 1)) + tail)
}

// broadcastChannels names n channels of the personal namespace that no user has.
func broadcastChannels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s:%d", broadcastNamespace, 900000000+i)
	}
	return out
}

// broadcast measures one payload to N personal-style channels: a pipe of N
// publish commands against one broadcast command.
func (b *bench) broadcast(ctx context.Context) error {
	var ns []int
	for _, f := range strings.Split(b.cfg.BroadcastChannels, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n <= 0 {
			return fmt.Errorf("--broadcast-channels: %q is not a count", f)
		}
		ns = append(ns, n)
	}
	var pid int
	for _, p := range procs.Find(filepath.Join(b.cfg.StackDir, "pids")) {
		if p.Name == "centrifugo" {
			pid = p.PID
		}
	}
	if pid == 0 {
		return fmt.Errorf("no centrifugo pid under %s/pids", b.cfg.StackDir)
	}
	c := gocent.New(gocent.Config{Addr: b.cfg.CentAPI, Key: b.cfg.CentKey,
		HTTPClient: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}})
	data := broadcastPayload(b.cfg.BroadcastBytes)
	b.waitIdle(60 * time.Second)
	for _, n := range ns {
		channels := broadcastChannels(n)
		for _, method := range []string{"pipe", "broadcast"} {
			call := func() (int, error) {
				if method == "broadcast" {
					res, err := c.Broadcast(ctx, channels, data)
					if err != nil {
						return 0, err
					}
					bad := 0
					for _, r := range res.Responses {
						if r.Error != nil {
							bad++
						}
					}
					return bad, nil
				}
				pipe := c.Pipe()
				for _, ch := range channels {
					if err := pipe.AddPublish(ch, data); err != nil {
						return 0, err
					}
				}
				replies, err := c.SendPipe(ctx, pipe)
				if err != nil {
					return 0, err
				}
				bad := 0
				for _, r := range replies {
					if r.Error != nil {
						bad++
					}
				}
				return bad, nil
			}
			row := report.BroadcastRow{Method: method, Channels: n, Calls: b.cfg.BroadcastCalls, Bytes: len(data)}
			if _, err := call(); err != nil { // channels and their history exist from here on
				row.Err = err.Error()
				b.rep.Broadcast = append(b.rep.Broadcast, row)
				continue
			}
			cent0, _ := procs.CPUSeconds(pid)
			self0, _ := procs.CPUSeconds(os.Getpid())
			var walls []float64
			for range b.cfg.BroadcastCalls {
				t0 := time.Now()
				bad, err := call()
				walls = append(walls, float64(time.Since(t0).Microseconds())/1000)
				row.Errors += bad
				if err != nil {
					row.Errors++
					row.Err = err.Error()
				}
			}
			cent1, _ := procs.CPUSeconds(pid)
			self1, _ := procs.CPUSeconds(os.Getpid())
			total := float64(n * b.cfg.BroadcastCalls)
			row.CentrifugoMicros = round1((cent1 - cent0) * 1e6 / total)
			row.ClientMicros = round1((self1 - self0) * 1e6 / total)
			slices.Sort(walls)
			var sum float64
			for _, w := range walls {
				sum += w
			}
			row.WallP50, row.WallMean, row.WallMax = round1(walls[len(walls)/2]), round1(sum/float64(len(walls))), round1(walls[len(walls)-1])
			b.rep.Broadcast = append(b.rep.Broadcast, row)
			log.Printf("broadcast: %d channels by %s: wall p50 %.1f ms mean %.1f ms; Centrifugo %.1f µs/channel, client %.1f µs/channel, errors %d %s",
				n, method, row.WallP50, row.WallMean, row.CentrifugoMicros, row.ClientMicros, row.Errors, row.Err)
		}
	}
	return nil
}
