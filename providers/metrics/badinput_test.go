package metrics

import (
	"context"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// fullSecrets are Secrets with every key each type reads.
var fullSecrets = map[string]map[string][]byte{
	TypeDatadog:     {"datadog_api_key": []byte("a"), "datadog_application_key": []byte("b")},
	TypeNewRelic:    {"newrelic_account_id": []byte("1"), "newrelic_query_key": []byte("k")},
	TypeDynatrace:   {"dynatrace_token": []byte("t")},
	TypeGraphite:    {"username": []byte("u"), "password": []byte("p")},
	TypeInfluxDB:    {"token": []byte("t"), "org": []byte("o")},
	TypeStackdriver: {"project": []byte("p")},
	TypeSplunk:      {"sf_token_key": []byte("t")},
	TypeCloudWatch:  {"aws_access_key_id": []byte("a"), "aws_secret_access_key": []byte("b")},
}

// requiredKeys are the keys whose absence each type reports.
var requiredKeys = map[string][]string{
	TypeDatadog:     {"datadog_api_key", "datadog_application_key"},
	TypeNewRelic:    {"newrelic_account_id", "newrelic_query_key"},
	TypeDynatrace:   {"dynatrace_token"},
	TypeGraphite:    {"username", "password"},
	TypeInfluxDB:    {"token", "org"},
	TypeStackdriver: {"project"},
	TypeSplunk:      {"sf_token_key"},
	TypeCloudWatch:  {"aws_access_key_id", "aws_secret_access_key"},
}

func TestEveryMissingSecretKeyIsNamed(t *testing.T) {
	ref := &flaggerv1.LocalSecretReference{Name: "creds"}
	for typ, keys := range requiredKeys {
		for _, key := range keys {
			t.Run(typ+" without "+key, func(t *testing.T) {
				secret := map[string][]byte{}
				for k, v := range fullSecrets[typ] {
					if k != key {
						secret[k] = v
					}
				}
				secret["unrelated"] = []byte("x") // the Secret exists, with data
				_, err := New(flaggerv1.MetricTemplateProvider{Type: typ, Address: "http://127.0.0.1:9", Region: "eu-west-1", SecretRef: ref}, secret)
				checkErr(t, err, "provider error", typ+` provider: secret "creds" has no key "`+key+`"`)
			})
		}
		t.Run(typ+" with every key", func(t *testing.T) {
			if _, err := New(flaggerv1.MetricTemplateProvider{Type: typ, Address: "http://127.0.0.1:9", Region: "eu-west-1", SecretRef: ref}, fullSecrets[typ]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An unreachable address is a provider error that says so, for every
// type, from Query and from IsOnline; nothing passes.
func TestUnreachableAddressIsAProviderError(t *testing.T) {
	queries := map[string]string{
		TypeDatadog: "sum:x{*}", TypeNewRelic: "SELECT count(*) FROM T", TypeDynatrace: "builtin:x",
		TypeGraphite: "target=x", TypeInfluxDB: `from(bucket: "b") |> range(start: -1m)`, TypeStackdriver: "fetch x",
		TypeSplunk: "data('x').publish()", TypeCloudWatch: `[{"Id": "e1", "Expression": "1"}]`,
	}
	key := serviceAccountKey(t, func(*rsa.PublicKey) string { return "http://127.0.0.1:9" })
	for typ, q := range queries {
		t.Run(typ, func(t *testing.T) {
			secret := fullSecrets[typ]
			if typ == TypeStackdriver {
				secret = map[string][]byte{"project": []byte("p"), "serviceAccountKey": key}
			}
			p, err := New(flaggerv1.MetricTemplateProvider{Type: typ, Address: "http://127.0.0.1:9", Region: "eu-west-1",
				SecretRef: &flaggerv1.LocalSecretReference{Name: "creds"}}, secret)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _, err = Evaluate(ctx, p, "unreachable", q, Model{Interval: "1m"})
			checkErr(t, err, "provider error", "connection refused")
			if ok, err := p.IsOnline(ctx); ok || err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("IsOnline = %v, %v; want false and connection refused", ok, err)
			}
		})
	}
}

func TestKeptnQueries(t *testing.T) {
	for _, tc := range []struct {
		q     string
		want  keptnQuery
		error string
	}{
		{q: "keptnmetric/prod/errors", want: keptnQuery{kind: "KeptnMetric", namespace: "prod", name: "errors", timeframe: "1m", args: map[string]any{}}},
		{q: "KeptnMetrics/prod/errors", want: keptnQuery{kind: "KeptnMetric", namespace: "prod", name: "errors", timeframe: "1m", args: map[string]any{}}},
		{q: "analysis/prod/slo/5m/service=podinfo;Tier=Web", want: keptnQuery{kind: "Analysis", namespace: "prod", name: "slo", timeframe: "5m",
			args: map[string]any{"service": "podinfo", "Tier": "Web"}}},
		{q: "analyses/prod/slo", want: keptnQuery{kind: "Analysis", namespace: "prod", name: "slo", timeframe: "1m", args: map[string]any{}}},
		{q: "prod/errors", error: "is not keptnmetric/<namespace>/<name>"},
		{q: "metric/prod/errors", error: `the type "metric" is neither keptnmetric nor analysis`},
		{q: "analysis/prod/slo/five", error: `the timeframe "five" is not a Go duration`},
		{q: "analysis/prod/slo/5m/service", error: `argument "service" is not key=value`},
		{q: "keptnmetric/prod/errors/5m", error: "a keptnmetric takes no timeframe"},
	} {
		got, err := parseKeptnQuery(tc.q)
		if tc.error != "" {
			checkErr(t, err, "invalid query", tc.error)
			continue
		}
		if err != nil || got.kind != tc.want.kind || got.namespace != tc.want.namespace || got.name != tc.want.name ||
			got.timeframe != tc.want.timeframe || len(got.args) != len(tc.want.args) {
			t.Errorf("%s: %+v, %v; want %+v", tc.q, got, err, tc.want)
		}
		for k, v := range tc.want.args {
			if got.args[k] != v {
				t.Errorf("%s: arg %s = %v, want %v", tc.q, k, got.args[k], v)
			}
		}
	}
}
