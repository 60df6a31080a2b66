package rules

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Limits on profile values.
const (
	maxProfileText = 512
	maxProfileURL  = 2048
	// maxMatchedValue bounds a decision value matched against blocklists.
	maxMatchedValue = 512
)

var profilePhone = regexp.MustCompile(`^\+?[0-9][0-9 ().\-]{3,31}$`)

// NormaliseProfileValue trims and checks one profile field's value (from the API or from
// a session's decision) and returns the form stored.
func NormaliseProfileValue(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return v, errors.New("must not be empty; send null to clear it")
	}
	if strings.ContainsRune(v, 0) {
		return v, errors.New("must not contain NUL characters")
	}
	switch field {
	case "date_of_birth":
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return v, errors.New("must be a date in the form YYYY-MM-DD")
		}
		if d.Year() < 1900 {
			return v, errors.New("must be in 1900 or later")
		}
	case "nationality", "country_code":
		v = strings.ToUpper(v)
		if !alpha3Code.MatchString(v) {
			return v, errors.New("must be a three-letter ISO 3166-1 alpha-3 code like ESP")
		}
	case "email":
		addr, err := mail.ParseAddress(v)
		if err != nil || addr.Address != v {
			return v, errors.New("must be an e-mail address like ana@example.com")
		}
	case "phone":
		if !profilePhone.MatchString(v) {
			return v, errors.New("must be a phone number like +34 600 000 000")
		}
	case "portrait_image":
		if len(v) > maxProfileURL {
			return v, fmt.Errorf("must be at most %d characters", maxProfileURL)
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return v, errors.New("must be an http(s) URL")
		}
		return v, nil
	}
	if len(v) > maxProfileText {
		return v, fmt.Errorf("must be at most %d characters", maxProfileText)
	}
	return v, nil
}

// decisionProfile says which profile field each decision check reports, per entity kind.
var decisionProfile = map[string]map[string][]string{
	"user": {
		"id_verification": {"full_name", "date_of_birth", "document_number", "nationality", "portrait_image"},
		"phone":           {"phone"},
		"email":           {"email"},
	},
	"business": {
		"kyb_registry": {"legal_name", "registration_number", "country_code"},
	},
}

// DecisionFacts is what Standing reads from a session's decision.
type DecisionFacts struct {
	// Features maps each reported check to its status, in the session vocabulary.
	Features map[string]string
	// Profile holds the profile fields the decision reports for the entity's kind, raw.
	Profile map[string]string
	// FaceID, DocumentNumber, Email and Phone are matched against blocklists.
	FaceID, DocumentNumber, Email, Phone string
}

// ReadDecision reads a session decision: an object whose members are checks, each an
// object with a "status" and check-specific fields. Problems are keyed by dotted path
// (decision.liveness.status); a decision with problems must be refused.
func ReadDecision(kind string, decision map[string]any) (DecisionFacts, map[string]string) {
	facts := DecisionFacts{Features: map[string]string{}, Profile: map[string]string{}}
	problems := map[string]string{}
	for check, raw := range decision {
		path := "decision." + check
		obj, ok := raw.(map[string]any)
		if !ok {
			problems[path] = "must be an object"
			continue
		}
		if st, present := obj["status"]; present && st != nil {
			s, ok := st.(string)
			if !ok || !ValidSessionStatus(s) {
				problems[path+".status"] = "must be one of " + strings.Join(SessionStatuses(), ", ")
			} else {
				facts.Features[check] = s
			}
		}
		str := func(name string) string {
			v, _ := obj[name].(string)
			if obj[name] != nil {
				if _, ok := obj[name].(string); !ok {
					problems[path+"."+name] = "must be a string"
				}
			}
			return strings.TrimSpace(v)
		}
		for _, field := range decisionProfile[kind][check] {
			if v := str(field); v != "" {
				facts.Profile[field] = v
			}
		}
		// Matched against blocklists (and indexed): bounded like list values.
		bounded := func(name string) string {
			v := str(name)
			if len(v) > maxMatchedValue {
				problems[path+"."+name] = fmt.Sprintf("must be at most %d bytes", maxMatchedValue)
				return ""
			}
			return v
		}
		switch check {
		case "liveness":
			facts.FaceID = bounded("face_id")
		case "id_verification":
			facts.DocumentNumber = bounded("document_number")
		case "email":
			facts.Email = bounded("email")
		case "phone":
			facts.Phone = bounded("phone")
		}
	}
	for field, v := range facts.Profile {
		norm, err := NormaliseProfileValue(field, v)
		if err != nil {
			problems["decision."+checkOf(kind, field)+"."+field] = err.Error()
			delete(facts.Profile, field)
			continue
		}
		facts.Profile[field] = norm
	}
	return facts, problems
}

func checkOf(kind, field string) string {
	for check, fields := range decisionProfile[kind] {
		for _, f := range fields {
			if f == field {
				return check
			}
		}
	}
	return ""
}
