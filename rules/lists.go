package rules

import (
	"errors"
	"strings"
	"unicode"
)

// List types.
const (
	ListBlocklist = "blocklist"
	ListWatchlist = "watchlist"
	ListAllowlist = "allowlist"
)

// Entry types of lists.
const (
	EntryUser     = "user"
	EntryBusiness = "business"
	EntryFace     = "face"
	EntryDocument = "document"
	EntryEmail    = "email"
	EntryPhone    = "phone"
	EntryName     = "name"
	EntryCountry  = "country"
)

// ListTypes lists every list type.
func ListTypes() []string { return []string{ListBlocklist, ListWatchlist, ListAllowlist} }

// EntryTypes lists every entry type.
func EntryTypes() []string {
	return []string{EntryUser, EntryBusiness, EntryFace, EntryDocument, EntryEmail, EntryPhone, EntryName, EntryCountry}
}

// ValidListType reports whether t is a list type.
func ValidListType(t string) bool {
	return t == ListBlocklist || t == ListWatchlist || t == ListAllowlist
}

// ValidEntryType reports whether t is an entry type.
func ValidEntryType(t string) bool {
	for _, e := range EntryTypes() {
		if e == t {
			return true
		}
	}
	return false
}

// MaxEntryBytes is the longest list value accepted.
const MaxEntryBytes = 2000

// ErrEmptyValue is returned for a value that is empty after trimming.
var ErrEmptyValue = errors.New("must not be empty")

// NormaliseEntry returns the form in which a value of entryType is stored and matched
// (at most MaxEntryBytes, also after normalising):
// trimmed everywhere; user and business values (vendor_data) kept exact, as vendor_data
// is matched exactly; phones in E.164 (NormalisePhone); countries as ISO alpha-3
// (NormaliseCountry, alpha-2 accepted); names lower-cased with inner white space collapsed; everything else
// lower-cased.
func NormaliseEntry(entryType, value string) (string, error) {
	v, err := normaliseEntry(entryType, value)
	if err == nil && len(v) > MaxEntryBytes {
		return "", errors.New("must be at most 2000 bytes once normalised")
	}
	return v, err
}

func normaliseEntry(entryType, value string) (string, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", ErrEmptyValue
	}
	if len(v) > MaxEntryBytes || strings.ContainsRune(v, 0) {
		return "", errors.New("must be at most 2000 bytes, without NUL characters")
	}
	switch entryType {
	case EntryUser, EntryBusiness:
		return v, nil
	case EntryPhone:
		return NormalisePhone(v)
	case EntryCountry:
		return NormaliseCountry(v)
	case EntryName:
		return strings.Join(strings.FieldsFunc(strings.ToLower(v), unicode.IsSpace), " "), nil
	case EntryEmail:
		e := strings.ToLower(v)
		if at := strings.LastIndexByte(e, '@'); at <= 0 || at == len(e)-1 {
			return "", errors.New("must be an e-mail address like ana@example.com")
		}
		return e, nil
	default:
		return strings.ToLower(v), nil
	}
}

// ListEffect is the status an entry of entryType on a list of listType puts the named
// entity in, with its reason; empty when the entry does not act on entities directly.
func ListEffect(listType, entryType string) (status, reason string) {
	if entryType != EntryUser && entryType != EntryBusiness {
		return "", ""
	}
	switch listType {
	case ListBlocklist:
		return EntityBlocked, ReasonBlocklistMatch
	case ListWatchlist:
		return EntityFlagged, ReasonWatchlist
	}
	return "", ""
}
