package rules

import (
	"errors"
	"strings"

	"github.com/biter777/countries"
	"github.com/nyaruka/phonenumbers"
)

// Normalisation of phones, countries and currencies goes through well-kept libraries:
// github.com/nyaruka/phonenumbers (a port of Google's libphonenumber, with its metadata
// of national prefixes such as the "(0)" of "+44 (0)20 …") and github.com/biter777/countries
// (ISO 3166-1 and ISO 4217 tables), rather than hand-written patterns that accept codes
// that do not exist.

// ErrPhone, ErrCountry and ErrCurrency describe values that are refused.
var (
	ErrPhone    = errors.New("must be a phone number in international form like +34 600 000 000")
	ErrCountry  = errors.New("must be an ISO 3166-1 country code like ESP or ES")
	ErrCurrency = errors.New("must be an ISO 4217 currency code like EUR")
)

// NormalisePhone returns a phone number in E.164 form (+ and digits): it must be in
// international form (a leading + or 00) and possible for its country's numbering plan.
func NormalisePhone(v string) (string, error) {
	v = strings.TrimSpace(v)
	if rest, ok := strings.CutPrefix(v, "00"); ok {
		v = "+" + rest
	}
	if !strings.HasPrefix(v, "+") || len(v) > 64 {
		return "", ErrPhone
	}
	n, err := phonenumbers.Parse(v, "")
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", ErrPhone
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// NormaliseCountry returns the ISO 3166-1 alpha-3 code of a country given by its alpha-3
// or alpha-2 code, in any letter case.
func NormaliseCountry(v string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(v))
	if len(code) != 2 && len(code) != 3 {
		return "", ErrCountry
	}
	c := countries.ByName(code)
	if !c.IsValid() || (c.Alpha2() != code && c.Alpha3() != code) {
		return "", ErrCountry
	}
	return c.Alpha3(), nil
}

// NormaliseCurrency returns the ISO 4217 alphabetic code of a currency, in any letter case.
func NormaliseCurrency(v string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(v))
	if len(code) != 3 {
		return "", ErrCurrency
	}
	c := countries.CurrencyCodeByName(code)
	if !c.IsValid() || c.Alpha() != code {
		return "", ErrCurrency
	}
	return code, nil
}
