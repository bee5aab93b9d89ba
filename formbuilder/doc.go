// Package formbuilder is the domain of consentforms: forms, fields, consents and
// their immutable versions, submissions, the consent log, validation, the one
// sanitising policy for admin-authored HTML, coded errors and the storage
// interfaces that the other packages implement or use.
//
// It imports neither Fiber nor database/sql, so that the rules of the product
// live in one place that every transport and every storage engine shares.
package formbuilder
