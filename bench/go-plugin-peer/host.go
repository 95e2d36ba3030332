package main

// The host's side: launches the plugin through go-plugin and measures, with
// the definitions plugvisor-bench uses for plugvisor (bench/bench.cpp):
//
//	--transport rpc|grpc          go-plugin's transport (AllowedProtocols)
//	--cold N                      N cold starts (after one not counted): from NewClient to the first
//	                              Echo's result (launch, handshake, connect,
//	                              Dispense, call); Kill() is outside the time
//	--latency B:W:N[,B:W:N...]    per payload of B bytes: W warm-up calls, then
//	                              N timed calls, one caller, one plugin process
//	--threads T[,T...]            64 B calls/s with T goroutines calling the
//	--duration-ms D               same dispensed client for D ms each
//
// Prints {"transport":..., "cold_ns":[...], "latency_ns":{"B":[...]},
// "calls_per_s":{"T":...}} on stdout: raw samples, summarized by
// plugvisor-bench with the same percentiles as its own figures.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

type latencyCase struct{ bytes, warmup, count int }

type report struct {
	Transport string             `json:"transport"`
	ColdNs    []int64            `json:"cold_ns"`
	LatencyNs map[string][]int64 `json:"latency_ns"`
	CallsPerS map[string]float64 `json:"calls_per_s"`
	Errors    map[string]string  `json:"errors,omitempty"`
}

func parseLatency(text string) ([]latencyCase, error) {
	var cases []latencyCase
	if text == "" {
		return nil, nil
	}
	for _, item := range strings.Split(text, ",") {
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("--latency %q: want BYTES:WARMUP:COUNT, comma-separated", item)
		}
		var v [3]int
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 1<<30 {
				return nil, fmt.Errorf("--latency %q: %q is not a count between 0 and 2^30", item, p)
			}
			v[i] = n
		}
		cases = append(cases, latencyCase{v[0], v[1], v[2]})
	}
	return cases, nil
}

func parseThreads(text string) ([]int, error) {
	var threads []int
	if text == "" {
		return nil, nil
	}
	for _, p := range strings.Split(text, ",") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--threads: %q is not a thread count between 1 and 1024", p)
		}
		threads = append(threads, n)
	}
	return threads, nil
}

// launch starts the plugin and returns the dispensed Echo.
func launch(self, transport string) (*plugin.Client, Echo, error) {
	protocol := plugin.ProtocolNetRPC
	if transport == "grpc" {
		protocol = plugin.ProtocolGRPC
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          pluginSet(transport, nil),
		Cmd:              exec.Command(self, "plugin", transport),
		AllowedProtocols: []plugin.Protocol{protocol},
		Logger:           hclog.NewNullLogger(),
		SyncStdout:       ioutil.Discard,
		SyncStderr:       ioutil.Discard,
	})
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("launching the go-plugin echo plugin: %w", err)
	}
	raw, err := rpcClient.Dispense("echo")
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("dispensing the echo plugin: %w", err)
	}
	return client, raw.(Echo), nil
}

func call(echo Echo, payload []byte) error {
	out, err := echo.Echo(payload)
	if err != nil {
		return err
	}
	if len(out) != len(payload) {
		return fmt.Errorf("echo returned %d bytes for %d", len(out), len(payload))
	}
	return nil
}

func throughput(echo Echo, threads int, duration time.Duration) (float64, error) {
	payload := make([]byte, 64)
	var stop int32
	var total int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			for atomic.LoadInt32(&stop) == 0 {
				if err := call(echo, payload); err != nil {
					firstErr.Store(err)
					break
				}
				n++
			}
			atomic.AddInt64(&total, n)
		}()
	}
	time.Sleep(duration)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

func runHost(args []string) error {
	flags := flag.NewFlagSet("host", flag.ContinueOnError)
	transport := flags.String("transport", "rpc", "rpc or grpc")
	cold := flags.Int("cold", 0, "cold starts to time")
	latencyText := flags.String("latency", "", "BYTES:WARMUP:COUNT,...")
	threadsText := flags.String("threads", "", "caller goroutines, comma-separated")
	durationMs := flags.Int("duration-ms", 1000, "time per throughput figure")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *transport != "rpc" && *transport != "grpc" {
		return fmt.Errorf("--transport %q: want rpc or grpc", *transport)
	}
	if *cold < 0 || *cold > 10000 || *durationMs < 1 || *durationMs > 600000 {
		return errors.New("--cold wants 0..10000 and --duration-ms 1..600000")
	}
	cases, err := parseLatency(*latencyText)
	if err != nil {
		return err
	}
	threads, err := parseThreads(*threadsText)
	if err != nil {
		return err
	}
	// yamux logs through the standard logger when the plugin goes away on Kill().
	log.SetOutput(ioutil.Discard)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r := report{Transport: *transport, ColdNs: []int64{}, LatencyNs: map[string][]int64{}, CallsPerS: map[string]float64{}}

	small := make([]byte, 64)
	// One throw-away cold start first (page cache, as plugvisor-bench does).
	for i := -1; i < *cold; i++ {
		t0 := time.Now()
		client, echo, err := launch(self, *transport)
		if err != nil {
			return err
		}
		err = call(echo, small)
		elapsed := time.Since(t0)
		client.Kill()
		if err != nil {
			return fmt.Errorf("first call after a cold start: %w", err)
		}
		if i >= 0 {
			r.ColdNs = append(r.ColdNs, elapsed.Nanoseconds())
		}
	}

	if len(cases) > 0 || len(threads) > 0 {
		client, echo, err := launch(self, *transport)
		if err != nil {
			return err
		}
		defer client.Kill()
		for _, c := range cases {
			payload := make([]byte, c.bytes)
			for i := 0; i < c.warmup; i++ {
				if err := call(echo, payload); err != nil {
					return fmt.Errorf("%d B call: %w", c.bytes, err)
				}
			}
			samples := make([]int64, 0, c.count)
			for i := 0; i < c.count; i++ {
				t0 := time.Now()
				if err := call(echo, payload); err != nil {
					return fmt.Errorf("%d B call: %w", c.bytes, err)
				}
				samples = append(samples, time.Since(t0).Nanoseconds())
			}
			r.LatencyNs[strconv.Itoa(c.bytes)] = samples
		}
		for _, t := range threads {
			rate, err := throughput(echo, t, time.Duration(*durationMs)*time.Millisecond)
			if err != nil {
				return fmt.Errorf("throughput with %d goroutines: %w", t, err)
			}
			r.CallsPerS[strconv.Itoa(t)] = rate
		}
	}
	return json.NewEncoder(os.Stdout).Encode(&r)
}
