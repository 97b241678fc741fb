package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"time"

	"testing"

	"github.com/aws/smithy-go/encoding/cbor"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// cloudWatchAPI implements CloudWatch's GetMetricData as aws-sdk-go-v2
// speaks it: the Smithy RPC v2 CBOR protocol (POST
// /service/GraniteServiceVersion20100801/operation/GetMetricData,
// smithy-protocol: rpc-v2-cbor), signed with SigV4 for the "monitoring"
// service. The shapes are the SDK's (GetMetricDataInput, MetricDataQuery,
// GetMetricDataOutput); errors carry their type in "__type".
func cloudWatchAPI() *vendorAPI { return cloudWatchAPIIn("eu-west-1") }

// cloudWatchAPIIn is cloudWatchAPI for a region.
func cloudWatchAPIIn(region string) *vendorAPI {
	sigv4 := regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDWARBLER/\d{8}/` + region + `/monitoring/aws4_request, SignedHeaders=\S+, Signature=[0-9a-f]{64}$`)
	return &vendorAPI{
		headers: []string{"Smithy-Protocol", "Content-Type", "Accept", "X-Amz-Security-Token"},
		text:    cborText,
		check: func(r *http.Request, body []byte) *answer {
			switch {
			case r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/GetMetricData":
				return cloudWatchError(404, "UnknownOperationException", "unknown operation")
			case !sigv4.MatchString(r.Header.Get("Authorization")):
				return cloudWatchError(403, "IncompleteSignature", "bad signature: "+r.Header.Get("Authorization"))
			case r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor":
				return cloudWatchError(400, "SerializationException", "not rpc-v2-cbor")
			}
			v, err := cbor.Decode(body)
			m, ok := v.(cbor.Map)
			if err != nil || !ok {
				return cloudWatchError(400, "SerializationException", "the body is not a CBOR map")
			}
			if q, ok := m["MetricDataQueries"].(cbor.List); !ok || len(q) == 0 {
				return cloudWatchError(400, "ValidationError", "The parameter MetricDataQueries must contain at least 1 element")
			}
			return nil
		},
	}
}

func cloudWatchError(status int, typ, msg string) *answer {
	a := cborAnswer(status, cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + typ), "message": cbor.String(msg)})
	return &a
}

func cborAnswer(status int, v cbor.Map) answer {
	return answer{status: status, body: string(cbor.Encode(v)),
		header: http.Header{"Smithy-Protocol": {"rpc-v2-cbor"}, "Content-Type": {"application/cbor"}}}
}

// cloudWatchResult is one MetricDataResult.
func cloudWatchResult(id string, values ...float64) cbor.Value {
	ts, vs := cbor.List{}, cbor.List{}
	for i, v := range values {
		ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(contractNow.Add(-time.Duration(i) * time.Minute).Unix()))})
		vs = append(vs, cbor.Float64(v))
	}
	return cbor.Map{"Id": cbor.String(id), "Label": cbor.String(id), "StatusCode": cbor.String("Complete"), "Timestamps": ts, "Values": vs}
}

// cborText renders CBOR as JSON with sorted keys, timestamps (tag 1) in
// RFC 3339.
func cborText(b []byte) string {
	v, err := cbor.Decode(b)
	if err != nil {
		return fmt.Sprintf("(not CBOR: %v) %q", err, b)
	}
	out, _ := json.Marshal(cborPlain(v))
	return string(out)
}

func cborPlain(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Map:
		m := map[string]any{}
		for k, e := range v {
			m[k] = cborPlain(e)
		}
		return m
	case cbor.List:
		l := []any{}
		for _, e := range v {
			l = append(l, cborPlain(e))
		}
		return l
	case *cbor.Tag:
		if v.ID == 1 {
			if t, err := cbor.AsTime(v); err == nil {
				return t.UTC().Format(time.RFC3339)
			}
		}
		return cborPlain(v.Value)
	case cbor.Float64:
		if math.IsNaN(float64(v)) {
			return "NaN"
		}
		return float64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Uint:
		return uint64(v)
	case cbor.NegInt:
		return -int64(v)
	case cbor.String:
		return string(v)
	case cbor.Bool:
		return bool(v)
	default:
		return fmt.Sprint(v)
	}
}

func TestCloudWatchContract(t *testing.T) {
	// Flagger's documented example
	const q = `[
	  {"Id": "e1", "Expression": "m1 / m2", "Label": "ErrorRate"},
	  {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "MyKubernetesCluster", "MetricName": "ErrorCount",
	    "Dimensions": [{"Name": "appName", "Value": "{{ name }}.{{ namespace }}"}]}, "Period": 60, "Stat": "Sum", "Unit": "Count"}, "ReturnData": false},
	  {"Id": "m2", "MetricStat": {"Metric": {"Namespace": "MyKubernetesCluster", "MetricName": "RequestCount",
	    "Dimensions": [{"Name": "appName", "Value": "{{ name }}.{{ namespace }}"}]}, "Period": 60, "Stat": "Sum", "Unit": "Count"}, "ReturnData": false}
	]`
	cases := []contractCase{
		{name: "the newest value of the one result", query: q, want: 0.025,
			answer: cborAnswer(200, cbor.Map{"MetricDataResults": cbor.List{cloudWatchResult("e1", 0.025, 0.5)}, "Messages": cbor.List{}})},
		{name: "no values in the window", query: q, class: "no values", message: []string{"no values in the window"},
			answer: cborAnswer(200, cbor.Map{"MetricDataResults": cbor.List{cloudWatchResult("e1")}})},
		{name: "NaN is no values", query: q, class: "no values",
			answer: cborAnswer(200, cbor.Map{"MetricDataResults": cbor.List{cloudWatchResult("e1", math.NaN())}})},
		{name: "no results", query: q, class: "no values", answer: cborAnswer(200, cbor.Map{"MetricDataResults": cbor.List{}})},
		{name: "several results are refused", query: q, class: "invalid query", message: []string{"2 series", "e1, m1", `"ReturnData": false`},
			answer: cborAnswer(200, cbor.Map{"MetricDataResults": cbor.List{cloudWatchResult("e1", 1), cloudWatchResult("m1", 2)}})},
		{name: "a query that is not JSON", query: "m1 / m2", class: "invalid query", message: []string{"not a JSON array of MetricDataQuery"}},
		{name: "a query CloudWatch rejects", query: `[{"Id": "E1", "Expression": "m1 /"}]`, class: "invalid query", message: []string{"InvalidParameterValue", "Invalid metrics"},
			answer: *cloudWatchError(400, "InvalidParameterValue", "Invalid metrics: E1 is not a valid id")},
		{name: "throttled", query: q, class: "provider error", message: []string{"429 Too Many Requests", "Rate exceeded"},
			answer: *cloudWatchError(429, "Throttling", "Rate exceeded")},
		{name: "no permission", query: q, class: "provider error", message: []string{"AccessDenied"},
			answer: *cloudWatchError(403, "AccessDenied", "User is not authorized to perform: cloudwatch:GetMetricData")},
		{name: "online: no queries is a ValidationError", online: true},
	}
	runContract(t, "cloudwatch", cloudWatchAPI(), flaggerv1.MetricTemplateProvider{Type: "cloudwatch", Region: "eu-west-1", Address: "http://{server}",
		SecretRef: &flaggerv1.LocalSecretReference{Name: "aws"}},
		map[string][]byte{"aws_access_key_id": []byte("AKIDWARBLER"), "aws_secret_access_key": []byte("secret"), "aws_session_token": []byte("session-1")}, cases)

	t.Run("online fails without permission", func(t *testing.T) {
		api := cloudWatchAPI()
		api.next = *cloudWatchError(403, "AccessDenied", "not authorized")
		check := api.check
		api.check = func(r *http.Request, body []byte) *answer {
			if a := check(r, body); a != nil && a.status != 400 {
				return a
			}
			return nil
		}
		runContract(t, "cloudwatch-denied", api, flaggerv1.MetricTemplateProvider{Type: "cloudwatch", Address: "http://{server}", Region: "eu-west-1",
			SecretRef: &flaggerv1.LocalSecretReference{Name: "aws"}},
			map[string][]byte{"aws_access_key_id": []byte("AKIDWARBLER"), "aws_secret_access_key": []byte("secret")},
			[]contractCase{{name: "online", online: true, class: "provider error", message: []string{"403", "AccessDenied"},
				answer: *cloudWatchError(403, "AccessDenied", "not authorized")}})
	})
}
