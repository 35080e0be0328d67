package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Webhooks' routes: a project's owner adds, lists and deletes the URLs
// that hear of its runs' ends. The sending is webhook_send.go.

// recentDeliveries is how many deliveries of each hook the list shows.
const recentDeliveries = 10

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	project := r.PathValue("project")
	var req api.WebhookRequest
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	if _, err := s.ownProject(r.Context(), p.UserID, project, "add webhooks to"); err != nil {
		return err
	}
	if err := checkWebhook(r.Context(), req, s.cfg.WebhookAllowPrivate); err != nil {
		return err
	}
	h := store.Webhook{ID: newID("whk"), Project: project, URL: req.URL, Secret: req.Secret,
		CreatedBy: p.UserID, CreatedAt: s.cfg.Now().UTC()}
	if err := s.store.CreateWebhook(r.Context(), h); err != nil {
		return err
	}
	s.log.Info().Str("project", project).Str("webhook", h.ID).Msg("webhook added")
	writeJSON(w, http.StatusCreated, api.Created{ID: h.ID})
	return nil
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	project := r.PathValue("project")
	if _, err := s.ownProject(r.Context(), p.UserID, project, "list the webhooks of"); err != nil {
		return err
	}
	hooks, err := s.store.Webhooks(r.Context(), project)
	if err != nil {
		return err
	}
	ids := make([]string, len(hooks))
	for i, h := range hooks {
		ids[i] = h.ID
	}
	recent, err := s.store.RecentDeliveries(r.Context(), ids, recentDeliveries)
	if err != nil {
		return err
	}
	names := s.userNames(r.Context())
	out := api.WebhookList{Webhooks: make([]api.Webhook, 0, len(hooks))}
	for _, h := range hooks {
		hook := api.Webhook{ID: h.ID, URL: h.URL, CreatedBy: names.of(h.CreatedBy), CreatedAt: h.CreatedAt,
			Deliveries: make([]api.WebhookDelivery, 0, len(recent[h.ID]))}
		for _, d := range recent[h.ID] {
			hook.Deliveries = append(hook.Deliveries, apiDelivery(d))
		}
		out.Webhooks = append(out.Webhooks, hook)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func apiDelivery(d store.Delivery) api.WebhookDelivery {
	out := api.WebhookDelivery{ID: d.ID, Event: d.Event, State: string(d.State), Attempts: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt}
	if d.State == store.DeliveryPending {
		next := d.NextAt
		out.NextAttempt = &next
	}
	return out
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	project, id := r.PathValue("project"), r.PathValue("id")
	if _, err := s.ownProject(r.Context(), p.UserID, project, "delete the webhooks of"); err != nil {
		return err
	}
	err := s.store.DeleteWebhook(r.Context(), project, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "project %s has no webhook %s", project, id)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ownProject: the project exists (404) and the caller owns it (403,
// naming verb). Sharing, unsharing and webhooks all check it first.
func (s *Server) ownProject(ctx context.Context, callerID, project, verb string) (store.Project, error) {
	proj, err := s.store.Project(ctx, project)
	if errors.Is(err, store.ErrNotFound) {
		return proj, errorf(http.StatusNotFound, "no project %s", project)
	}
	if err != nil {
		return proj, err
	}
	if proj.OwnerID != callerID {
		return proj, errorf(http.StatusForbidden, "only the owner of project %s can %s it", project, verb)
	}
	return proj, nil
}

// checkWebhook refuses a hook the server should not call: not an http(s)
// URL, credentials in it, a secret too short to sign with, or, unless
// the operator allowed it, a host that is (or resolves to) a loopback,
// private, link-local or otherwise internal address: a hook is a request
// the server makes from inside the lab's network on a user's behalf. The
// sender checks every connection again (webhook_send.go), as a name may
// resolve elsewhere later.
func checkWebhook(ctx context.Context, req api.WebhookRequest, allowPrivate bool) error {
	if req.URL == "" || req.Secret == "" {
		return errorf(http.StatusBadRequest, `url and secret are required: {"url": "https://…", "secret": "…"}`)
	}
	if len(req.URL) > api.MaxWebhookURL {
		return errorf(http.StatusBadRequest, "url is longer than %d bytes", api.MaxWebhookURL)
	}
	if n := len(req.Secret); n < api.MinWebhookSecret || n > api.MaxWebhookSecret {
		return errorf(http.StatusBadRequest, "secret is %d bytes: use %d to %d random ones (e.g. openssl rand -hex 32)",
			n, api.MinWebhookSecret, api.MaxWebhookSecret)
	}
	if err := checkLine("secret", req.Secret, api.MaxWebhookSecret); err != nil {
		return err
	}
	u, err := url.Parse(req.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return errorf(http.StatusBadRequest, "url must be an http:// or https:// URL such as https://hooks.example/argus")
	case u.User != nil:
		return errorf(http.StatusBadRequest, "url holds credentials: leave them out (the signature proves the sender)")
	case u.Fragment != "":
		return errorf(http.StatusBadRequest, "url has a #fragment, which is never sent: leave it out")
	}
	if allowPrivate {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return errorf(http.StatusBadRequest, "url's host %s does not resolve: %v", u.Hostname(), dnsReason(err))
	}
	for _, a := range addrs {
		if internalAddr(a) {
			return errorf(http.StatusBadRequest, "url's host %s is %s, an internal address: hooks go to public addresses unless the server runs with --webhook-allow-private", u.Hostname(), a.Unmap())
		}
	}
	return nil
}

// internalAddr: an address a hook may not reach without
// --webhook-allow-private.
func internalAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() ||
		cgnat.Contains(a) // 100.64.0.0/10, carrier-grade NAT: internal in practice
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func dnsReason(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Err
	}
	return fmt.Sprint(err)
}
