package web

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
)

// The JSON API authenticates with bearer tokens only and never sets or reads
// cookies, so a browser's admin session can never be used against it
// (no CSRF surface) and API clients never receive a session.

//go:embed api_openapi.json
var openAPIDoc []byte

// apiTokenTouch bounds how often a token's last use is written.
const apiTokenTouch = time.Minute

const localToken = "cf_token"

// routesAPI registers the JSON API under /api/v1. The OpenAPI document is
// registered before the token check so tools can fetch it without a token;
// it describes the API and holds no data.
func (s *Server) routesAPI(app *fiber.App) {
	app.Use("/api", s.apiFrame)
	app.Get("/api/v1/openapi.json", s.handleOpenAPI)
	api := app.Group("/api/v1", s.requireToken)
	api.Get("/forms", s.apiListForms)
	api.Post("/forms", s.apiCreateForm)
	api.Get("/forms/:id", s.apiGetForm)
	api.Put("/forms/:id", s.apiUpdateForm)
	api.Post("/forms/:id/archive", s.apiArchiveForm)
	api.Get("/consents", s.apiListConsents)
	api.Post("/consents", s.apiCreateConsent)
	api.Get("/consents/:id", s.apiGetConsent)
	api.Put("/consents/:id", s.apiUpdateConsent)
	api.Get("/consents/:id/versions", s.apiListConsentVersions)
	api.Get("/users", s.apiListUsers)
}

// apiFrame sets the headers of every API answer and writes body-decoding
// errors (400, naming the field); every other error goes to handleError,
// which answers JSON for /api/ paths.
func (s *Server) apiFrame(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	err := c.Next()
	var bj *badJSON
	if errors.As(err, &bj) {
		return c.Status(fiber.StatusBadRequest).JSON(apiError{Error: apiErrorBody{
			Code: formbuilder.EINVALID, Message: bj.msg, Fields: bj.fields}})
	}
	return err
}

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(openAPIDoc)
}

// validAPIToken checks the shape of tokens made by `consentforms token
// create` ("cf_" and lower-case base32) before any lookup.
func validAPIToken(tok string) bool {
	if !strings.HasPrefix(tok, "cf_") || len(tok) < 16 || len(tok) > 128 {
		return false
	}
	for _, r := range tok[3:] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// requireToken authenticates Authorization: Bearer cf_… by the SHA-256 of
// the token, which is all storage keeps.
func (s *Server) requireToken(c *fiber.Ctx) error {
	h := strings.TrimSpace(c.Get(fiber.HeaderAuthorization))
	if h == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="consentforms"`)
		return formbuilder.Errorf(formbuilder.EUNAUTHORIZED,
			"an API token is required: send it as Authorization: Bearer cf_… (create one with `consentforms token create NAME`)")
	}
	invalid := func() error {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="consentforms", error="invalid_token"`)
		return formbuilder.Errorf(formbuilder.EUNAUTHORIZED, "the API token is not valid")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || !validAPIToken(tok) {
		return invalid()
	}
	ctx := c.UserContext()
	t, err := s.svc.Tokens.FindTokenByHash(ctx, hashToken(tok))
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return invalid()
	}
	if err != nil {
		return err
	}
	if now := s.now(); now.Sub(t.LastUsed) >= apiTokenTouch {
		if err := s.svc.Tokens.TouchToken(ctx, t.ID, now); err != nil {
			s.log.Warn("touch api token", "id", t.ID, "err", err)
		}
	}
	c.Locals(localToken, t)
	return c.Next()
}

// apiAuthor names the token in the author of consent versions.
func apiAuthor(c *fiber.Ctx) string {
	if t, ok := c.Locals(localToken).(*formbuilder.APIToken); ok {
		return "api:" + t.Name
	}
	return "api"
}

// badJSON is a body that could not be decoded; apiFrame answers it with 400.
type badJSON struct {
	msg    string
	fields map[string]string
}

func (e *badJSON) Error() string { return e.msg }

// maxJSONBody bounds API bodies below the app-wide limit; a form with the
// maximum of fields and options is far smaller.
const maxJSONBody = 512 << 10

// decodeJSON reads the body strictly into v: JSON content type, one value,
// no unknown fields, types as declared.
func decodeJSON(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(string(c.Request().Header.ContentType()))
	if !strings.HasPrefix(ct, fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send the body as application/json")
	}
	body := c.Body()
	if len(body) > maxJSONBody {
		return formbuilder.Errorf(formbuilder.ETOOLARGE, "the body is larger than %d bytes", maxJSONBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &badJSON{msg: "the body is empty; send a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonDecodeError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return &badJSON{msg: "the body has data after the JSON object"}
	}
	return nil
}

// jsonDecodeError turns encoding/json's errors into messages that name the
// field, without Go type names.
func jsonDecodeError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &badJSON{msg: "the body is not valid JSON (at byte " + strconv.FormatInt(se.Offset, 10) + ")"}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return &badJSON{msg: "the body must be a JSON object"}
		}
		msg := "must be " + jsonTypeName(te.Type)
		return &badJSON{msg: "invalid " + field + ": " + msg, fields: map[string]string{field: msg}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &badJSON{msg: "unknown field " + strconv.Quote(name),
			fields: map[string]string{name: "is not a known field"}}
	}
	return &badJSON{msg: "the body could not be read as JSON"}
}

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return "an object"
}

func (s *Server) apiListUsers(c *fiber.Ctx) error {
	users, err := s.svc.Users.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	if users == nil {
		users = []*formbuilder.User{}
	}
	return c.JSON(fiber.Map{"users": users})
}
