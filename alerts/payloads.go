package alerts

import (
	"strings"
	"time"

	"github.com/warbler-dev/warbler/analysis"
)

// Provider types of AlertProvider.spec.type.
const (
	TypeSlack   = "slack"
	TypeMSTeams = "msteams"
	TypeDiscord = "discord"
	TypeRocket  = "rocket"
	TypeGChat   = "gchat"
	TypeWebhook = "webhook"
)

// Types lists the provider types.
func Types() []string {
	return []string{TypeSlack, TypeMSTeams, TypeDiscord, TypeRocket, TypeGChat, TypeWebhook}
}

// payloadFor shapes m for a provider type (one of Types; the generic
// webhook document for any other).
func payloadFor(typ string, m Message, channel, user string) any {
	switch typ {
	case TypeSlack, TypeDiscord, TypeRocket:
		// Discord and Rocket.Chat accept Slack's format (Discord on the
		// webhook URL + "/slack").
		return slackPayload(m, channel, user)
	case TypeMSTeams:
		return teamsPayload(m)
	case TypeGChat:
		return gchatPayload(m)
	}
	return webhookPayload(m)
}

// SlackMessage is Slack's incoming-webhook document.
type SlackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	Text        string            `json:"text,omitempty"`
	Attachments []SlackAttachment `json:"attachments"`
}

// SlackAttachment is one coloured block of a Slack message.
type SlackAttachment struct {
	// Color is "good" (info) or "danger" (warn, error).
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []SlackField `json:"fields,omitempty"`
}

// SlackField is a titled value of an attachment.
type SlackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func slackPayload(m Message, channel, user string) SlackMessage {
	a := SlackAttachment{Color: "good", AuthorName: m.Key(), Text: m.Text, MrkdwnIn: []string{"text"}}
	if m.Severity != analysis.SeverityInfo {
		a.Color = "danger"
	}
	for _, f := range m.Fields {
		a.Fields = append(a.Fields, SlackField(f))
	}
	return SlackMessage{Channel: channel, Username: user, IconEmoji: ":bird:", Attachments: []SlackAttachment{a}}
}

// teamsCard is Microsoft Teams' MessageCard.
type teamsCard struct {
	Type       string         `json:"@type"`
	Context    string         `json:"@context"`
	ThemeColor string         `json:"themeColor"`
	Summary    string         `json:"summary"`
	Sections   []teamsSection `json:"sections"`
}

type teamsSection struct {
	ActivityTitle    string      `json:"activityTitle"`
	ActivitySubtitle string      `json:"activitySubtitle"`
	Facts            []teamsFact `json:"facts,omitempty"`
}

type teamsFact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func teamsPayload(m Message) teamsCard {
	color := "0076D7"
	if m.Severity != analysis.SeverityInfo {
		color = "FF0000"
	}
	s := teamsSection{ActivityTitle: m.Key(), ActivitySubtitle: m.Text}
	for _, f := range m.Fields {
		s.Facts = append(s.Facts, teamsFact{Name: f.Title, Value: f.Value})
	}
	return teamsCard{Type: "MessageCard", Context: "http://schema.org/extensions", ThemeColor: color,
		Summary: m.Key() + ": " + m.Text, Sections: []teamsSection{s}}
}

// gchatPayload is a Google Chat card (cardsV2) with a text fallback.
func gchatPayload(m Message) map[string]any {
	widgets := []map[string]any{{"textParagraph": map[string]string{"text": m.Text}}}
	for _, f := range m.Fields {
		widgets = append(widgets, map[string]any{"decoratedText": map[string]string{"topLabel": f.Title, "text": f.Value}})
	}
	card := map[string]any{
		"header":   map[string]string{"title": m.Key(), "subtitle": strings.ToUpper(string(m.Severity))},
		"sections": []map[string]any{{"widgets": widgets}},
	}
	return map[string]any{"cardsV2": []map[string]any{{"cardId": "warbler-" + m.Key(), "card": card}}}
}

// WebhookPayload is the generic JSON document of the webhook type.
type WebhookPayload struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Phase     string `json:"phase"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	// Target is "<Kind>/<target>.<namespace>".
	Target       string `json:"target"`
	CanaryWeight int    `json:"canaryWeight"`
	FailedChecks int    `json:"failedChecks"`
	Threshold    int    `json:"threshold"`
	// LastFailedCheck is the newest failing check of the run.
	LastFailedCheck *WebhookCheck `json:"lastFailedCheck,omitempty"`
	Cluster         string        `json:"cluster,omitempty"`
	Timestamp       time.Time     `json:"timestamp"`
}

// WebhookCheck is a failing check in a WebhookPayload.
type WebhookCheck struct {
	Metric  string   `json:"metric"`
	Value   *float64 `json:"value,omitempty"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Verdict string   `json:"verdict"`
	Message string   `json:"message,omitempty"`
}

func webhookPayload(m Message) WebhookPayload {
	p := WebhookPayload{Name: m.Canary, Namespace: m.Namespace, Phase: m.Phase, Severity: string(m.Severity), Message: m.Text,
		Target: m.Target, CanaryWeight: m.Weight, FailedChecks: m.FailedChecks, Threshold: m.Threshold, Cluster: m.Cluster,
		Timestamp: m.Time.UTC()}
	if ch := m.LastFailed; ch != nil {
		p.LastFailedCheck = &WebhookCheck{Metric: ch.Metric, Value: ch.Value, Min: ch.Min, Max: ch.Max, Verdict: string(ch.Verdict), Message: ch.Message}
	}
	return p
}
