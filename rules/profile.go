package rules

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
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
		return NormaliseCountry(v)
	case "email":
		addr, err := mail.ParseAddress(v)
		if err != nil || addr.Address != v {
			return v, errors.New("must be an e-mail address like ana@example.com")
		}
	case "phone":
		return NormalisePhone(v)
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

// decisionProfile says which profile field each decision feature reports, per entity kind.
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

// profileSources lists, for a profile field, the members of a feature entry that may
// carry it, in order of preference (the vendor's v3 names after the v2 ones).
var profileSources = map[string][]string{
	"phone":      {"phone", "full_number"},
	"legal_name": {"legal_name", "company_name"},
}

// readEntry reads the profile fields and the values matched against blocklists from
// the chosen entry of one feature.
func readEntry(kind, feature, path string, obj map[string]any, facts *DecisionFacts, problems map[string]string) {
	str := func(name string) string {
		raw, present := obj[name]
		if !present || raw == nil {
			return ""
		}
		v, ok := raw.(string)
		if !ok {
			problems[path+"."+name] = "must be a string"
		}
		return strings.TrimSpace(v)
	}
	for _, field := range decisionProfile[kind][feature] {
		v := ""
		sources := profileSources[field]
		if sources == nil {
			sources = []string{field}
		}
		for _, src := range sources {
			if v = str(src); v != "" {
				break
			}
		}
		if field == "full_name" && v == "" {
			v = strings.TrimSpace(str("first_name") + " " + str("last_name"))
		}
		if v == "" {
			continue
		}
		norm, err := NormaliseProfileValue(field, v)
		if err != nil {
			problems[path+"."+field] = err.Error()
			continue
		}
		facts.Profile[field] = norm
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
	switch feature {
	case "liveness":
		facts.FaceID = bounded("face_id")
	case "id_verification":
		facts.DocumentNumber = bounded("document_number")
	case "email":
		facts.Email = bounded("email")
	case "phone":
		if facts.Phone = bounded("phone"); facts.Phone == "" {
			facts.Phone = bounded("full_number")
		}
	}
}
