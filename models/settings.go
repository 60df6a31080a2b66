package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
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
	checkRange("retention_days", s.RetentionDays, 1, 36500)
	checkRange("aml_rescan_interval_hours", s.AMLRescanIntervalHours, 0, 8760)
	checkRange("reverification_interval_days", s.ReverificationIntervalDays, 0, 3650)
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
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		return json.Unmarshal(v, s)
	case string:
		return json.Unmarshal([]byte(v), s)
	default:
		return fmt.Errorf("settings: cannot scan %T", src)
	}
}
