package rules

import (
	"math"
	"sort"
)

// DefaultAMLMatchThreshold is the default of the aml_match_threshold setting.
const DefaultAMLMatchThreshold = 0.92

// FeatureAML is the entity feature that ongoing monitoring sets.
const FeatureAML = "aml"

// ScreeningEntry is one `name` entry of a watchlist or blocklist.
type ScreeningEntry struct {
	ID       string
	ListID   string
	ListType string
	// Value is the entry's name as stored.
	Value string
	// DateOfBirth (YYYY-MM-DD) must equal the entity's when set.
	DateOfBirth string
	Comment     string
	Actor       string
	// prepared is Value prepared once (PrepareEntries), for runs over many entities.
	prepared *PreparedName
}

// PrepareEntries prepares the entries' names once, so that screening many entities
// against them does not normalise them again for each entity.
func PrepareEntries(entries []ScreeningEntry) {
	for i := range entries {
		p := PrepareName(entries[i].Value)
		entries[i].prepared = &p
	}
}

func (e ScreeningEntry) preparedName() PreparedName {
	if e.prepared != nil {
		return *e.prepared
	}
	return PrepareName(e.Value)
}

// ScreeningFacts are what screening one entity needs.
type ScreeningFacts struct {
	// Status is the entity's status.
	Status string
	// Name is the entity's full_name (users) or legal_name (businesses).
	Name string
	// DateOfBirth is the entity's (users), YYYY-MM-DD or empty.
	DateOfBirth string
	// Entries are the candidate entries.
	Entries []ScreeningEntry
	// AlreadyHit holds the ids of the entries that hit the entity before.
	AlreadyHit map[string]bool
}

// ScreeningSettings configure screening.
type ScreeningSettings struct {
	// Threshold is the least name similarity that counts as a hit, in (0, 1].
	Threshold float64
}

// ScreeningHit is one new hit: the entry, the name it matched and the score.
type ScreeningHit struct {
	EntryID     string
	ListID      string
	ListType    string
	Value       string
	MatchedName string
	Score       float64
}

// Inputs returns the hit as audit record inputs.
func (h ScreeningHit) Inputs() map[string]any {
	return map[string]any{
		"entry_id": h.EntryID, "list_id": h.ListID, "list_type": h.ListType,
		"matched_name": h.MatchedName, "value": h.Value, "score": h.Score,
	}
}

// ScreeningDecision is what screening decided: the new hits, best first (a blocklist
// hit before watchlist hits), and the transition they cause, if any. No new hit means
// nothing to record.
type ScreeningDecision struct {
	Hits       []ScreeningHit
	Transition *Transition
}

// MatchEntry scores an entity's name against an entry: the similarity, and whether it
// is a hit at threshold (an entry with a date of birth needs the same date).
func MatchEntry(name, dateOfBirth string, e ScreeningEntry, threshold float64) (float64, bool) {
	return matchPrepared(PrepareName(name), dateOfBirth, e, threshold)
}

func matchPrepared(name PreparedName, dateOfBirth string, e ScreeningEntry, threshold float64) (float64, bool) {
	if len(name.tokens) == 0 {
		return 0, false
	}
	if e.DateOfBirth != "" && e.DateOfBirth != dateOfBirth {
		return 0, false
	}
	score := name.Similarity(e.preparedName())
	return score, score >= threshold
}

// DecideScreening screens an entity's name against the candidate entries. Each entry
// that matches and never hit the entity before is a new hit. A new blocklist hit blocks
// the entity, a new watchlist hit flags it, with reason and rule ongoing_monitoring and
// the decisive hit as inputs; a status is never lowered, and an entity already in the
// target status only records the hits.
func DecideScreening(f ScreeningFacts, s ScreeningSettings) ScreeningDecision {
	var d ScreeningDecision
	name := PrepareName(f.Name)
	for _, e := range f.Entries {
		if f.AlreadyHit[e.ID] {
			continue
		}
		score, hit := matchPrepared(name, f.DateOfBirth, e, s.Threshold)
		if !hit {
			continue
		}
		d.Hits = append(d.Hits, ScreeningHit{EntryID: e.ID, ListID: e.ListID, ListType: e.ListType,
			Value: e.Value, MatchedName: f.Name, Score: math.Round(score*1000) / 1000})
	}
	if len(d.Hits) == 0 {
		return d
	}
	sort.SliceStable(d.Hits, func(i, j int) bool {
		bi, bj := d.Hits[i].ListType == ListBlocklist, d.Hits[j].ListType == ListBlocklist
		if bi != bj {
			return bi
		}
		return d.Hits[i].Score > d.Hits[j].Score
	})
	top := d.Hits[0]
	target := EntityFlagged
	if top.ListType == ListBlocklist {
		target = EntityBlocked
	}
	if Raises(f.Status, target) {
		inputs := top.Inputs()
		for _, e := range f.Entries {
			if e.ID == top.EntryID && e.Comment != "" {
				inputs["comment"] = e.Comment
			}
		}
		inputs["hits"] = len(d.Hits)
		d.Transition = &Transition{To: target, Reason: ReasonOngoingMonitoring, Rule: RuleOngoingMonitoring, Inputs: inputs}
	}
	return d
}
