// Package consentforms is the root of the consentforms module: an embeddable
// form builder whose heart is a GDPR consent checkbox and an append-only,
// hash-chained consent log.
//
// The code lives in the packages below it (formbuilder, storage, widget, web,
// cmd/consentforms). This package holds only module-wide tests, such as the
// dependency floors in deps_test.go.
package consentforms
