package backoffice

import (
	"context"
	"strconv"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
)

// Passwords as the admin UI and the API both handle them: one's own
// change, an admin's reset, the one-time password of a new user.

// MaxPasswordBytes bounds what is hashed or checked, so a megabyte
// password cannot make argon2 do extra work.
const MaxPasswordBytes = 1024

// OneTimePasswordLength is the length of generated passwords (new users,
// resets), which their owners are asked to change.
const OneTimePasswordLength = 16

// CheckPasswordChange returns the field errors of u changing their
// password from current to next: the current one must be right, the new
// one long enough and different.
func CheckPasswordChange(u *formbuilder.User, current, next string) map[string]formbuilder.Msg {
	errs := map[string]formbuilder.Msg{}
	switch {
	case len(current) > MaxPasswordBytes || password.Check(u.PasswordHash, current) != nil:
		errs["current_password"] = formbuilder.M(formbuilder.MsgWrongPassword)
	case len([]rune(next)) < password.MinLength:
		errs["new_password"] = formbuilder.M(formbuilder.MsgPasswordShort, "min", strconv.Itoa(password.MinLength))
	case len(next) > MaxPasswordBytes:
		errs["new_password"] = formbuilder.M(formbuilder.MsgTooLong)
	case next == current:
		errs["new_password"] = formbuilder.M(formbuilder.MsgPasswordSame)
	}
	return errs
}

// HashNewPassword returns a random one-time password and its hash.
func HashNewPassword() (pw, hash string, err error) {
	pw = password.Generate(OneTimePasswordLength)
	hash, err = password.Hash(pw)
	return pw, hash, formbuilder.Internal(err)
}

// SetPassword stores pw as user id's password and ends every session of
// theirs, so a password that leaked stops working everywhere at once.
func (o *Office) SetPassword(ctx context.Context, id int64, pw string) error {
	hash, err := password.Hash(pw)
	if err != nil {
		return formbuilder.Internal(err)
	}
	if err := o.svc.Users.UpdatePassword(ctx, id, hash); err != nil {
		return err
	}
	return o.svc.Sessions.DeleteUserSessions(ctx, id)
}

// ResetPassword gives active user u a random one-time password, ends their
// sessions and returns the password, to be shown once. ECONFLICT for a
// deactivated user.
func (o *Office) ResetPassword(ctx context.Context, u *formbuilder.User) (string, error) {
	if !u.Active() {
		return "", formbuilder.NewError(formbuilder.ECONFLICT, formbuilder.MsgUserDeactivated)
	}
	pw := password.Generate(OneTimePasswordLength)
	return pw, o.SetPassword(ctx, u.ID, pw)
}
