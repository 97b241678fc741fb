// Command loadtester benchmarks Warbler's loadtester and prints numbers; it
// never passes or fails on them.
//
//	go run ./test/bench/loadtester [-kubeconfig FILE] [-hey PATH] [-wrk PATH]
//
// It measures, against one small HTTP server process on 127.0.0.1:
//   - requests per second of hey run in-process (package heycmd, the code
//     the loadtester runs for a `hey ...` cmd), of the hey CLI and of wrk,
//     at the same concurrency, interleaved over several rounds;
//   - the highest rate the open-model load engine reaches (package load);
//   - the latency of /gate/check at 1,000 req/s against the built
//     loadtester binary (ConfigMap gates when -kubeconfig is given);
//   - the idle resident memory of that binary.
//
// Install the comparison tools first: `apt-get install -y wrk` and
// `GOBIN=/tmp/bin go install github.com/rakyll/hey@v0.1.5`.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/loadtester/heycmd"
	"github.com/warbler-dev/warbler/loadtester/load"
)

func main() {
	serve := flag.String("serve", "", "internal: serve 200 \"ok\" on this address")
	heyPath := flag.String("hey", "hey", "hey CLI")
	wrkPath := flag.String("wrk", "wrk", "wrk")
	binary := flag.String("loadtester", "", "loadtester binary; built from ./cmd/loadtester when empty")
	kubeconfig := flag.String("kubeconfig", "", "cluster for the gate benchmark (ConfigMap gates); in-memory gates when empty")
	namespace := flag.String("namespace", "default", "namespace of the gates")
	duration := flag.Duration("d", 3*time.Second, "duration of each throughput run")
	conns := flag.Int("c", 50, "concurrency of each throughput run")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	flag.Parse()
	if *serve != "" {
		okServer(*serve)
		return
	}
	if err := run(*heyPath, *wrkPath, *binary, *kubeconfig, *namespace, *duration, *conns, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// okServer is the target: the smallest useful Go HTTP server.
func okServer(addr string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(heyPath, wrkPath, binary, kubeconfig, namespace string, d time.Duration, c, rounds int) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	server := exec.Command(self, "-serve", addr)
	if err := server.Start(); err != nil {
		return err
	}
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	url := "http://" + addr + "/"
	if err := waitHTTP(url); err != nil {
		return err
	}
	fmt.Printf("target: Go net/http server process on %s; %d connections, %v per run, %d rounds, %d CPUs shared by client and server\n\n",
		addr, c, d, rounds, numCPU())

	tools := []struct {
		name string
		run  func() (float64, error)
	}{
		{"hey in-process (heycmd)", func() (float64, error) { return heyInProcess(url, d, c) }},
		{"hey CLI v0.1.5", func() (float64, error) {
			return fromOutput(heyPath, `Requests/sec:\s+([\d.]+)`, "-z", d.String(), "-c", strconv.Itoa(c), url)
		}},
		{"wrk", func() (float64, error) {
			return fromOutput(wrkPath, `Requests/sec:\s+([\d.]+)`, "-t2", "-c"+strconv.Itoa(c), "-d"+strconv.Itoa(int(d.Seconds()))+"s", url)
		}},
		{"load engine (max rate)", func() (float64, error) { return loadMaxRate(url, d, c) }},
	}
	results := make([][]float64, len(tools))
	for r := range rounds {
		for i, tool := range tools {
			time.Sleep(time.Second) // let the previous run's connections close
			rps, err := tool.run()
			if err != nil {
				return fmt.Errorf("%s: %w", tool.name, err)
			}
			results[i] = append(results[i], rps)
			fmt.Printf("round %d  %-26s %9.0f req/s\n", r+1, tool.name, rps)
		}
	}
	fmt.Println()
	medians := make([]float64, len(tools))
	for i, tool := range tools {
		medians[i] = median(results[i])
		fmt.Printf("median  %-26s %9.0f req/s   %s\n", tool.name, medians[i], fmtAll(results[i]))
	}
	fmt.Printf("\nhey in-process / hey CLI = %.2f (target >= 0.9)\n", medians[0]/medians[1])
	fmt.Printf("load engine / wrk        = %.2f (target >= 0.9)\n", medians[3]/medians[2])
	fmt.Printf("load engine / hey CLI    = %.2f\n\n", medians[3]/medians[1])

	return gateBench(binary, kubeconfig, namespace)
}

func heyInProcess(url string, d time.Duration, c int) (float64, error) {
	cmd, err := heycmd.Parse([]string{"-z", d.String(), "-c", strconv.Itoa(c), url})
	if err != nil {
		return 0, err
	}
	s, err := heycmd.Run(context.Background(), cmd)
	if err != nil {
		return 0, err
	}
	return s.RPS, nil
}

// loadMaxRate schedules a backlog at a rate no server here can take (1M
// req/s for d/20, so 150,000 requests for d = 3s) with a timeout long enough
// that none expires: the workers then send back to back, and requests over
// the time it took to send them (Report.AchievedRate) is the engine's
// ceiling. With a short timeout the same overload would make every request
// expire, which is right for an open model but measures nothing.
func loadMaxRate(url string, d time.Duration, c int) (float64, error) {
	rep, err := load.Run(context.Background(), load.Config{
		URL: url, Rate: load.MaxRate, Duration: d / 20, Connections: c, Timeout: time.Minute,
	})
	if err != nil {
		return 0, err
	}
	if rep.Errors > 0 {
		return 0, fmt.Errorf("%d errors: %v", rep.Errors, rep.TransportErrors)
	}
	return rep.AchievedRate(), nil
}

func fromOutput(bin, pattern string, args ...string) (float64, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %v\n%s", bin, err, out)
	}
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s printed no %s:\n%s", bin, pattern, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// gateBench starts the loadtester binary, reads its idle memory, and
// checks a gate at 1,000 req/s.
func gateBench(binary, kubeconfig, namespace string) error {
	if binary == "" {
		dir, err := os.MkdirTemp("", "loadtester-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "loadtester")
		build := exec.Command("go", "build", "-trimpath", "-o", binary, "./cmd/loadtester")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/loadtester (run from the repository root): %v\n%s", err, out)
		}
	}
	setups := []struct {
		name string
		args []string
	}{{"no cluster (gates in memory)", nil}}
	if kubeconfig != "" {
		setups = append(setups, struct {
			name string
			args []string
		}{"ConfigMap gates, -kubeconfig", []string{"-kubeconfig", kubeconfig, "-namespace", namespace}})
	}
	for _, s := range setups {
		if err := gateBenchOne(binary, s.name, s.args); err != nil {
			return err
		}
	}
	return nil
}

func gateBenchOne(binary, name string, args []string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(binary, append([]string{"-port", port}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://127.0.0.1:" + port
	if err := waitHTTP(base + "/healthz"); err != nil {
		return err
	}
	body := `{"name":"podinfo","namespace":"bench"}`
	if resp, err := http.Post(base+"/gate/open", "application/json", strings.NewReader(body)); err != nil {
		return err
	} else if resp.Body.Close(); resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("gate open: %s", resp.Status)
	}
	time.Sleep(5 * time.Second)
	idle, idleAnon, err := memory(cmd.Process.Pid)
	if err != nil {
		return err
	}
	rep, err := load.Run(context.Background(), load.Config{
		URL: base + "/gate/check", Method: http.MethodPost, Body: []byte(body),
		Header: http.Header{"Content-Type": {"application/json"}},
		Rate:   1000, Duration: 10 * time.Second, Connections: 10, Timeout: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	busy, busyAnon, _ := memory(cmd.Process.Pid)
	fmt.Printf("loadtester binary, %s:\n", name)
	fmt.Printf("  idle RSS after start and one gate write: %.1f MiB, of which anonymous %.1f MiB (target < 40 MiB)\n", idle, idleAnon)
	fmt.Printf("  /gate/check at %.0f req/s for %v (%d sent, codes %v, %d errors): p50 %v  p90 %v  p99 %v  p99.9 %v  max %v (target p99 < 2ms)\n",
		rep.AchievedRate(), rep.Duration, rep.Requests, rep.StatusCodes, rep.Errors,
		rep.Latency.Quantile(0.5), rep.Latency.Quantile(0.9), rep.Latency.Quantile(0.99), rep.Latency.Quantile(0.999), rep.Latency.Max())
	fmt.Printf("  RSS after the gate load: %.1f MiB, of which anonymous %.1f MiB\n\n", busy, busyAnon)
	return nil
}

// memory reads a process's resident memory in MiB: all of it (VmRSS), and
// its anonymous part (heap, stacks). The rest are clean pages of the
// binary, which the kernel maps in 64 KiB windows when they are in the page
// cache, so that part depends on what else read the file recently.
func memory(pid int) (rss, anon float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range bytes.Lines(data) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "RssAnon:":
			anon = kb / 1024
		}
	}
	return rss, anon, nil
}

func freeAddr() (string, error) {
	port, err := stack.FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within 30s", url)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtAll(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func numCPU() int {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte("processor\t:"))
}
