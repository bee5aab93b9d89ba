package formbuilder

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A consent receipt is what the visitor takes home: a compact JWS, signed
// with the installation's key (which the database does not hold), of the
// consent they gave and of the log entry that recorded it. Its claims
// follow the Kantara Initiative Consent Receipt Specification 1.1 where
// they fit; the "consentforms" claim names the entry, its hash and the
// text version. Whoever holds a receipt can later prove that the entry
// existed with exactly that hash, so an entry deleted or re-sealed by the
// database's operator shows (VerifyReceipt, Receipt.CheckEntry).

// ReceiptVersion is the Kantara version string of the receipts.
const ReceiptVersion = "KI-CR-v1.1.0"

// Kantara consent types. A box that was pre-ticked and never touched is
// not an explicit act of the visitor (Planet49), and its receipt says so.
const (
	ConsentTypeExplicit = "EXPLICIT"
	ConsentTypeImplicit = "IMPLICIT"
)

// Receipt is the claims set of a consent receipt.
type Receipt struct {
	Version          string              `json:"version"`
	Jurisdiction     string              `json:"jurisdiction"`
	ConsentTimestamp int64               `json:"consentTimestamp"`
	CollectionMethod string              `json:"collectionMethod"`
	ConsentReceiptID string              `json:"consentReceiptID"`
	Language         string              `json:"language"`
	PIIPrincipalID   string              `json:"piiPrincipalId"`
	PIIControllers   []ReceiptController `json:"piiControllers"`
	PolicyURL        string              `json:"policyUrl"`
	Services         []ReceiptService    `json:"services"`
	Sensitive        bool                `json:"sensitive"`
	SPICat           []string            `json:"spiCat"`
	// Issuer is the server's public URL and IssuedAt when it signed (JWT
	// iss and iat): the key must have been valid then.
	Issuer   string `json:"iss"`
	IssuedAt int64  `json:"iat"`
	// Entry is the consent log entry the receipt stands for.
	Entry ReceiptEntry `json:"consentforms"`
}

// ReceiptController is the controller (Kantara piiControllers), from the
// company data of the settings.
type ReceiptController struct {
	Controller string `json:"piiController"`
	Contact    string `json:"contact"`
	Address    string `json:"address"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
}

// ReceiptService is the consent as the visitor saw it: its label.
type ReceiptService struct {
	Service  string           `json:"service"`
	Purposes []ReceiptPurpose `json:"purposes"`
}

// ReceiptPurpose is what the consent allows (Kantara purposes).
type ReceiptPurpose struct {
	Purpose              string   `json:"purpose"`
	PurposeCategory      []string `json:"purposeCategory"`
	ConsentType          string   `json:"consentType"`
	PIICategory          []string `json:"piiCategory"`
	PrimaryPurpose       bool     `json:"primaryPurpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"thirdPartyDisclosure"`
	ThirdPartyName       string   `json:"thirdPartyName,omitempty"`
}

// ReceiptEntry names the log entry: its id and hash (what CheckEntry
// compares), and the fields a reader wants without the log at hand.
type ReceiptEntry struct {
	ID           int64  `json:"entry_id"`
	Hash         string `json:"entry_hash"`
	Time         string `json:"time"`
	Action       string `json:"action"`
	ConsentID    int64  `json:"consent_id"`
	VersionID    int64  `json:"version_id"`
	Version      int    `json:"version"`
	TextHash     string `json:"text_sha256"`
	InitialState bool   `json:"initial_state"`
	Interacted   bool   `json:"interacted"`
}

// ReceiptInput is what a receipt is made of.
type ReceiptInput struct {
	// Record is the stored entry (with its id and hash).
	Record *ConsentRecord
	// Version is the consent version the entry points at.
	Version *ConsentVersion
	// Company is the controller.
	Company CompanyData
	// Issuer is the server's public URL.
	Issuer string
	// Method is how the consent was collected, "form KEY" or "chat KEY"
	// (see CollectionMethod).
	Method string
	// Data are the labels of the fields the form asked for (piiCategory).
	Data []string
}

// CollectionMethod names a form or chat channel for a receipt.
func CollectionMethod(kind, key string) string { return kind + " " + key }

// NewReceipt returns the claims of the receipt of in.Record, signed at now.
func NewReceipt(in ReceiptInput, now time.Time) *Receipt {
	r, v := in.Record, in.Version
	consentType := ConsentTypeExplicit
	if r.PreTickedUntouched() {
		consentType = ConsentTypeImplicit
	}
	purpose := strings.TrimSpace(in.Company.Purposes)
	label := strings.TrimSpace(ParseLabel(v.Label).String())
	if purpose == "" {
		purpose = label
	}
	third := strings.TrimSpace(in.Company.ThirdParties)
	data := in.Data
	if data == nil {
		data = []string{}
	}
	return &Receipt{
		Version:          ReceiptVersion,
		Jurisdiction:     "EU",
		ConsentTimestamp: r.Time.Unix(),
		CollectionMethod: in.Method,
		ConsentReceiptID: ReceiptID(r.Hash),
		Language:         v.Language,
		PIIPrincipalID:   r.Subject,
		PIIControllers: []ReceiptController{{Controller: in.Company.Name, Contact: in.Company.Email,
			Address: in.Company.Address, Email: in.Company.Email}},
		PolicyURL: v.LinkURL,
		Services: []ReceiptService{{Service: label, Purposes: []ReceiptPurpose{{
			Purpose: purpose, PurposeCategory: []string{}, ConsentType: consentType, PIICategory: data,
			PrimaryPurpose: true, Termination: "until withdrawn", ThirdPartyDisclosure: third != "",
			ThirdPartyName: third,
		}}}},
		SPICat:   []string{},
		Issuer:   in.Issuer,
		IssuedAt: now.Unix(),
		Entry: ReceiptEntry{ID: r.ID, Hash: r.Hash, Time: r.Time.UTC().Format(time.RFC3339Nano), Action: r.Action,
			ConsentID: r.ConsentID, VersionID: r.VersionID, Version: r.VersionNo, TextHash: r.TextHash,
			InitialState: r.InitialState, Interacted: r.Interacted},
	}
}

// ReceiptID derives the receipt's UUID (an RFC 9562 version 8 UUID) from
// the entry's hash, so every copy of one entry's receipt has the same id.
func ReceiptID(entryHash string) string {
	sum := sha256.Sum256([]byte("consentforms/receipt/v1\n" + entryHash))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IssueReceipt signs the receipt of in with the key of ks valid at now.
func IssueReceipt(ks *KeySet, in ReceiptInput, now time.Time) (string, error) {
	k, err := ks.Signer(now)
	if err != nil {
		return "", Internal(err)
	}
	return SignJWS(k, TypeReceipt, NewReceipt(in, now))
}

// ReceiptFileName is the file name a receipt is offered for download as.
func ReceiptFileName(entryID int64) string {
	return fmt.Sprintf("consent-receipt-%d.jws", entryID)
}

// VerifyReceipt checks a receipt's signature against ks and that the key
// was valid when it signed, and returns its claims. EINVALID wrapping
// ErrSignature for any signature problem.
func VerifyReceipt(token string, ks *KeySet) (*Receipt, error) {
	payload, k, err := VerifyJWS(token, ks, TypeReceipt)
	if err != nil {
		return nil, err
	}
	var r Receipt
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&r); err != nil || r.Version != ReceiptVersion || r.Entry.ID <= 0 || r.Entry.Hash == "" {
		return nil, &Error{Code: EINVALID, Msg: M(MsgSigInvalid).With("problem", M(MsgSigNotReceipt)), Err: ErrSignature}
	}
	if at := time.Unix(r.IssuedAt, 0); !k.ValidAt(at) {
		return nil, &Error{Code: EINVALID, Err: ErrSignature, Msg: M(MsgSigInvalid).With("problem",
			M(MsgSigKeyPeriodReceipt, "key", k.ID, "from", k.NotBefore.Format(time.RFC3339), "until", validUntil(k),
				"at", at.UTC().Format(time.RFC3339)))}
	}
	return &r, nil
}

func validUntil(k SigningKey) string {
	if k.NotAfter.IsZero() {
		return "…"
	}
	return k.NotAfter.Format(time.RFC3339)
}

// CheckEntry compares the receipt with rec, the log's entry of the same
// id: nil when the log still holds exactly what the receipt was issued
// for, else an ECONFLICT error saying what differs ("entry differs").
func (r *Receipt) CheckEntry(rec *ConsentRecord) error {
	e := r.Entry
	var diffs []Msg
	diff := func(what MsgCode, log, receipt any) {
		diffs = append(diffs, M(MsgDiffItem, "log", fmt.Sprint(log), "receipt", fmt.Sprint(receipt)).With("what", M(what)))
	}
	if rec.Hash != e.Hash {
		diff(MsgDiffHash, rec.Hash, e.Hash)
	}
	if got := rec.ComputeHash(); got != rec.Hash {
		diffs = append(diffs, M(MsgDiffSelfHash))
	}
	if t := rec.Time.UTC().Format(time.RFC3339Nano); t != e.Time {
		diff(MsgDiffTime, t, e.Time)
	}
	if rec.Action != e.Action {
		diff(MsgDiffAction, rec.Action, e.Action)
	}
	if rec.ConsentID != e.ConsentID || rec.VersionID != e.VersionID || rec.VersionNo != e.Version {
		diff(MsgDiffVersion, fmt.Sprintf("%d/%d (v%d)", rec.ConsentID, rec.VersionID, rec.VersionNo),
			fmt.Sprintf("%d/%d (v%d)", e.ConsentID, e.VersionID, e.Version))
	}
	if rec.TextHash != e.TextHash {
		diff(MsgDiffTextHash, rec.TextHash, e.TextHash)
	}
	if rec.InitialState != e.InitialState || rec.Interacted != e.Interacted {
		diff(MsgDiffInitial, fmt.Sprintf("%v/%v", rec.InitialState, rec.Interacted),
			fmt.Sprintf("%v/%v", e.InitialState, e.Interacted))
	}
	if len(diffs) == 0 {
		return nil
	}
	all := diffs[0]
	for _, d := range diffs[1:] {
		all = M(MsgJoin).With("a", all).With("b", d)
	}
	return &Error{Code: ECONFLICT, Msg: M(MsgEntryDiffers, "id", strconv.FormatInt(e.ID, 10)).With("diffs", all)}
}
