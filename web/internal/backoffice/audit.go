package backoffice

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/gofiber/fiber/v2"
)

// The audit trail is written in one place: Audit, the middleware every
// state-changing staff route carries (admin UI and API alike). A handler
// says what it changed with Note; Audit appends it once the handler has
// succeeded. A handler that notes nothing still leaves a trace: a generic
// entry naming the route, so no change path can be forgotten (tests refuse
// such entries, so that each route describes its change properly).

const (
	localNotes     = "cf_audit_notes"
	localUnchanged = "cf_audit_unchanged"
)

// Note records a change c made, for Audit to append after the handler
// succeeded. ev needs Target and Action, and names what changed (TargetID,
// TargetName, Details); who, when and from where are filled in by Audit.
// A request may note several changes (a channel saved with a new consent).
func Note(c *fiber.Ctx, ev formbuilder.AuditEvent) {
	notes, _ := c.Locals(localNotes).([]formbuilder.AuditEvent)
	c.Locals(localNotes, append(notes, ev))
}

// Unchanged says that this successful request changed nothing (a page
// re-rendered with the template filled in, a preview): Audit writes no
// entry for it.
func Unchanged(c *fiber.Ctx) { c.Locals(localUnchanged, true) }

// Audit is the middleware of every state-changing staff route: after a
// successful answer (no error, status below 400) it appends what the
// handler noted, as the request's principal, with the client's address.
// Refused and failed requests change nothing and leave no entry. A failure
// to append is logged: the change itself has been made and its answer
// stands.
func (o *Office) Audit(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	if c.Response().StatusCode() >= 400 {
		return nil
	}
	notes, _ := c.Locals(localNotes).([]formbuilder.AuditEvent)
	if len(notes) == 0 {
		if c.Locals(localUnchanged) != nil {
			return nil
		}
		notes = []formbuilder.AuditEvent{{Target: formbuilder.AuditOther, Action: strings.ToLower(c.Method()),
			TargetName: c.Route().Path, Details: map[string]string{"path": c.Path()}}}
	}
	p := httpx.PrincipalOf(c)
	ip := o.base.ClientIP(c)
	if _, err := netip.ParseAddr(ip); err != nil {
		ip = ""
	}
	for _, ev := range notes {
		ev.UserID, ev.Actor, ev.Via, ev.IP = p.User.ID, p.User.Email, p.Via, ip
		if p.Token != nil {
			ev.TokenID = p.Token.ID
		}
		if err := o.svc.Audit.AppendAudit(c.UserContext(), &ev); err != nil {
			o.base.Log.Error("audit trail: append failed", "target", ev.Target, "action", ev.Action,
				"target_id", ev.TargetID, "err", err, "request_id", httpx.RequestID(c))
		}
	}
	return nil
}

// errNotYours answers an operator asking for a form or conversation that is
// not theirs as if it did not exist: they learn nothing about it.
func errNotYours(msg formbuilder.MsgCode) error {
	return formbuilder.NewError(formbuilder.ENOTFOUND, msg)
}

// CheckForm refuses form f to a principal who may not see its submissions
// (formbuilder.User.MaySeeForm).
func CheckForm(c *fiber.Ctx, f *formbuilder.Form) error {
	if p := httpx.PrincipalOf(c); p == nil || !p.User.MaySeeForm(f) {
		return errNotYours(formbuilder.MsgFormNotYours)
	}
	return nil
}

// VisibleForms keeps the forms of list the principal may see.
func VisibleForms(c *fiber.Ctx, list []*formbuilder.Form) []*formbuilder.Form {
	p := httpx.PrincipalOf(c)
	if p != nil && p.User.IsAdmin() {
		return list
	}
	out := []*formbuilder.Form{}
	for _, f := range list {
		if p != nil && p.User.MaySeeForm(f) {
			out = append(out, f)
		}
	}
	return out
}

// ConversationFilter limits f to what the principal may see: an
// operator's own channels and assignments.
func ConversationFilter(c *fiber.Ctx, f formbuilder.ConversationFilter) formbuilder.ConversationFilter {
	if p := httpx.PrincipalOf(c); p == nil || !p.User.IsAdmin() {
		f.OperatorID = -1
		if p != nil {
			f.OperatorID = p.User.ID
		}
	}
	return f
}

// VisibleChannels keeps the channels of list whose conversations the
// principal may see (for an operator: those they operate).
func VisibleChannels(c *fiber.Ctx, list []*formbuilder.Channel) []*formbuilder.Channel {
	p := httpx.PrincipalOf(c)
	if p != nil && p.User.IsAdmin() {
		return list
	}
	var out []*formbuilder.Channel
	for _, ch := range list {
		if p != nil && ch.HasOperator(p.User.ID) {
			out = append(out, ch)
		}
	}
	return out
}

// NoteForm notes a change of form f, or of one of its parts (target
// AuditField, AuditFormConsent, AuditWebhook, AuditEmail: the entry then
// names the form, and kv the part), whose version went from old to
// f.Version. kv are more details as key, value pairs.
func NoteForm(c *fiber.Ctx, target, action string, f *formbuilder.Form, old int, kv ...string) {
	d := map[string]string{"form_key": f.Key}
	if old > 0 && old != f.Version {
		d["old_version"], d["new_version"] = strconv.Itoa(old), strconv.Itoa(f.Version)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	Note(c, formbuilder.AuditEvent{Target: target, Action: action, TargetID: f.ID, TargetName: f.Name, Details: d})
}

// NoteConsent notes a change of consent co: a new one ("create", old 0), or
// an edit from version old to co.Current (the same number when the text
// did not change and no version was made), with the version's document.
func NoteConsent(c *fiber.Ctx, action string, co *formbuilder.Consent, old int) {
	d := map[string]string{"type": string(co.Type), "confirm_by_email": strconv.FormatBool(co.ConfirmByEmail)}
	if co.Current != nil {
		d["new_version"] = strconv.Itoa(co.Current.Number)
		d["text_hash"] = co.Current.Hash
		if doc := co.Current.Document; doc != nil {
			// Which file the label links to, by the hash it is served under.
			d["document"] = doc.SHA256
		}
	}
	if old > 0 {
		d["old_version"] = strconv.Itoa(old)
	}
	Note(c, formbuilder.AuditEvent{Target: formbuilder.AuditConsent, Action: action, TargetID: co.ID,
		TargetName: co.Name, Details: d})
}

// NoteChannel notes a change of chat channel ch.
func NoteChannel(c *fiber.Ctx, action string, ch *formbuilder.Channel) {
	d := map[string]string{"key": ch.Key, "warn_personal_data": strconv.FormatBool(ch.WarnPersonalData),
		"archived": strconv.FormatBool(ch.Archived)}
	if ch.ConsentID > 0 {
		d["consent_id"] = strconv.FormatInt(ch.ConsentID, 10)
	}
	Note(c, formbuilder.AuditEvent{Target: formbuilder.AuditChannel, Action: action, TargetID: ch.ID,
		TargetName: ch.Name, Details: d})
}

// NoteUser notes a change of user u; kv are details as key, value pairs.
func NoteUser(c *fiber.Ctx, action string, u *formbuilder.User, kv ...string) {
	d := map[string]string{"role": u.Role}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	Note(c, formbuilder.AuditEvent{Target: formbuilder.AuditUser, Action: action, TargetID: u.ID,
		TargetName: u.Email, Details: d})
}

// NoteToken notes a change of API token t: never its secret or hash.
func NoteToken(c *fiber.Ctx, action string, t *formbuilder.APIToken) {
	Note(c, formbuilder.AuditEvent{Target: formbuilder.AuditToken, Action: action, TargetID: t.ID,
		TargetName: t.Name, Details: t.AuditDetails()})
}

// NoteConversation notes a change of conversation conv (a reply, an
// assignment).
func NoteConversation(c *fiber.Ctx, action string, conv *formbuilder.Conversation, kv ...string) {
	d := map[string]string{"channel_id": strconv.FormatInt(conv.ChannelID, 10)}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	Note(c, formbuilder.AuditEvent{Target: formbuilder.AuditConversation, Action: action, TargetID: conv.ID, Details: d})
}

// WebhookHost is what the audit trail keeps of a webhook URL: its scheme
// and host. Paths and queries often carry the receiver's secret (chat
// tools' incoming webhooks do), which the trail must not spread.
func WebhookHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return u.Scheme + "://" + u.Host
}

// NoteSettings notes a save of the settings, naming what changed from old
// to st.
func NoteSettings(c *fiber.Ctx, old, st *formbuilder.Settings) {
	d := map[string]string{}
	pairs := []struct{ key, a, b string }{
		{"ip_mode", old.IPMode, st.IPMode},
		{"company_name", old.Company.Name, st.Company.Name},
		{"company_address", old.Company.Address, st.Company.Address},
		{"company_purposes", old.Company.Purposes, st.Company.Purposes},
		{"company_third_parties", old.Company.ThirdParties, st.Company.ThirdParties},
		{"company_email", old.Company.Email, st.Company.Email},
	}
	var changed []string
	for _, p := range pairs {
		if p.a != p.b {
			changed = append(changed, p.key)
		}
	}
	d["changed"] = strings.Join(changed, ", ")
	if old.IPMode != st.IPMode {
		d["old_ip_mode"], d["new_ip_mode"] = old.IPMode, st.IPMode
	}
	Note(c, formbuilder.AuditEvent{Target: formbuilder.AuditSettings, Action: "update", TargetName: "settings", Details: d})
}
