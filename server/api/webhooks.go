package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Webhooks: a project's owner registers URLs that the server POSTs to
// whenever a run of the project ends.

// Headers of a webhook delivery.
const (
	HeaderEvent     = "Argus-Event"
	HeaderDelivery  = "Argus-Delivery"
	HeaderSignature = "Argus-Signature"
	// EventRunFinished is the one event: a run ended (exited, stopped,
	// failed, cancelled or expired).
	EventRunFinished = "run.finished"
)

// Limits of a webhook.
const (
	MaxWebhookURL    = 2048
	MinWebhookSecret = 16
	MaxWebhookSecret = 256
)

// WebhookRequest is the body of POST /api/projects/{project}/webhooks.
type WebhookRequest struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// WebhookList answers GET /api/projects/{project}/webhooks: the hooks,
// never their secrets, each with its newest deliveries.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
}

// Webhook is one hook as its owner sees it.
type Webhook struct {
	ID         string            `json:"id"`
	URL        string            `json:"url"`
	CreatedBy  string            `json:"created_by"`
	CreatedAt  time.Time         `json:"created_at"`
	Deliveries []WebhookDelivery `json:"deliveries"`
}

// WebhookDelivery is one event sent, or being sent, to a hook.
type WebhookDelivery struct {
	ID          string     `json:"id"`
	Event       string     `json:"event"`
	State       string     `json:"state"` // pending, delivered, failed (given up)
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"` // while pending
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// RunFinished is the body of a run.finished delivery.
type RunFinished struct {
	Event    string   `json:"event"`
	Delivery string   `json:"delivery"`
	Run      Run      `json:"run"`
	Batch    BatchRef `json:"batch"`
}

// BatchRef names a run's batch in a delivery.
type BatchRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Project string `json:"project"`
}

// Signature is the Argus-Signature of body for a hook's secret:
// "sha256=" and the hex HMAC-SHA256 of the exact bytes.
func Signature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
