package metrics

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// influxDB is the "influxdb" provider: the query is Flux, sent as Flagger's
// client sends it, POST /api/v2/query?org=<org> with "Authorization: Token
// <token>", and the annotated CSV answer is read here. InfluxDB 2.x, and
// 1.7+ with flux-enabled, serve this API.
type influxDB struct {
	ep  *endpoint
	org string
	now func() time.Time
}

const influxQueryPath = "/api/v2/query"

func newInfluxDB(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	if p.Address == "" {
		return nil, fmt.Errorf("provider address is empty; set it to the InfluxDB URL, such as http://influxdb.monitoring:8086")
	}
	creds := http.Header{}
	var org string
	if p.SecretRef != nil {
		// as in Flagger, a referenced Secret must hold both
		keys := []string{secretToken, "org"}
		token, err := secretValue(p, secret, secretToken, keys...)
		if err != nil {
			return nil, err
		}
		if org, err = secretValue(p, secret, "org", keys...); err != nil {
			return nil, err
		}
		creds.Set("Authorization", "Token "+token)
	}
	ep, err := vendorEndpoint(p, "", creds)
	if err != nil {
		return nil, err
	}
	return &influxDB{ep: ep, org: org, now: d.now}, nil
}

// influxRequest is the body of POST /api/v2/query: a Flux query and the
// CSV dialect of the answer (Flagger's client asks for the same).
type influxRequest struct {
	Query   string        `json:"query"`
	Type    string        `json:"type"`
	Dialect influxDialect `json:"dialect"`
}

type influxDialect struct {
	Annotations    []string `json:"annotations"`
	Delimiter      string   `json:"delimiter"`
	Header         bool     `json:"header"`
	CommentPrefix  string   `json:"commentPrefix"`
	DateTimeFormat string   `json:"dateTimeFormat"`
}

// Query runs the Flux query q and returns the _value of the first record
// of its one table, as Flagger does. No table, no record or an empty value
// wrap ErrNoValues (Flagger returns 0 for a query without records);
// several tables, a _value that is not a number and queries InfluxDB
// rejects wrap ErrInvalidQuery. Flagger accepts only doubles; integer
// results such as count() are read too.
func (i *influxDB) Query(ctx context.Context, q string) (float64, error) {
	body, _ := json.Marshal(influxRequest{Query: q, Type: "flux", Dialect: influxDialect{
		Annotations: []string{"datatype", "group", "default"}, Delimiter: ",", Header: true,
		CommentPrefix: "#", DateTimeFormat: "RFC3339",
	}})
	u := i.ep.base.String() + influxQueryPath
	if i.org != "" {
		u += "?" + url.Values{"org": {i.org}}.Encode()
	}
	what := fmt.Sprintf("influxdb %s: POST %s", i.ep.base, influxQueryPath)
	r, err := i.ep.do(ctx, http.MethodPost, u, body, "application/json", "application/csv")
	if err != nil {
		return 0, fmt.Errorf("influxdb %s: %w", i.ep.base, err)
	}
	if r.code/100 != 2 {
		// 2.x: {"code": "invalid", "message": …}; 1.x: {"error": …}
		var e struct{ Message, Error string }
		_ = json.Unmarshal(r.body, &e)
		return 0, httpError(what, r, e.Message+e.Error, i.now())
	}
	tables, err := readFluxCSV(r.body)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	switch len(tables) {
	case 0:
		return 0, fmt.Errorf("%w: %s: the query returned no records", ErrNoValues, what)
	case 1:
	default:
		names := make([]string, len(tables))
		for n, t := range tables {
			names[n] = t.key
		}
		return 0, manySeries(what, len(tables), names)
	}
	return tables[0].value(what)
}

// fluxTable is one table of an annotated CSV answer: its id, its group
// key and the _value of its first record.
type fluxTable struct {
	id, key  string
	datatype string
	first    string
}

func (t fluxTable) value(what string) (float64, error) {
	if t.first == "" {
		return 0, fmt.Errorf("%w: %s: the first record of %s has no _value", ErrNoValues, what, t.key)
	}
	switch t.datatype {
	case "double", "long", "unsignedLong":
	default:
		return 0, fmt.Errorf("%w: %s: _value is a %s (%q), not a number", ErrInvalidQuery, what, t.datatype, t.first)
	}
	v, err := strconv.ParseFloat(t.first, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: _value %q is not a number", ErrInvalidQuery, what, t.first)
	}
	if math.IsNaN(v) {
		return 0, fmt.Errorf("%w: %s: _value is NaN", ErrNoValues, what)
	}
	return v, nil
}

// fluxBlock is the schema of the records that follow it: the #datatype
// and #group annotations and the header.
type fluxBlock struct {
	datatypes, group, header []string
}

func (b fluxBlock) col(rec []string, name string) string {
	if i := slices.Index(b.header, name); i >= 0 && i < len(rec) {
		return rec[i]
	}
	return ""
}

// groupKey names a table by its group key columns, as
// "status=200,target=podinfo".
func (b fluxBlock) groupKey(rec []string) string {
	var kv []string
	for i, g := range b.group {
		if g != "true" || i >= len(b.header) || i >= len(rec) {
			continue
		}
		switch b.header[i] {
		case "result", "table", "_start", "_stop":
			continue
		}
		kv = append(kv, b.header[i]+"="+rec[i])
	}
	return "{" + strings.Join(kv, ",") + "}"
}

// readFluxCSV reads an annotated CSV answer: blocks of #datatype, #group
// and #default rows, a header row and records, whose "result" and "table"
// columns say which table a record belongs to. An error table (a header
// with an "error" column) is an error.
func readFluxCSV(body []byte) ([]fluxTable, error) {
	rd := csv.NewReader(bytes.NewReader(body))
	rd.FieldsPerRecord = -1
	var tables []fluxTable
	var b fluxBlock
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return tables, nil
		}
		if err != nil {
			return nil, fmt.Errorf("the answer is not annotated CSV: %w", err)
		}
		switch {
		case strings.HasPrefix(rec[0], "#datatype"):
			b = fluxBlock{datatypes: rec}
			continue
		case strings.HasPrefix(rec[0], "#group"):
			b.group = rec
			continue
		case strings.HasPrefix(rec[0], "#"):
			continue
		case b.header == nil:
			b.header = rec
			continue
		}
		if slices.Contains(b.header, "error") {
			return nil, fmt.Errorf("%w: %s", ErrInvalidQuery, b.col(rec, "error"))
		}
		vi := slices.Index(b.header, "_value")
		if vi < 0 {
			return nil, fmt.Errorf("%w: the result has no _value column (columns: %s)", ErrInvalidQuery, strings.Join(b.header[1:], ", "))
		}
		id := b.col(rec, "result") + "/" + b.col(rec, "table")
		if len(tables) > 0 && tables[len(tables)-1].id == id {
			continue // a later record of the same table
		}
		dt := ""
		if vi < len(b.datatypes) {
			dt = b.datatypes[vi]
		}
		tables = append(tables, fluxTable{id: id, key: b.groupKey(rec), datatype: dt, first: b.col(rec, "_value")})
	}
}

// IsOnline GETs /ping, which InfluxDB 1.x and 2.x answer with 204.
// Flagger instead queries a bucket named "default", which fails where
// there is none.
func (i *influxDB) IsOnline(ctx context.Context) (bool, error) {
	r, err := i.ep.do(ctx, http.MethodGet, i.ep.base.String()+"/ping", nil, "", "")
	if err != nil {
		return false, fmt.Errorf("influxdb %s: %w", i.ep.base, err)
	}
	if r.code/100 != 2 {
		return false, httpError(fmt.Sprintf("influxdb %s: GET /ping", i.ep.base), r, "", i.now())
	}
	return true, nil
}

func (i *influxDB) closeIdle() { i.ep.closeIdle() }

func (i *influxDB) multiline() {}
