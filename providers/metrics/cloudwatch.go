package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Keys of a cloudwatch template's Secret. Flagger names none: it takes
// credentials only from the pod (environment, web identity, instance
// role), which Warbler does too when the template has no secretRef.
const (
	awsAccessKeyID     = "aws_access_key_id"
	awsSecretAccessKey = "aws_secret_access_key"
	awsSessionToken    = "aws_session_token"
)

// cloudWatchMaxDatapoints is the MaxDatapoints of every GetMetricData
// call, as in Flagger.
const cloudWatchMaxDatapoints = 20

// cloudWatch is the "cloudwatch" provider: the query is the JSON array of
// MetricDataQueries that Flagger takes, sent with aws-sdk-go-v2's
// GetMetricData over the last ten metric intervals.
type cloudWatch struct {
	client *cloudwatch.Client
	region string
	now    func() time.Time
}

var _ windowQuerier = (*cloudWatch)(nil)

// awsRegion matches a region in a host name such as
// monitoring.eu-west-1.amazonaws.com.
var awsRegion = regexp.MustCompile(`(?:^|\.)([a-z]{2}(?:-[a-z]+)+-\d+)\.`)

func newCloudWatch(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	region, err := cloudWatchRegion(p)
	if err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if p.SecretRef != nil {
		keys := []string{awsAccessKeyID, awsSecretAccessKey, awsSessionToken + " (optional)"}
		id, err := secretValue(p, secret, awsAccessKeyID, keys...)
		if err != nil {
			return nil, err
		}
		key, err := secretValue(p, secret, awsSecretAccessKey, keys...)
		if err != nil {
			return nil, err
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, key, optionalSecretValue(secret, awsSessionToken))))
	}
	// LoadDefaultConfig reads the environment and the shared config files;
	// credentials are resolved on the first call.
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	client := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
		o.HTTPClient = &http.Client{Transport: newTransport(DefaultTimeout, p.InsecureSkipVerify), Timeout: DefaultTimeout}
		// Flagger's session retries three times
		o.RetryMaxAttempts = 3
		if p.Address != "" {
			o.BaseEndpoint = aws.String(p.Address)
		}
	})
	return &cloudWatch{client: client, region: region, now: d.now}, nil
}

// cloudWatchRegion is the template's region (Flagger's field), or the one
// in an address such as https://monitoring.eu-west-1.amazonaws.com.
func cloudWatchRegion(p flaggerv1.MetricTemplateProvider) (string, error) {
	if p.Region != "" {
		return p.Region, nil
	}
	if p.Address != "" {
		u, err := url.Parse(p.Address)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("provider address %q is not a URL", p.Address)
		}
		if m := awsRegion.FindStringSubmatch(u.Hostname()); m != nil {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("region not specified: set spec.provider.region (such as eu-west-1), or an address that names one, such as https://monitoring.eu-west-1.amazonaws.com")
}

func (c *cloudWatch) Query(ctx context.Context, q string) (float64, error) {
	return c.queryWindow(ctx, q, time.Minute)
}

// queryWindow sends the MetricDataQueries of q for the last ten intervals
// and returns the first value (CloudWatch sorts them newest first) of the
// one result with data. No result or no value wrap ErrNoValues; a query
// that is not a JSON array of MetricDataQuery, several results and queries
// CloudWatch rejects wrap ErrInvalidQuery.
func (c *cloudWatch) queryWindow(ctx context.Context, q string, interval time.Duration) (float64, error) {
	var queries []types.MetricDataQuery
	if err := json.Unmarshal([]byte(q), &queries); err != nil {
		return 0, fmt.Errorf("%w: cloudwatch query is not a JSON array of MetricDataQuery objects (Id, Expression, MetricStat, ReturnData…): %v", ErrInvalidQuery, err)
	}
	end := c.now()
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	out, err := c.client.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(end.Add(-flaggerWindows * interval)),
		EndTime:           aws.Time(end),
		MaxDatapoints:     aws.Int32(cloudWatchMaxDatapoints),
		MetricDataQueries: queries,
	})
	if err != nil {
		return 0, c.classify(err)
	}
	what := "cloudwatch " + c.region
	switch len(out.MetricDataResults) {
	case 0:
		return 0, fmt.Errorf("%w: %s: GetMetricData returned no results", ErrNoValues, what)
	case 1:
	default:
		ids := make([]string, len(out.MetricDataResults))
		for i, r := range out.MetricDataResults {
			ids[i] = aws.ToString(r.Id)
		}
		return 0, fmt.Errorf("%w (set \"ReturnData\": false on all but one query)", manySeries(what, len(ids), ids))
	}
	r := out.MetricDataResults[0]
	if len(r.Values) == 0 || math.IsNaN(r.Values[0]) {
		return 0, fmt.Errorf("%w: %s: result %s has no values in the window (status %s)", ErrNoValues, what, aws.ToString(r.Id), r.StatusCode)
	}
	return r.Values[0], nil
}

// classify sorts the SDK's errors: validation errors (400) are invalid
// queries, throttling is a ThrottledError, the rest provider errors.
func (c *cloudWatch) classify(err error) error {
	what := "cloudwatch " + c.region + ": GetMetricData"
	var re *awshttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case status == http.StatusTooManyRequests || code == "Throttling" || code == "ThrottlingException":
			return &ThrottledError{What: what, Msg: api.ErrorMessage()}
		case status == http.StatusBadRequest && code != "AccessDenied" && code != "AccessDeniedException":
			return fmt.Errorf("%w: %s: %s: %s", ErrInvalidQuery, what, code, api.ErrorMessage())
		default:
			return fmt.Errorf("%s: %d %s: %s", what, status, code, api.ErrorMessage())
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// IsOnline calls GetMetricData without queries, as Flagger does: a 400
// (the missing queries) proves the endpoint answers and the credentials
// are accepted; a 403 (no cloudwatch:GetMetricData permission) or a
// transport error means not online.
func (c *cloudWatch) IsOnline(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	_, err := c.client.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(time.Time{}), EndTime: aws.Time(time.Time{}), MetricDataQueries: []types.MetricDataQuery{},
	})
	if err == nil {
		return true, nil
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusBadRequest {
		var api smithy.APIError
		if !errors.As(err, &api) || (api.ErrorCode() != "AccessDenied" && api.ErrorCode() != "AccessDeniedException") {
			return true, nil
		}
	}
	return false, c.classify(err)
}
