package ingest

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/standinghq/standing/models"
)

// Limits on free-text fields.
const (
	maxTextLen   = 512
	maxURLLen    = 2048
	maxReasonLen = 1000
	maxActorLen  = 200
)

var (
	alpha3 = regexp.MustCompile(`^[A-Z]{3}$`)
	phone  = regexp.MustCompile(`^\+?[0-9][0-9 ().\-]{3,31}$`)
)

// checkVendorData trims v and checks it is 1–2000 bytes; it returns the trimmed value and
// a problem message, empty when valid.
func checkVendorData(v string) (string, string) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return v, "must not be empty"
	case len(v) > models.MaxVendorDataBytes:
		return v, fmt.Sprintf("must be at most %d bytes after trimming", models.MaxVendorDataBytes)
	case strings.ContainsRune(v, 0):
		return v, "must not contain NUL characters"
	}
	return v, ""
}

// checkProfileValue normalises one profile field's value and returns a problem message,
// empty when valid.
func checkProfileValue(name, v string) (string, string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return v, "must not be empty; send null to clear it"
	}
	switch name {
	case "date_of_birth":
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return v, "must be a date in the form YYYY-MM-DD"
		}
		if d.Year() < 1900 {
			return v, "must be in 1900 or later"
		}
	case "nationality", "country_code":
		v = strings.ToUpper(v)
		if !alpha3.MatchString(v) {
			return v, "must be a three-letter ISO 3166-1 alpha-3 code like ESP"
		}
	case "email":
		addr, err := mail.ParseAddress(v)
		if err != nil || addr.Address != v {
			return v, "must be an e-mail address like ana@example.com"
		}
	case "phone":
		if !phone.MatchString(v) {
			return v, "must be a phone number like +34 600 000 000"
		}
	case "portrait_image":
		if len(v) > maxURLLen {
			return v, fmt.Sprintf("must be at most %d characters", maxURLLen)
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return v, "must be an http(s) URL"
		}
		return v, ""
	}
	if len(v) > maxTextLen {
		return v, fmt.Sprintf("must be at most %d characters", maxTextLen)
	}
	return v, ""
}

// profileFields decodes the profile fields of kind present in f, normalised. A field sent
// as null maps to nil (clear it).
func profileFields(f *fields, kind string) map[string]*string {
	out := map[string]*string{}
	for _, name := range models.ProfileFields(kind) {
		present := f.has(name)
		v := f.String(name)
		if !present {
			continue
		}
		if v == nil {
			if _, bad := f.problems[name]; !bad {
				out[name] = nil
			}
			continue
		}
		norm, msg := checkProfileValue(name, *v)
		if msg != "" {
			f.fail(name, msg)
			continue
		}
		out[name] = &norm
	}
	return out
}

// statusField decodes a status member, accepting any letter case.
func statusField(f *fields, name string, required bool) string {
	v := f.String(name)
	if v == nil {
		if required {
			if _, bad := f.problems[name]; !bad {
				f.fail(name, "is required")
			}
		}
		return ""
	}
	s := strings.ToUpper(strings.TrimSpace(*v))
	if !models.ValidStatus(s) {
		f.fail(name, "must be one of ACTIVE, FLAGGED, BLOCKED")
		return ""
	}
	return s
}

// textField decodes an optional free-text member of at most limit characters.
func textField(f *fields, name string, limit int) string {
	v := f.String(name)
	if v == nil {
		return ""
	}
	s := strings.TrimSpace(*v)
	if len(s) > limit {
		f.fail(name, fmt.Sprintf("must be at most %d characters", limit))
	}
	return s
}
