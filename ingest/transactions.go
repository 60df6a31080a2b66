package ingest

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// maxTransactionIDLen bounds a transaction_id.
const maxTransactionIDLen = 200

func (s *server) transactionRoutes(r chi.Router) {
	r.Post("/", s.submitTransaction)
	r.Get("/", s.listTransactions)
	r.Get("/{uuid}/", s.getTransaction)
	r.Patch("/{uuid}/update-status/", s.reviewTransaction)
}

// transactionAccepted is the answer to a new transaction.
type transactionAccepted struct {
	UUID          string `json:"uuid"`
	TransactionID string `json:"transaction_id"`
	Status        string `json:"status"`
}

// submitTransaction stores a transaction for evaluation and answers 202; a
// transaction_id already stored answers 200 with the stored transaction.
func (s *server) submitTransaction(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	fromVendorTransaction(f)
	in := models.NewTransaction{Subject: models.Party{Kind: models.KindUser}}
	in.TransactionID = requiredText(f, "transaction_id", maxTransactionIDLen)
	in.Subject.VendorData = vendorDataField(f, "vendor_data")
	in.Subject.Kind = kindField(f, "subject_kind")
	if f.has("counterparty") {
		in.Counterparty = counterparty(f)
	}
	if a := f.String("amount"); a != nil {
		amount, err := rules.ParseAmount(*a)
		if err != nil {
			f.fail("amount", err.Error())
		}
		in.Amount = amount
	} else if f.has("amount") && f.problems["amount"] == "must be a string" {
		f.problems["amount"] = `must be a decimal string like "1500.00", not a JSON number (numbers lose cents)`
	} else {
		f.require("amount")
	}
	if c := f.String("currency"); c != nil {
		cur, err := rules.NormaliseCurrency(*c)
		if err != nil {
			f.fail("currency", err.Error())
		}
		in.Currency = cur
	} else {
		f.require("currency")
	}
	in.Direction = oneOf(f, "direction", []string{"inbound", "outbound"})
	in.TransactionAt = s.now()
	if at := f.String("transaction_at"); at != nil {
		t, err := time.Parse(time.RFC3339Nano, *at)
		switch {
		case err != nil:
			f.fail("transaction_at", "must be an RFC 3339 time like 2026-11-25T10:00:00Z")
		case t.Year() < 2000 || t.After(s.now().Add(maxEventFuture)):
			f.fail("transaction_at", "must be between 2000 and one day from now")
		default:
			in.TransactionAt = t
		}
	}
	in.Metadata = f.Object("metadata")
	if in.Counterparty != nil && *in.Counterparty == in.Subject {
		f.fail("counterparty", "must not be the subject itself")
	}
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, _, existing, err := s.store.SubmitTransaction(r.Context(), appFrom(r).ID, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if existing {
		writeJSON(w, http.StatusOK, t.Resource())
		return
	}
	writeJSON(w, http.StatusAccepted, transactionAccepted{UUID: t.ID, TransactionID: t.TransactionID, Status: t.Status})
}

// counterparty decodes the counterparty object {vendor_data, kind}.
func counterparty(f *fields) *models.Party {
	obj := f.Object("counterparty")
	if obj == nil {
		return nil
	}
	p := &models.Party{Kind: models.KindUser}
	vd, ok := obj["vendor_data"].(string)
	if !ok {
		f.fail("counterparty.vendor_data", "is required (a string)")
		return nil
	}
	v, msg := checkVendorData(vd)
	if msg != "" {
		f.fail("counterparty.vendor_data", msg)
	}
	p.VendorData = v
	if k, present := obj["kind"]; present {
		ks, ok := k.(string)
		if !ok || !models.ValidKind(ks) {
			f.fail("counterparty.kind", `must be "user" or "business"`)
		}
		p.Kind = ks
	}
	for key := range obj {
		if key != "vendor_data" && key != "kind" {
			f.fail("counterparty."+key, "unknown field")
		}
	}
	return p
}

func (s *server) getTransaction(w http.ResponseWriter, r *http.Request) {
	t, err := s.store.GetTransaction(r.Context(), appFrom(r).ID, chi.URLParam(r, "uuid"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t.Resource())
}

func (s *server) listTransactions(w http.ResponseWriter, r *http.Request) {
	page, problems := readPage(r)
	q := r.URL.Query()
	filter := models.TransactionFilter{VendorData: strings.TrimSpace(q.Get("vendor_data")), Status: strings.ToUpper(q.Get("status")),
		Limit: page.limit, Offset: page.offset}
	switch filter.Status {
	case "", rules.TxPending, rules.TxApproved, rules.TxInReview, rules.TxDeclined:
	default:
		problems["status"] = "must be one of PENDING, APPROVED, IN_REVIEW, DECLINED"
	}
	if len(problems) > 0 {
		s.writeError(w, r, invalidFields(problems))
		return
	}
	rows, total, err := s.store.ListTransactions(r.Context(), appFrom(r).ID, filter)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(r, page, total, resources(rows, (*models.Transaction).Resource)))
}

// reviewTransaction records an analyst's decision: IN_REVIEW → APPROVED or DECLINED.
func (s *server) reviewTransaction(w http.ResponseWriter, r *http.Request) {
	f, err := readObject(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if v, ok := f.raw["status"]; ok && strings.EqualFold(strings.Trim(string(v), `"`), "AWAITING_USER") {
		f.fail("status", "AWAITING_USER is a status of the vendor's API that Standing does not have: "+
			"an analyst decides a transaction IN_REVIEW with APPROVED or DECLINED")
	}
	status := oneOf(f, "status", []string{rules.TxApproved, rules.TxDeclined})
	actor := textField(f, "actor", maxActorLen)
	reason := textField(f, "reason", maxReasonLen)
	if err := f.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.store.ReviewTransaction(r.Context(), appFrom(r).ID, chi.URLParam(r, "uuid"), status, actor, reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t.Resource())
}
