package ingest

import (
	"fmt"
	"strings"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
)

// Limits on free-text fields.
const (
	maxTextLen   = 512
	maxReasonLen = 1000
	maxActorLen  = 200
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
	norm, err := rules.NormaliseProfileValue(name, v)
	if err != nil {
		return norm, err.Error()
	}
	return norm, ""
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
			f.require(name)
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

// vendorDataField decodes a required vendor_data member, trimmed and checked.
func vendorDataField(f *fields, name string) string {
	vd := f.String(name)
	if vd == nil {
		f.require(name)
		return ""
	}
	v, msg := checkVendorData(*vd)
	if msg != "" {
		f.fail(name, msg)
	}
	return v
}

// kindField decodes an optional entity kind member; absent means user.
func kindField(f *fields, name string) string {
	k := f.String(name)
	if k == nil {
		return models.KindUser
	}
	if !models.ValidKind(*k) {
		f.fail(name, `must be "user" or "business"`)
	}
	return *k
}
