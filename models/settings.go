package models

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/standinghq/standing/rules"
)

// Settings are an application's lifecycle and rule settings (SPEC section 7). The zero
// value is not valid: start from DefaultSettings.
type Settings struct {
	AutoBlockOnDecline              bool              `json:"auto_block_on_decline"`
	AutoBlockWorkflows              []string          `json:"auto_block_workflows"`
	EscalateTransactionsWhenFlagged bool              `json:"escalate_transactions_when_flagged"`
	SessionURLTemplate              string            `json:"session_url_template"`
	DefaultCurrency                 string            `json:"default_currency"`
	FXRates                         map[string]string `json:"fx_rates"`
	ReviewThreshold                 int               `json:"review_threshold"`
	DeclineThreshold                int               `json:"decline_threshold"`
	Rules                           RuleSettings      `json:"rules"`
	RetentionDays                   int               `json:"retention_days"`
	AMLRescanIntervalHours          int               `json:"aml_rescan_interval_hours"`
	ReverificationIntervalDays      int               `json:"reverification_interval_days"`
	// AMLMatchThreshold is the least name similarity that ongoing AML monitoring counts
	// as a hit, in (0, 1].
	AMLMatchThreshold float64 `json:"aml_match_threshold"`
	// Risk holds the weights of the risk signals.
	Risk RiskSettings `json:"risk"`
}

// RiskSettings are the weights of the risk signal types (settings risk.*), each from 1
// to 100; an entity's risk_score is min(100, the sum of its signals' weights).
type RiskSettings struct {
	SessionDeclined     int `json:"session_declined"`
	AMLHit              int `json:"aml_hit"`
	ListMatch           int `json:"list_match"`
	TransactionReview   int `json:"transaction_review"`
	TransactionDeclined int `json:"transaction_declined"`
	TransactionScore    int `json:"transaction_score"`
}

// Weights returns the settings as the rules' weights.
func (r RiskSettings) Weights() rules.RiskWeights {
	return rules.RiskWeights{SessionDeclined: r.SessionDeclined, AMLHit: r.AMLHit, ListMatch: r.ListMatch,
		TransactionReview: r.TransactionReview, TransactionDeclined: r.TransactionDeclined, TransactionScore: r.TransactionScore}
}

func defaultRiskSettings() RiskSettings {
	w := rules.DefaultRiskWeights()
	return RiskSettings{SessionDeclined: w.SessionDeclined, AMLHit: w.AMLHit, ListMatch: w.ListMatch,
		TransactionReview: w.TransactionReview, TransactionDeclined: w.TransactionDeclined, TransactionScore: w.TransactionScore}
}

// RuleSettings configure the built-in transaction rules.
type RuleSettings struct {
	LargeAmount             AmountRule `json:"large_amount"`
	Velocity                CountRule  `json:"velocity"`
	Volume                  WindowRule `json:"volume"`
	WatchlistedCounterparty ScoreRule  `json:"watchlisted_counterparty"`
}

// AmountRule matches a single amount at or above Amount (in the default currency).
type AmountRule struct {
	Amount string `json:"amount"`
	Score  int    `json:"score"`
}

// CountRule matches more than Count transactions within Window.
type CountRule struct {
	Count  int    `json:"count"`
	Window string `json:"window"`
	Score  int    `json:"score"`
}

// WindowRule matches a sum of amounts at or above Amount within Window.
type WindowRule struct {
	Amount string `json:"amount"`
	Window string `json:"window"`
	Score  int    `json:"score"`
}

// ScoreRule is a rule with only a score.
type ScoreRule struct {
	Score int `json:"score"`
}

// DefaultSettings returns the settings a new application starts with.
func DefaultSettings() Settings {
	return Settings{
		AutoBlockOnDecline:              false,
		AutoBlockWorkflows:              []string{},
		EscalateTransactionsWhenFlagged: true,
		SessionURLTemplate:              "https://verify.example.com/session/{session_id}",
		DefaultCurrency:                 "USD",
		FXRates:                         map[string]string{"USD": "1", "EUR": "1.08", "GBP": "1.27"},
		ReviewThreshold:                 60,
		DeclineThreshold:                85,
		Rules: RuleSettings{
			LargeAmount:             AmountRule{Amount: "10000", Score: 60},
			Velocity:                CountRule{Count: 10, Window: "1h", Score: 30},
			Volume:                  WindowRule{Amount: "50000", Window: "24h", Score: 40},
			WatchlistedCounterparty: ScoreRule{Score: 60},
		},
		RetentionDays:              365,
		AMLRescanIntervalHours:     24,
		ReverificationIntervalDays: 0,
		AMLMatchThreshold:          rules.DefaultAMLMatchThreshold,
		Risk:                       defaultRiskSettings(),
	}
}

var (
	currencyCode  = regexp.MustCompile(`^[A-Z]{3}$`)
	decimalString = regexp.MustCompile(`^[0-9]{1,18}(\.[0-9]{1,18})?$`)
)

// Validate checks every setting and returns the problems keyed by the setting's dotted
// name; an empty map means the settings are valid.
func (s Settings) Validate() map[string]string {
	problems := map[string]string{}
	if s.SessionURLTemplate == "" || !strings.Contains(s.SessionURLTemplate, "{session_id}") {
		problems["session_url_template"] = "must contain {session_id}"
	}
	if !currencyCode.MatchString(s.DefaultCurrency) {
		problems["default_currency"] = "must be a three-letter ISO 4217 code like USD"
	}
	for code, rate := range s.FXRates {
		if !currencyCode.MatchString(code) {
			problems["fx_rates."+code] = "keys must be three-letter ISO 4217 codes like EUR"
		} else if !decimalString.MatchString(rate) || strings.Trim(rate, "0.") == "" {
			problems["fx_rates."+code] = "must be a positive decimal string like \"1.08\""
		}
	}
	if _, ok := s.FXRates[s.DefaultCurrency]; !ok && problems["default_currency"] == "" {
		// The pair is inconsistent: name both, whichever of them the caller changed.
		problems["default_currency"] = fmt.Sprintf("has no rate in fx_rates: add %s to fx_rates", s.DefaultCurrency)
		problems["fx_rates"] = fmt.Sprintf("must have a rate for the default currency %s", s.DefaultCurrency)
	}
	for i, wf := range s.AutoBlockWorkflows {
		if strings.TrimSpace(wf) == "" {
			problems[fmt.Sprintf("auto_block_workflows.%d", i)] = "must not be empty"
		}
	}
	checkRange := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			problems[name] = fmt.Sprintf("must be between %d and %d", lo, hi)
		}
	}
	checkRange("review_threshold", s.ReviewThreshold, 0, 1000)
	checkRange("decline_threshold", s.DeclineThreshold, 0, 1000)
	if s.DeclineThreshold < s.ReviewThreshold {
		problems["decline_threshold"] = "must not be below review_threshold"
	}
	checkRange("rules.large_amount.score", s.Rules.LargeAmount.Score, 0, 1000)
	checkRange("rules.velocity.score", s.Rules.Velocity.Score, 0, 1000)
	checkRange("rules.velocity.count", s.Rules.Velocity.Count, 1, 1_000_000)
	checkRange("rules.volume.score", s.Rules.Volume.Score, 0, 1000)
	checkRange("rules.watchlisted_counterparty.score", s.Rules.WatchlistedCounterparty.Score, 0, 1000)
	checkRange("retention_days", s.RetentionDays, 0, 36500)
	checkRange("aml_rescan_interval_hours", s.AMLRescanIntervalHours, 0, 8760)
	checkRange("reverification_interval_days", s.ReverificationIntervalDays, 0, 3650)
	if !(s.AMLMatchThreshold > 0 && s.AMLMatchThreshold <= 1) {
		problems["aml_match_threshold"] = "must be a number above 0 and at most 1, like 0.92"
	}
	for name, w := range map[string]int{
		"risk.session_declined": s.Risk.SessionDeclined, "risk.aml_hit": s.Risk.AMLHit,
		"risk.list_match": s.Risk.ListMatch, "risk.transaction_review": s.Risk.TransactionReview,
		"risk.transaction_declined": s.Risk.TransactionDeclined, "risk.transaction_score": s.Risk.TransactionScore,
	} {
		checkRange(name, w, 1, rules.MaxRiskScore)
	}
	for name, amount := range map[string]string{
		"rules.large_amount.amount": s.Rules.LargeAmount.Amount,
		"rules.volume.amount":       s.Rules.Volume.Amount,
	} {
		if !decimalString.MatchString(amount) {
			problems[name] = "must be a non-negative decimal string like \"10000\""
		}
	}
	for name, window := range map[string]string{
		"rules.velocity.window": s.Rules.Velocity.Window,
		"rules.volume.window":   s.Rules.Volume.Window,
	} {
		if d, err := time.ParseDuration(window); err != nil || d <= 0 || d > 366*24*time.Hour {
			problems[name] = "must be a positive duration of at most 8784h like \"1h\" or \"24h\""
		}
	}
	return problems
}

// ProblemKeys returns the keys of a problems map in a stable order, for messages.
func ProblemKeys(problems map[string]string) []string {
	keys := make([]string, 0, len(problems))
	for k := range problems {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Value stores the settings as JSON.
func (s Settings) Value() (driver.Value, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// Scan reads stored settings over the defaults, so that a setting added after the row was
// written reads as its default rather than as a zero value.
func (s *Settings) Scan(src any) error {
	*s = DefaultSettings()
	var data []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		data = v
	case string:
		data = []byte(v)
	default:
		return fmt.Errorf("settings: cannot scan %T", src)
	}
	// json.Unmarshal adds to a map it is given: a stored fx_rates must replace the
	// default one, not be merged into it.
	var stored struct {
		FXRates map[string]string `json:"fx_rates"`
	}
	if err := json.Unmarshal(data, &stored); err != nil {
		return err
	}
	if stored.FXRates != nil {
		s.FXRates = nil
	}
	return json.Unmarshal(data, s)
}

// replacedWhole are the settings objects a patch replaces rather than merges: their keys
// are data (currency codes), not setting names.
var replacedWhole = map[string]bool{"fx_rates": true}

// inertSettings are the settings whose feature does not exist yet, with the reason a
// PATCH naming them is refused: a setting that is accepted must do something (SPEC
// section 6). A feature that gives one its effect removes it from here.
var inertSettings = map[string]string{}

// MergeSettings applies patch to current: objects are merged key by key (so
// {"rules": {"velocity": {"count": 5}}} changes one value), other values replace what
// they name. Unknown keys, nulls and wrong types are problems keyed by the setting's
// dotted name, and so is every rule Validate finds broken in the result.
func MergeSettings(current Settings, patch map[string]any) (Settings, map[string]string) {
	problems := map[string]string{}
	base := map[string]any{}
	raw, _ := json.Marshal(current)
	_ = json.Unmarshal(raw, &base)
	mergeInto(base, patch, "", problems)
	for name := range patch {
		if why, inert := inertSettings[name]; inert {
			problems[name] = why
		}
	}
	if len(problems) > 0 {
		return current, problems
	}
	merged, _ := json.Marshal(base)
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	var out Settings
	if err := dec.Decode(&out); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			problems[typeErr.Field] = "must be " + describeType(typeErr.Type.String())
		} else {
			problems["settings"] = err.Error()
		}
		return current, problems
	}
	if p := out.Validate(); len(p) > 0 {
		return current, p
	}
	return out, nil
}

func mergeInto(base, patch map[string]any, prefix string, problems map[string]string) {
	for k, v := range patch {
		name := prefix + k
		old, known := base[k]
		switch {
		case !known:
			problems[name] = "unknown setting"
		case v == nil:
			problems[name] = "must not be null"
		default:
			oldObj, oldIsObj := old.(map[string]any)
			newObj, newIsObj := v.(map[string]any)
			switch {
			case oldIsObj && newIsObj && !replacedWhole[name]:
				mergeInto(oldObj, newObj, name+".", problems)
			case oldIsObj && !newIsObj:
				problems[name] = "must be an object"
			default:
				base[k] = v
			}
		}
	}
}

func describeType(goType string) string {
	switch goType {
	case "int":
		return "a whole number"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "[]string":
		return "an array of strings"
	case "map[string]string":
		return "an object of strings"
	}
	return "of type " + goType
}

// UpdateSettings merges patch into an application's settings under its row lock and
// stores the result when it is valid; otherwise it returns the problems and stores
// nothing.
func (s *Store) UpdateSettings(ctx context.Context, appID string, patch map[string]any) (Settings, map[string]string, error) {
	var out Settings
	var problems map[string]string
	err := s.transaction(ctx, func(tx *txn) error {
		var app Application
		if err := forUpdate(tx).Where("id = ?", appID).Take(&app).Error; err != nil {
			return notFound(err, "application")
		}
		out, problems = MergeSettings(app.Settings, patch)
		if len(problems) > 0 {
			return nil
		}
		return tx.Model(&app).Updates(map[string]any{"settings": out, "updated_at": s.Now()}).Error
	})
	s.apiKeys.clear()
	return out, problems, err
}
