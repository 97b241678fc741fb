package alerts_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/alerts"
	"github.com/warbler-dev/warbler/analysis"
)

func TestFlagsBindFlaggerNames(t *testing.T) {
	t.Setenv("SLACK_URL", "https://hooks.slack.invalid/from-env")
	t.Setenv("MSTEAMS_URL", "")
	var f alerts.Flags
	fs := flag.NewFlagSet("warbler", flag.ContinueOnError)
	f.Bind(fs)
	if err := fs.Parse([]string{"-slack-channel", "deploys", "-slack-proxy-url", "http://proxy:3128", "-alert-timeout", "2s"}); err != nil {
		t.Fatal(err)
	}
	want := alerts.Flags{SlackURL: "https://hooks.slack.invalid/from-env", SlackChannel: "deploys", SlackUser: "flagger",
		SlackProxyURL: "http://proxy:3128", Timeout: 2 * time.Second, RepeatInterval: alerts.DefaultRepeatInterval}
	if f != want {
		t.Errorf("flags %+v, want %+v", f, want)
	}
	for _, name := range []string{"slack-url", "slack-token", "slack-channel", "slack-user", "slack-proxy-url", "msteams-url", "msteams-proxy-url"} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag -%s is not bound", name)
		}
	}
}

// The flags reach the global notifier: -msteams-url wins over the Slack URL
// from the environment.
func TestFlagsChooseTheGlobalNotifier(t *testing.T) {
	teams := newReceiver(t)
	t.Setenv("SLACK_URL", "http://127.0.0.1:1/never")
	var f alerts.Flags
	fs := flag.NewFlagSet("warbler", flag.ContinueOnError)
	f.Bind(fs)
	if err := fs.Parse([]string{"-msteams-url", teams.URL + "/teams"}); err != nil {
		t.Fatal(err)
	}
	n := start(t, f, nil)
	n.Send(context.Background(), releaseCanary(), []analysis.Alert{promoted}, spec())
	if got := teams.next(t); got.Path != "/teams" || got.Body["@type"] != "MessageCard" {
		t.Errorf("global notifier posted %v to %s, want a Teams card", got.Body, got.Path)
	}
}
