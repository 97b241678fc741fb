package lifecycle

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// apiCount is the controller's API requests in a time window, from the API
// server's audit log, by "verb resource".
type apiCount struct {
	total int
	by    map[string]int
	files int
}

// countAudit counts the audit events of requests the controller sent (its
// User-Agent starts with "warbler/") that completed in [from, to). It reads
// audit.log and every file the API server rotated it into
// (audit-<time>.log; hack/stack.sh keeps 20 of 200 MB) and selects by the
// event's own time, so rotation during the window loses nothing. The old
// count skipped the first N lines of audit.log, which after a rotation is a
// new file with fewer lines: 0 requests at 2,000 canaries.
func countAudit(logDir string, from, to time.Time) (apiCount, error) {
	files, err := filepath.Glob(filepath.Join(logDir, "audit*.log"))
	if err != nil {
		return apiCount{}, err
	}
	c := apiCount{by: map[string]int{}}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.ModTime().Before(from) {
			continue // rotated before the window began
		}
		c.files++
		if err := c.add(f, from, to); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *apiCount) add(path string, from, to time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		// most lines are someone else's: skip them before decoding
		if !strings.Contains(string(line), `"userAgent":"warbler/`) {
			continue
		}
		var ev struct {
			Stage          string    `json:"stage"`
			Verb           string    `json:"verb"`
			StageTimestamp time.Time `json:"stageTimestamp"`
			ObjectRef      struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Stage != "ResponseComplete" ||
			ev.StageTimestamp.Before(from) || !ev.StageTimestamp.Before(to) {
			continue
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		c.total++
		c.by[ev.Verb+" "+res]++
	}
	return sc.Err()
}

// top lists the n most frequent "verb resource" pairs.
func (c apiCount) top(n int) string {
	keys := make([]string, 0, len(c.by))
	for k := range c.by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.by[keys[i]] > c.by[keys[j]] })
	var parts []string
	for i, k := range keys {
		if i == n {
			break
		}
		parts = append(parts, k+" "+itoa(c.by[k]))
	}
	return strings.Join(parts, ", ")
}
