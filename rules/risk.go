package rules

import "sort"

// Risk signal types (SPEC section 2).
const (
	SignalSessionDeclined     = "session_declined"
	SignalAMLHit              = "aml_hit"
	SignalListMatch           = "list_match"
	SignalTransactionReview   = "transaction_review"
	SignalTransactionDeclined = "transaction_declined"
	SignalTransactionScore    = "transaction_score"
)

// MaxRiskScore is the highest risk score.
const MaxRiskScore = 100

// MaxRiskSignals bounds the signals kept on an entity; the oldest go first. With every
// weight at least 1, that many signals already make the highest score.
const MaxRiskSignals = 100

// RiskWeights are the weights of the risk signal types (settings risk.*).
type RiskWeights struct {
	SessionDeclined     int
	AMLHit              int
	ListMatch           int
	TransactionReview   int
	TransactionDeclined int
	TransactionScore    int
}

// DefaultRiskWeights are the weights a new application starts with.
func DefaultRiskWeights() RiskWeights {
	return RiskWeights{SessionDeclined: 20, AMLHit: 40, ListMatch: 30,
		TransactionReview: 15, TransactionDeclined: 25, TransactionScore: 5}
}

// Weight returns the weight of a signal type; 0 for an unknown type.
func (w RiskWeights) Weight(signalType string) int {
	switch signalType {
	case SignalSessionDeclined:
		return w.SessionDeclined
	case SignalAMLHit:
		return w.AMLHit
	case SignalListMatch:
		return w.ListMatch
	case SignalTransactionReview:
		return w.TransactionReview
	case SignalTransactionDeclined:
		return w.TransactionDeclined
	case SignalTransactionScore:
		return w.TransactionScore
	}
	return 0
}

// RiskSignal is one reason an entity is risky: its type, the session, entry or
// transaction it comes from, when it was raised, its weight and what it was.
type RiskSignal struct {
	Type   string         `json:"type"`
	Source string         `json:"source"`
	At     string         `json:"at"`
	Weight int            `json:"weight"`
	Detail map[string]any `json:"detail"`
}

// RiskScore weighs signals with w and returns the score, min(100, sum of weights), and
// the signals with their weights set.
func RiskScore(signals []RiskSignal, w RiskWeights) (int, []RiskSignal) {
	out := make([]RiskSignal, len(signals))
	sum := 0
	for i, s := range signals {
		s.Weight = w.Weight(s.Type)
		sum += s.Weight
		out[i] = s
	}
	return min(MaxRiskScore, sum), out
}

// SetSignal returns signals with sig in place of the signal of the same type and
// source, or added, ordered by time (At, RFC 3339 UTC), type and source, so that the
// order never depends on the order changes arrived in; beyond MaxRiskSignals the oldest
// are dropped.
func SetSignal(signals []RiskSignal, sig RiskSignal) []RiskSignal {
	out := make([]RiskSignal, 0, len(signals)+1)
	for _, s := range signals {
		if s.Type != sig.Type || s.Source != sig.Source {
			out = append(out, s)
		}
	}
	out = append(out, sig)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.At != b.At {
			return a.At < b.At
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Source < b.Source
	})
	if len(out) > MaxRiskSignals {
		out = out[len(out)-MaxRiskSignals:]
	}
	return out
}

// RemoveSignals returns signals without those from source whose type is among types.
func RemoveSignals(signals []RiskSignal, source string, types ...string) []RiskSignal {
	out := make([]RiskSignal, 0, len(signals))
	for _, s := range signals {
		drop := false
		if s.Source == source {
			for _, t := range types {
				drop = drop || s.Type == t
			}
		}
		if !drop {
			out = append(out, s)
		}
	}
	return out
}

// TransactionSignal returns the signal type of a transaction in status with score: a
// decline, a review, or an approved transaction that some rule scored; "" for none.
func TransactionSignal(status string, score int) string {
	switch status {
	case TxDeclined:
		return SignalTransactionDeclined
	case TxInReview:
		return SignalTransactionReview
	case TxApproved:
		if score > 0 {
			return SignalTransactionScore
		}
	}
	return ""
}

// TransactionSignalTypes are the signal types a transaction can raise.
func TransactionSignalTypes() []string {
	return []string{SignalTransactionDeclined, SignalTransactionReview, SignalTransactionScore}
}

// IsListRule reports whether an audit rule id names a list match (an entry of a
// user/business list, or a blocklist match of a session's face, document, email or
// phone).
func IsListRule(rule string) bool {
	return rule == RuleBlocklist || rule == RuleWatchlist
}

// ListMatchSource names the entry behind a list-caused change from its audit inputs
// (entry_id), or the rule when the inputs name none.
func ListMatchSource(rule string, inputs map[string]any) string {
	if id, ok := inputs["entry_id"].(string); ok && id != "" {
		return id
	}
	return rule
}
