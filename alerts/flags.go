package alerts

import (
	"flag"
	"os"
	"time"
)

// Flags configure the global notifier, which serves canaries without
// analysis.alerts, and how every alert is delivered. The notifier flags are
// Flagger's.
type Flags struct {
	// SlackURL is the incoming webhook of the global Slack notifier
	// (-slack-url, or SLACK_URL).
	SlackURL string
	// SlackToken, when set, is sent as a bearer token, for Slack's
	// chat.postMessage API (-slack-token, or SLACK_TOKEN).
	SlackToken string
	// SlackChannel and SlackUser name the channel and the bot
	// (-slack-channel, -slack-user; default "flagger").
	SlackChannel, SlackUser string
	// SlackProxyURL is an HTTP(S) proxy for Slack (-slack-proxy-url).
	SlackProxyURL string
	// MSTeamsURL is the incoming webhook of the global Microsoft Teams
	// notifier; it wins over Slack (-msteams-url, or MSTEAMS_URL).
	MSTeamsURL string
	// MSTeamsProxyURL is an HTTP(S) proxy for Teams (-msteams-proxy-url).
	MSTeamsProxyURL string

	// Timeout bounds one HTTP call to a receiver (-alert-timeout).
	Timeout time.Duration
	// RepeatInterval is how long an identical alert of the same canary
	// revision to the same provider is suppressed (-alert-repeat-interval);
	// zero means DefaultRepeatInterval, a negative value never suppresses.
	RepeatInterval time.Duration

	// QueueSize and Workers size the delivery queue and its workers; they
	// are not bound to flags. Zero means 256 and 4.
	QueueSize, Workers int
}

// Default delivery settings.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultRepeatInterval = time.Minute
	defaultQueueSize      = 256
	defaultWorkers        = 4
)

// Bind registers the flags on fs. Defaults come from SLACK_URL, SLACK_TOKEN
// and MSTEAMS_URL, as in Flagger.
func (f *Flags) Bind(fs *flag.FlagSet) {
	fs.StringVar(&f.SlackURL, "slack-url", os.Getenv("SLACK_URL"), "Slack incoming webhook URL of the global notifier, for canaries without analysis.alerts (or SLACK_URL)")
	fs.StringVar(&f.SlackToken, "slack-token", os.Getenv("SLACK_TOKEN"), "Slack bot token, sent as a bearer token (or SLACK_TOKEN)")
	fs.StringVar(&f.SlackChannel, "slack-channel", "", "Slack channel of the global notifier")
	fs.StringVar(&f.SlackUser, "slack-user", "flagger", "Slack user name of the global notifier")
	fs.StringVar(&f.SlackProxyURL, "slack-proxy-url", "", "HTTP(S) proxy for the global Slack notifier")
	fs.StringVar(&f.MSTeamsURL, "msteams-url", os.Getenv("MSTEAMS_URL"), "Microsoft Teams incoming webhook URL of the global notifier; wins over -slack-url (or MSTEAMS_URL)")
	fs.StringVar(&f.MSTeamsProxyURL, "msteams-proxy-url", "", "HTTP(S) proxy for the global Microsoft Teams notifier")
	fs.DurationVar(&f.Timeout, "alert-timeout", DefaultTimeout, "timeout of one call to an alert receiver")
	fs.DurationVar(&f.RepeatInterval, "alert-repeat-interval", DefaultRepeatInterval, "how long an identical alert of the same canary revision to the same provider is suppressed")
}

// withDefaults fills the zero values.
func (f Flags) withDefaults() Flags {
	if f.Timeout <= 0 {
		f.Timeout = DefaultTimeout
	}
	switch {
	case f.RepeatInterval == 0:
		f.RepeatInterval = DefaultRepeatInterval
	case f.RepeatInterval < 0:
		f.RepeatInterval = 0
	}
	if f.QueueSize <= 0 {
		f.QueueSize = defaultQueueSize
	}
	if f.Workers <= 0 {
		f.Workers = defaultWorkers
	}
	if f.SlackUser == "" {
		f.SlackUser = "flagger"
	}
	return f
}
