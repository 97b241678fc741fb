package stack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The metric backends other than Prometheus that tests run for the
// metric providers: InfluxDB (built from the module proxy) and Graphite
// (carbon-cache and graphite-web from Debian).

// InfluxDB is an influxd serving its HTTP API, Flux included, on
// 127.0.0.1, without authentication.
type InfluxDB struct {
	*Process
	URL string
}

// StartInfluxDB runs influxd with Flux enabled, its data and log in dir,
// and creates the database db (its Flux bucket is "<db>/autogen").
func StartInfluxDB(ctx context.Context, root, dir, db string) (*InfluxDB, error) {
	bin, err := Binary(root, "influxd")
	if err != nil {
		return nil, err
	}
	ports, err := FreePortRange(2)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "influxdb")
	cfg := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
  unix-socket-enabled = false
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
`, ports+1, filepath.Join(data, "meta"), filepath.Join(data, "data"), filepath.Join(data, "wal"), ports)
	conf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p, err := Start("influxd", filepath.Join(dir, "influxd.log"), bin, "-config", conf)
	if err != nil {
		return nil, err
	}
	i := &InfluxDB{Process: p, URL: fmt.Sprintf("http://127.0.0.1:%d", ports)}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = Poll(wctx, 100*time.Millisecond, func() error { return i.post(wctx, "/query", url.Values{"q": {"CREATE DATABASE " + db}}, "") })
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("influxd did not get ready: %w", err)
	}
	return i, nil
}

// Write stores points in database db, in line protocol with timestamps in
// seconds ("requests,target=podinfo value=42 1700000000").
func (i *InfluxDB) Write(ctx context.Context, db string, lines ...string) error {
	return i.post(ctx, "/write", url.Values{"db": {db}, "precision": {"s"}}, strings.Join(lines, "\n"))
}

func (i *InfluxDB) post(ctx context.Context, path string, params url.Values, body string) error {
	u := i.URL + path + "?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	return nil
}

// Graphite is carbon-cache (plaintext protocol on LineAddress) with
// graphite-web's render API on URL, on 127.0.0.1, storing one point per
// second for an hour.
type Graphite struct {
	Carbon, Web *Process
	// URL of graphite-web, such as http://127.0.0.1:40123.
	URL string
	// LineAddress is carbon's plaintext listener, host:port.
	LineAddress string
}

// StartGraphite runs carbon-cache and graphite-web (gunicorn), with their
// data and logs in dir.
func StartGraphite(ctx context.Context, root, dir string) (*Graphite, error) {
	carbon, err := Binary(root, "carbon-cache")
	if err != nil {
		return nil, err
	}
	gunicorn, err := Binary(root, "gunicorn")
	if err != nil {
		return nil, err
	}
	base, err := FreePortRange(4)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(filepath.Join(dir, "graphite"))
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"whisper", "conf", "log", "carbon-log", "pid"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"conf/carbon.conf": fmt.Sprintf(`[cache]
STORAGE_DIR = %[1]s/
LOCAL_DATA_DIR = %[1]s/whisper/
CONF_DIR = %[1]s/conf/
LOG_DIR = %[1]s/carbon-log/
PID_DIR = %[1]s/pid/
DATABASE = whisper
ENABLE_LOGROTATION = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 10000
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = %[2]d
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = %[3]d
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = %[4]d
LOG_LISTENER_CONNECTIONS = False
`, dir, base, base+1, base+2),
		"conf/storage-schemas.conf": "[default]\npattern = .*\nretentions = 1s:1h\n",
		// graphite-web's settings module (GRAPHITE_SETTINGS_MODULE); no
		// render cache, so that a test sees new points at once
		"warbler_graphite.py": fmt.Sprintf(`SECRET_KEY = 'warbler-test'
GRAPHITE_ROOT = '/usr/share/graphite-web'
STORAGE_DIR = %[1]q
WHISPER_DIR = %[2]q
LOG_DIR = %[3]q
INDEX_FILE = %[4]q
CARBONLINK_HOSTS = ['127.0.0.1:%[5]d']
DEFAULT_CACHE_DURATION = 0
CACHES = {'default': {'BACKEND': 'django.core.cache.backends.dummy.DummyCache'}}
DATABASES = {'default': {'NAME': %[6]q, 'ENGINE': 'django.db.backends.sqlite3'}}
`, dir, filepath.Join(dir, "whisper")+"/", filepath.Join(dir, "log"), filepath.Join(dir, "index"), base+2, filepath.Join(dir, "graphite.db")),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	c, err := Start("carbon-cache", filepath.Join(dir, "carbon.out"), carbon, "--config="+filepath.Join(dir, "conf", "carbon.conf"), "--nodaemon", "start")
	if err != nil {
		return nil, err
	}
	g := &Graphite{Carbon: c, LineAddress: fmt.Sprintf("127.0.0.1:%d", base), URL: fmt.Sprintf("http://127.0.0.1:%d", base+3)}
	web := exec.Command(gunicorn, "--bind", fmt.Sprintf("127.0.0.1:%d", base+3), "--workers", "1", "graphite.wsgi:application")
	web.Env = append(os.Environ(), "PYTHONPATH="+dir, "GRAPHITE_SETTINGS_MODULE=warbler_graphite", "DJANGO_SETTINGS_MODULE=graphite.settings")
	if g.Web, err = startCmd("graphite-web", filepath.Join(dir, "graphite-web.log"), web); err != nil {
		c.Stop()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err = Poll(wctx, 200*time.Millisecond, func() error {
		conn, err := net.DialTimeout("tcp", g.LineAddress, time.Second)
		if err != nil {
			return err
		}
		conn.Close()
		resp, err := http.Get(g.URL + "/render?target=none&format=json")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("graphite-web: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		g.Stop()
		return nil, fmt.Errorf("graphite did not get ready: %w", err)
	}
	return g, nil
}

// Send writes points with carbon's plaintext protocol: "<path> <value>
// <unix seconds>" per line.
func (g *Graphite) Send(lines ...string) error {
	conn, err := net.DialTimeout("tcp", g.LineAddress, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write([]byte(strings.Join(lines, "\n") + "\n"))
	return err
}

// Stop stops graphite-web and carbon-cache.
func (g *Graphite) Stop() {
	if g.Web != nil {
		g.Web.Stop()
	}
	g.Carbon.Stop()
}

// GraphiteLine formats one plaintext-protocol line.
func GraphiteLine(path string, value float64, at time.Time) string {
	return path + " " + strconv.FormatFloat(value, 'f', -1, 64) + " " + strconv.FormatInt(at.Unix(), 10)
}
