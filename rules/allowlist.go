package rules

// ListHasEffect reports whether entries of entryType on a list of listType do anything
// (SPEC section 6): blocklists and watchlists of every entry type do; allowlists only of
// user and business entries, which exempt the entity from the automatic raises.
func ListHasEffect(listType, entryType string) bool {
	if listType == ListAllowlist {
		return entryType == EntryUser || entryType == EntryBusiness
	}
	return ValidListType(listType) && ValidEntryType(entryType)
}

// AllowlistExempts reports whether an automatic raise for reason spares an entity that
// is allowlisted: every automatic raise does (auto-block on decline, watchlists,
// transaction rules, ongoing monitoring) except blocklist matches.
func AllowlistExempts(allowlisted bool, reason string) bool {
	return allowlisted && reason != ReasonBlocklistMatch
}

// HitEffect is the status an entry of entryType on a list of listType puts the entity
// it matches in, with its reason: ListEffect for the entries naming the entity, and for
// country entries BLOCKED (blocklist) or FLAGGED (watchlist) too.
func HitEffect(listType, entryType string) (status, reason string) {
	if entryType != EntryCountry {
		return ListEffect(listType, entryType)
	}
	return ListEffect(listType, EntryUser)
}

// DecideCountry decides what the country lists do to an entity whose nationality or
// country_code changed, from the country entries its new value is on: BLOCKED when on a
// blocklist, FLAGGED when on a watchlist, never lowering its status and, for an
// allowlisted entity, never but for a blocklist.
func DecideCountry(status string, allowlisted bool, hits []Hit) *Transition {
	for _, want := range []string{ListBlocklist, ListWatchlist} {
		var matched []Hit
		for _, h := range hits {
			if h.ListType == want && h.EntryType == EntryCountry {
				matched = append(matched, h)
			}
		}
		if len(matched) == 0 {
			continue
		}
		to, reason := HitEffect(want, EntryCountry)
		if !Raises(status, to) || AllowlistExempts(allowlisted, reason) {
			return nil
		}
		return &Transition{To: to, Reason: reason, Rule: ListRule(want), Inputs: HitInputs(matched)}
	}
	return nil
}

// CountryField is the profile field of kind that country lists match.
func CountryField(kind string) string {
	if kind == EntryBusiness {
		return "country_code"
	}
	return "nationality"
}
