package admin

import (
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/backoffice"
	"github.com/gofiber/fiber/v2"
)

// The delivery settings of a form: its webhooks and notification addresses,
// "send test", and the delivery log. Receivers are part of the form
// (Form.Notifications), so every change goes through UpdateForm with the
// page's version, like the rest of the form editor: acting on list
// positions of an outdated page would hit the wrong receiver.

// deliveriesView is the data of deliveries.html.
type deliveriesView struct {
	Form *formbuilder.Form
	// In holds what was typed into the add forms, shown again on errors.
	WebhookURL, WebhookSecret, Email string
	SMTPConfigured                   bool
	// AllowPrivate says that webhooks may name non-public addresses.
	AllowPrivate bool
	// MailsWaiting counts e-mail messages held back without SMTP.
	MailsWaiting int
	Attempts     []*formbuilder.DeliveryAttempt
	Queue        []*formbuilder.OutboxMessage
}

// deliveriesURL is the page's address with a confirmation message.
func deliveriesURL(id int64, msg, anchor string) string {
	u := "/admin/forms/" + strconv.FormatInt(id, 10) + "/deliveries"
	if msg != "" {
		u += "?msg=" + msg
	}
	if anchor != "" {
		u += "#" + anchor
	}
	return u
}

// deliveryForm returns the form of :id for the delivery pages.
func (s *Server) deliveryForm(c *fiber.Ctx) (*formbuilder.Form, error) {
	if s.svc.Outbox == nil {
		return nil, formbuilder.NewError(formbuilder.ENOTFOUND, formbuilder.MsgDeliveriesOff)
	}
	return s.adminForm(c)
}

func (s *Server) handleDeliveries(c *fiber.Ctx) error {
	f, err := s.deliveryForm(c)
	if err != nil {
		return err
	}
	return s.renderDeliveries(c, fiber.StatusOK, f, &deliveriesView{}, &view{})
}

// renderDeliveries fills in the form's log and queue and renders the page.
func (s *Server) renderDeliveries(c *fiber.Ctx, status int, f *formbuilder.Form, dv *deliveriesView, v *view) error {
	ctx := c.UserContext()
	dv.Form = f
	dv.SMTPConfigured = s.cfg.SMTPConfigured
	dv.AllowPrivate = s.cfg.WebhookAllowPrivate
	var err error
	if dv.Attempts, err = s.svc.Outbox.ListAttempts(ctx, f.ID, 100); err != nil {
		return err
	}
	if dv.Queue, err = s.svc.Outbox.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: f.ID, Pending: true, Limit: 100}); err != nil {
		return err
	}
	if !dv.SMTPConfigured {
		for _, m := range dv.Queue {
			if m.Kind == formbuilder.DeliveryEmail {
				dv.MailsWaiting++
			}
		}
	}
	v.Title, v.Nav, v.Data = s.tr(c, "deliveries.title", "form", f.Name), "forms", dv
	return s.render(c, status, "deliveries", v)
}

// saveNotifications stores f with changed receivers. Field errors come back
// as input ids of the page (webhook-url, webhook-secret, email); other
// errors are returned as they are.
func (s *Server) saveNotifications(c *fiber.Ctx, f *formbuilder.Form) (map[string]formbuilder.Msg, error) {
	err := s.svc.Forms.UpdateForm(c.UserContext(), f)
	if err == nil {
		s.pages.Invalidate(f.Key)
		return nil, nil
	}
	if formbuilder.ErrorCode(err) != formbuilder.EINVALID {
		return nil, err
	}
	errs := map[string]formbuilder.Msg{}
	for k, m := range formbuilder.ErrorFieldMsgs(err) {
		switch {
		case k == "notifications.webhooks":
			errs["webhook-url"] = formbuilder.M(formbuilder.MsgMaxWebhooks, "max", strconv.Itoa(formbuilder.MaxWebhooks))
		case strings.HasPrefix(k, "notifications.webhooks.") && strings.HasSuffix(k, ".secret"):
			errs["webhook-secret"] = m
		case strings.HasPrefix(k, "notifications.webhooks."):
			errs["webhook-url"] = m
		case k == "notifications.emails":
			errs["email"] = formbuilder.M(formbuilder.MsgMaxAddresses, "max", strconv.Itoa(formbuilder.MaxNotifyEmails))
		case strings.HasPrefix(k, "notifications.emails."):
			errs["email"] = m
		}
	}
	if len(errs) == 0 {
		// Another part of the form is invalid (rows written by other
		// tools): say so rather than pretend the receiver was wrong.
		return nil, err
	}
	return errs, nil
}

// receiverIndex reads the 1-based :n of a receiver list of length n.
func receiverIndex(c *fiber.Ctx, n int) (int, error) {
	i, err := strconv.Atoi(c.Params("n"))
	if err != nil || i < 1 || i > n {
		return 0, fiber.ErrNotFound
	}
	return i - 1, nil
}

// staleDeliveries answers a post from an outdated page: nothing is saved.
func (s *Server) staleDeliveries(c *fiber.Ctx, f *formbuilder.Form) error {
	return s.renderDeliveries(c, fiber.StatusConflict, f, &deliveriesView{}, &view{Error: formbuilder.M(formbuilder.MsgStale)})
}

func (s *Server) handleWebhookAdd(c *fiber.Ctx) error {
	f, err := s.deliveryForm(c)
	if err != nil {
		return err
	}
	in := &deliveriesView{WebhookURL: strings.TrimSpace(c.FormValue("url")),
		WebhookSecret: strings.TrimSpace(c.FormValue("secret"))}
	if stale(c, f) {
		return s.staleDeliveries(c, f)
	}
	errs := map[string]formbuilder.Msg{}
	if in.WebhookURL == "" {
		errs["webhook-url"] = formbuilder.M(formbuilder.MsgRequired)
	} else if _, dup := f.Notifications.Webhook(in.WebhookURL); dup {
		errs["webhook-url"] = formbuilder.M(formbuilder.MsgWebhookTwice)
	} else if msg := formbuilder.WebhookTargetProblem(in.WebhookURL); !msg.IsZero() && !s.cfg.WebhookAllowPrivate {
		errs["webhook-url"] = msg
	}
	secret := in.WebhookSecret
	if secret == "" {
		// The usual case: a secret nobody has to invent.
		secret = formbuilder.NewWebhookSecret()
	}
	return s.addReceiver(c, f, in, errs, func() {
		f.Notifications.Webhooks = append(f.Notifications.Webhooks, formbuilder.Webhook{URL: in.WebhookURL, Secret: secret})
	}, "webhook-added", "webhooks", formbuilder.AuditWebhook, "host", backoffice.WebhookHost(in.WebhookURL))
}

// addReceiver finishes adding a receiver: unless errs already has
// messages it applies add to f and saves its notifications, then answers
// with the deliveries page showing the messages, or notes the change
// (target, details kv) and redirects to anchor with notice.
func (s *Server) addReceiver(c *fiber.Ctx, f *formbuilder.Form, in *deliveriesView, errs map[string]formbuilder.Msg,
	add func(), notice, anchor, target string, kv ...string) error {
	old := f.Version
	if len(errs) == 0 {
		add()
		var err error
		if errs, err = s.saveNotifications(c, f); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		fresh, err := s.adminForm(c)
		if err != nil {
			return err
		}
		return s.renderDeliveries(c, fiber.StatusUnprocessableEntity, fresh, in, &view{Errors: errs})
	}
	backoffice.NoteForm(c, target, "add", f, old, kv...)
	return c.Redirect(deliveriesURL(f.ID, notice, anchor), fiber.StatusSeeOther)
}

// without returns a new slice of s without its i-th element; s itself is
// left as it was.
func without[T any](s []T, i int) []T {
	return append(append([]T{}, s[:i]...), s[i+1:]...)
}

func (s *Server) handleWebhookSecret(c *fiber.Ctx) error {
	f, err := s.deliveryForm(c)
	if err != nil {
		return err
	}
	if stale(c, f) {
		return s.staleDeliveries(c, f)
	}
	i, err := receiverIndex(c, len(f.Notifications.Webhooks))
	if err != nil {
		return err
	}
	old := f.Version
	f.Notifications.Webhooks[i].Secret = formbuilder.NewWebhookSecret()
	if _, err := s.saveNotifications(c, f); err != nil {
		return err
	}
	backoffice.NoteForm(c, formbuilder.AuditWebhook, "new_secret", f, old,
		"host", backoffice.WebhookHost(f.Notifications.Webhooks[i].URL), "position", strconv.Itoa(i+1))
	return c.Redirect(deliveriesURL(f.ID, "webhook-secret", "webhook-"+strconv.Itoa(i+1)), fiber.StatusSeeOther)
}

func (s *Server) handleEmailAdd(c *fiber.Ctx) error {
	f, err := s.deliveryForm(c)
	if err != nil {
		return err
	}
	in := &deliveriesView{Email: strings.TrimSpace(c.FormValue("email"))}
	if stale(c, f) {
		return s.staleDeliveries(c, f)
	}
	errs := map[string]formbuilder.Msg{}
	switch {
	case in.Email == "":
		errs["email"] = formbuilder.M(formbuilder.MsgRequired)
	case !formbuilder.ValidEmail(in.Email):
		errs["email"] = formbuilder.M(formbuilder.MsgInvalidEmail)
	case f.Notifications.HasEmail(in.Email):
		errs["email"] = formbuilder.M(formbuilder.MsgEmailTwice)
	}
	return s.addReceiver(c, f, in, errs, func() {
		f.Notifications.Emails = append(f.Notifications.Emails, in.Email)
	}, "email-added", "emails", formbuilder.AuditEmail, "email", in.Email)
}

// handleReceiverDelete removes the n-th receiver of kind.
func (s *Server) handleReceiverDelete(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f, err := s.deliveryForm(c)
		if err != nil {
			return err
		}
		if stale(c, f) {
			return s.staleDeliveries(c, f)
		}
		n := &f.Notifications
		notice, anchor := "email-removed", "emails"
		old, target, detail := f.Version, formbuilder.AuditEmail, []string{}
		if kind == formbuilder.DeliveryWebhook {
			i, err := receiverIndex(c, len(n.Webhooks))
			if err != nil {
				return err
			}
			target, detail = formbuilder.AuditWebhook, []string{"host", backoffice.WebhookHost(n.Webhooks[i].URL)}
			n.Webhooks = without(n.Webhooks, i)
			notice, anchor = "webhook-removed", "webhooks"
		} else {
			i, err := receiverIndex(c, len(n.Emails))
			if err != nil {
				return err
			}
			detail = []string{"email", n.Emails[i]}
			n.Emails = without(n.Emails, i)
		}
		if _, err := s.saveNotifications(c, f); err != nil {
			return err
		}
		backoffice.NoteForm(c, target, "delete", f, old, detail...)
		return c.Redirect(deliveriesURL(f.ID, notice, anchor), fiber.StatusSeeOther)
	}
}

// handleReceiverTest queues a test delivery to the n-th receiver of kind.
func (s *Server) handleReceiverTest(kind string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f, err := s.deliveryForm(c)
		if err != nil {
			return err
		}
		if stale(c, f) {
			return s.staleDeliveries(c, f)
		}
		var target string
		audit, detail := formbuilder.AuditEmail, []string{}
		if kind == formbuilder.DeliveryWebhook {
			i, err := receiverIndex(c, len(f.Notifications.Webhooks))
			if err != nil {
				return err
			}
			target = f.Notifications.Webhooks[i].URL
			audit, detail = formbuilder.AuditWebhook, []string{"host", backoffice.WebhookHost(target)}
		} else {
			i, err := receiverIndex(c, len(f.Notifications.Emails))
			if err != nil {
				return err
			}
			target = f.Notifications.Emails[i]
			detail = []string{"email", target}
		}
		m := &formbuilder.OutboxMessage{FormID: f.ID, Kind: kind, Target: target}
		if err := s.svc.Outbox.EnqueueTest(c.UserContext(), m); err != nil {
			return err
		}
		backoffice.NoteForm(c, audit, "test", f, 0, append(detail, "message_id", strconv.FormatInt(m.ID, 10))...)
		return c.Redirect(deliveriesURL(f.ID, "test-queued", "log"), fiber.StatusSeeOther)
	}
}
