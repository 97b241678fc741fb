package metrics

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Provider types a MetricTemplate can name that Warbler runs.
const (
	TypePrometheus  = "prometheus"
	TypeHTTP        = "http"
	TypeLoadtest    = "loadtest"
	TypeDatadog     = "datadog"
	TypeCloudWatch  = "cloudwatch"
	TypeNewRelic    = "newrelic"
	TypeGraphite    = "graphite"
	TypeStackdriver = "stackdriver"
	TypeInfluxDB    = "influxdb"
	TypeDynatrace   = "dynatrace"
	TypeKeptn       = "keptn"
	TypeSplunk      = "splunk"
)

// flaggerOnlyTypes are the Flagger provider types Warbler accepts in
// manifests but does not run.
var flaggerOnlyTypes = []string{"externalmetrics"}

// Deps are what some provider types need beyond their template and Secret.
type Deps struct {
	// Kube reads KeptnMetrics and creates, reads and deletes Keptn
	// Analyses (the keptn provider). Its reads of unstructured objects
	// must go to the API server, as controller-runtime's client does by
	// default.
	Kube client.Client
	// Now is the clock of the time ranges sent to vendor APIs; time.Now
	// when nil.
	Now func() time.Time
}

func (d Deps) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// builder builds the provider of one type from its template, Secret data
// and Deps.
type builder func(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error)

// builders are the provider types Warbler runs.
var builders = map[string]builder{
	TypePrometheus:  newPrometheusFromTemplate,
	TypeHTTP:        newHTTPJSONFromTemplate,
	TypeLoadtest:    newLoadtestFromTemplate,
	TypeDatadog:     newDatadog,
	TypeCloudWatch:  newCloudWatch,
	TypeNewRelic:    newNewRelic,
	TypeGraphite:    newGraphite,
	TypeStackdriver: newStackdriver,
	TypeInfluxDB:    newInfluxDB,
	TypeDynatrace:   newDynatrace,
	TypeKeptn:       newKeptn,
	TypeSplunk:      newSplunk,
}

// SupportedTypes lists the provider types Warbler runs, sorted.
func SupportedTypes() []string { return sortedKeys(builders) }

// New builds the Provider a MetricTemplate describes, with no Deps (the
// keptn provider needs NewWithDeps). secret is the data of the Secret
// named by p.SecretRef, read from the template's namespace. Which keys a
// type reads is documented in docs/metrics.md; for prometheus, http and
// loadtest: "token" (a bearer token, which wins), or "username" and
// "password" (basic auth); for http also "headers" (one "Name: value" per
// line), and for loadtest "hmacKey", which signs each request as Warbler
// signs webhooks. New makes no request. Every call of the provider is
// bounded by DefaultTimeout (keptn Analyses by keptnAnalysisTimeout).
func New(p flaggerv1.MetricTemplateProvider, secret map[string][]byte) (Provider, error) {
	return NewWithDeps(p, secret, Deps{})
}

// NewWithDeps is New with what some types need beyond the template.
func NewWithDeps(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	if err := checkType(p.Type); err != nil {
		return nil, err
	}
	if p.SecretRef != nil && len(secret) == 0 {
		return nil, fmt.Errorf("%s provider: secret %q is referenced but no data was given for it", p.Type, p.SecretRef.Name)
	}
	prov, err := builders[p.Type](p, secret, d)
	if err != nil {
		return nil, fmt.Errorf("%s provider: %w", p.Type, err)
	}
	return prov, nil
}

func newPrometheusFromTemplate(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, _ Deps) (Provider, error) {
	header, err := templateHeader(p, secret)
	if err != nil {
		return nil, err
	}
	return NewPrometheus(PrometheusConfig{Address: p.Address, Header: header, InsecureSkipVerify: p.InsecureSkipVerify})
}

func newHTTPJSONFromTemplate(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, _ Deps) (Provider, error) {
	header, err := templateHeader(p, secret)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(endpointConfig{address: p.Address, header: header, insecure: p.InsecureSkipVerify})
	if err != nil {
		return nil, err
	}
	return &httpJSON{ep: ep}, nil
}

func newLoadtestFromTemplate(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, _ Deps) (Provider, error) {
	header, err := templateHeader(p, secret)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(endpointConfig{address: p.Address, header: header, insecure: p.InsecureSkipVerify, signKey: secret[secretHMACKey]})
	if err != nil {
		return nil, err
	}
	return &loadtest{ep: ep}, nil
}

func checkType(t string) error {
	valid := strings.Join(SupportedTypes(), ", ")
	switch {
	case slices.Contains(SupportedTypes(), t):
		return nil
	case t == "":
		return fmt.Errorf("metric template provider has no type; set spec.provider.type to one of %s", valid)
	case slices.Contains(flaggerOnlyTypes, t):
		return fmt.Errorf("provider type %q is a Flagger provider that Warbler does not run; supported types: %s", t, valid)
	default:
		return fmt.Errorf("unknown provider type %q; supported types: %s", t, valid)
	}
}

// templateHeader returns the template's headers plus the credentials of
// its Secret (prometheus, http and loadtest).
func templateHeader(p flaggerv1.MetricTemplateProvider, secret map[string][]byte) (http.Header, error) {
	creds, err := credentialHeader(secret, p.Type)
	if err != nil {
		if p.SecretRef != nil {
			err = fmt.Errorf("secret %q: %w", p.SecretRef.Name, err)
		}
		return nil, err
	}
	return mergeHeaders(p.Headers, creds), nil
}

// maxCached bounds a Cache; a cluster has few distinct providers.
const maxCached = 64

// Cache hands out providers built by NewWithDeps and keeps them, so that a tick
// reuses HTTP clients and their connections instead of building new ones
// for every check, as Flagger does. Entries are keyed by everything New
// reads (type, address, headers, TLS setting and the Secret's data), so a
// rotated Secret gives a new provider. The zero value is ready to use and
// safe for concurrent use.
type Cache struct {
	// Deps are given to every provider the Cache builds. Set them before
	// the first Get.
	Deps Deps

	mu      sync.Mutex
	entries map[[sha256.Size]byte]*cacheEntry
	clock   uint64
}

type cacheEntry struct {
	p        Provider
	lastUsed uint64
}

// Get returns the cached provider for p and secret, building it with New
// on first use. Errors are not cached.
func (c *Cache) Get(p flaggerv1.MetricTemplateProvider, secret map[string][]byte) (Provider, error) {
	key := cacheKey(p, secret)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	if e, ok := c.entries[key]; ok {
		e.lastUsed = c.clock
		return e.p, nil
	}
	prov, err := NewWithDeps(p, secret, c.Deps)
	if err != nil {
		return nil, err
	}
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]*cacheEntry{}
	}
	if len(c.entries) >= maxCached {
		c.evictOldest()
	}
	c.entries[key] = &cacheEntry{p: prov, lastUsed: c.clock}
	return prov, nil
}

// Len returns the number of cached providers.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) evictOldest() {
	var oldest [sha256.Size]byte
	var found *cacheEntry
	for k, e := range c.entries {
		if found == nil || e.lastUsed < found.lastUsed {
			oldest, found = k, e
		}
	}
	if found == nil {
		return
	}
	delete(c.entries, oldest)
	if ci, ok := found.p.(interface{ closeIdle() }); ok {
		ci.closeIdle()
	}
}

// cacheKey hashes what New reads. Fields are length-prefixed so that no
// two different inputs share an encoding; maps are hashed in key order.
func cacheKey(p flaggerv1.MetricTemplateProvider, secret map[string][]byte) [sha256.Size]byte {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	secretName := ""
	if p.SecretRef != nil {
		secretName = p.SecretRef.Name
	}
	field(p.Type)
	field(p.Address)
	field(p.Region)
	field(fmt.Sprint(p.InsecureSkipVerify))
	field(secretName)
	field(fmt.Sprint(len(p.Headers)))
	for _, k := range sortedKeys(p.Headers) {
		field(k)
		field(strings.Join(p.Headers[k], "\x00"))
	}
	field(fmt.Sprint(len(secret)))
	for _, k := range sortedKeys(secret) {
		field(k)
		field(string(secret[k]))
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
