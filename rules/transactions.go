package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// Transaction statuses.
const (
	TxPending  = "PENDING"
	TxApproved = "APPROVED"
	TxInReview = "IN_REVIEW"
	TxDeclined = "DECLINED"
)

// Names of the built-in transaction rules, as they appear in matched_rules.
const (
	RuleLargeAmount             = "large_amount"
	RuleVelocity                = "velocity"
	RuleVolume                  = "volume"
	RuleWatchlistedCounterparty = "watchlisted_counterparty"
	RuleBlockedCounterparty     = "blocked_counterparty"
	RuleBlockedSubject          = "blocked_subject"
	RuleFlaggedSubject          = "flagged_subject"
)

// Reasons of transaction outcomes.
const (
	ReasonScore               = "score"
	ReasonCounterpartyBlocked = "counterparty_blocked"
	ReasonSubjectFlagged      = "entity_flagged"
)

// MicroUnits is the scale at which converted amounts are summed: amounts in the default
// currency are kept as whole millionths, so that sums in SQL are exact integers.
const MicroUnits = 6

var decimalAmount = regexp.MustCompile(`^[0-9]{1,18}(\.[0-9]{1,18})?$`)

// ParseAmount reads a decimal amount string: digits with an optional fraction, no sign,
// no exponent, greater than zero.
func ParseAmount(s string) (decimal.Decimal, error) {
	s = strings.TrimSpace(s)
	if !decimalAmount.MatchString(s) {
		return decimal.Decimal{}, errors.New(`must be a decimal string like "1500.00" (digits, an optional fraction, no sign)`)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, errors.New(`must be a decimal string like "1500.00"`)
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, errors.New("must be greater than 0")
	}
	return d, nil
}

// ErrUnknownCurrency means a currency has no rate in the fx_rates setting.
var ErrUnknownCurrency = errors.New("unknown currency")

// ErrAmountTooLarge means an amount converts to more than MaxAmount.
var ErrAmountTooLarge = errors.New("amount too large")

// MaxAmount is the largest amount, in the default currency, a transaction may have: one
// amount in whole millionths stays inside a 64-bit integer.
var MaxAmount = decimal.New(1, 12)

// ErrAmountTooSmall means an amount converts to less than one millionth of the default
// currency.
var ErrAmountTooSmall = errors.New("amount too small")

// Convert returns amount in currency expressed in the default currency, through rates
// (units of the default currency per unit of each currency), rounded half-up to
// MicroUnits decimals.
func Convert(amount decimal.Decimal, currency string, rates map[string]string) (decimal.Decimal, error) {
	raw, ok := rates[currency]
	if !ok {
		return decimal.Decimal{}, fmt.Errorf("%w %s: add its rate to the fx_rates setting", ErrUnknownCurrency, currency)
	}
	rate, err := decimal.NewFromString(raw)
	if err != nil || !rate.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("the fx_rates setting has an invalid rate for %s", currency)
	}
	converted := amount.Mul(rate).Round(MicroUnits)
	if !converted.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("%w: %s %s is less than 0.000001 in the default currency", ErrAmountTooSmall, amount, currency)
	}
	if converted.GreaterThan(MaxAmount) {
		return decimal.Decimal{}, fmt.Errorf("%w: %s %s is more than %s in the default currency", ErrAmountTooLarge, amount, currency, MaxAmount)
	}
	return converted, nil
}

// ToMicros returns a converted amount as whole millionths.
func ToMicros(d decimal.Decimal) int64 { return d.Shift(MicroUnits).IntPart() }

// FromMicros returns whole millionths as a decimal.
func FromMicros(n int64) decimal.Decimal { return decimal.New(n, -MicroUnits) }

// TxSettings are the settings transaction evaluation uses, parsed.
type TxSettings struct {
	ReviewThreshold, DeclineThreshold int
	EscalateWhenFlagged               bool
	LargeAmount                       decimal.Decimal
	LargeAmountScore                  int
	VelocityCount, VelocityScore      int
	VolumeAmount                      decimal.Decimal
	VolumeScore                       int
	WatchlistedScore                  int
}

// TxFacts are what evaluation knows about one transaction and its parties.
type TxFacts struct {
	// Amount in the default currency.
	Amount decimal.Decimal
	// WindowCount is the number of the subject's transactions in the velocity window
	// ending at this one, this one included.
	WindowCount int
	// WindowVolume is the sum of the subject's amounts (default currency) in the volume
	// window ending at this one, this one included.
	WindowVolume decimal.Decimal
	// SubjectStatus and CounterpartyStatus are the entities' statuses ("" for no
	// counterparty).
	SubjectStatus, CounterpartyStatus string
	// CounterpartyWatchlisted: the counterparty is on a watchlist.
	CounterpartyWatchlisted bool
	// TransactionUUID and TransactionID name the transaction, for the audit inputs.
	TransactionUUID, TransactionID string
	// SubjectAllowlisted: an allowlist names the subject, which the review flag spares
	// (AllowlistExempts); the transaction is still scored and reviewed.
	SubjectAllowlisted bool
}

// Match is one rule that matched, with its contribution to the score.
type Match struct {
	Rule   string `json:"rule"`
	Score  int    `json:"score"`
	Detail string `json:"detail"`
}

// TxDecision is the outcome of evaluating a transaction.
type TxDecision struct {
	Status  string
	Score   int
	Matched []Match
	Reason  string
	// Flag says the subject crossed the review threshold; Transition is then the
	// subject's move to FLAGGED (reason transaction_rule), when that raises its status.
	Flag       bool
	Transition *Transition
}

// EvaluateTransaction scores a transaction: the sum of the matching rules' scores gives
// APPROVED below the review threshold, IN_REVIEW from it, DECLINED from the decline
// threshold. A BLOCKED subject or counterparty declines it whatever the score (DECLINED
// wins over any other outcome); a FLAGGED subject escalates it to at least IN_REVIEW when
// escalation is on.
func EvaluateTransaction(f TxFacts, s TxSettings) TxDecision {
	var d TxDecision
	add := func(rule string, score int, detail string) {
		d.Matched = append(d.Matched, Match{Rule: rule, Score: score, Detail: detail})
		d.Score += score
	}
	if f.Amount.GreaterThanOrEqual(s.LargeAmount) {
		add(RuleLargeAmount, s.LargeAmountScore, fmt.Sprintf("amount %s is at least %s", f.Amount.String(), s.LargeAmount.String()))
	}
	if f.WindowCount > s.VelocityCount {
		add(RuleVelocity, s.VelocityScore, fmt.Sprintf("%d transactions in the window, more than %d", f.WindowCount, s.VelocityCount))
	}
	if f.WindowVolume.GreaterThanOrEqual(s.VolumeAmount) {
		add(RuleVolume, s.VolumeScore, fmt.Sprintf("volume %s in the window is at least %s", f.WindowVolume.String(), s.VolumeAmount.String()))
	}
	if f.CounterpartyWatchlisted {
		add(RuleWatchlistedCounterparty, s.WatchlistedScore, "the counterparty is on a watchlist")
	}
	d.Flag = d.Score >= s.ReviewThreshold
	switch {
	case d.Score >= s.DeclineThreshold:
		d.Status, d.Reason = TxDeclined, ReasonScore
	case d.Score >= s.ReviewThreshold:
		d.Status, d.Reason = TxInReview, ReasonScore
	default:
		d.Status = TxApproved
	}
	if f.SubjectStatus == EntityFlagged && s.EscalateWhenFlagged && d.Status == TxApproved {
		d.Matched = append(d.Matched, Match{Rule: RuleFlaggedSubject, Detail: "the subject is FLAGGED: at least IN_REVIEW"})
		d.Status, d.Reason = TxInReview, ReasonSubjectFlagged
	}
	if f.CounterpartyStatus == EntityBlocked {
		d.Matched = append(d.Matched, Match{Rule: RuleBlockedCounterparty, Detail: "the counterparty is BLOCKED: DECLINED"})
		d.Status, d.Reason = TxDeclined, ReasonCounterpartyBlocked
	}
	if f.SubjectStatus == EntityBlocked {
		d.Matched = append(d.Matched, Match{Rule: RuleBlockedSubject, Detail: "the subject is BLOCKED: DECLINED"})
		d.Status, d.Reason = TxDeclined, ReasonEntityBlocked
	}
	if d.Flag && Raises(f.SubjectStatus, EntityFlagged) && !AllowlistExempts(f.SubjectAllowlisted, ReasonTransactionRule) {
		d.Transition = &Transition{To: EntityFlagged, Reason: ReasonTransactionRule, Rule: RuleTransaction,
			Inputs: map[string]any{
				"transaction_uuid": f.TransactionUUID, "transaction_id": f.TransactionID, "score": d.Score,
				"matched_rules": append([]Match{}, d.Matched...), "status": d.Status,
				"review_threshold": s.ReviewThreshold,
			}}
	}
	return d
}

// ReviewTransition reports whether an analyst may move a transaction from current to
// target: only IN_REVIEW → APPROVED or DECLINED; APPROVED and DECLINED are final.
func ReviewTransition(current, target string) error {
	if target != TxApproved && target != TxDeclined {
		return errors.New("status must be APPROVED or DECLINED")
	}
	switch current {
	case TxInReview:
		return nil
	case TxPending:
		return errors.New("the transaction is still being evaluated")
	default:
		return fmt.Errorf("the transaction is %s, which is final", current)
	}
}
