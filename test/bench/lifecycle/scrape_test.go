package lifecycle

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sample is one line of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is a /metrics page, as samples.
type scrape []sample

// getMetrics reads a /metrics page. client may carry a client certificate
// (kube-controller-manager's secure port).
func getMetrics(client *http.Client, url string) (scrape, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

var plainHTTP = &http.Client{Timeout: 30 * time.Second}

// tlsClient is an HTTP client with the stack's admin certificate.
func tlsClient(cert tls.Certificate) *http.Client {
	// the components' serving certificates are self-signed; the bench only
	// reads their metrics on 127.0.0.1
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}, //nolint:gosec
	}}
}

// parseMetrics reads the text format: `name{a="b",c="d"} value [ts]`.
func parseMetrics(r io.Reader) (scrape, error) {
	var out scrape
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("bad metrics line %q", line)
			}
			s.name, rest = line[:i], strings.TrimSpace(line[j+1:])
			parseLabels(line[i+1:j], s.labels)
		} else {
			f := strings.Fields(line)
			if len(f) < 2 {
				return nil, fmt.Errorf("bad metrics line %q", line)
			}
			s.name, rest = f[0], f[1]
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseLabels(s string, into map[string]string) {
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return
		}
		key := strings.TrimSpace(s[:eq])
		i := eq + 2
		var val strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			val.WriteByte(s[i])
		}
		into[key] = val.String()
		s = strings.TrimLeft(s[min(i+1, len(s)):], ", ")
	}
}

// sum adds the samples of a name whose labels include match.
func (s scrape) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, x := range s {
		if x.name == name && matches(x.labels, match) {
			total += x.value
		}
	}
	return total
}

// byLabel sums the samples of a name per value of one label.
func (s scrape) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.name == name {
			out[x.labels[label]] += x.value
		}
	}
	return out
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// histogram is the buckets of a histogram summed over the series that
// match: upper bound → cumulative count.
type histogram map[float64]float64

func (s scrape) histogram(name string, match map[string]string) histogram {
	h := histogram{}
	for _, x := range s {
		if x.name != name+"_bucket" || !matches(x.labels, match) {
			continue
		}
		le, err := strconv.ParseFloat(x.labels["le"], 64)
		if err != nil {
			continue
		}
		h[le] += x.value
	}
	return h
}

// minus is the histogram of the observations made between two scrapes.
func (h histogram) minus(before histogram) histogram {
	out := histogram{}
	for le, n := range h {
		out[le] = n - before[le]
	}
	return out
}

func (h histogram) count() float64 { return h[math.Inf(1)] }

// quantile interpolates within the bucket that holds q, as PromQL's
// histogram_quantile does; NaN when the histogram is empty. A quantile in
// the +Inf bucket is the highest finite bound (a lower bound of the truth).
func (h histogram) quantile(q float64) float64 {
	total := h.count()
	if total == 0 {
		return math.NaN()
	}
	bounds := make([]float64, 0, len(h))
	for le := range h {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank, lower, below := q*total, 0.0, 0.0
	for _, le := range bounds {
		n := h[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			if n == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(n-below)
		}
		lower, below = le, n
	}
	return lower
}
